// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Codec, HEADER_BYTES } from '../../src/schema/codec.js';
import { DecodeError, EncodeError } from '../../src/common/errors.js';
import { plain, sampleAudit, sampleRaw } from '../helpers/records.js';
import { BARE_ENDPOINT } from '../../src/schema/endpoint.js';

const codec = new Codec();

test('RawConnectEvent round-trips through single-object encoding', () => {
  const raw = sampleRaw({ family: 'IPv6', src: { ...BARE_ENDPOINT, addr: Buffer.alloc(16, 1), port: 1 }, dst: { ...BARE_ENDPOINT, addr: Buffer.alloc(16, 2), port: 65535 } });
  const buf = codec.encode('RawConnectEvent', raw);
  assert.equal(buf[0], 0xc3);
  assert.equal(buf[1], 0x01);
  assert.equal(buf.readBigUInt64LE(2), codec.set.get('RawConnectEvent').fingerprint);
  const back = codec.decode(buf);
  assert.equal(back.schema, 'RawConnectEvent');
  assert.deepEqual(plain(back.value), raw);
  assert.equal(back.writerVersion, 'current');
});

test('AuditRecord round-trips, including a LOSS record with null connection fields', () => {
  const a = sampleAudit();
  assert.deepEqual(plain(codec.decodeAs('AuditRecord', codec.encode('AuditRecord', a))), a);
  const loss = {
    ...sampleAudit(), protocol: null, family: null, src: null, dst: null, result: null, process: null,
    netns: null, mntns: null, pidns: null, utsName: null, cgroup: null, container: null, pod: null,
    attribution: { status: 'LOSS' as const, source: 'enrich', reason: 'SEQUENCE_GAP' },
    loss: { instance: '7f3c2d', fromSeq: 10n, toSeq: 14n, count: 5n, cause: 'SEQUENCE_GAP' as const, firstTime: null, lastTime: null },
  };
  assert.deepEqual(plain(codec.decodeAs('AuditRecord', codec.encode('AuditRecord', loss))), loss);
});

test('nanosecond times above 2^53 survive exactly', () => {
  const raw = sampleRaw({ time: 9_007_199_254_740_993_123n });
  assert.equal(codec.decodeAs('RawConnectEvent', codec.encode('RawConnectEvent', raw)).time, 9_007_199_254_740_993_123n);
});

test('encoding an invalid value throws EncodeError naming the field', () => {
  const bad = sampleRaw({ protocol: 'SCTP' as never });
  assert.throws(() => codec.encode('RawConnectEvent', bad), (e: unknown) => e instanceof EncodeError && /protocol/.test(e.message));
});

test('decodeAs rejects a record of another schema', () => {
  const buf = codec.encode('AuditRecord', sampleAudit());
  assert.throws(() => codec.decodeAs('RawConnectEvent', buf), DecodeError);
});

const expectDecodeError = (buf: Buffer, code: DecodeError['code']) =>
  assert.throws(() => codec.decode(buf), (e: unknown) => e instanceof DecodeError && e.code === code, `want ${code}`);

test('bad bytes give typed errors', () => {
  const good = codec.encode('RawConnectEvent', sampleRaw());
  expectDecodeError(Buffer.alloc(0), 'TRUNCATED');
  expectDecodeError(good.subarray(0, 5), 'TRUNCATED');
  expectDecodeError(Buffer.from('{"json":"not avro"}'), 'BAD_MAGIC');
  const unknown = Buffer.from(good);
  unknown.writeBigUInt64LE(0x0123456789abcdefn, 2);
  expectDecodeError(unknown, 'UNKNOWN_FINGERPRINT');
  expectDecodeError(good.subarray(0, good.length - 3), 'TRUNCATED');
  expectDecodeError(Buffer.concat([good, Buffer.from([0])]), 'INVALID');
  // An enum index past the symbols: avsc would hand back undefined without our validation.
  const header = good.subarray(0, HEADER_BYTES);
  const badEnum = Buffer.from(good);
  const protoOffset = findProtocolOffset(good);
  badEnum[protoOffset] = 0x7e; // zigzag 63
  assert.notDeepEqual(badEnum, good);
  assert.throws(() => codec.decode(badEnum), DecodeError);
  assert.equal(header.length, HEADER_BYTES);
});

test('any bytes at all decode or throw DecodeError, never anything else', () => {
  const good = codec.encode('RawConnectEvent', sampleRaw());
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (body, keepHeader) => {
      const buf = keepHeader ? Buffer.concat([good.subarray(0, HEADER_BYTES), body]) : Buffer.from(body);
      try {
        codec.decode(buf);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
    }),
    { numRuns: 3000 },
  );
  // Mutations of a valid record, byte by byte.
  fc.assert(
    fc.property(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
      const buf = Buffer.from(good);
      buf[i] = v;
      try { codec.decode(buf); } catch (e) { if (!(e instanceof DecodeError)) throw e; }
    }),
    { numRuns: 3000 },
  );
});

/** Offset of the protocol enum: after eventId, seq, instance, time, node. */
function findProtocolOffset(buf: Buffer): number {
  const raw = sampleRaw();
  const lenPrefixed = (s: string) => zigzagLen(Buffer.byteLength(s)) + Buffer.byteLength(s);
  return HEADER_BYTES + lenPrefixed(raw.eventId) + varLen(raw.seq) + lenPrefixed(raw.instance) + varLen(raw.time) + lenPrefixed(raw.node);
  function zigzagLen(n: number) { return varLen(BigInt(n)); }
  function varLen(n: bigint) { let z = (n << 1n) ^ (n >> 63n); let c = 1; while (z >= 0x80n) { z >>= 7n; c++; } return c; }
}
