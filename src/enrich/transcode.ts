// SPDX-License-Identifier: Apache-2.0
// The enrich fast path: a framed RawConnectEvent of the current schema becomes a framed
// AuditRecord without building the record in between. An AuditRecord starts with the raw
// event's fields in the same order, each either the same type or ["null", same type], so
// its body is the raw body with a union branch byte (index 1) before each nullable field,
// followed by the attribution fields, whose encoding is computed once per attribution
// decision (AttributionCache reuses the decision objects).
//
// The plan is derived from the .avsc files at startup; if they stop lining up, create()
// returns undefined and enrich decodes and encodes every record as before. read() checks
// what avsc's decode + isValid would (ints in int32 range, enum indexes, lengths, no trailing
// bytes) and answers undefined at the first doubt, so the slow path reports it (DLQ).
import type avro from 'avsc';
import type { Codec } from '../schema/codec.js';
import { decodeLongAt } from '../schema/long-type.js';
import { parseSchema } from '../schema/registry.js';
import { fingerprintBytesLE } from '../schema/rabin.js';
import type { AuditRecord, RawConnectEvent } from '../schema/types.js';
import type { Attribution } from './attribute.js';
import type { PathPlan } from './attribution-cache.js';
import type { ResolveResult } from '../runtime/types.js';
import { auditFromRaw } from './audit.js';
import { compileSkip, str, varint, type Cursor, type Skip } from './avro-skip.js';
import { JOINED_FIELDS, type DestinationJoin } from './dst-join.js';

const HEADER = 10;
const UNION_SECOND = 0x02; // zigzag(1): the non-null branch of ["null", T]

/** The raw fields enrich needs, read without decoding the rest. */
export interface RawFields {
  node: string;
  instance: string;
  seq: bigint;
  time: bigint;
  netns: bigint;
  utsName: string;
  cgroupPath: string;
  /** where the dst field ends in the record's bytes (its last three bytes are pod, service, scope: null) */
  dstEnd: number;
  /** and where it starts */
  dstStart: number;
  /** Shared by every event whose netns..cgroup bytes are the same: a place to keep decisions. */
  memo: IdentityMemo;
}

/**
 * What the processor remembers per identity (see processor.ts): the decision `a`, reused while
 * the resolver's answer is the same object as `resolved` (the invariant at ResolveResult in
 * src/runtime/types.ts; test/unit/attribution-identity.test.ts).
 */
export interface IdentityMemo {
  plan?: PathPlan;
  node?: string;
  resolved?: ResolveResult | null;
  a?: Attribution;
}

interface Identity { bytes: Buffer; netns: bigint; utsName: string; cgroupPath: string; memo: IdentityMemo }

const MAX_IDENTITIES = 50_000;

const same = (a: avro.Type, b: avro.Type) => JSON.stringify(a.schema()) === JSON.stringify(b.schema());

export class AuditTranscoder {
  private readonly tails = new WeakMap<Attribution, Buffer>();
  /** Where read() found the marked fields of the record it returned last (write() then needs no second pass). */
  private readonly cuts: Int32Array;
  private lastRead: RawFields | undefined;
  /**
   * The bytes from netns to the cgroup path repeat for every event of a container: decoded once
   * (hash, then a byte compare), so the path, UTS name and netns cost no decoding per event.
   */
  private readonly identities = new Map<number, Identity>();
  private lastNode = { bytes: Buffer.alloc(0), s: '' };
  private lastInstance = { bytes: Buffer.alloc(0), s: '' };

  private constructor(
    private readonly rawHeader: Buffer,
    private readonly auditHeader: Buffer,
    private readonly skips: Skip[],
    /** per raw field: is the audit field its nullable union */
    private readonly marks: boolean[],
    private readonly marked: number,
    private readonly want: Record<Exclude<keyof RawFields, 'memo' | 'dstStart' | 'dstEnd'> | 'cgroup', number>,
    private readonly cgroupPathSkips: Skip[],
    private readonly tailType: avro.Type,
    private readonly tailNames: string[],
    /** raw field index of dst, and its mark's index among the marked fields; -1 when dst cannot be joined here */
    private readonly dstIdx: number,
    private readonly dstMark: number,
  ) {
    this.cuts = new Int32Array(marked + 1);
    this.at = new Int32Array(2 * skips.length);
    this.region = [Math.min(want.netns, want.utsName, want.cgroup), Math.max(want.netns, want.utsName, want.cgroup)];
  }

