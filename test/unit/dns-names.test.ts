// SPDX-License-Identifier: Apache-2.0
// The per-pod name table and its join, query/answer trust, the encrypted-DNS flag, lookup
// dedup, and the DnsNames pipeline that ties them to kernel-side packet events.
import { test } from 'node:test';
import { ConfigError } from '../../src/common/errors.js';
import assert from 'node:assert/strict';
import { NameTable } from '../../src/capture/dns/name-table.js';
import { QueryMatcher, isLoopbackText } from '../../src/capture/dns/query-match.js';
import { EncryptedDnsDetector } from '../../src/capture/dns/encrypted.js';
import { LookupDedup, lookupKey } from '../../src/capture/dns/lookup-dedup.js';
import { DnsNames } from '../../src/capture/dns/dns-names.js';
import { nameOwner, type DnsPacketEvent, type DnsSocketOwner, type NameOwner } from '../../src/capture/dns/events.js';
import type { AnswerSet } from '../../src/capture/dns/answer-set.js';
import { parseAddr } from '../../src/schema/addr.js';
import { encodeDns, type WireRecord } from '../helpers/dns-wire.js';

const S = 1_000_000_000n; // ns per second
const T0 = 1_765_000_000n * S;
const at = (sec: number): bigint => T0 + BigInt(Math.round(sec * 1000)) * 1_000_000n;

const own = (pod: string, container: string, process: string): NameOwner => ({ pod, container, process });
const A1 = own('pod-a', 'ctr-a1', 'p1');
const A1b = own('pod-a', 'ctr-a1', 'p2'); // another process, same container
const A2 = own('pod-a', 'ctr-a2', 'p3'); // another container, same pod
const B = own('pod-b', 'ctr-b', 'p9');

function rec(t: NameTable, o: NameOwner, name: string, sec: number, ip: string, ttl = 60, trust: 'unmatched' | 'matched' | 'resolver' = 'resolver'): void {
  t.record(o, { name, chain: [name], answeredAt: at(sec), server: '10.96.0.10', trust }, [{ ip, ttl }]);
}

test('join: same process first, then same container, then same pod; newest within each', () => {
  const t = new NameTable();
  rec(t, A2, 'pod-level.example', 1, '192.0.2.1');
  rec(t, A1b, 'container-level.example', 2, '192.0.2.1');
  rec(t, A1, 'process-old.example', 3, '192.0.2.1');
  rec(t, A1, 'process-new.example', 4, '192.0.2.1');
  rec(t, A1b, 'container-newest.example', 5, '192.0.2.1');
  const j = t.join(A1, '192.0.2.1', at(10))!;
  assert.equal(j.name, 'process-new.example');
  assert.equal(j.matchedBy, 'process');
  assert.equal(j.trust, 'resolver');
  assert.equal(j.answeredAt, at(4));
  // p2 in the same container: its own newest.
  assert.equal(t.join(A1b, '192.0.2.1', at(10))!.name, 'container-newest.example');
  // a process that looked nothing up: the container's newest, then the pod's.
  const j2 = t.join(own('pod-a', 'ctr-a1', 'p-new'), '192.0.2.1', at(10))!;
  assert.deepEqual([j2.name, j2.matchedBy], ['container-newest.example', 'container']);
  const j3 = t.join(own('pod-a', 'ctr-a3', 'p-x'), '192.0.2.1', at(10))!;
  assert.deepEqual([j3.name, j3.matchedBy], ['container-newest.example', 'pod']);
});

test('join: only answers given before the connect', () => {
  const t = new NameTable();
  rec(t, A1, 'later.example', 20, '192.0.2.7');
  assert.equal(t.join(A1, '192.0.2.7', at(19)), null);
  rec(t, A1, 'earlier.example', 5, '192.0.2.7');
  assert.equal(t.join(A1, '192.0.2.7', at(19))!.name, 'earlier.example');
  assert.equal(t.join(A1, '192.0.2.7', at(20))!.name, 'later.example', 'answered at the same instant counts as before');
});

test('two pods resolving the same IP to different names each get their own', () => {
  const t = new NameTable();
  rec(t, A1, 'shop.example', 1, '203.0.113.5');
  rec(t, B, 'evil.example', 2, '203.0.113.5');
  assert.equal(t.join(A1, '203.0.113.5', at(3))!.name, 'shop.example');
  assert.equal(t.join(B, '203.0.113.5', at(3))!.name, 'evil.example');
});

