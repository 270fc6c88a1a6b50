// SPDX-License-Identifier: Apache-2.0
// CRC-64-AVRO, the Rabin fingerprint the Avro spec defines for single-object encoding.
// avsc only offers md5/sha256 fingerprints, so this is ours.

const EMPTY = 0xc15d213aa4d7a795n;
const MASK = 0xffffffffffffffffn;

const TABLE: BigUint64Array = (() => {
  const table = new BigUint64Array(256);
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) {
      fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n));
    }
    table[i] = fp & MASK;
  }
  return table;
})();

/** The 64-bit fingerprint of `bytes` (normally a schema's Parsing Canonical Form, UTF-8). */
export function rabinFingerprint64(bytes: Uint8Array): bigint {
  let fp = EMPTY;
  for (const b of bytes) {
    fp = (fp >> 8n) ^ (TABLE[Number((fp ^ BigInt(b)) & 0xffn)] as bigint);
  }
  return fp & MASK;
}

/** The fingerprint as the 8 little-endian bytes that follow C3 01 in single-object encoding. */
export function fingerprintBytesLE(fp: bigint): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(fp & MASK);
  return buf;
}

/** As Java's SchemaNormalization.parsingFingerprint64 returns it: a signed long. */
export function toSignedLong(fp: bigint): bigint {
  return BigInt.asIntN(64, fp);
}