  /** Start and end of each raw field in the record read() last walked. */
  private readonly at: Int32Array;
  /** First and last field of the identity bytes (netns, UTS name, cgroup and what lies between). */
  private readonly region: [number, number];

  /** undefined when the schemas do not allow the fast path. */
  static create(codec: Codec): AuditTranscoder | undefined {
    const rawWs = codec.set.get('RawConnectEvent');
    const auditWs = codec.set.get('AuditRecord');
    const rawFields = (rawWs.type as unknown as { fields: Array<{ name: string; type: avro.Type }> }).fields;
    const auditSchema = auditWs.type.schema() as { fields: Array<{ name: string }> } & Record<string, unknown>;
    const auditFields = (auditWs.type as unknown as { fields: Array<{ name: string; type: avro.Type }> }).fields;
    if (auditFields.length <= rawFields.length) return undefined;
    const skips: Skip[] = [];
    const marks: boolean[] = [];
    for (let i = 0; i < rawFields.length; i++) {
      const r = rawFields[i]!;
      const a = auditFields[i]!;
      if (r.name !== a.name) return undefined;
      const skip = compileSkip(r.type);
      if (!skip) return undefined;
      skips.push(skip);
      const branches = (a.type as avro.Type & { types?: avro.Type[] }).types;
      if (same(a.type, r.type)) marks.push(false);
      else if (a.type.typeName === 'union:unwrapped' && branches?.length === 2 && branches[0]!.typeName === 'null' && same(branches[1]!, r.type)) marks.push(true);
      else return undefined;
    }
    const idx = (n: string) => rawFields.findIndex((f) => f.name === n);
    const want = { node: idx('node'), instance: idx('instance'), seq: idx('seq'), time: idx('time'), netns: idx('netns'), utsName: idx('utsName'), cgroup: idx('cgroup'), cgroupPath: -1 };
    const cgroupType = rawFields[want.cgroup]?.type as unknown as { fields?: Array<{ name: string; type: avro.Type }> } | undefined;
    const pathAt = cgroupType?.fields?.findIndex((f) => f.name === 'path') ?? -1;
    if (Object.entries(want).some(([k, v]) => k !== 'cgroupPath' && v < 0) || pathAt < 0) return undefined;
    if (cgroupType!.fields![pathAt]!.type.typeName !== 'string') return undefined;
    for (const k of ['node', 'instance', 'utsName'] as const) if (rawFields[want[k]]!.type.typeName !== 'string') return undefined;
    for (const k of ['seq', 'time', 'netns'] as const) if (rawFields[want[k]]!.type.typeName !== 'abstract:long') return undefined;
    const cgroupPathSkips = cgroupType!.fields!.slice(0, pathAt).map((f) => compileSkip(f.type));
    if (cgroupPathSkips.some((s) => s === undefined)) return undefined;
    let tailType: avro.Type;
    const tailNames = auditFields.slice(rawFields.length).map((f) => f.name);
    try {
      // The tail's named types are defined in the tail itself (Container, Pod, ...); if one were
      // only defined in the head, parsing fails and the fast path is off.
      tailType = parseSchema({ ...auditSchema, name: `${String(auditSchema.name)}Tail`, fields: auditSchema.fields.slice(rawFields.length) });
    } catch {
      return undefined;
    }
    // The destination join fills the Endpoint's last three fields (pod, service, scope), which
    // the raw dst carries as nulls: one byte each.
    let dstIdx = idx('dst');
    const dstFields = (rawFields[dstIdx]?.type as unknown as { fields?: Array<{ name: string; type: avro.Type & { types?: avro.Type[] } }> } | undefined)?.fields;
    const last3 = dstFields?.slice(-3) ?? [];
    if (!marks[dstIdx] || last3.map((x) => x.name).join() !== JOINED_FIELDS.join() || last3.some((x) => x.type.types?.[0]?.typeName !== 'null')) dstIdx = -1;
    const dstMark = dstIdx < 0 ? -1 : marks.slice(0, dstIdx).filter(Boolean).length;
    const header = (fp: bigint) => Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytesLE(fp)]);
    return new AuditTranscoder(header(rawWs.fingerprint), header(auditWs.fingerprint), skips, marks, marks.filter(Boolean).length,
      want, cgroupPathSkips as Skip[], tailType, tailNames, dstIdx, dstMark);
  }

  /** The fields enrich needs, if buf is a clean single-object RawConnectEvent of the current schema. */
  read(buf: Buffer): RawFields | undefined {
    if (buf.length < HEADER) return undefined;
    for (let i = 0; i < HEADER; i++) if (buf[i] !== this.rawHeader[i]) return undefined;
    const c: Cursor = { buf, pos: HEADER, end: buf.length };
    const w = this.want;
    const cuts = this.cuts;
    const at = this.at;
    let k = 0;
    this.lastRead = undefined;
    let seq = 0n, time = 0n;
    let pathS = 0, pathE = 0;
    for (let i = 0; i < this.skips.length; i++) {
      const start = c.pos;
      if (this.marks[i]) cuts[k++] = start;
      if (i === w.cgroup) {
        for (const s of this.cgroupPathSkips) if (!s(c)) return undefined;
        const n = varint(c);
        if (n === undefined || n < 0 || c.pos + n > c.end) return undefined;
        pathS = c.pos;
        pathE = c.pos + n;
        c.pos = start;
      }
      if (!this.skips[i]!(c) || c.pos > c.end) return undefined;
      at[2 * i] = start;
      at[2 * i + 1] = c.pos;
      if (i === w.seq) seq = decodeLongAt(buf, start, c.pos);
      else if (i === w.time) time = decodeLongAt(buf, start, c.pos);
    }
    if (c.pos !== c.end) return undefined;
    cuts[k] = c.end;
    let dstStart = 0, dstEnd = 0;
    if (this.dstIdx >= 0) {
      dstStart = at[2 * this.dstIdx]!;
      dstEnd = at[2 * this.dstIdx + 1]!;
      // A raw dst that already carries pod, service or scope is not capture's: the general path decides.
      if (buf[dstEnd - 1] !== 0 || buf[dstEnd - 2] !== 0 || buf[dstEnd - 3] !== 0) return undefined;
    }
    const id = this.identity(buf, pathS, pathE);
    const node = intern(this.lastNode, buf, at[2 * w.node]!, at[2 * w.node + 1]!);
    const instance = intern(this.lastInstance, buf, at[2 * w.instance]!, at[2 * w.instance + 1]!);
    this.lastRead = { node, instance, seq, time, netns: id.netns, utsName: id.utsName, cgroupPath: id.cgroupPath, dstStart, dstEnd, memo: id.memo };
    return this.lastRead;
  }

  private identity(buf: Buffer, pathS: number, pathE: number): Identity {
    const w = this.want;
    const s = this.at[2 * this.region[0]]!;
    const e = this.at[2 * this.region[1] + 1]!;
    // Hash the ends only (netns first, the container ID last); the byte compare decides.
    let h = Math.imul(0x811c9dc5 ^ (e - s), 0x01000193);
    const headEnd = Math.min(e, s + 16);
    for (let i = s; i < headEnd; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    for (let i = Math.max(headEnd, e - 48); i < e; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    let id = this.identities.get(h);
    if (id === undefined || id.bytes.length !== e - s || buf.compare(id.bytes, 0, id.bytes.length, s, e) !== 0) {
      id = {
        bytes: Buffer.from(buf.subarray(s, e)),
        netns: decodeLongAt(buf, this.at[2 * w.netns]!, this.at[2 * w.netns + 1]!),
        utsName: str(buf, this.at[2 * w.utsName]!, this.at[2 * w.utsName + 1]!),
        cgroupPath: buf.toString('utf8', pathS, pathE),
        memo: {},
      };
      if (this.identities.size >= MAX_IDENTITIES) this.identities.clear();
      this.identities.set(h, id);
    }
    return id;
  }

  /** true when write() can take the destination join's bytes */
  get joinsDst(): boolean {
    return this.dstIdx >= 0;
  }

  /** dst's pod, service and scope bytes for a record read() accepted: its address and dst.name.name, looked up. */
  joinDst(raw: Buffer, f: RawFields, join: DestinationJoin): Buffer {
    const c: Cursor = { buf: raw, pos: f.dstStart, end: f.dstEnd };
    const n = varint(c)!;
    const addr = raw.subarray(c.pos, c.pos + n);
    c.pos += n;
    varint(c); // port
    let name: string | null = null;
    if (varint(c) === 1) {
      const s = c.pos;
      const len = varint(c)!;
      name = str(raw, s, c.pos + len);
    }
    return join.bytes(addr, f.time, name);
  }

  /** The framed AuditRecord for a raw record read() accepted (as `f`), attributed as `a`, with dst's joined bytes if given. */
  write(raw: Buffer, f: RawFields, a: Attribution, dst?: Buffer): Buffer {
    let tail = this.tails.get(a);
    if (tail === undefined) {
      const rec = auditFromRaw(TAIL_ONLY, a) as unknown as Record<string, unknown>;
      tail = this.tailType.toBuffer(Object.fromEntries(this.tailNames.map((n) => [n, rec[n]])));
      this.tails.set(a, tail);
    }
    const join = dst !== undefined && this.dstIdx >= 0 ? dst : undefined;
    const out = Buffer.allocUnsafe(HEADER + (raw.length - HEADER) + this.marked + tail.length + (join ? join.length - 3 : 0));
    for (let i = 0; i < HEADER; i++) out[i] = this.auditHeader[i]!;
    if (f !== this.lastRead) this.findCuts(raw);
    const cuts = this.cuts;
    let o = put(out, HEADER, raw, HEADER, cuts[0]!);
    for (let k = 0; k < this.marked; k++) {
      out[o++] = UNION_SECOND;
      if (join && k === this.dstMark) {
        o = put(out, o, raw, cuts[k]!, f.dstEnd - 3);
        o = put(out, o, join, 0, join.length);
        o = put(out, o, raw, f.dstEnd, cuts[k + 1]!);
      } else o = put(out, o, raw, cuts[k]!, cuts[k + 1]!);
    }
    put(out, o, tail, 0, tail.length);
    return out;
  }

  /** read()'s cuts again, for a record read before the last one (its lookup had to wait). */
  private findCuts(raw: Buffer): void {
    const c: Cursor = { buf: raw, pos: HEADER, end: raw.length };
    let k = 0;
    for (let i = 0; i < this.skips.length; i++) {
      if (this.marks[i]) this.cuts[k++] = c.pos;
      this.skips[i]!(c);
    }
    this.cuts[k] = c.end;
    this.lastRead = undefined;
  }
}

/** Copies src[from, to) to out at o; returns the new o. Fields are short: a loop beats a native call. */
function put(out: Buffer, o: number, src: Buffer, from: number, to: number): number {
  if (to - from > 48) return o + src.copy(out, o, from, to);
  for (let i = from; i < to; i++) out[o++] = src[i]!;
  return o;
}

/** The string at buf[start, end) (length prefix included), reusing the last one when the bytes repeat. */
function intern(last: { bytes: Buffer; s: string }, buf: Buffer, start: number, end: number): string {
  const n = end - start;
  if (last.bytes.length === n) {
    let i = 0;
    while (i < n && last.bytes[i] === buf[start + i]) i++;
    if (i === n) return last.s;
  }
  last.bytes = Buffer.from(buf.subarray(start, end));
  last.s = str(buf, start, end);
  return last.s;
}

// auditFromRaw() is the one place attribution becomes record fields; the tail takes those.
const TAIL_ONLY = {} as RawConnectEvent;

/**
 * An audit output of the fast path. `record` (replay prints it) is decoded from the bytes only
 * when asked for; `attribution` is the decision, for stats.
 */
export class TranscodedAudit {
  readonly kind = 'audit' as const;
  private rec: AuditRecord | undefined;

  constructor(
    readonly key: Buffer | string | null,
    readonly value: Buffer,
    readonly attribution: Attribution,
    private readonly codec: Codec,
  ) {}

  get record(): AuditRecord {
    this.rec ??= this.codec.decodeAs('AuditRecord', this.value);
    return this.rec;
  }
}
