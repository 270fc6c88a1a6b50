// SPDX-License-Identifier: Apache-2.0
// The hand-written RawConnectEvent encoder against the Codec: byte-identical for any
// event, the Codec's errors for bad ones, and out of the way when the schema differs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EncodeError } from '../../src/common/errors.js';
import { Codec } from '../../src/schema/codec.js';
import type { RawConnectEvent } from '../../src/schema/types.js';
import { RAW_WRITER_FINGERPRINT, RawWriter } from '../../src/capture/raw-writer.js';
import { sampleRaw } from '../helpers/records.js';
import { BARE_ENDPOINT } from '../../src/schema/endpoint.js';

const codec = new Codec();
const writer = new RawWriter(codec);

const long = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.bigInt({ min: -(2n ** 53n), max: 2n ** 53n }),
  fc.constantFrom(0n, -1n, 1n, 63n, 64n, -64n, -65n, 2n ** 52n - 1n, 2n ** 52n, -(2n ** 52n), -(2n ** 52n) - 1n, 2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n), 1_796_005_677_612_560_689n),
);
const int = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom(0, -1, 63, 64, -65, 2 ** 31 - 1, -(2 ** 31)));
const str = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 300 }));
const addr = fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })).map((a) => Buffer.from(a));

// Now and then a long one: paths and argv as capture renders them reach 16 KiB.
const longStr = fc.oneof({ arbitrary: str, weight: 20 }, { arbitrary: fc.string({ minLength: 1000, maxLength: 17000 }), weight: 1 });
const ref = fc.record({ pid: int, comm: str, exe: fc.option(longStr, { nil: null }) });
const event: fc.Arbitrary<RawConnectEvent> = fc.record({
  eventId: str, seq: long, instance: str, time: long, node: str,
  protocol: fc.constantFrom('TCP', 'UDP'), family: fc.constantFrom('IPv4', 'IPv6'),
  src: fc.record({ addr, port: int }), dst: fc.record({ addr, port: int }),
  result: fc.record({ status: fc.constantFrom('OK', 'INPROGRESS', 'REFUSED', 'TIMEOUT', 'UNREACHABLE', 'ERROR'), errno: int }),
  process: fc.record({
    pid: int, tid: int, ppid: int, uid: long, gid: long, comm: str, startTime: long, nsPid: int,
    key: long, exe: fc.option(longStr, { nil: null }),
    args: fc.oneof(fc.array(str, { maxLength: 8 }), fc.array(longStr, { maxLength: 130 })), argsTruncated: fc.boolean(),
    parent: fc.option(ref, { nil: null }), ancestry: fc.array(ref, { maxLength: 8 }), exeFlags: fc.array(str, { maxLength: 6 }),
  }),
  netns: long, mntns: long, pidns: long, utsName: str,
  cgroup: fc.record({ id: long, path: fc.oneof(str, fc.string({ minLength: 200, maxLength: 5000 })) }),
}) as fc.Arbitrary<RawConnectEvent>;

test('the writer is on for the current schema', () => {
  assert.equal(writer.fast, true);
  assert.equal(codec.set.get('RawConnectEvent').fingerprint, RAW_WRITER_FINGERPRINT);
});

test('bytes are identical to Codec.encode for any event, and decode back', () => {
  fc.assert(
    fc.property(event, (e) => {
      const mine = writer.encode(e);
      assert.deepEqual(mine, codec.encode('RawConnectEvent', e));
      assert.equal(codec.decode(mine).schema, 'RawConnectEvent');
    }),
    { numRuns: 3000 },
  );
});

test('consecutive events do not share or overwrite each other\'s bytes', () => {
  const a = writer.encode(sampleRaw({ seq: 1n }));
  const copy = Buffer.from(a);
  writer.encode(sampleRaw({ seq: 2n, cgroup: { id: 9n, path: '/x'.repeat(3000) } }));
  assert.deepEqual(a, copy);
});

test('one process\'s identity is encoded once and reused; a changed identity is encoded anew', () => {
  const ancestry = [{ pid: 1, comm: 'sh', exe: '/bin/sh' }, { pid: 0, comm: 'init', exe: null }];
  const p = { ...sampleRaw().process, key: 77n, exe: '/usr/bin/curl', args: ['curl', 'https://x'], parent: ancestry[0]!, ancestry, exeFlags: ['DELETED'] };
  for (const over of [{}, { seq: 9n }, { process: { ...p, tid: 5 } }]) {
    const e = sampleRaw({ process: p, ...over });
    assert.deepEqual(writer.encode(e), codec.encode('RawConnectEvent', e));
  }
  // The same ancestry array under another exe, key or args (a bug elsewhere must not make
  // the cache write the wrong process).
  for (const q of [{ ...p, exe: '/usr/bin/wget' }, { ...p, key: 78n }, { ...p, args: ['curl'] }, { ...p, argsTruncated: true }, { ...p, parent: null }]) {
    const e = sampleRaw({ process: q });
    assert.deepEqual(writer.encode(e), codec.encode('RawConnectEvent', e));
  }
});

test('values outside the schema get the Codec\'s EncodeError', () => {
  const bad: Array<Partial<RawConnectEvent>> = [
    { seq: 2n ** 63n },
    { protocol: 'SCTP' as never },
    { result: { status: 'MAYBE' as never, errno: 0 } },
    { process: { ...sampleRaw().process, pid: 2 ** 31 } },
    { process: { ...sampleRaw().process, uid: 0 as never } },
    { process: { ...sampleRaw().process, args: ['ok', 7 as never] } },
    { process: { ...sampleRaw().process, exe: Buffer.from('/bin/sh') as never } },
    { process: { ...sampleRaw().process, parent: { pid: 2 ** 31, comm: 'x', exe: null } } },
    { process: { ...sampleRaw().process, ancestry: [{ pid: 1, comm: null as never, exe: null }] } },
    { process: { ...sampleRaw().process, exeFlags: [null as never] } },
    { src: { ...BARE_ENDPOINT, addr: 'not bytes' as never, port: 1 } },
    { cgroup: undefined as never },
  ];
  for (const b of bad) {
    assert.throws(() => writer.encode(sampleRaw(b)), EncodeError, JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
  }
});

test('another RawConnectEvent schema: everything goes to the codec', () => {
  const calls: unknown[] = [];
  const other = {
    set: { get: () => ({ fingerprint: 1n }) },
    encode: (_n: string, v: unknown) => {
      calls.push(v);
      return Buffer.from('x');
    },
  } as unknown as Codec;
  const w = new RawWriter(other);
  assert.equal(w.fast, false);
  assert.deepEqual(w.encode(sampleRaw()), Buffer.from('x'));
  assert.equal(calls.length, 1);
});
