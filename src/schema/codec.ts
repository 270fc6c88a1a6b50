// SPDX-License-Identifier: Apache-2.0
// Avro single-object encoding: C3 01, the writer schema's CRC-64-AVRO fingerprint
// (8 bytes little-endian, as the spec and Java write it), then the Avro body.
// Decoding never throws anything but DecodeError, whatever the bytes.
import type avro from 'avsc';
import { DecodeError, EncodeError } from '../common/errors.js';
import { fingerprintBytesLE } from './rabin.js';
import { schemas, type SchemaName, type SchemaSet } from './registry.js';
import type { RawConnectEvent, CaptureLoss, AuditRecord, ContainerMeta, DnsLookup, AuditDnsLookup } from './types.js';

export const MAGIC_0 = 0xc3;
export const MAGIC_1 = 0x01;
export const HEADER_BYTES = 10;

export interface RecordTypes {
  RawConnectEvent: RawConnectEvent;
  CaptureLoss: CaptureLoss;
  AuditRecord: AuditRecord;
  ContainerMeta: ContainerMeta;
  DnsLookup: DnsLookup;
  AuditDnsLookup: AuditDnsLookup;
}

export type Decoded = {
  [K in SchemaName]: { schema: K; value: RecordTypes[K]; writerVersion: string };
}[SchemaName];

export class Codec {
  private readonly headers = new Map<SchemaName, Buffer>();

  constructor(readonly set: SchemaSet = schemas()) {
    for (const [name, ws] of set.current) {
      this.headers.set(name, Buffer.concat([Buffer.from([MAGIC_0, MAGIC_1]), fingerprintBytesLE(ws.fingerprint)]));
    }
  }

  encode<K extends SchemaName>(name: K, value: RecordTypes[K]): Buffer {
    const ws = this.set.get(name);
    const header = this.headers.get(name) as Buffer;
    let body: Buffer;
    try {
      body = ws.type.toBuffer(value);
    } catch (err) {
      const paths: string[] = [];
      ws.type.isValid(value, { errorHook: (p: string[]) => paths.push(p.join('.')) });
      throw new EncodeError(`cannot encode ${name}: invalid field(s) ${paths.join(', ') || '?'}`, { cause: err });
    }
    return Buffer.concat([header, body], header.length + body.length);
  }

  /** Decode a framed record of any known schema. */
  decode(buf: Buffer): Decoded {
    if (!Buffer.isBuffer(buf)) throw new DecodeError('not a buffer', 'INVALID');
    if (buf.length >= 2 && (buf[0] !== MAGIC_0 || buf[1] !== MAGIC_1)) {
      throw new DecodeError(
        `bad magic 0x${buf.subarray(0, 2).toString('hex')}: not Avro single-object encoding (want 0xc301)`,
        'BAD_MAGIC',
      );
    }
    if (buf.length < HEADER_BYTES) {
      throw new DecodeError(`truncated: ${buf.length} bytes, a single-object header needs ${HEADER_BYTES}`, 'TRUNCATED');
    }
    const fp = buf.readBigUInt64LE(2);
    const ws = this.set.byFingerprint.get(fp);
    if (!ws) {
      throw new DecodeError(`unknown schema fingerprint 0x${fp.toString(16).padStart(16, '0')}`, 'UNKNOWN_FINGERPRINT');
    }
    const reader = this.set.get(ws.name).type;
    const value = readBody(reader, buf, HEADER_BYTES, ws.resolver, ws.name);
    return { schema: ws.name, value, writerVersion: ws.version } as Decoded;
  }

  /** Decode and insist on one schema. */
  decodeAs<K extends SchemaName>(name: K, buf: Buffer): RecordTypes[K] {
    const d = this.decode(buf);
    if (d.schema !== name) throw new DecodeError(`expected ${name}, got ${d.schema}`, 'INVALID');
    return d.value as RecordTypes[K];
  }
}

function readBody(reader: avro.Type, buf: Buffer, pos: number, resolver: avro.Resolver | null, name: string): any {
  let res: { value: unknown; offset: number };
  try {
    res = resolver ? reader.decode(buf, pos, resolver) : reader.decode(buf, pos);
  } catch (err) {
    throw new DecodeError(`invalid ${name} body: ${(err as Error).message}`, 'INVALID', { cause: err });
  }
  if (res.offset < 0 || res.offset > buf.length) {
    throw new DecodeError(`truncated ${name} body (${buf.length} bytes)`, 'TRUNCATED');
  }
  if (res.offset !== buf.length) {
    throw new DecodeError(`${buf.length - res.offset} trailing bytes after ${name} body`, 'INVALID');
  }
  // avsc does not check enum indexes or union branches on read; garbage can decode to
  // undefined fields, so validate before anyone relies on the shape.
  if (!reader.isValid(res.value)) {
    throw new DecodeError(`invalid ${name} body: fields out of range`, 'INVALID');
  }
  return res.value;
}

let sharedCodec: Codec | undefined;
export function codec(): Codec {
  sharedCodec ??= new Codec();
  return sharedCodec;
}
