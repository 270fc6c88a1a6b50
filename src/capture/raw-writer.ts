// SPDX-License-Identifier: Apache-2.0
// RawConnectEvent -> Avro single-object bytes, written by hand: capture encodes one per
// connection, and avsc's generic writer (a Buffer per call, then a copy for the header)
// cost more than the rest of the per-event work in user space. The output must be
// byte-for-byte what Codec.encode writes (test/unit/raw-writer.test.ts checks it over
// random events). It is used only while the registry's RawConnectEvent is the schema
// written for here (same fingerprint); anything it does not expect goes to the Codec.
import type { Codec } from '../schema/codec.js';
import { fingerprintBytesLE } from '../schema/rabin.js';
import type { Process, ProcessRef, RawConnectEvent, ResolvedName } from '../schema/types.js';

/** CRC-64-AVRO of the canonical RawConnectEvent schema this writer follows. */
export const RAW_WRITER_FINGERPRINT = 0xff6c15383f424490n;

const PROTOCOL: Record<string, number> = { TCP: 0, UDP: 1 };
const TRUST: Record<string, number> = { unmatched: 0, matched: 1, resolver: 2 };
const FAMILY: Record<string, number> = { IPv4: 0, IPv6: 1 };
const STATUS: Record<string, number> = { OK: 0, INPROGRESS: 1, REFUSED: 2, TIMEOUT: 3, UNREACHABLE: 4, ERROR: 5 };
const TWO52 = 2 ** 52;
const TWO32 = 2 ** 32;

class Out {
  buf = Buffer.allocUnsafe(64 * 1024);
  pos = 0;

