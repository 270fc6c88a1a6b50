// SPDX-License-Identifier: Apache-2.0
// The enrich fast path (raw bytes -> audit bytes) against the general path (decode,
// attribute, encode): byte for byte on valid records of any content, never accepting what
// the general path would send to the DLQ, and the same processor output either way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino } from 'pino';
import { Codec } from '../../src/schema/codec.js';
import { attribute, type Attribution } from '../../src/enrich/attribute.js';
import { auditFromRaw } from '../../src/enrich/audit.js';
import { AuditTranscoder, TranscodedAudit } from '../../src/enrich/transcode.js';
import { EnrichProcessor, type InMessage, type OutMessage } from '../../src/enrich/processor.js';
import type { MetadataResolver, ResolveResult } from '../../src/runtime/types.js';
import type { RawConnectEvent } from '../../src/schema/types.js';
import { plain, sampleRaw } from '../helpers/records.js';

const codec = new Codec();
const tc = AuditTranscoder.create(codec)!;
const ID = 'b5fa49123b796b99fe605af0f8d019f3b3a8cb445b529b892e0d3788682469af';
const UID = '35b82523-06c1-48e7-9e61-2521a89b703b';
const POD_PATH = `/kubepods/burstable/pod${UID}/${ID}`;
const found: Extract<ResolveResult, { ok: true }> = {
  ok: true, source: 'test',
  meta: {
    id: ID, runtime: 'docker', name: 'app', image: 'nginx:1.27', hostname: 'web', isSandbox: false, sandboxId: null,
    pod: { name: 'web', namespace: 'shop', uid: UID, labels: { app: 'web', 'ünï': 'çødé', '__proto__': 'x' }, annotations: {}, hostNetwork: false },
    networkMode: null, utsMode: null,
  },
};

/** One of each attribution shape. */
function attributions(raw: RawConnectEvent): Attribution[] {
  const node = { hostname: raw.node };
  return [
    attribute({ cgroupPath: POD_PATH, utsName: raw.utsName, netns: raw.netns, node, resolved: found }),
    attribute({ cgroupPath: POD_PATH, utsName: 'web-1', netns: raw.netns, node, resolved: { ok: false, code: 'BAD_JSON', reason: 'bad' } }),
    attribute({ cgroupPath: `/docker/${ID}`, node, resolved: { ...found, meta: { ...found.meta, pod: null } } }),
    attribute({ cgroupPath: '/', node }),
    attribute({ cgroupPath: '/a/../b', node }),
  ];
}

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const rawArb: fc.Arbitrary<RawConnectEvent> = fc.record({
  eventId: text, seq: int64, instance: text, time: int64, node: text,
  protocol: fc.constantFrom('TCP', 'UDP'), family: fc.constantFrom('IPv4', 'IPv6'),
  src: fc.record({ addr: fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)), port: int32 }),
  dst: fc.record({ addr: fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)), port: int32 }),
  result: fc.record({ status: fc.constantFrom('OK', 'INPROGRESS', 'REFUSED', 'TIMEOUT', 'UNREACHABLE', 'ERROR'), errno: int32 }),
  process: fc.record({ pid: int32, tid: int32, ppid: int32, uid: int64, gid: int64, comm: text, startTime: int64, nsPid: int32 }),
  netns: int64, mntns: int64, pidns: int64, utsName: text,
  cgroup: fc.record({ id: int64, path: fc.oneof(text, fc.constant(POD_PATH)) }),
}) as fc.Arbitrary<RawConnectEvent>;

test('the fast path is on for the current schemas', () => {
  assert.ok(tc, 'AuditTranscoder.create() refused the current schemas');
});

test('any valid raw record: the fields read and the audit bytes equal the general path', () => {
  fc.assert(
    fc.property(rawArb, (raw) => {
      const buf = codec.encode('RawConnectEvent', raw);
      const f = tc.read(buf);
      assert.ok(f);
      const { memo: _memo, dstStart: _s, dstEnd: _e, ...fields } = f;
      assert.deepEqual(fields, { node: raw.node, instance: raw.instance, seq: raw.seq, time: raw.time, netns: raw.netns, utsName: raw.utsName, cgroupPath: raw.cgroup.path });
      for (const a of attributions(raw)) assert.deepEqual(tc.write(buf, f, a), codec.encode('AuditRecord', auditFromRaw(raw, a)));
    }),
    { numRuns: 2000 },
  );
});

