// SPDX-License-Identifier: Apache-2.0
// Loads the .avsc files (the single source of our schemas), builds avsc types with bigint
// longs, and indexes every known writer schema (current and historical) by its
// CRC-64-AVRO fingerprint so readers can resolve older records to the current shape.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import avro from 'avsc';
import { BoundedArrayType, BoundedMapType } from './avro-blocks.js';
import { BigIntLongType } from './long-type.js';
import { rabinFingerprint64 } from './rabin.js';

export const SCHEMA_NAMES = ['RawConnectEvent', 'CaptureLoss', 'AuditRecord', 'ContainerMeta', 'DnsLookup', 'AuditDnsLookup'] as const;
export type SchemaName = (typeof SCHEMA_NAMES)[number];

const FILES: Record<SchemaName, string> = {
  RawConnectEvent: 'raw-connect-event.avsc',
  CaptureLoss: 'capture-loss.avsc',
  AuditRecord: 'audit-record.avsc',
  ContainerMeta: 'container-meta.avsc',
  DnsLookup: 'dns-lookup.avsc',
  AuditDnsLookup: 'audit-dns-lookup.avsc',
};

/** src/schema holds the .avsc files; from dist/src/schema we look back into the package. */
export function schemaDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [here, path.resolve(here, '../../../src/schema')];
  for (const dir of candidates) {
    if (existsSync(path.join(dir, FILES.RawConnectEvent))) return dir;
  }
  throw new Error(`podtrail: cannot find the .avsc schema files (looked in ${candidates.join(', ')})`);
}

export function parseSchema(schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, {
    registry: { long: BigIntLongType } as unknown as Record<string, avro.Type>,
    // Logical longs ({"type":"long","logicalType":...}) bypass the registry, so catch them here.
    // Maps and arrays get block counts that garbage cannot turn into a hang (avro-blocks.ts).
    typeHook: (s: unknown, opts: unknown) => {
      const t = typeof s === 'object' && s !== null ? (s as { type?: unknown }).type : undefined;
      if (t === 'long') return BigIntLongType;
      if (t === 'map') return new BoundedMapType(s, opts) as unknown as avro.Type;
      if (t === 'array') return new BoundedArrayType(s, opts) as unknown as avro.Type;
      return undefined;
    },
    wrapUnions: false,
  });
}

export interface WriterSchema {
  name: SchemaName;
  /** 'current' or the history file it came from */
  version: string;
  type: avro.Type;
  fingerprint: bigint;
  /** null when the writer is the current reader schema */
  resolver: avro.Resolver | null;
}

/** Parsing Canonical Form, as the spec defines it (avsc's schema() without attributes). */
export function canonicalForm(type: avro.Type): string {
  return JSON.stringify(type.schema());
}

export function fingerprintOf(type: avro.Type): bigint {
  return rabinFingerprint64(Buffer.from(canonicalForm(type), 'utf8'));
}

export class SchemaSet {
  readonly current = new Map<SchemaName, WriterSchema>();
  readonly byFingerprint = new Map<bigint, WriterSchema>();

  constructor(dir = schemaDir()) {
    for (const name of SCHEMA_NAMES) {
      const file = path.join(dir, FILES[name]);
      if (!existsSync(file)) continue; // ContainerMeta arrives with the durable-attribution work
      const type = parseSchema(JSON.parse(readFileSync(file, 'utf8')));
      const ws: WriterSchema = { name, version: 'current', type, fingerprint: fingerprintOf(type), resolver: null };
      this.current.set(name, ws);
      this.byFingerprint.set(ws.fingerprint, ws);
    }
    this.loadHistory(path.join(dir, 'history'));
  }

  /** history/<Name>.<version>.avsc: older writer schemas we still read. */
  private loadHistory(dir: string): void {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir).sort()) {
      const m = /^([A-Za-z]+)\.(v[0-9]+)\.avsc$/.exec(f);
      if (!m) continue;
      const name = m[1] as SchemaName;
      const reader = this.current.get(name);
      if (!reader) continue;
      const type = parseSchema(JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
      const fp = fingerprintOf(type);
      if (this.byFingerprint.has(fp)) continue;
      this.byFingerprint.set(fp, { name, version: m[2] as string, type, fingerprint: fp, resolver: reader.type.createResolver(type) });
    }
  }

  get(name: SchemaName): WriterSchema {
    const ws = this.current.get(name);
    if (!ws) throw new Error(`podtrail: schema ${name} is not loaded`);
    return ws;
  }
}

let shared: SchemaSet | undefined;
export function schemas(): SchemaSet {
  shared ??= new SchemaSet();
  return shared;
}
