// SPDX-License-Identifier: Apache-2.0
// The test DNS server against real clients: glibc (python3's getaddrinfo) and busybox's
// nslookup, in a client network namespace joined by veth to the server's (both made here).
// Each of the server's tricks is checked from both ends: what the client ended up with, and
// what went over the wire as podtrail's parser and query matcher read it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDns } from '../../src/capture/dns/parse.js';
import { answerSet } from '../../src/capture/dns/answer-set.js';
import { QueryMatcher } from '../../src/capture/dns/query-match.js';
import { startDnsServer, type DnsWireLog, type DnsZone, type RunningDnsServer } from '../helpers/dns-server.js';
import { makeDnsNetns, type DnsNetns } from '../helpers/dns-netns.js';

const ZONE: DnsZone = {
  'plain.test': { a: ['198.51.100.10'], aaaa: ['2001:db8::10'], ttl: 120 },
  'alias.test': { cname: 'mid.test', ttl: 300 },
  'mid.test': { cname: 'end.test', ttl: 30 },
  'end.test': { a: ['198.51.100.20'], ttl: 60 },
  'big.test': { truncate: true, a: ['198.51.100.31', '198.51.100.32'] },
  'wrongid.test': { wrongId: true, wrongIdA: '203.0.113.66', a: ['198.51.100.40'] },
  'loop.test': { loop: true },
  'refused.test': { rcode: 5 },
};

// glibc's resolver, as any Python program in a pod uses it; prints the addresses or the error.
const GETADDRINFO = [
  'import json, socket, sys',
  'try:',
  '    r = socket.getaddrinfo(sys.argv[1], 443, type=socket.SOCK_STREAM)',
  '    print(json.dumps({"ok": True, "addrs": sorted({a[4][0] for a in r})}))',
  'except socket.gaierror as e:',
  '    print(json.dumps({"ok": False, "err": e.args[0]}))',
].join('\n');

let net: DnsNetns;
let dns: RunningDnsServer;

before(async () => {
  net = await makeDnsNetns();
  dns = await startDnsServer(net.server, net.serverAddr, ZONE);
});

after(async () => {
  await dns?.stop();
  const problems = (await net?.cleanup()) ?? [];
  assert.deepEqual(problems, []);
});

