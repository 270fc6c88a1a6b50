// SPDX-License-Identifier: Apache-2.0
// enrich's side of a capture restart: the successor's CAPTURE_RESTART announcement closes the
// ended instance's stream with its open holes, a gap for seqs capture had acknowledged but the
// partition never held, and one LOSS of unknown count from where the stream really stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { LossTracker } from '../../src/enrich/loss-tracker.js';
import { EnrichProcessor } from '../../src/enrich/processor.js';
import { Codec } from '../../src/schema/codec.js';
import type { AuditRecord, CaptureLoss } from '../../src/schema/types.js';
import { sampleRaw } from '../helpers/records.js';

const feed = (t: LossTracker, seqs: number[], instance = 'old1') =>
  seqs.flatMap((q) => t.observe(0, 'node-a', instance, BigInt(q), BigInt(q) * 1000n));

const end = (fromSeq: bigint, over: Partial<CaptureLoss> = {}): CaptureLoss => ({
  eventId: 'node-a:old1:end', time: 99_000n, node: 'node-a', instance: 'old1', fromSeq, toSeq: fromSeq - 1n, count: 0n,
  cause: 'CAPTURE_RESTART', firstTime: (fromSeq - 1n) * 1000n, lastTime: 90_000n, ...over,
});

const brief = (l: { fromSeq: bigint; toSeq: bigint; count: bigint; cause: string; firstTime: bigint | null; lastTime: bigint | null }) =>
  [l.cause, l.fromSeq, l.toSeq, l.count, l.firstTime, l.lastTime];

test('the end starts after the last seq the partition held, not where a stale state file says', () => {
  const t = new LossTracker(100);
  feed(t, [1, 2, 3, 4, 5, 6, 7]);
  const out = t.instanceEnded(0, end(5n));
  assert.deepEqual(out.map(brief), [['CAPTURE_RESTART', 8n, 7n, 0n, 7000n, 90_000n]]);
  assert.equal(out[0]!.eventId, 'node-a:old1:end');
});

test('open holes are declared first, then the end', () => {
  const t = new LossTracker(100);
  feed(t, [1, 2, 5, 6]);
  const out = t.instanceEnded(0, end(7n));
  assert.deepEqual(out.map(brief), [['SEQUENCE_GAP', 3n, 4n, 2n, 2000n, 5000n], ['CAPTURE_RESTART', 7n, 6n, 0n, 6000n, 90_000n]]);
});

test('seqs capture had acknowledged but the partition never held are a gap of known size', () => {
  const t = new LossTracker(100);
  feed(t, [1, 2, 3]);
  const out = t.instanceEnded(0, end(11n));
  assert.deepEqual(out.map(brief), [['SEQUENCE_GAP', 4n, 10n, 7n, 3000n, 10_000n], ['CAPTURE_RESTART', 11n, 10n, 0n, 10_000n, 90_000n]]);
});

test('an instance enrich never saw (a replay window, a restarted enrich) ends where capture says', () => {
  const t = new LossTracker(100);
  assert.deepEqual(t.instanceEnded(0, end(42n)).map(brief), [['CAPTURE_RESTART', 42n, 41n, 0n, 41_000n, 90_000n]]);
});

test('a repeated announcement is reported once; other instances and partitions are untouched', () => {
  const t = new LossTracker(2);
  feed(t, [1, 2, 3]);
  feed(t, [1, 2, 4], 'new1');
  assert.equal(t.instanceEnded(0, end(4n)).length, 1);
  assert.deepEqual(t.instanceEnded(0, end(4n)), []);
  assert.equal(t.instanceEnded(1, end(4n)).length, 1, 'another partition is another stream');
  assert.deepEqual(feed(t, [5, 6, 7], 'new1').map((l) => [l.instance, l.fromSeq, l.toSeq]), [['new1', 3n, 3n]]);
});

test('rollback forgets an end reported in a failed transaction', () => {
  const t = new LossTracker(100);
  feed(t, [1, 2]);
  const cp = t.checkpoint();
  assert.equal(t.instanceEnded(0, end(3n)).length, 1);
  t.rollback(cp);
  assert.deepEqual(t.instanceEnded(0, end(3n)).map(brief), [['CAPTURE_RESTART', 3n, 2n, 0n, 2000n, 90_000n]]);
});

test('the processor turns the announcement into LOSS audit records with a reason saying the count is unknown', async () => {
  const codec = new Codec();
  const resolver = { resolve: async () => ({ ok: false as const, reason: 'none', code: 'NOT_FOUND' as const }) };
  const p = new EnrichProcessor(codec, resolver as never, { concurrency: 4, topic: 'raw', gapWindow: 100 }, pino({ level: 'silent' }));
  const raws = [1n, 2n, 4n].map((seq) => ({ key: Buffer.from('node-a/1'), value: codec.encode('RawConnectEvent', sampleRaw({ node: 'node-a', instance: 'old1', seq, eventId: `node-a:old1:${seq}`, cgroup: { id: 1n, path: '/' } })), offset: String(seq) }));
  const ann = { key: Buffer.from('node-a/loss'), value: codec.encode('CaptureLoss', end(3n)), offset: '9' };
  const out = await p.processBatch(0, [...raws, ann, ann]);
  const recs = out.map((o) => (o.kind === 'audit' ? o.record as AuditRecord : assert.fail('no DLQ expected')));
  assert.deepEqual(recs.map((r) => [r.attribution.status, r.seq]), [['HOST', 1n], ['HOST', 2n], ['HOST', 4n], ['LOSS', 3n], ['LOSS', 5n]]);
  const last = recs.at(-1)!;
  assert.deepEqual({ ...last.loss, firstTime: null, lastTime: null }, { instance: 'old1', fromSeq: 5n, toSeq: 4n, count: 0n, cause: 'CAPTURE_RESTART', firstTime: null, lastTime: null });
  assert.match(last.attribution.reason!, /how many is unknown/);
  assert.equal(last.eventId, 'node-a:old1:end');
  assert.equal(recs[3]!.loss!.cause, 'SEQUENCE_GAP');
});

test('a forged announcement (fromSeq at the bottom of a long) still gives a LOSS that encodes', async () => {
  const codec = new Codec();
  const p = new EnrichProcessor(codec, { resolve: async () => ({ ok: false as const, reason: 'none', code: 'NOT_FOUND' as const }) } as never,
    { concurrency: 1, topic: 'raw', gapWindow: 1 }, pino({ level: 'silent' }));
  const forged = end(-(1n << 63n), { toSeq: 0n, firstTime: 1n });
  const out = await p.processBatch(0, [{ key: null, value: codec.encode('CaptureLoss', forged), offset: '0' }]);
  assert.equal(out.length, 1);
  const rec = codec.decodeAs('AuditRecord', out[0]!.value as Buffer);
  assert.deepEqual([rec.loss!.fromSeq, rec.loss!.toSeq, rec.loss!.count], [1n, 0n, 0n]);
});