test("another pod's answers are never used, even when the connecting pod has none", () => {
  const t = new NameTable();
  rec(t, B, 'bank.example', 1, '198.51.100.9');
  assert.equal(t.join(A1, '198.51.100.9', at(2)), null);
  assert.equal(t.join(own('pod-c', 'ctr-b', 'p9'), '198.51.100.9', at(2)), null, 'the pod key decides, even if the other keys collide');
});

test('after the TTL the name still joins within the retention window, then not; sweep drops it', () => {
  const t = new NameTable({ retentionMs: 10_000 });
  rec(t, A1, 'short.example', 0, '192.0.2.44', 5);
  const fresh = t.join(A1, '192.0.2.44', at(4))!;
  assert.equal(fresh.withinTtl, true);
  const stale = t.join(A1, '192.0.2.44', at(12))!;
  assert.equal(stale.name, 'short.example');
  assert.equal(stale.withinTtl, false);
  assert.equal(t.join(A1, '192.0.2.44', at(15.001)), null);
  assert.equal(t.size, 1);
  assert.equal(t.sweep(at(14)), 0);
  assert.equal(t.sweep(at(16)), 1);
  assert.equal(t.size, 0);
  assert.equal(t.podCount(), 0);
});

test('a pod that goes away takes its names with it', () => {
  const t = new NameTable();
  rec(t, A1, 'a.example', 1, '192.0.2.1');
  rec(t, A2, 'b.example', 1, '192.0.2.2');
  rec(t, B, 'c.example', 1, '192.0.2.3');
  t.dropPod('pod-a');
  assert.equal(t.size, 1);
  assert.equal(t.join(A1, '192.0.2.1', at(2)), null);
  assert.equal(t.join(B, '192.0.2.3', at(2))!.name, 'c.example');
  t.dropPod('pod-unknown');
  assert.equal(t.size, 1);
});

test('bounded per pod: the least recently used IP goes; a joined IP counts as used', () => {
  const t = new NameTable({ maxPerPod: 3, maxTotal: 100 });
  rec(t, A1, 'one.example', 1, '10.0.0.1');
  rec(t, A1, 'two.example', 2, '10.0.0.2');
  rec(t, A1, 'three.example', 3, '10.0.0.3');
  assert.ok(t.join(A1, '10.0.0.1', at(4))); // touch .1: now .2 is the oldest
  rec(t, A1, 'four.example', 5, '10.0.0.4');
  assert.equal(t.size, 3);
  assert.equal(t.evictedPerPod, 1);
  assert.equal(t.join(A1, '10.0.0.2', at(6)), null);
  assert.ok(t.join(A1, '10.0.0.1', at(6)));
  // another pod is not touched by A's churn
  rec(t, B, 'b.example', 1, '10.0.0.9');
  for (let i = 10; i < 20; i++) rec(t, A1, `n${i}.example`, i, `10.0.1.${i}`);
  assert.ok(t.join(B, '10.0.0.9', at(30)));
});

test('bounded node-wide: the least recently used pod gives way', () => {
  const t = new NameTable({ maxPerPod: 3, maxTotal: 4 });
  rec(t, A1, 'a1.example', 1, '10.0.0.1');
  rec(t, A1, 'a2.example', 1, '10.0.0.2');
  rec(t, B, 'b1.example', 2, '10.0.0.3');
  rec(t, B, 'b2.example', 2, '10.0.0.4');
  rec(t, own('pod-c', 'c', 'pc'), 'c1.example', 3, '10.0.0.5');
  assert.equal(t.size, 4);
  assert.equal(t.evictedNodeWide, 1);
  assert.equal(t.join(A1, '10.0.0.1', at(4)), null, "pod-a was least recently used: its oldest IP went");
  assert.ok(t.join(A1, '10.0.0.2', at(4)));
  assert.ok(t.join(B, '10.0.0.3', at(4)));
});

test('names per IP are bounded; the same process asking again replaces its answer', () => {
  const t = new NameTable({ maxNamesPerIp: 2 });
  rec(t, A1, 'x.example', 1, '10.0.0.1');
  rec(t, A1, 'x.example', 2, '10.0.0.1');
  assert.equal(t.size, 1);
  assert.equal(t.join(A1, '10.0.0.1', at(3))!.answeredAt, at(2));
  rec(t, A1b, 'y.example', 3, '10.0.0.1');
  rec(t, A2, 'z.example', 4, '10.0.0.1');
  assert.equal(t.size, 2);
  // the oldest (x, by p1) went: p1 now gets the container's newest
  const j = t.join(A1, '10.0.0.1', at(5))!;
  assert.deepEqual([j.name, j.matchedBy], ['y.example', 'container']);
  assert.throws(() => new NameTable({ maxPerPod: 10, maxTotal: 5 }), ConfigError);
});