async function glibc(name: string): Promise<{ ok: boolean; addrs?: string[]; err?: number }> {
  const r = await net.inClient(['python3', '-c', GETADDRINFO, name]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { ok: boolean; addrs?: string[]; err?: number };
}

/**
 * The server's log arrives over a pipe, possibly after the client has exited: wait until a
 * condition over the whole log holds before reading it.
 */
const until = (cond: () => boolean) => dns.waitFor(() => cond());

const lines = (name: string, event?: DnsWireLog['event']) => dns.log.filter((l) => l.name === name && (!event || l.event === event));
const bytes = (l: DnsWireLog) => Buffer.from(l.hex, 'hex');

test('glibc: A and AAAA over UDP; the real queries and answers parse', async () => {
  assert.deepEqual(await glibc('plain.test.'), { ok: true, addrs: ['198.51.100.10', '2001:db8::10'] });
  await until(() => [1, 28].every((t) => lines('plain.test', 'answer').some((l) => l.type === t)));
  const qs = lines('plain.test', 'query');
  assert.deepEqual(new Set(qs.map((q) => q.type)), new Set([1, 28]));
  for (const q of qs) {
    assert.equal(q.transport, 'udp');
    assert.match(q.peer, /^192\.0\.2\.2:\d+$/);
    const p = parseDns(bytes(q));
    assert.ok(p.ok && !p.msg.qr && p.msg.question?.name === 'plain.test' && p.msg.id === q.id, q.hex);
  }
  for (const a of lines('plain.test', 'answer')) {
    const p = parseDns(bytes(a));
    assert.ok(p.ok && p.msg.qr);
    const set = answerSet(p.msg)!;
    assert.deepEqual(set.addrs, [{ ip: a.type === 1 ? '198.51.100.10' : '2001:db8::10', ttl: 120 }]);
  }
});

test('glibc: a CNAME chain is followed; the TTL is the smallest along it', async () => {
  assert.deepEqual(await glibc('alias.test.'), { ok: true, addrs: ['198.51.100.20'] });
  await until(() => lines('alias.test', 'answer').some((l) => l.type === 1));
  const a = lines('alias.test', 'answer').find((l) => l.type === 1)!;
  const p = parseDns(bytes(a));
  assert.ok(p.ok);
  assert.deepEqual(answerSet(p.msg), { qname: 'alias.test', qtype: 1, rcode: 0, chain: ['alias.test', 'mid.test', 'end.test'], addrs: [{ ip: '198.51.100.20', ttl: 30 }], chainCut: false });
});

test('glibc: a truncated UDP answer is retried over TCP', async () => {
  assert.deepEqual(await glibc('big.test.'), { ok: true, addrs: ['198.51.100.31', '198.51.100.32'] });
  const udp = lines('big.test', 'answer').filter((l) => l.transport === 'udp');
  assert.ok(udp.length >= 1);
  for (const u of udp) {
    const p = parseDns(bytes(u));
    assert.ok(p.ok && p.msg.tc && p.msg.answers.length === 0);
  }
  await until(() => lines('big.test', 'answer').some((l) => l.transport === 'tcp' && l.type === 1));
  const tcpA = lines('big.test', 'answer').find((l) => l.transport === 'tcp' && l.type === 1)!;
  const p = parseDns(bytes(tcpA));
  assert.ok(p.ok && !p.msg.tc);
  assert.deepEqual(answerSet(p.msg)!.addrs.map((x) => x.ip), ['198.51.100.31', '198.51.100.32']);
});

test('glibc: an answer with the wrong transaction id is ignored by the client and unmatched by podtrail', async () => {
  assert.deepEqual(await glibc('wrongid.test.'), { ok: true, addrs: ['198.51.100.40'] });
  await until(() => lines('wrongid.test', 'query').some((q) => q.type === 1 && lines('wrongid.test', 'answer').some((a) => a.type === 1 && a.peer === q.peer && a.id === q.id)));
  const q = lines('wrongid.test', 'query').find((l) => l.type === 1)!;
  const answers = lines('wrongid.test', 'answer').filter((l) => l.type === 1 && l.peer === q.peer);
  assert.equal(answers.length, 2);
  const m = new QueryMatcher({ resolvers: [net.serverAddr] });
  const t0 = 1n;
  const parsedQ = parseDns(bytes(q));
  assert.ok(parsedQ.ok);
  m.query({ socketCookie: 1n, id: parsedQ.msg.id, qname: 'wrongid.test', qtype: 1 }, t0, net.serverAddr);
  const trust = answers.map((a) => {
    const p = parseDns(bytes(a));
    assert.ok(p.ok);
    return { id: p.msg.id, ip: answerSet(p.msg)!.addrs[0]!.ip, trust: m.answer({ socketCookie: 1n, id: p.msg.id, qname: 'wrongid.test', qtype: 1 }, t0 + 1000n, net.serverAddr) };
  });
  assert.deepEqual(trust, [
    { id: (q.id + 1) & 0xffff, ip: '203.0.113.66', trust: 'unmatched' },
    { id: q.id, ip: '198.51.100.40', trust: 'resolver' },
  ]);
});

test('glibc: a compression loop fails the lookup; podtrail counts it as pointer-loop', async () => {
  const r = await glibc('loop.test.');
  assert.equal(r.ok, false, JSON.stringify(r));
  await until(() => lines('loop.test', 'answer').length > 0);
  const answers = lines('loop.test', 'answer');
  assert.ok(answers.length >= 1);
  for (const a of answers) {
    const p = parseDns(bytes(a));
    assert.deepEqual(p, { ok: false, reason: 'pointer-loop', id: a.id });
  }
});

test('glibc: an rcode reaches the client and the parser', async () => {
  const r = await glibc('refused.test.');
  assert.equal(r.ok, false);
  await until(() => lines('refused.test', 'answer').length > 0);
  const a = lines('refused.test', 'answer')[0]!;
  const p = parseDns(bytes(a));
  assert.ok(p.ok && p.msg.rcode === 5);
});

test('busybox nslookup (its own resolver, server given on the command line)', async () => {
  const r = await net.inClient(['busybox', 'nslookup', 'alias.test', net.serverAddr]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /198\.51\.100\.20/);
  await until(() => lines('alias.test', 'query').filter((l) => l.type === 1).length >= 2);
  const qs = lines('alias.test', 'query').filter((l) => l.type === 1);
  assert.ok(qs.length >= 2, 'glibc and busybox both asked');
  for (const q of qs) assert.equal(parseDns(bytes(q)).ok, true, q.hex);
  const nx = await net.inClient(['busybox', 'nslookup', 'nowhere.test', net.serverAddr]);
  assert.notEqual(nx.code, 0);
  assert.match(nx.stdout + nx.stderr, /NXDOMAIN/);
});
