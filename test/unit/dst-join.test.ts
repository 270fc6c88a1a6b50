// SPDX-License-Identifier: Apache-2.0
// enrich's destination join: dst.pod, dst.service and dst.scope on connects, through the
// transcoding fast path and the general path alike (same bytes), and DNS lookups attributed
// like connects with their server joined, in the same loss accounting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino } from 'pino';
import { Codec } from '../../src/schema/codec.js';
import { DestinationIndex } from '../../src/enrich/destination.js';
import { DestinationJoin } from '../../src/enrich/dst-join.js';
import { EnrichProcessor, type InMessage, type OutMessage } from '../../src/enrich/processor.js';
import { TranscodedAudit } from '../../src/enrich/transcode.js';
import { parseAddr } from '../../src/schema/addr.js';
import type { AuditDnsLookup, AuditRecord, ContainerMeta, RawConnectEvent } from '../../src/schema/types.js';
import type { MetadataResolver } from '../../src/runtime/types.js';
import { SAMPLE_NAME, sampleLookup, sampleRaw } from '../helpers/records.js';

const codec = new Codec();
const silent = pino({ level: 'silent' });
const S = 1_000_000_000n;
const T0 = 1_796_005_000n * S;
const at = (sec: number) => T0 + BigInt(sec) * S;

function meta(o: { pod: string; ip: string; id: string; from: number; deleted?: number; hostNetwork?: boolean }): ContainerMeta {
  return {
    containerId: o.id.padEnd(64, '0'), node: 'node-b', runtime: 'containerd', time: at(o.from), firstSeen: at(o.from), validFrom: at(o.from),
    deletedTime: o.deleted === undefined ? null : at(o.deleted), name: 'POD', image: 'pause', hostname: o.pod, isSandbox: true,
    sandboxId: null, networkMode: null, utsMode: null, cgroupPaths: [], origin: null, bounded: null, note: null,
    pod: { name: o.pod, namespace: 'shop', uid: `uid-${o.pod}`, labels: { app: o.pod.split('-')[0]!, 'pod-template-hash': 'abc' }, annotations: {}, hostNetwork: o.hostNetwork ?? false, workload: { kind: 'StatefulSet', name: o.pod.split('-')[0]! }, ips: [o.ip] },
  };
}

function join(): DestinationJoin {
  const index = new DestinationIndex({ serviceCidrs: ['10.96.0.0/12'], nodeCidrs: ['192.168.0.0/24'], earlyMs: 0 });
  index.add(meta({ pod: 'db-0', ip: '10.244.1.5', id: 'sb-db', from: 100 }));
  index.add(meta({ pod: 'db-0', ip: '10.244.1.5', id: 'sb-db', from: 100, deleted: 200 }));
  index.add(meta({ pod: 'cache-0', ip: '10.244.1.5', id: 'sb-cache', from: 300 }));
  index.add(meta({ pod: 'agent-x', ip: '192.168.7.7', id: 'sb-agent', from: 0, hostNetwork: true }));
  return new DestinationJoin(codec, index);
}

const nobody: MetadataResolver = { resolve: async () => ({ ok: false, code: 'NOT_FOUND', reason: 'none' }), peek: () => ({ ok: false, code: 'NOT_FOUND', reason: 'none' }) };

const dstCase = fc.record({
  addr: fc.constantFrom('10.244.1.5', '::ffff:10.244.1.5', '10.96.0.10', '127.0.0.1', '192.168.0.4', '192.168.7.7', '93.184.216.34', '2001:db8::1'),
  sec: fc.constantFrom(50, 150, 250, 350),
  name: fc.option(fc.constantFrom('db.shop.svc.cluster.local', 'db-0.db.shop.svc.cluster.local', 'www.example.com', 'x\\000y.example', 'svc.cluster.local'), { nil: null }),
});

const rawOf = (c: { addr: string; sec: number; name: string | null }, seq: number): RawConnectEvent => sampleRaw({
  seq: BigInt(seq), eventId: `node-a:7f3c2d:${seq}`, time: at(c.sec),
  dst: { ...sampleRaw().dst, addr: parseAddr(c.addr), name: c.name === null ? null : { ...SAMPLE_NAME, name: c.name } },
});

test('the fast path writes the same audit bytes as the general path, with the join on', async () => {
  await fc.assert(fc.asyncProperty(fc.array(dstCase, { minLength: 1, maxLength: 12 }), async (cases) => {
    const msgs: InMessage[] = cases.map((c, i) => ({ key: null, value: codec.encode('RawConnectEvent', rawOf(c, i + 1)), offset: String(i) }));
    const fast = new EnrichProcessor(codec, nobody, { concurrency: 2, topic: 'raw', destinations: join() }, silent);
    const slow = new EnrichProcessor(codec, nobody, { concurrency: 2, topic: 'raw', destinations: join(), encodeAudit: (r) => codec.encode('AuditRecord', r) }, silent);
    const a = await fast.processBatch(0, msgs);
    const b = await slow.processBatch(0, msgs);
    assert.ok(a.every((o) => o instanceof TranscodedAudit), 'the fast path took them all');
    assert.deepEqual(a.map((o) => (o as { value: Buffer }).value), b.map((o) => (o as { value: Buffer }).value));
  }), { numRuns: 200 });
});