  int(n: number): void {
    let z = ((n << 1) ^ (n >> 31)) >>> 0;
    while (z > 0x7f) {
      this.buf[this.pos++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
    this.buf[this.pos++] = z;
  }

  long(v: bigint): void {
    const n = Number(v);
    if (n >= -0x80000000 && n <= 0x7fffffff) {
      this.int(n);
      return;
    }
    let lo: number;
    let hi: number;
    if (n > -TWO52 && n < TWO52) {
      // zigzag in float arithmetic (|n| < 2^52 keeps 2|n| exact), then split in halves
      const z = n >= 0 ? n * 2 : -n * 2 - 1;
      lo = z >>> 0;
      hi = Math.floor(z / TWO32) >>> 0;
    } else {
      // 64-bit zigzag on two 32-bit halves (protobuf's LongBits way)
      const u = BigInt.asUintN(64, v);
      lo = Number(u & 0xffffffffn);
      hi = Number(u >> 32n);
      const mask = (hi | 0) >> 31;
      hi = (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0;
      lo = ((lo << 1) ^ mask) >>> 0;
    }
    const buf = this.buf;
    let pos = this.pos;
    while (hi) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 0x7f) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  string(s: string): void {
    // Most of ours are short and ASCII: write them by hand after a varint sized for
    // length == bytes, and start over the general way at the first non-ASCII unit.
    const len = s.length;
    if (len < 8192) {
      const start = this.pos + (len < 64 ? 1 : 2);
      const buf = this.buf;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      if (i === len) {
        this.int(len);
        this.pos = start + len;
        return;
      }
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.int(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }

  /** Strings that repeat (node, instance, comm, UTS name, cgroup path): encoded once. */
  private readonly seen = new Map<string, Uint8Array>();

  cached(s: string): void {
    let enc = this.seen.get(s);
    if (enc === undefined) {
      const start = this.pos;
      this.string(s);
      // A copy: Buffer#slice would be a view of the scratch buffer, rewritten next call.
      enc = Uint8Array.prototype.slice.call(this.buf, start, this.pos);
      if (this.seen.size >= 4096) this.seen.clear();
      this.seen.set(s, enc);
      return;
    }
    this.buf.set(enc, this.pos);
    this.pos += enc.length;
  }

  /** A whole encoded piece, as cached. */
  raw(enc: Uint8Array): void {
    this.buf.set(enc, this.pos);
    this.pos += enc.length;
  }

  /** Room for n more bytes beyond what reserve() made, keeping what is written. */
  grow(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe((this.pos + n) * 2);
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }

  bytes(b: Uint8Array): void {
    this.int(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** An Avro ["null", "string"] union. */
  optString(s: string | null): void {
    if (s === null) this.int(0);
    else {
      this.int(1);
      this.string(s);
    }
  }

  /** An array of strings, in one block as avsc writes it. Needs room: callers reserve. */
  strings(a: readonly string[]): void {
    if (a.length > 0) {
      this.int(a.length);
      for (const s of a) this.string(s);
    }
    this.int(0);
  }

  /** Room for anything the record can need, strings at 3 bytes per UTF-16 unit. */
  reserve(strChars: number, byteLen: number): void {
    const need = 256 + strChars * 3 + byteLen;
    if (this.buf.length < need) this.buf = Buffer.allocUnsafe(need * 2);
    this.pos = 0;
  }
}

const isInt = (n: unknown): n is number => typeof n === 'number' && (n | 0) === n;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;
const isLong = (v: unknown): v is bigint => typeof v === 'bigint' && v >= LONG_MIN && v <= LONG_MAX;
const isBytes = (b: unknown): b is Uint8Array => b instanceof Uint8Array;
const isStr = (s: unknown): s is string => typeof s === 'string';
const isStrOrNull = (s: unknown): s is string | null => s === null || typeof s === 'string';
const isRef = (r: unknown): r is ProcessRef => {
  const x = r as ProcessRef | null;
  return typeof x === 'object' && x !== null && isInt(x.pid) && isStr(x.comm) && isStrOrNull(x.exe);
};
const isStrArray = (a: unknown): a is string[] => Array.isArray(a) && a.every(isStr);

const plainName = (n: ResolvedName): boolean =>
  typeof n === 'object' && n !== null && isStr(n.name) && isStrArray(n.cnames) && isLong(n.answeredAt) && isInt(n.ttl) &&
  isStr(n.server) && TRUST[n.trust] !== undefined;

/** The identity fields' shape (checked once per identity, as they are cached by it). */
function plainIdentity(p: Process): boolean {
  return isLong(p.key) && isStrOrNull(p.exe) && isStrArray(p.args) && typeof p.argsTruncated === 'boolean' &&
    (p.parent === null || isRef(p.parent)) && Array.isArray(p.ancestry) && p.ancestry.every(isRef) && isStrArray(p.exeFlags);
}

/** Process fields key..ancestry of one identity, encoded. Keyed by its ancestry array, which is the identity's own. */
interface IdentityBytes { key: bigint; exe: string | null; args: string[]; argsTruncated: boolean; parent: ProcessRef | null; enc: Uint8Array }

/** Everything the hand-written path relies on; otherwise the Codec decides (and reports). */
function plain(r: RawConnectEvent): boolean {
  const p = r.process;
  return typeof r.eventId === 'string' && isLong(r.seq) && typeof r.instance === 'string' && isLong(r.time) &&
    typeof r.node === 'string' && PROTOCOL[r.protocol] !== undefined && FAMILY[r.family] !== undefined &&
    isBytes(r.src?.addr) && isInt(r.src.port) && isBytes(r.dst?.addr) && isInt(r.dst.port) &&
    // name is capture's, on dst only; pod, service and scope are enrich's: anything else goes to the Codec
    r.src.name === null && r.src.pod === null && r.src.service === null && r.src.scope === null &&
    (r.dst.name === null || plainName(r.dst.name)) && r.dst.pod === null && r.dst.service === null && r.dst.scope === null &&
    typeof r.encryptedDns === 'boolean' &&
    STATUS[r.result?.status] !== undefined && isInt(r.result.errno) &&
    isInt(p?.pid) && isInt(p.tid) && isInt(p.ppid) && isLong(p.uid) && isLong(p.gid) && typeof p.comm === 'string' &&
    isLong(p.startTime) && isInt(p.nsPid) && isLong(r.netns) && isLong(r.mntns) && isLong(r.pidns) &&
    typeof r.utsName === 'string' && isLong(r.cgroup?.id) && typeof r.cgroup.path === 'string';
}

export class RawWriter {
  private readonly out = new Out();
  /** Every connect of one process carries the same identity objects: encode them once. */
  private identities = new WeakMap<ProcessRef[], IdentityBytes>();
  private flagBytes = new WeakMap<string[], Uint8Array>();
  private readonly header: Buffer;
  /** false when the codec's RawConnectEvent is another schema: then everything goes to it */
  readonly fast: boolean;

  constructor(private readonly codec: Codec) {
    const ws = codec.set.get('RawConnectEvent');
    this.fast = ws.fingerprint === RAW_WRITER_FINGERPRINT;
    this.header = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytesLE(RAW_WRITER_FINGERPRINT)]);
  }

  encode(r: RawConnectEvent): Buffer {
    if (!this.fast || !plain(r)) return this.codec.encode('RawConnectEvent', r);
    const o = this.out;
    const p = r.process;
    o.reserve(r.eventId.length + r.instance.length + r.node.length + p.comm.length + r.utsName.length + r.cgroup.path.length,
      r.src.addr.length + r.dst.addr.length);
    const h = this.header;
    for (let i = 0; i < h.length; i++) o.buf[i] = h[i]!;
    o.pos = h.length;
    o.string(r.eventId);
    o.long(r.seq);
    o.cached(r.instance);
    o.long(r.time);
    o.cached(r.node);
    o.int(PROTOCOL[r.protocol]!);
    o.int(FAMILY[r.family]!);
    o.bytes(r.src.addr);
    o.int(r.src.port);
    // src: name, pod, service, scope all null
    o.buf[o.pos++] = 0;
    o.buf[o.pos++] = 0;
    o.buf[o.pos++] = 0;
    o.buf[o.pos++] = 0;
    o.bytes(r.dst.addr);
    o.int(r.dst.port);
    if (r.dst.name === null) o.buf[o.pos++] = 0;
    else this.name(r.dst.name);
    // dst: pod, service, scope null
    o.buf[o.pos++] = 0;
    o.buf[o.pos++] = 0;
    o.buf[o.pos++] = 0;
    o.int(STATUS[r.result.status]!);
    o.int(r.result.errno);
    o.int(p.pid);
    o.int(p.tid);
    o.int(p.ppid);
    o.long(p.uid);
    o.long(p.gid);
    o.cached(p.comm);
    o.long(p.startTime);
    o.int(p.nsPid);
    let id = this.identities.get(p.ancestry);
    if (id === undefined || id.key !== p.key || id.exe !== p.exe || id.args !== p.args || id.argsTruncated !== p.argsTruncated || id.parent !== p.parent) {
      if (!plainIdentity(p)) return this.codec.encode('RawConnectEvent', r);
      id = { key: p.key, exe: p.exe, args: p.args, argsTruncated: p.argsTruncated, parent: p.parent, enc: this.identityBytes(p) };
      this.identities.set(p.ancestry, id);
    }
    let flags = this.flagBytes.get(p.exeFlags);
    if (flags === undefined) {
      if (!isStrArray(p.exeFlags)) return this.codec.encode('RawConnectEvent', r);
      flags = this.encodeApart((o2) => o2.strings(p.exeFlags));
      this.flagBytes.set(p.exeFlags, flags);
    }
    o.grow(id.enc.length + flags.length + 256 + 3 * (r.utsName.length + r.cgroup.path.length));
    o.raw(id.enc);
    o.raw(flags);
    o.long(r.netns);
    o.long(r.mntns);
    o.long(r.pidns);
    o.cached(r.utsName);
    o.long(r.cgroup.id);
    o.cached(r.cgroup.path);
    o.buf[o.pos++] = r.encryptedDns ? 1 : 0;
    // allocUnsafe of a small size takes a slice of Node's shared pool: no new ArrayBuffer.
    const res = Buffer.allocUnsafe(o.pos);
    o.buf.copy(res, 0, 0, o.pos);
    return res;
  }

  private readonly scratch = new Out();

  /** dst.name's union branch and record. Names repeat per destination: the strings are cached. */
  private name(n: ResolvedName): void {
    const o = this.out;
    o.grow(64 + 3 * (n.name.length + n.server.length + n.cnames.reduce((s, c) => s + c.length + 5, 0)));
    o.int(1);
    o.cached(n.name);
    o.strings(n.cnames);
    o.long(n.answeredAt);
    o.int(n.ttl);
    o.cached(n.server);
    o.int(TRUST[n.trust]!);
  }

  /** Bytes written by f on a scratch buffer, copied out. */
  private encodeApart(f: (o: Out) => void): Uint8Array {
    const o = this.scratch;
    o.pos = 0;
    f(o);
    return Uint8Array.prototype.slice.call(o.buf, 0, o.pos);
  }

  /** key, exe, args, argsTruncated, parent, ancestry as Avro writes them. */
  private identityBytes(p: Process): Uint8Array {
    const ref = (o: Out, x: ProcessRef) => {
      o.int(x.pid);
      o.string(x.comm);
      o.optString(x.exe);
    };
    return this.encodeApart((o) => {
      o.reserve(p.args.reduce((n, a) => n + a.length, 0) + (p.exe?.length ?? 0) +
        p.ancestry.reduce((n, a) => n + a.comm.length + (a.exe?.length ?? 0) + 16, 0) + (p.parent ? p.parent.comm.length + (p.parent.exe?.length ?? 0) + 16 : 0), 0);
      o.long(p.key);
      o.optString(p.exe);
      o.strings(p.args);
      o.buf[o.pos++] = p.argsTruncated ? 1 : 0;
      if (p.parent === null) o.int(0);
      else {
        o.int(1);
        ref(o, p.parent);
      }
      if (p.ancestry.length > 0) {
        o.int(p.ancestry.length);
        for (const a of p.ancestry) ref(o, a);
      }
      o.int(0);
    });
  }
}