test('answers recorded out of time order are still joined newest-first', () => {
  const t = new NameTable();
  rec(t, A2, 'newer.example', 9, '10.0.0.1');
  rec(t, A1b, 'older.example', 3, '10.0.0.1');
  assert.equal(t.join(own('pod-a', 'ctr-z', 'pz'), '10.0.0.1', at(10))!.name, 'newer.example');
});

const key = (id: number, qname = 'api.example', socketCookie = 77n, qtype = 1) => ({ socketCookie, id, qname, qtype });

test('trust: matched by socket, transaction id and question; a wrong id or question is unmatched', () => {
  const m = new QueryMatcher({ resolvers: ['10.96.0.10'] });
  m.query(key(100), at(0), '10.96.0.10');
  assert.equal(m.answer(key(101), at(0.01), '10.96.0.10'), 'unmatched', 'wrong transaction id');
  assert.equal(m.answer(key(100, 'other.example'), at(0.01), '10.96.0.10'), 'unmatched', 'wrong question');
  assert.equal(m.answer(key(100, 'api.example', 78n), at(0.01), '10.96.0.10'), 'unmatched', 'another socket');
  assert.equal(m.answer(key(100, 'api.example', 77n, 28), at(0.01), '10.96.0.10'), 'unmatched', 'another type');
  assert.equal(m.answer(key(100), at(0.01), '10.96.0.10'), 'resolver');
  assert.equal(m.answer(key(100), at(0.02), '10.96.0.10'), 'unmatched', 'a match is used once: a second answer is a spoof or a duplicate');
});

test('trust: resolver only from a configured resolver and not over loopback; NAT-rewritten sources', () => {
  const m = new QueryMatcher({ resolvers: ['10.96.0.10', '127.0.0.53'] });
  m.query(key(1), at(0), '192.0.2.53');
  assert.equal(m.answer(key(1), at(0.1), '192.0.2.53'), 'matched', 'not a cluster resolver');
  m.query(key(2), at(0), '127.0.0.53');
  assert.equal(m.answer(key(2), at(0.1), '127.0.0.53'), 'matched', 'loopback path: the pod could be answering itself');
  // Socket-level load balancing: asked the ClusterIP, answered from a backend pod's address,
  // which is only 'resolver' when listed (else any pod guessing the id would pass).
  m.query(key(3), at(0), '10.96.0.10');
  assert.equal(m.answer(key(3), at(0.1), '10.244.1.17'), 'matched');
  const lb = new QueryMatcher({ resolvers: ['10.96.0.10', '10.244.1.17'] });
  lb.query(key(3), at(0), '10.96.0.10');
  assert.equal(lb.answer(key(3), at(0.1), '10.244.1.17'), 'resolver');
  assert.ok(isLoopbackText('127.1.2.3') && isLoopbackText('::1') && isLoopbackText('::ffff:127.0.0.1') && !isLoopbackText('10.0.0.1'));
});

test('trust: an answer after the timeout, or before its query, is unmatched; pending is bounded', () => {
  const m = new QueryMatcher({ timeoutMs: 1_000, maxPending: 2 });
  m.query(key(1), at(0), '10.96.0.10');
  assert.equal(m.answer(key(1), at(2), '10.96.0.10'), 'unmatched');
  m.query(key(2), at(5), '10.96.0.10');
  assert.equal(m.answer(key(2), at(4), '10.96.0.10'), 'unmatched');
  m.query(key(3), at(0), 'x');
  m.query(key(4), at(0), 'x');
  m.query(key(5), at(0), 'x');
  assert.equal(m.size, 2);
  assert.equal(m.evicted, 1);
  assert.equal(m.answer(key(3), at(0.1), 'x'), 'unmatched');
  assert.equal(m.answer(key(5), at(0.1), 'x'), 'matched');
  assert.equal(m.sweep(at(10)), 1);
  assert.equal(m.size, 0);
});