test('scopes, pods and services: point in time, hostNetwork is node, the name gives the service', async () => {
  const p = new EnrichProcessor(codec, nobody, { concurrency: 2, topic: 'raw', destinations: join() }, silent);
  const cases = [
    [{ addr: '10.244.1.5', sec: 150, name: null }, 'pod', 'db-0', null],
    // db-0 is gone (sandbox deleted at 200): the record of its time still names it, a later one does not.
    [{ addr: '10.244.1.5', sec: 199, name: null }, 'pod', 'db-0', null],
    [{ addr: '10.244.1.5', sec: 250, name: null }, 'external', null, null],
    [{ addr: '10.244.1.5', sec: 350, name: null }, 'pod', 'cache-0', null],
    [{ addr: '10.244.1.5', sec: 150, name: 'db-0.db.shop.svc.cluster.local' }, 'pod', 'db-0', 'shop/db'],
    [{ addr: '10.96.0.10', sec: 150, name: null }, 'service', null, null],
    [{ addr: '10.96.0.10', sec: 150, name: 'db.shop.svc.cluster.local' }, 'service', null, 'shop/db'],
    [{ addr: '93.184.216.34', sec: 150, name: 'db.shop.svc.cluster.local' }, 'service', null, 'shop/db'],
    [{ addr: '93.184.216.34', sec: 150, name: 'www.example.com' }, 'external', null, null],
    [{ addr: '127.0.0.1', sec: 150, name: null }, 'loopback', null, null],
    [{ addr: '192.168.0.4', sec: 150, name: null }, 'node', null, null],
    [{ addr: '192.168.7.7', sec: 150, name: null }, 'node', null, null],
  ] as const;
  const out = await p.processBatch(0, cases.map(([c], i) => ({ key: null, value: codec.encode('RawConnectEvent', rawOf(c, i + 1)), offset: String(i) })));
  assert.equal(out.length, cases.length);
  out.forEach((o, i) => {
    const [c, scope, pod, svc] = cases[i]!;
    const dst = (codec.decodeAs('AuditRecord', (o as { value: Buffer }).value)).dst!;
    const what = `${c.addr} at ${c.sec} named ${c.name}`;
    assert.equal(dst.scope, scope, what);
    assert.equal(dst.pod?.name ?? null, pod, what);
    assert.equal(dst.service ? `${dst.service.namespace}/${dst.service.name}` : null, svc, what);
    if (dst.pod) assert.deepEqual({ ...dst.pod.workload }, { kind: 'StatefulSet', name: pod!.split('-')[0] });
    assert.equal(dst.name?.name ?? null, c.name, 'dst.name is carried through');
  });
});

test('without the join, dst.pod/service/scope stay null (nothing to join from)', async () => {
  const p = new EnrichProcessor(codec, nobody, { concurrency: 2, topic: 'raw' }, silent);
  const [o] = await p.processBatch(0, [{ key: null, value: codec.encode('RawConnectEvent', rawOf({ addr: '10.244.1.5', sec: 150, name: null }, 1)), offset: '0' }]);
  const dst = codec.decodeAs('AuditRecord', (o as { value: Buffer }).value).dst!;
  assert.deepEqual([dst.pod, dst.service, dst.scope], [null, null, null]);
});

test('DNS lookups are attributed like connects, their server joined; their own sequence stays out of the connect loss accounting', async () => {
  const p = new EnrichProcessor(codec, nobody, { concurrency: 2, topic: 'raw', destinations: join() }, silent);
  const connect = (seq: number) => ({ key: Buffer.from('k'), value: codec.encode('RawConnectEvent', rawOf({ addr: '93.184.216.34', sec: 150, name: 'www.example.com' }, seq)), offset: String(seq) });
  // Capture numbers DNS records in a sequence of their own (queries and folded repeats take
  // numbers too): DNS seq 50 between connects 1 and 2 is neither a gap nor a duplicate.
  const lookup = { key: Buffer.from('k'), value: codec.encode('DnsLookup', sampleLookup({ seq: 50n, eventId: 'node-a:7f3c2d:dns:50', time: at(149) })), offset: '2' };
  const out: OutMessage[] = await p.processBatch(3, [connect(1), lookup, connect(2)]);
  assert.deepEqual(out.map((o) => o.kind), ['audit', 'audit', 'audit']);
  assert.ok(out.every((o) => o.kind === 'audit' && o.record.attribution.status !== 'LOSS'), 'no LOSS from the DNS sequence');
  const rec = codec.decodeAs('AuditDnsLookup', (out[1] as { value: Buffer }).value) as AuditDnsLookup;
  assert.equal(rec.query, 'www.example.com');
  assert.equal(rec.attribution.status, 'UNRESOLVED', 'attributed like the connects of the same cgroup');
  assert.equal((out[0] as { record: AuditRecord }).record.attribution.status, rec.attribution.status);
  assert.equal(rec.pod?.uid, '35b82523-06c1-48e7-9e61-2521a89b703b', 'pod uid from the cgroup path, as for connects');
  assert.equal(rec.dst.scope, 'service', 'the resolver 10.96.0.10 is in the service range');
  assert.equal(rec.answers.length, 2);
  // A lookup does not fill a hole in the connects' sequence either: without connect 2 the gap
  // is reported once the window passes, although a lookup numbered 2 (in its own sequence) came.
  const q = new EnrichProcessor(codec, nobody, { concurrency: 2, topic: 'raw', gapWindow: 1 }, silent);
  const dns2 = { ...lookup, value: codec.encode('DnsLookup', sampleLookup({ seq: 2n, eventId: 'node-a:7f3c2d:dns:2', time: at(149) })) };
  const gap = await q.processBatch(3, [connect(1), dns2, connect(3), connect(4)]);
  assert.ok(gap.some((o) => o.kind === 'audit' && o.record.attribution.status === 'LOSS'));
});

