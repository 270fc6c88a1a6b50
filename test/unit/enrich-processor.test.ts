// SPDX-License-Identifier: Apache-2.0
// The enrich processor's routing with a fake resolver (pure logic): audit, DLQ, LOSS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Codec } from '../../src/schema/codec.js';
import { DLQ_HEADERS, EnrichProcessor, type InMessage } from '../../src/enrich/processor.js';
import type { MetadataResolver, ResolveResult } from '../../src/runtime/types.js';
import { sampleRaw } from '../helpers/records.js';
import type { AuditRecord } from '../../src/schema/types.js';

const codec = new Codec();
const ID = 'b5fa49123b796b99fe605af0f8d019f3b3a8cb445b529b892e0d3788682469af';
const POD_UID = '35b82523-06c1-48e7-9e61-2521a89b703b';

class FakeResolver implements MetadataResolver {
  calls: string[] = [];
  constructor(private readonly answer: ResolveResult | Error) {}
  async resolve(id: string): Promise<ResolveResult> {
    this.calls.push(id);
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }
}

const found: ResolveResult = {
  ok: true, source: 'docker:config.v2.json',
  meta: {
    id: ID, runtime: 'docker', name: 'app', image: 'nginx:1.27', hostname: 'web-7d9f', isSandbox: false, sandboxId: 'f'.repeat(64),
    pod: { name: 'web-7d9f', namespace: 'shop', uid: POD_UID, labels: { app: 'web' }, annotations: {}, hostNetwork: false },
    networkMode: 'container:' + 'f'.repeat(64), utsMode: null,
  },
};

const msg = (value: Buffer | null, offset = '0'): InMessage => ({ key: Buffer.from('node-a/1234'), value, offset });
const proc = (r: MetadataResolver) => new EnrichProcessor(codec, r, { concurrency: 4, topic: 'raw' }, pino({ level: 'silent' }));

test('a raw event in a pod cgroup becomes a POD audit record under the same key', async () => {
  const r = new FakeResolver(found);
  const [out] = await proc(r).processBatch(0, [msg(codec.encode('RawConnectEvent', sampleRaw()))]);
  assert.equal(out?.kind, 'audit');
  if (out?.kind !== 'audit') return;
  assert.deepEqual(r.calls, [ID]);
  assert.equal(String(out.key), 'node-a/1234');
  const rec = codec.decodeAs('AuditRecord', out.value);
  assert.equal(rec.attribution.status, 'POD');
  assert.equal(rec.attribution.source, 'docker');
  assert.equal(rec.pod?.name, 'web-7d9f');
  assert.deepEqual({ ...rec.pod?.labels }, { app: 'web' });
  assert.equal(rec.container?.name, 'app');
  assert.equal(rec.eventId, sampleRaw().eventId);
});

test('missing metadata or a throwing resolver still gives a record: UNRESOLVED with the ids from the path', async () => {
  for (const r of [new FakeResolver({ ok: false, reason: 'no metadata found', code: 'NOT_FOUND' }), new FakeResolver(new Error('boom'))]) {
    const [out] = await proc(r).processBatch(0, [msg(codec.encode('RawConnectEvent', sampleRaw()))]);
    assert.equal(out?.kind, 'audit');
    if (out?.kind !== 'audit') return;
    assert.equal(out.record.attribution.status, 'UNRESOLVED');
    assert.equal(out.record.container?.id, ID);
    assert.equal(out.record.pod?.uid, POD_UID);
    assert.ok(out.record.attribution.reason);
  }
});

test('a host process is HOST without any lookup; a hostile path is UNRESOLVED without any lookup', async () => {
  const r = new FakeResolver(found);
  const outs = await proc(r).processBatch(0, [
    msg(codec.encode('RawConnectEvent', sampleRaw({ cgroup: { id: 1n, path: '/' } }))),
    msg(codec.encode('RawConnectEvent', sampleRaw({ cgroup: { id: 2n, path: `/kubepods/burstable/pod${POD_UID}/../../../etc/${ID}` } }))),
  ]);
  assert.deepEqual(r.calls, []);
  assert.deepEqual(outs.map((o) => o.kind === 'audit' && o.record.attribution.status), ['HOST', 'UNRESOLVED']);
});

test('undecodable messages go to the DLQ with the error in headers, in input order', async () => {
  const p = proc(new FakeResolver(found));
  const outs = await p.processBatch(3, [
    msg(codec.encode('RawConnectEvent', sampleRaw()), '10'),
    msg(Buffer.from('garbage'), '11'),
    msg(null, '12'),
    msg(codec.encode('RawConnectEvent', sampleRaw({ seq: 2n })), '13'),
  ]);
  assert.deepEqual(outs.map((o) => o.kind), ['audit', 'dlq', 'dlq', 'audit']);
  const d = outs[1]!;
  assert.equal(d.kind, 'dlq');
  if (d.kind !== 'dlq') return;
  assert.equal(d.headers[DLQ_HEADERS.code], 'BAD_MAGIC');
  assert.equal(d.headers[DLQ_HEADERS.partition], '3');
  assert.equal(d.headers[DLQ_HEADERS.offset], '11');
  assert.equal(d.headers[DLQ_HEADERS.topic], 'raw');
  assert.deepEqual(d.value, Buffer.from('garbage'));
  assert.equal(p.stats.dlq, 2);
  assert.equal(p.stats.audit, 2);
});

test('a CaptureLoss on the raw topic becomes a LOSS audit record', async () => {
  const loss = { eventId: 'node-a:i1:loss:5-9', time: 10n, node: 'node-a', instance: 'i1', fromSeq: 5n, toSeq: 9n, count: 5n, cause: 'CAPTURE_BUFFER' as const, firstTime: 1n, lastTime: 2n };
  const [out] = await proc(new FakeResolver(found)).processBatch(0, [msg(codec.encode('CaptureLoss', loss))]);
  assert.equal(out?.kind, 'audit');
  if (out?.kind !== 'audit') return;
  assert.equal(out.record.attribution.status, 'LOSS');
  assert.equal((out.record as AuditRecord).loss?.count, 5n);
  assert.equal(out.record.process, null);
  assert.match(out.record.attribution.reason ?? '', /5 connection\(s\) missed on node-a, seq 5\.\.9/);
});
