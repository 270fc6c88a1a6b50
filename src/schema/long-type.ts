// SPDX-License-Identifier: Apache-2.0
// Avro longs as JS bigint. Nanosecond timestamps (~1.8e18) do not fit a double, and we
// refuse to lose precision silently, so every long in our schemas is a bigint.
//
// Every record carries about ten longs and enrich decodes and encodes one record per
// connection, so this is hot. With noUnpack, avsc hands us the varint bytes as they are on
// the wire and writes back the bytes we return, so we do the zigzag varint ourselves: in
// plain number arithmetic below 2^49, in three 28-bit number pieces above, never byte by byte
// in bigint. The bytes are Avro's standard long encoding, whichever path wrote them.
import avro from 'avsc';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
// |n| < 2^52: its zigzag form (< 2^53) is an exact double.
const SMALL = 2n ** 52n;
const M28 = 0xfffffffn;
const TWO28 = 0x10000000;

// One scratch area and a view of each length into it: avsc copies the returned bytes at
// once (Tap.writeFixed), so nothing holds on to them and no call allocates.
const scratch = Buffer.alloc(10);
const views = Array.from({ length: 11 }, (_, n) => scratch.subarray(0, n));

/** Writes the varint of z (0 <= z < 2^53) into scratch; returns its length. */
function putSmall(z: number): number {
  let i = 0;
  while (z >= TWO28) {
    scratch[i++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  while (z >= 0x80) {
    scratch[i++] = (z & 0x7f) | 0x80;
    z >>>= 7;
  }
  scratch[i++] = z;
  return i;
}

/** Writes the varint of z (0 <= z < 2^64) into scratch, from three 28-bit pieces. */
function putBig(z: bigint): number {
  let lo = Number(z & M28);
  let mid = Number((z >> 28n) & M28);
  let hi = Number(z >> 56n);
  let i = 0;
  for (let k = 0; k < 4; k++) {
    const b = lo & 0x7f;
    lo >>>= 7;
    if (lo === 0 && mid === 0 && hi === 0) {
      scratch[i++] = b;
      return i;
    }
    scratch[i++] = b | 0x80;
  }
  for (let k = 0; k < 4; k++) {
    const b = mid & 0x7f;
    mid >>>= 7;
    if (mid === 0 && hi === 0) {
      scratch[i++] = b;
      return i;
    }
    scratch[i++] = b | 0x80;
  }
  for (;;) {
    const b = hi & 0x7f;
    hi >>>= 7;
    if (hi === 0) {
      scratch[i++] = b;
      return i;
    }
    scratch[i++] = b | 0x80;
  }
}

export function encodeLong(n: bigint): Buffer {
  if (n > -SMALL && n < SMALL) {
    const x = Number(n);
    return views[putSmall(x >= 0 ? x * 2 : -x * 2 - 1)]!;
  }
  if (n < INT64_MIN || n > INT64_MAX) throw new RangeError(`${n} is outside the Avro long range`);
  return views[putBig(n >= 0n ? n << 1n : (-n << 1n) - 1n)]!;
}

/** The varint bytes of one long as avsc found them (garbage too: it must not throw). */
export function decodeLong(buf: Buffer): bigint {
  return decodeLongAt(buf, 0, buf.length);
}

/** decodeLong over buf[start, end): the same without a view per long. */
export function decodeLongAt(buf: Uint8Array, start: number, end: number): bigint {
  const len = end - start;
  if (len <= 7) {
    let z = 0;
    let mul = 1;
    for (let i = start; i < end; i++) {
      z += (buf[i]! & 0x7f) * mul;
      mul *= 128;
    }
    return BigInt(z % 2 === 0 ? z / 2 : -(z + 1) / 2);
  }
  const piece = (from: number, to: number): number => {
    let v = 0;
    for (let i = Math.min(start + to, end) - 1; i >= start + from; i--) v = v * 128 + (buf[i]! & 0x7f);
    return v;
  };
  const z = BigInt.asUintN(64, (BigInt(piece(8, 10)) << 56n) | (BigInt(piece(4, 8)) << 28n) | BigInt(piece(0, 4)));
  return z & 1n ? -(z >> 1n) - 1n : z >> 1n;
}

export const BigIntLongType = avro.types.LongType.__with(
  {
    fromBuffer: decodeLong,
    toBuffer: encodeLong,
    fromJSON: (v: unknown) => BigInt(v as string | number),
    toJSON: (n: bigint) => (Number.isSafeInteger(Number(n)) ? Number(n) : n.toString()),
    isValid: (n: unknown) => typeof n === 'bigint',
    compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
  },
  true,
);