test('encrypted DNS: 853 anywhere, 443 only to well-known or configured DoH resolvers', () => {
  const d = new EncryptedDnsDetector(['192.0.2.200']);
  assert.equal(d.classify('203.0.113.1', 853), 'dot');
  assert.equal(d.classify('1.1.1.1', 443), 'doh');
  assert.equal(d.classify('::ffff:8.8.8.8', 443), 'doh');
  assert.equal(d.classify('2606:4700:4700::1111', 443), 'doh');
  assert.equal(d.classify('192.0.2.200', 443), 'doh');
  assert.equal(d.classify('93.184.216.34', 443), null);
  assert.equal(d.classify('1.1.1.1', 80), null);
  assert.equal(new EncryptedDnsDetector([], false).classify('1.1.1.1', 443), null);
});

const aset = (addrs: string[], rcode = 0, chain = ['api.example']): AnswerSet => ({ qname: chain[0]!, qtype: 1, rcode, chain, addrs: addrs.map((ip) => ({ ip, ttl: 30 })), chainCut: false });

test('lookup dedup: per process, name and answer set, over a window; repeats ride on the next one', () => {
  const d = new LookupDedup({ windowMs: 10_000 });
  const k = lookupKey('p1', aset(['10.0.0.1', '10.0.0.2']));
  assert.equal(lookupKey('p1', aset(['10.0.0.2', '10.0.0.1'])), k, 'address order does not matter');
  assert.deepEqual(d.offer(k, at(0)), { publish: true, repeats: 0, firstRepeat: 0n, lastRepeat: 0n });
  assert.deepEqual(d.offer(k, at(1)), { publish: false });
  assert.deepEqual(d.offer(k, at(9)), { publish: false });
  // A changed answer, another process or another rcode is news at once.
  assert.equal(d.offer(lookupKey('p1', aset(['10.0.0.3'])), at(2)).publish, true);
  assert.equal(d.offer(lookupKey('p2', aset(['10.0.0.1', '10.0.0.2'])), at(2)).publish, true);
  assert.equal(d.offer(lookupKey('p1', aset([], 3)), at(2)).publish, true);
  assert.equal(d.offer(lookupKey('p1', aset(['10.0.0.1', '10.0.0.2'], 0, ['api.example', 'cdn.example'])), at(2)).publish, true);
  assert.deepEqual(d.offer(k, at(10)), { publish: true, repeats: 2, firstRepeat: at(1), lastRepeat: at(9) }, 'the folded ones\' first and last times ride along');
  assert.deepEqual(d.offer(k, at(11)), { publish: false });
  assert.deepEqual(d.flush(at(25)), [{ key: k, repeats: 1 }]);
  assert.throws(() => new LookupDedup({ maxKeys: 0 }), ConfigError);
  assert.throws(() => new QueryMatcher({ timeoutMs: 0 }), ConfigError);
  assert.equal(d.size, 0);
});

test('lookup dedup: keys are bounded', () => {
  const d = new LookupDedup({ windowMs: 10_000, maxKeys: 2 });
  d.offer('a', at(0));
  d.offer('b', at(0));
  d.offer('c', at(0));
  assert.equal(d.size, 2);
  assert.equal(d.offer('a', at(1)).publish, true, 'a was forgotten');
});

// --- the pipeline, fed packet events as the kernel side will send them ---

const sock = (pod: string, cookie: bigint, processKey = `${pod}-proc`): DnsSocketOwner => ({ tgid: 100, processKey, cgroupId: 5n, netnsCookie: 9n, socketCookie: cookie });

function names(resolvers = ['10.96.0.10']): DnsNames {
  // The test's owner mapping: the process key's prefix is the pod.
  return new DnsNames((o) => { const pod = o.processKey.split('-')[0]!; return { pod, container: `${pod}-c`, process: o.processKey }; }, { match: { resolvers } });
}

function pkt(direction: 'query' | 'answer', owner: DnsSocketOwner, payload: Buffer, sec: number, remote = '10.96.0.10', transport: 'udp' | 'tcp' = 'udp', tcpSeq?: number): DnsPacketEvent {
  return {
    direction, time: at(sec), seq: BigInt(Math.round(sec * 1000)), owner, transport,
    local: { addr: parseAddr('10.244.0.5'), port: 40000 }, remote: { addr: parseAddr(remote), port: 53 },
    payload, wireLength: payload.length, ...(tcpSeq !== undefined ? { tcpSeq } : {}),
  };
}

