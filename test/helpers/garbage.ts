// SPDX-License-Identifier: Apache-2.0
// Garbage for the raw topic, of every kind a broken or hostile producer writes, each with the
// DLQ error code enrich must give it (worked out here by decoding it, not assumed).
import { DecodeError } from '../../src/common/errors.js';
import { Codec } from '../../src/schema/codec.js';
import { confluentFrame } from '../../src/schema/confluent.js';
import { fingerprintBytesLE } from '../../src/schema/rabin.js';
import { sampleAudit, sampleRaw } from './records.js';

export type Rng = () => number;

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from its seed. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (r: Rng, n: number): number => Math.floor(r() * n);
const bytes = (r: Rng, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(r, 256)));

export const GARBAGE_KINDS = ['random', 'truncated', 'wrong-fingerprint', 'magic-garbage-body', 'empty', 'tombstone', 'other-schema', 'confluent-frame', 'huge-map-count', 'large-random'] as const;
export type GarbageKind = (typeof GARBAGE_KINDS)[number];

export interface Garbage { kind: GarbageKind; value: Buffer | null; code: string }

/** The code enrich's processor gives a value (null when it is a record it accepts). */
export function expectedCode(codec: Codec, value: Buffer | null): string | null {
  if (!value || value.length === 0) return 'EMPTY';
  try {
    const d = codec.decode(value);
    return d.schema === 'RawConnectEvent' || d.schema === 'CaptureLoss' ? null : 'UNEXPECTED_SCHEMA';
  } catch (err) {
    if (err instanceof DecodeError) return err.code;
    throw err;
  }
}

function zigzag(n: bigint): Buffer {
  let z = n >= 0n ? n << 1n : (-n << 1n) - 1n;
  const out: number[] = [];
  while (z >= 0x80n) { out.push(Number(z & 0x7fn) | 0x80); z >>= 7n; }
  out.push(Number(z));
  return Buffer.from(out);
}

function makeValue(codec: Codec, kind: GarbageKind, r: Rng, i: number): Buffer | null {
  const rawFp = codec.set.get('RawConnectEvent').fingerprint;
  const valid = () => codec.encode('RawConnectEvent', sampleRaw({ seq: BigInt(i + 1), eventId: `garbage:${i}` }));
  switch (kind) {
    case 'random': return bytes(r, 1 + int(r, 200));
    case 'truncated': { const v = valid(); return v.subarray(0, 1 + int(r, v.length - 1)); }
    case 'wrong-fingerprint': { const v = Buffer.from(valid()); bytes(r, 8).copy(v, 2); return v; }
    case 'magic-garbage-body': return Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytesLE(rawFp), bytes(r, int(r, 120))]);
    case 'empty': return Buffer.alloc(0);
    case 'tombstone': return null;
    case 'other-schema': return codec.encode('AuditRecord', sampleAudit({ eventId: `garbage:${i}` }));
    case 'confluent-frame': return confluentFrame(1 + int(r, 1000), valid().subarray(10));
    case 'huge-map-count': {
      // The record that hung every reader before src/schema/avro-blocks.ts: a labels map claiming 2^62 entries.
      const a = codec.encode('AuditRecord', { ...sampleAudit(), pod: { ...sampleAudit().pod!, labels: { a: 'b' } } });
      const at = a.indexOf(Buffer.from([0x02, 0x02, 0x61, 0x02, 0x62, 0x00]));
      return Buffer.concat([a.subarray(0, at), zigzag(2n ** 62n), a.subarray(at + 1)]);
    }
    case 'large-random': return bytes(r, 50_000 + int(r, 50_000));
  }
}

/** The i-th garbage message; kinds rotate, content is random (redrawn until it really is garbage). */
export function garbage(codec: Codec, r: Rng, i: number): Garbage {
  // Mostly the cheap kinds; a few large ones keep the topic's size sane.
  const kind: GarbageKind = i % 500 === 7 ? 'large-random' : GARBAGE_KINDS[i % (GARBAGE_KINDS.length - 1)]!;
  for (;;) {
    const value = makeValue(codec, kind, r, i);
    const code = expectedCode(codec, value);
    if (code !== null) return { kind, value, code };
  }
}