test('damaged records: accepted only when the general path accepts them too, with the same result', () => {
  const base = sampleRaw({ cgroup: { id: 7n, path: POD_PATH } });
  const good = codec.encode('RawConnectEvent', base);
  let accepted = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), fc.integer({ min: -3, max: 3 }), (edits, grow) => {
      let buf = Buffer.from(good);
      for (const [i, v] of edits) buf[i] = v;
      buf = grow < 0 ? buf.subarray(0, buf.length + grow) : Buffer.concat([buf, Buffer.alloc(grow)]);
      const f = tc.read(buf);
      if (!f) return;
      accepted++;
      const raw = codec.decodeAs('RawConnectEvent', buf); // throws (fails the test) if the general path would DLQ it
      const a = attributions(raw)[0]!;
      assert.deepEqual(plain(codec.decodeAs('AuditRecord', tc.write(buf, f, a))), plain(codec.decodeAs('AuditRecord', codec.encode('AuditRecord', auditFromRaw(raw, a)))));
    }),
    { numRuns: 5000 },
  );
  assert.ok(accepted > 100, `some damaged records still parse (${accepted})`);
});

test('other framings and older schemas are left to the general path', () => {
  const good = codec.encode('RawConnectEvent', sampleRaw());
  const otherFp = Buffer.from(good);
  otherFp[5] = otherFp[5]! ^ 0xff;
  assert.equal(tc.read(otherFp), undefined);
  assert.equal(tc.read(Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), good.subarray(10)])), undefined);
  assert.equal(tc.read(good.subarray(0, 9)), undefined);
});

const answer = (id: string): ResolveResult => (id === ID ? found : { ok: false, code: 'NOT_FOUND', reason: 'none' });
class Resolver implements MetadataResolver {
  async resolve(id: string): Promise<ResolveResult> { return answer(id); }
}
/** Answers half of the lookups from "cache" (peek), the rest asynchronously. */
class PeekResolver extends Resolver {
  private n = 0;
  peek(id: string): ResolveResult | undefined { return this.n++ % 2 ? answer(id) : undefined; }
}

for (const R of [Resolver, PeekResolver]) test(`the processor gives the same outputs with and without the fast path (${R.name})`, async () => {
  const log = pino({ level: 'silent' });
  const fast = new EnrichProcessor(codec, new R(), { concurrency: 4, topic: 'raw' }, log);
  const slow = new EnrichProcessor(codec, new R(), { concurrency: 4, topic: 'raw', encodeAudit: (r) => codec.encode('AuditRecord', r) }, log);
  const msgs: InMessage[] = [];
  const paths = [POD_PATH, '/', `/docker/${ID}`, `/kubepods/besteffort/pod${UID}/${'c'.repeat(64)}`, '/x/../y'];
  for (let i = 0; i < 200; i++) {
    // seq 50 is missing: both report the same LOSS record.
    if (i === 50) continue;
    const raw = sampleRaw({ seq: BigInt(i + 1), eventId: `n:i:${i + 1}`, node: 'n', instance: 'i', cgroup: { id: BigInt(i % 5), path: paths[i % 5]! } });
    msgs.push({ key: Buffer.from(`n/${i % 5}`), value: codec.encode('RawConnectEvent', raw), offset: String(i) });
  }
  msgs.push({ key: null, value: Buffer.from('garbage'), offset: '999' });
  const gapWindowed = (p: EnrichProcessor) => p.processBatch(0, msgs).then((o) => [...o, ...p.flushLosses()]);
  const [a, b] = await Promise.all([gapWindowed(fast), gapWindowed(slow)]);
  const view = (o: OutMessage) => (o.kind === 'audit' ? { kind: o.kind, key: String(o.key), value: o.value.toString('hex') } : { kind: o.kind, key: String(o.key), error: o.error });
  assert.deepEqual(a.map(view), b.map(view));
  assert.ok(a.filter((o) => o instanceof TranscodedAudit).length >= 190, 'fast path taken');
  assert.equal(b.filter((o) => o instanceof TranscodedAudit).length, 0);
  assert.deepEqual(fast.stats, slow.stats);
  const t = a.find((o): o is TranscodedAudit => o instanceof TranscodedAudit)!;
  assert.deepEqual(plain(t.record), plain(codec.decodeAs('AuditRecord', t.value)));
});