const query = (id: number, name: string, type = 1) => encodeDns({ id, response: false, question: { name, type } });
const answer = (id: number, name: string, answers: WireRecord[], o: { tc?: boolean; rcode?: number } = {}) => encodeDns({ id, response: true, question: { name, type: 1 }, answers, ...o });

test('pipeline: a matched answer from the resolver names the connect and is a lookup event', () => {
  const n = names();
  const s = sock('poda', 1n);
  assert.deepEqual(n.onPacket(pkt('query', s, query(7, 'api.example'), 0)), []);
  const ev = n.onPacket(pkt('answer', s, answer(7, 'api.example', [{ name: 'api.example', type: 'CNAME', ttl: 300, value: 'edge.cdn.example' }, { name: 'edge.cdn.example', type: 'A', ttl: 30, value: '203.0.113.80' }]), 0.01));
  assert.equal(ev.length, 1);
  assert.deepEqual({ q: ev[0]!.qname, chain: ev[0]!.chain, answers: ev[0]!.answers, trust: ev[0]!.trust, server: ev[0]!.server, repeats: ev[0]!.repeats },
    { q: 'api.example', chain: ['api.example', 'edge.cdn.example'], answers: [{ ip: '203.0.113.80', ttl: 30 }], trust: 'resolver', server: '10.96.0.10', repeats: 0 });
  const c = n.forConnect(sock('poda', 2n), '203.0.113.80', 443, at(0.02));
  assert.equal(c.name!.name, 'api.example');
  assert.deepEqual(c.name!.chain, ['api.example', 'edge.cdn.example']);
  assert.equal(c.name!.trust, 'resolver');
  assert.equal(c.encryptedDns, null);
  assert.equal(n.forConnect(sock('podb', 3n), '203.0.113.80', 443, at(0.02)).name, null);
});

test('pipeline: a wrong transaction id is recorded as unmatched; a forged answer from another pod is no better than matched', () => {
  const n = names();
  const a = sock('poda', 1n);
  n.onPacket(pkt('query', a, query(7, 'api.example'), 0));
  // Pod B (10.244.3.3) races an answer into A's socket with a guessed id.
  const forged = n.onPacket(pkt('answer', a, answer(8, 'api.example', [{ name: 'api.example', type: 'A', ttl: 30, value: '198.51.100.66' }]), 0.001, '10.244.3.3'));
  assert.equal(forged[0]!.trust, 'unmatched');
  assert.equal(n.forConnect(a, '198.51.100.66', 443, at(1))!.name!.trust, 'unmatched');
  // With the right id it is matched (it answered the question) but not from the resolver.
  const forged2 = n.onPacket(pkt('answer', a, answer(7, 'api.example', [{ name: 'api.example', type: 'A', ttl: 30, value: '198.51.100.67' }]), 0.002, '10.244.3.3'));
  assert.equal(forged2[0]!.trust, 'matched');
  // The real answer comes second: the query was used up, so it is unmatched; trust is per answer.
  const real = n.onPacket(pkt('answer', a, answer(7, 'api.example', [{ name: 'api.example', type: 'A', ttl: 30, value: '203.0.113.80' }]), 0.003));
  assert.equal(real[0]!.trust, 'unmatched');
  // B's own lookups stay B's.
  const b = sock('podb', 9n);
  n.onPacket(pkt('query', b, query(1, 'evil.example'), 0));
  n.onPacket(pkt('answer', b, answer(1, 'evil.example', [{ name: 'evil.example', type: 'A', ttl: 30, value: '203.0.113.80' }]), 0.004));
  assert.equal(n.forConnect(a, '203.0.113.80', 443, at(1))!.name!.name, 'api.example');
  assert.equal(n.forConnect(b, '203.0.113.80', 443, at(1))!.name!.name, 'evil.example');
});