test('a damaged DNS lookup goes to the DLQ with its offset; the records around it are kept', async () => {
  const p = new EnrichProcessor(codec, nobody, { concurrency: 2, topic: 'raw', destinations: join() }, silent);
  const good = codec.encode('DnsLookup', sampleLookup());
  const msgs: InMessage[] = [
    { key: null, value: codec.encode('RawConnectEvent', rawOf({ addr: '10.244.1.5', sec: 150, name: null }, 1)), offset: '10' },
    { key: null, value: good.subarray(0, good.length - 7), offset: '11' },
    { key: null, value: Buffer.concat([good, Buffer.from([0])]), offset: '12' },
    { key: null, value: codec.encode('DnsLookup', sampleLookup({ seq: 2n })), offset: '13' },
  ];
  const out = await p.processBatch(0, msgs);
  assert.deepEqual(out.map((o) => o.kind), ['audit', 'dlq', 'dlq', 'audit']);
  for (const o of out.filter((x) => x.kind === 'dlq')) assert.ok(o.kind === 'dlq' && o.value && o.headers['podtrail-error-code'], 'the bytes and the error go to the DLQ');
  assert.deepEqual(out.filter((x) => x.kind === 'dlq').map((o) => (o as { headers: Record<string, string> }).headers['podtrail-source-offset']), ['11', '12']);
  // An AuditDnsLookup on the raw topic is not enrich's input.
  const [wrong] = await p.processBatch(0, [{ key: null, value: codec.encode('AuditDnsLookup', { ...sampleLookup(), container: null, pod: null, attribution: { status: 'HOST', source: null, reason: null } }), offset: '14' }]);
  assert.equal(wrong?.kind, 'dlq');
});

test('the inventory reads the real dst fields (written through the schema) and passes over DNS lookups', async () => {
  const { AuditProjection } = await import('../../src/inventory/projection.js');
  const { connOf } = await import('../../src/inventory/conn.js');
  const { readJsonLines } = await import('../../src/inventory/json-input.js');
  const { Readable } = await import('node:stream');
  const { auditToJson, lookupToJson } = await import('../../src/schema/json-form.js');
  const { sampleAudit, sampleAuditLookup } = await import('../helpers/records.js');
  const proj = new AuditProjection();
  const rec = sampleAudit({ dst: { ...sampleAudit().dst!, name: { ...SAMPLE_NAME, name: 'db.data.svc.cluster.local', cnames: ['db-0.db.data.svc.cluster.local'] }, pod: null, service: { name: 'db', namespace: 'data' }, scope: 'service' } });
  const conn = connOf(proj.decode(codec.encode('AuditRecord', rec)))!;
  assert.equal((conn.dst.name as { name: string }).name, 'db.data.svc.cluster.local');
  assert.deepEqual([...((conn.dst.name as { cnames: string[] }).cnames)], ['db-0.db.data.svc.cluster.local']);
  assert.deepEqual({ ...conn.dst.service }, { name: 'db', namespace: 'data' });
  const lk = codec.encode('AuditDnsLookup', sampleAuditLookup());
  assert.equal(proj.isLookup(lk), true);
  assert.equal(proj.isLookup(codec.encode('AuditRecord', rec)), false);
  const seen: unknown[] = [];
  const bad: unknown[] = [];
  const text = [JSON.stringify(auditToJson(rec)), JSON.stringify(lookupToJson(sampleAuditLookup()))].join('\n');
  await readJsonLines(Readable.from([text]), (r) => seen.push(r), (n, why) => bad.push([n, why]));
  assert.equal(seen.length, 1);
  assert.deepEqual(bad, []);
});
