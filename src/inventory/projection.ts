// SPDX-License-Identifier: Apache-2.0
// Reading only what the inventory uses from an audit record. The reader schema is the current
// AuditRecord schema with the fields the inventory never reads taken out (ids, namespaces'
// inodes, cgroup, argv and ancestry, annotations); avsc's resolver then skips them in every
// writer version instead of building them. Fields later issues add under dst, pod or
// process.exe are kept, so they reach the inventory with no change here. The header checks
// and errors are the codec's (src/schema/codec.ts): anything but a readable AuditRecord is a
// DecodeError, never a crash.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type avro from 'avsc';
import { DecodeError } from '../common/errors.js';
import { HEADER_BYTES, MAGIC_0, MAGIC_1 } from '../schema/codec.js';
import { parseSchema, schemaDir, schemas, type SchemaSet } from '../schema/registry.js';
import type { AuditRecord } from '../schema/types.js';

type Json = Record<string, any>;

const TOP = new Set(['time', 'node', 'protocol', 'src', 'dst', 'result', 'process', 'container', 'pod', 'attribution', 'loss']);
const PROCESS = new Set(['comm', 'exe']);
const CONTAINER = new Set(['id', 'name', 'image']);
const POD_DROP = new Set(['annotations']);

/** The record schema inside a field's type (itself, or the non-null branch of a union). */
function recordOf(t: unknown): Json | undefined {
  if (Array.isArray(t)) return t.map(recordOf).find((x) => x !== undefined);
  return t && typeof t === 'object' && (t as Json).type === 'record' ? (t as Json) : undefined;
}

function prune(schema: Json): Json {
  schema.fields = (schema.fields as Json[]).filter((f) => TOP.has(f.name));
  for (const f of schema.fields as Json[]) {
    const rec = recordOf(f.type);
    if (!rec) continue;
    if (f.name === 'process') rec.fields = (rec.fields as Json[]).filter((x) => PROCESS.has(x.name));
    if (f.name === 'container') rec.fields = (rec.fields as Json[]).filter((x) => CONTAINER.has(x.name));
    if (f.name === 'pod') rec.fields = (rec.fields as Json[]).filter((x) => !POD_DROP.has(x.name));
  }
  return schema;
}

export class AuditProjection {
  readonly reader: avro.Type;
  private readonly resolvers = new Map<bigint, avro.Resolver>();
  /** the last header's fingerprint bytes and resolver: a window is mostly one writer version */
  private readonly lastFp = Buffer.alloc(8);
  private lastResolver: avro.Resolver | undefined;
  /** AuditDnsLookup writer fingerprints: lookups share the audit topic and are not connections */
  private readonly lookups = new Set<bigint>();

  constructor(set: SchemaSet = schemas(), dir = schemaDir()) {
    const full = JSON.parse(readFileSync(path.join(dir, 'audit-record.avsc'), 'utf8')) as Json;
    this.reader = parseSchema(prune(full));
    for (const ws of set.byFingerprint.values()) {
      if (ws.name === 'AuditRecord') this.resolvers.set(ws.fingerprint, this.reader.createResolver(ws.type));
      if (ws.name === 'AuditDnsLookup') this.lookups.add(ws.fingerprint);
    }
  }

  /** A DNS lookup record (single-object framing): not a connection, passed over without decoding. */
  isLookup(buf: Buffer | null): boolean {
    return Buffer.isBuffer(buf) && buf.length >= HEADER_BYTES && buf[0] === MAGIC_0 && buf[1] === MAGIC_1 && this.lookups.has(buf.readBigUInt64LE(2));
  }

  /**
   * The record's inventory fields. The result has the AuditRecord shape for the fields kept;
   * the others are absent, and nothing here reads them.
   */
  decode(buf: Buffer): AuditRecord {
    if (!Buffer.isBuffer(buf) || buf.length < HEADER_BYTES) throw new DecodeError(`truncated: ${buf?.length ?? 0} bytes`, 'TRUNCATED');
    if (buf[0] !== MAGIC_0 || buf[1] !== MAGIC_1) throw new DecodeError(`bad magic 0x${buf.subarray(0, 2).toString('hex')}: not Avro single-object encoding`, 'BAD_MAGIC');
    let resolver = this.lastResolver;
    for (let i = 0; resolver && i < 8; i++) if (buf[2 + i] !== this.lastFp[i]) resolver = undefined;
    if (!resolver) {
      const fp = buf.readBigUInt64LE(2);
      resolver = this.resolvers.get(fp);
      if (!resolver) throw new DecodeError(`not an AuditRecord of a known version (fingerprint 0x${fp.toString(16).padStart(16, '0')})`, 'UNKNOWN_FINGERPRINT');
      buf.copy(this.lastFp, 0, 2, 10);
      this.lastResolver = resolver;
    }
    let res: { value: unknown; offset: number };
    try {
      res = this.reader.decode(buf, HEADER_BYTES, resolver);
    } catch (err) {
      throw new DecodeError(`invalid AuditRecord body: ${(err as Error).message}`, 'INVALID', { cause: err });
    }
    if (res.offset !== buf.length) throw new DecodeError(`AuditRecord body of ${buf.length} bytes read to ${res.offset}`, res.offset < 0 || res.offset > buf.length ? 'TRUNCATED' : 'INVALID');
    // avsc checks neither enum indexes nor union branches on read.
    if (!this.reader.isValid(res.value)) throw new DecodeError('invalid AuditRecord body: fields out of range', 'INVALID');
    return res.value as AuditRecord;
  }
}