test('pipeline: a truncated UDP answer is not kept; the TCP retry, split over segments, is', () => {
  const n = names();
  const u = sock('poda', 1n);
  n.onPacket(pkt('query', u, query(5, 'big.example'), 0));
  assert.deepEqual(n.onPacket(pkt('answer', u, answer(5, 'big.example', [], { tc: true }), 0.01)), []);
  assert.equal(n.truncatedAnswers, 1);
  const t = sock('poda', 2n);
  const q = query(6, 'big.example');
  n.onPacket(pkt('query', t, Buffer.concat([Buffer.from([0, q.length]), q]), 0.02, '10.96.0.10', 'tcp', 1));
  const full = answer(6, 'big.example', Array.from({ length: 30 }, (_, i) => ({ name: 'big.example', type: 'A' as const, ttl: 60, value: `198.51.100.${i}` })));
  const framed = Buffer.concat([Buffer.from([full.length >> 8, full.length & 0xff]), full]);
  assert.deepEqual(n.onPacket(pkt('answer', t, framed.subarray(0, 100), 0.03, '10.96.0.10', 'tcp', 1000)), []);
  const ev = n.onPacket(pkt('answer', t, framed.subarray(100), 0.04, '10.96.0.10', 'tcp', 1100));
  assert.equal(ev.length, 1);
  assert.equal(ev[0]!.transport, 'tcp');
  assert.equal(ev[0]!.answers.length, 30);
  assert.equal(ev[0]!.trust, 'resolver');
  assert.equal(n.forConnect(u, '198.51.100.29', 443, at(1))!.name!.name, 'big.example');
});

test('pipeline: malformed and cut packets are counted, never thrown; repeats are folded', () => {
  const n = names();
  const s = sock('poda', 1n);
  const good = answer(9, 'x.example', [{ name: 'x.example', type: 'A', ttl: 30, value: '192.0.2.1' }]);
  const cut: DnsPacketEvent = { ...pkt('answer', s, good.subarray(0, good.length - 2), 0), wireLength: good.length };
  assert.deepEqual(n.onPacket(cut), []);
  assert.equal(n.cutByCopyCap, 1);
  assert.equal(n.stats.malformed.get('truncated-record'), 1);
  assert.deepEqual(n.onPacket(pkt('answer', s, Buffer.from([1, 2, 3]), 0)), []);
  assert.equal(n.stats.malformed.get('short-header'), 1);
  assert.equal(n.onPacket(pkt('answer', s, good, 1)).length, 1);
  assert.equal(n.onPacket(pkt('answer', s, good, 2)).length, 0, 'same process, name and answers within the window');
  assert.equal(n.onPacket(pkt('answer', s, good, 70))[0]!.repeats, 1);
  assert.deepEqual(n.sweep(at(200)), []);
});

test('nameOwner: pod UID when the cgroup has one; a process in no pod is its own cgroup', () => {
  assert.deepEqual(nameOwner({ podUid: 'u1', containerId: 'c1', cgroupId: 5n, processKey: '10:1' }), { pod: 'u1', container: 'c1', process: '10:1' });
  assert.deepEqual(nameOwner({ podUid: null, containerId: null, cgroupId: 5n, processKey: '10:1' }), { pod: 'cgroup:5', container: 'cgroup:5', process: '10:1' });
});

test('property: a join never returns another pod\'s answer or a later one, and the bounds hold', async () => {
  const fc = (await import('fast-check')).default;
  const step = fc.record({ pod: fc.nat(3), ctr: fc.nat(2), proc: fc.nat(3), ip: fc.nat(6), sec: fc.nat(200), ttl: fc.nat(30), join: fc.boolean(), drop: fc.nat(40) });
  fc.assert(fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
    const t = new NameTable({ maxPerPod: 5, maxTotal: 12, maxNamesPerIp: 3, retentionMs: 20_000 });
    const truth: Array<{ pod: string; name: string; ip: string; at: bigint }> = [];
    for (const s of steps) {
      const o = own(`pod${s.pod}`, `pod${s.pod}-c${s.ctr}`, `pod${s.pod}-p${s.proc}`);
      const ip = `10.0.0.${s.ip}`;
      if (s.drop === 0) {
        t.dropPod(o.pod);
        continue;
      }
      if (s.join) {
        const j = t.join(o, ip, at(s.sec));
        if (j) {
          const src = truth.find((x) => x.name === j.name && x.ip === ip && x.at === j.answeredAt);
          assert.ok(src, 'the joined answer was recorded');
          assert.equal(src.pod, o.pod, 'never another pod\'s');
          assert.ok(j.answeredAt <= at(s.sec), 'never a later answer');
          assert.ok(at(s.sec) <= j.answeredAt + BigInt(j.ttl) * S + 20n * S, 'never past TTL + retention');
        }
      } else {
        const name = `${o.pod}-n${truth.length}.example`;
        rec(t, o, name, s.sec, ip, s.ttl);
        truth.push({ pod: o.pod, name, ip, at: at(s.sec) });
      }
      assert.ok(t.size <= 12);
    }
  }), { numRuns: 400 });
});
