// SPDX-License-Identifier: Apache-2.0
// The bigint Avro long: the exact wire bytes of the Avro spec over the whole int64 range,
// the same bytes as avsc's own long where that is exact, and garbage never throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import avro from 'avsc';
import fc from 'fast-check';
import { BigIntLongType, decodeLong, encodeLong } from '../../src/schema/long-type.js';

const MIN = -(2n ** 63n);
const MAX = 2n ** 63n - 1n;

/** The spec, literally: zigzag, then 7 bits at a time, low group first. */
function reference(n: bigint): Buffer {
  let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

const edges = [0n, 1n, -1n, 63n, -64n, 64n, -65n, 2n ** 28n - 1n, 2n ** 28n, 2n ** 31n, -(2n ** 31n), 2n ** 48n, 2n ** 49n - 1n, 2n ** 49n,
  2n ** 52n - 1n, 2n ** 52n, -(2n ** 52n) + 1n, -(2n ** 52n), 2n ** 53n + 1n, 2n ** 56n, 2n ** 62n, MAX, MIN, MIN + 1n, 1_796_005_677_612_560_689n];

test('encodes every edge exactly as the spec says, and decodes it back', () => {
  for (const n of edges) {
    assert.deepEqual(Buffer.from(encodeLong(n)), reference(n), String(n));
    assert.equal(decodeLong(reference(n)), n, String(n));
    assert.equal(BigIntLongType.fromBuffer(BigIntLongType.toBuffer(n)), n, String(n));
  }
});

test('round-trips any int64 with the reference bytes', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: MIN, max: MAX }), (n) => {
      const bytes = Buffer.from(encodeLong(n));
      assert.deepEqual(bytes, reference(n));
      assert.equal(decodeLong(bytes), n);
    }),
    { numRuns: 20_000 },
  );
});

test("writes the same bytes as avsc's own long for safe integers, inside records too", () => {
  const plainLong = avro.Type.forSchema('long');
  const exact = fc.integer({ min: -(2 ** 52) + 1, max: 2 ** 52 - 1 }).chain((n) => fc.constantFrom(n, n % 1000, n % 2 ** 31));
  const schema = { type: 'record', name: 'R', fields: [{ name: 'a', type: 'long' }, { name: 's', type: 'string' }, { name: 'b', type: 'long' }] };
  const plainRec = avro.Type.forSchema(schema as unknown as avro.Schema);
  const bigRec = avro.Type.forSchema(schema as unknown as avro.Schema, { registry: { long: BigIntLongType } as unknown as Record<string, avro.Type> });
  fc.assert(
    // avsc's own long computes the zigzag form in doubles: exact only below 2^52.
    fc.property(exact, exact, fc.string(), (a, b, s) => {
      assert.deepEqual(BigIntLongType.toBuffer(BigInt(a)), plainLong.toBuffer(a));
      const wire = plainRec.toBuffer({ a, s, b });
      assert.deepEqual(bigRec.toBuffer({ a: BigInt(a), s, b: BigInt(b) }), wire);
      const back = bigRec.fromBuffer(wire) as { a: bigint; b: bigint; s: string };
      assert.deepEqual([back.a, back.s, back.b], [BigInt(a), s, BigInt(b)]);
    }),
    { numRuns: 5000 },
  );
});

test('out-of-range bigints and non-bigints are refused, not wrapped', () => {
  assert.throws(() => encodeLong(MAX + 1n), RangeError);
  assert.throws(() => encodeLong(MIN - 1n), RangeError);
  assert.throws(() => BigIntLongType.toBuffer(2n ** 64n));
  assert.equal(BigIntLongType.isValid(5), false);
  assert.equal(BigIntLongType.isValid(5n), true);
});

test('any varint bytes decode to some int64 without throwing (garbage on the wire)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 14 }), (arr) => {
      const v = decodeLong(Buffer.from(arr));
      assert.equal(typeof v, 'bigint');
      assert.ok(v >= MIN && v <= MAX);
    }),
    { numRuns: 5000 },
  );
});
