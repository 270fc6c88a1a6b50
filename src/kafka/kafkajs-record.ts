// SPDX-License-Identifier: Apache-2.0
// kafkajs 2.2.4 (its last release) encodes each record of a produce request with a fresh
// Encoder: a zero-filled 512-byte Buffer, then a small array and a Buffer.from() for each
// of its five varints, and Long objects for the timestamp delta. At capture's ~30k events/s
// that garbage, not the bytes, was most of kafkajs's cost (bench/README.md).
//
// This module puts an encoder with byte-for-byte the same output into the CommonJS cache
// under kafkajs's own file name, as src/kafka/kafkajs-grouping.ts does (which imports this
// module, so bin/podtrail.js's first import installs both). Records it does not handle
// (headers, a non-int32 offset or timestamp delta, keys or values that are neither
// Buffer, string nor null) go to kafkajs's own encoder, compiled from its file.
import { createRequire } from 'node:module';
import { cachedExports, compileOwn, inCache, putInCache } from './cjs-cache.js';

const require = createRequire(import.meta.url);

export const KAFKAJS_RECORD_FILE = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const ENCODER_FILE = require.resolve('kafkajs/src/protocol/encoder.js');

interface EncoderLike {
  buf: Buffer;
  offset: number;
}
type EncoderClass = { prototype: EncoderLike };

export interface RecordArgs {
  offsetDelta?: number;
  timestampDelta?: unknown;
  key?: unknown;
  value?: unknown;
  headers?: Record<string, unknown>;
}
type RecordFn = (a: RecordArgs) => EncoderLike;

/** kafkajs's own Record encoder, compiled from its file (the cache may hold ours). */
export function kafkajsRecord(): RecordFn {
  return compileOwn<RecordFn>(KAFKAJS_RECORD_FILE);
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const isInt32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX;

/** Bytes of kafkajs's zigzag varint of an int32. */
function varIntSize(v: number): number {
  let z = (v << 1) ^ (v >> 31);
  let n = 1;
  while ((z & 0xffffff80) !== 0) {
    n++;
    z >>>= 7;
  }
  return n;
}

function writeVarInt(buf: Buffer, off: number, v: number): number {
  let z = (v << 1) ^ (v >> 31);
  while ((z & 0xffffff80) !== 0) {
    buf[off++] = (z & 0x7f) | 0x80;
    z >>>= 7;
  }
  buf[off++] = z & 0x7f;
  return off;
}

/** Byte length of a key or value, -1 for null; undefined when kafkajs's own encoder must do it. */
function bytesLength(v: unknown): number | undefined {
  if (v == null) return -1;
  if (Buffer.isBuffer(v)) return v.length;
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  return undefined;
}

function writeBytes(buf: Buffer, off: number, v: unknown, len: number): number {
  off = writeVarInt(buf, off, len);
  if (len <= 0) return off;
  if (Buffer.isBuffer(v)) return off + v.copy(buf, off);
  return off + buf.write(v as string, off, len, 'utf8');
}

/** A Record encoder with kafkajs's exact output and one exact-size buffer per record. */
export function makeRecordEncoder(Encoder: EncoderClass, fallback: RecordFn): RecordFn {
  return (args: RecordArgs): EncoderLike => {
    const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = args;
    if (headers !== undefined && (headers === null || typeof headers !== 'object' || Object.keys(headers).length > 0)) return fallback(args);
    // For an int32, kafkajs's 64-bit zigzag varint has the bytes of the 32-bit one.
    if (!isInt32(offsetDelta) || !isInt32(timestampDelta)) return fallback(args);
    const kLen = bytesLength(key);
    const vLen = bytesLength(value);
    if (kLen === undefined || vLen === undefined) return fallback(args);
    const body =
      1 + // attributes
      varIntSize(timestampDelta) +
      varIntSize(offsetDelta) +
      varIntSize(kLen) + Math.max(kLen, 0) +
      varIntSize(vLen) + Math.max(vLen, 0) +
      1; // no headers: a varint 0
    const total = varIntSize(body) + body;
    const buf = Buffer.allocUnsafe(total);
    let off = writeVarInt(buf, 0, body);
    buf[off++] = 0;
    off = writeVarInt(buf, off, timestampDelta);
    off = writeVarInt(buf, off, offsetDelta);
    off = writeBytes(buf, off, key, kLen);
    off = writeBytes(buf, off, value, vLen);
    buf[off++] = 0;
    if (off !== total) return fallback(args); // cannot happen; never send a wrong size
    const enc = Object.create(Encoder.prototype) as EncoderLike;
    enc.buf = buf;
    enc.offset = total;
    return enc;
  };
}

let ours: RecordFn | undefined;

// Not when kafkajs's produce request is loaded already.
if (!inCache(KAFKAJS_RECORD_FILE)) {
  ours = makeRecordEncoder(require(ENCODER_FILE) as EncoderClass, kafkajsRecord());
  putInCache(KAFKAJS_RECORD_FILE, ours);
}

/** True when kafkajs's produce requests use this encoder. */
export function recordPatched(): boolean {
  return ours !== undefined && cachedExports(KAFKAJS_RECORD_FILE) === ours;
}
