// SPDX-License-Identifier: Apache-2.0
// DNS wire format (RFC 1035) for the answers and queries the kernel side copies from marked
// sockets. The bytes come from pods, so nothing here trusts them: every read is bounds-checked,
// compression pointers are followed a bounded number of hops with loop detection, names are
// held to 63-byte labels and 255-byte names, and a bad packet comes back as a reason (for a
// counter), never as an exception.

/** Why a packet was not usable; each one has its own counter (DnsParseStats). */
export const MALFORMED_REASONS = [
  'short-header', // fewer than 12 bytes
  'truncated-question', // the question runs past the end
  'truncated-record', // an answer record runs past the end (often the kernel's copy cap)
  'pointer-loop', // a compression pointer leads back to one already followed
  'pointer-out-of-range', // a pointer past the end of the message
  'too-many-hops', // more pointers than any real name needs
  'label-too-long', // reserved label types 0x40/0x80 (a length byte over 63)
  'name-too-long', // over 255 bytes on the wire
  'bad-rdata', // an A record not 4 bytes long, an AAAA not 16, a CNAME whose name does not fill it
  'multiple-questions', // QDCOUNT > 1: no resolver sends it, so we cannot tell which one is answered
  'internal', // a fault of this parser, not of the packet: counted apart so it is seen
] as const;
export type MalformedReason = (typeof MALFORMED_REASONS)[number];

export const TYPE_A = 1;
export const TYPE_CNAME = 5;
export const TYPE_AAAA = 28;
export const TYPE_OPT = 41;
export const CLASS_IN = 1;

const MAX_HOPS = 32;
const MAX_NAME_WIRE = 255;
/** Records kept per section; the rest are skipped (still bounds-checked) and counted. */
export const MAX_RECORDS = 64;

export interface DnsQuestion {
  /** lowercase, no trailing dot; "" for the root; odd bytes as \DDD */
  name: string;
  type: number;
  class: number;
}

export type DnsRecordData =
  | { kind: 'A' | 'AAAA'; addr: Buffer }
  | { kind: 'CNAME'; target: string }
  | { kind: 'other' };

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  /** seconds; values with the top bit set read as 0 (RFC 2181 8) */
  ttl: number;
  data: DnsRecordData;
}

export interface DnsMessage {
  id: number;
  /** true for a response */
  qr: boolean;
  opcode: number;
  aa: boolean;
  /** TC: the answer did not fit; the client retries over TCP */
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  question: DnsQuestion | null;
  answers: DnsRecord[];
  /** answer records beyond MAX_RECORDS, skipped */
  answersSkipped: number;
  /** EDNS UDP payload size from an OPT record, when the additional section has one */
  ednsUdpSize: number | null;
  /**
   * The authority/additional sections could not be read (commonly: cut by the copy cap).
   * The header, question and answers are still whole and usable.
   */
  tailIssue: MalformedReason | null;
}

export type ParseResult =
  | { ok: true; msg: DnsMessage }
  | { ok: false; reason: MalformedReason; /** the header id, when there was a header */ id: number | null };

class Bad {
  constructor(readonly reason: MalformedReason) {}
}

/** Escapes a label byte-for-byte so a hostile name cannot carry dots, controls or quotes. */
function labelText(b: Buffer, start: number, len: number): string {
  let s = '';
  for (let i = start; i < start + len; i++) {
    let c = b[i] as number;
    if (c >= 0x41 && c <= 0x5a) c += 0x20; // DNS names compare case-insensitively
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2a;
    s += ok ? String.fromCharCode(c) : `\\${String(c).padStart(3, '0')}`;
  }
  return s;
}

/** Reads a (possibly compressed) name at `off`; returns it and the offset after it in the original stream. */
function readName(b: Buffer, off: number): { name: string; next: number } {
  const labels: string[] = [];
  let wire = 0;
  let pos = off;
  let next = -1;
  let hops = 0;
  // Allocated at the second pointer: most names follow at most one.
  let seen: Set<number> | null = null;
  let firstPtr = -1;
  for (;;) {
    if (pos >= b.length) throw new Bad('truncated-record');
    const len = b[pos] as number;
    if (len === 0) {
      wire += 1;
      if (wire > MAX_NAME_WIRE) throw new Bad('name-too-long');
      if (next < 0) next = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= b.length) throw new Bad('truncated-record');
      const target = ((len & 0x3f) << 8) | (b[pos + 1] as number);
      if (next < 0) next = pos + 2;
      if (firstPtr < 0) firstPtr = pos;
      else {
        if (pos === firstPtr || seen?.has(pos)) throw new Bad('pointer-loop');
        (seen ??= new Set()).add(pos);
      }
      if (++hops > MAX_HOPS) throw new Bad('too-many-hops');
      if (target >= b.length) throw new Bad('pointer-out-of-range');
      pos = target;
      continue;
    }
    if (kind !== 0) throw new Bad('label-too-long');
    wire += len + 1;
    if (wire + 1 > MAX_NAME_WIRE) throw new Bad('name-too-long');
    if (pos + 1 + len > b.length) throw new Bad('truncated-record');
    labels.push(labelText(b, pos + 1, len));
    pos += 1 + len;
  }
  return { name: labels.join('.'), next };
}

function u16(b: Uint8Array, o: number): number {
  return ((b[o] as number) << 8) | (b[o + 1] as number);
}

function u32(b: Uint8Array, o: number): number {
  return (((b[o] as number) << 24) >>> 0) + (((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number));
}

interface Section { records: DnsRecord[]; skipped: number; next: number; edns: number | null }

function readSection(b: Buffer, off: number, count: number, keep: boolean): Section {
  const records: DnsRecord[] = [];
  let skipped = 0;
  let edns: number | null = null;
  let pos = off;
  for (let i = 0; i < count; i++) {
    const { name, next } = readName(b, pos);
    if (next + 10 > b.length) throw new Bad('truncated-record');
    const type = u16(b, next);
    const cls = u16(b, next + 2);
    const rawTtl = u32(b, next + 4);
    const rdlen = u16(b, next + 8);
    const rd = next + 10;
    if (rd + rdlen > b.length) throw new Bad('truncated-record');
    pos = rd + rdlen;
    if (type === TYPE_OPT) {
      edns = cls; // OPT's class field is the requester's UDP payload size
      continue;
    }
    if (!keep) continue;
    if (records.length >= MAX_RECORDS) {
      skipped++;
      continue;
    }
    let data: DnsRecordData = { kind: 'other' };
    if (cls === CLASS_IN && type === TYPE_A) {
      if (rdlen !== 4) throw new Bad('bad-rdata');
      data = { kind: 'A', addr: Buffer.from(b.subarray(rd, rd + 4)) };
    } else if (cls === CLASS_IN && type === TYPE_AAAA) {
      if (rdlen !== 16) throw new Bad('bad-rdata');
      data = { kind: 'AAAA', addr: Buffer.from(b.subarray(rd, rd + 16)) };
    } else if (type === TYPE_CNAME) {
      // The target may point anywhere in the message, but its own bytes must end inside rdata.
      const t = readName(b, rd);
      if (t.next !== rd + rdlen) throw new Bad('bad-rdata');
      data = { kind: 'CNAME', target: t.name };
    }
    records.push({ name, type, class: cls, ttl: rawTtl > 0x7fffffff ? 0 : rawTtl, data });
  }
  return { records, skipped, next: pos, edns };
}

/** Parses one DNS message (UDP payload, or one TCP message without its length prefix). Never throws. */
export function parseDns(buf: Uint8Array): ParseResult {
  if (buf.length < 12) return { ok: false, reason: 'short-header', id: null };
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const id = u16(b, 0);
  try {
    const f = u16(b, 2);
    const qd = u16(b, 4);
    const an = u16(b, 6);
    const ns = u16(b, 8);
    const ar = u16(b, 10);
    if (qd > 1) throw new Bad('multiple-questions');
    let pos = 12;
    let question: DnsQuestion | null = null;
    if (qd === 1) {
      let q: { name: string; next: number };
      try {
        q = readName(b, pos);
      } catch (e) {
        if (e instanceof Bad && e.reason === 'truncated-record') throw new Bad('truncated-question');
        throw e;
      }
      if (q.next + 4 > b.length) throw new Bad('truncated-question');
      question = { name: q.name, type: u16(b, q.next), class: u16(b, q.next + 2) };
      pos = q.next + 4;
    }
    const answers = readSection(b, pos, an, true);
    let tailIssue: MalformedReason | null = null;
    let edns: number | null = null;
    try {
      const auth = readSection(b, answers.next, ns, false);
      const add = readSection(b, auth.next, ar, false);
      edns = add.edns;
    } catch (e) {
      if (!(e instanceof Bad)) throw e;
      tailIssue = e.reason;
    }
    return {
      ok: true,
      msg: {
        id, qr: (f & 0x8000) !== 0, opcode: (f >> 11) & 0xf, aa: (f & 0x0400) !== 0, tc: (f & 0x0200) !== 0,
        rd: (f & 0x0100) !== 0, ra: (f & 0x0080) !== 0, rcode: f & 0xf,
        question, answers: answers.records, answersSkipped: answers.skipped, ednsUdpSize: edns, tailIssue,
      },
    };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, reason: e.reason, id };
    // A bug of ours, not the packet's: still never escapes to the capture loop.
    return { ok: false, reason: 'internal', id };
  }
}

export const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED',
};

export function rcodeName(r: number): string {
  return RCODE_NAMES[r] ?? `RCODE${r}`;
}

/** Counts each packet outcome by reason, for metrics and the loss accounting. */
export class DnsParseStats {
  parsed = 0;
  readonly malformed = new Map<MalformedReason, number>();

  count(r: ParseResult): ParseResult {
    if (r.ok) this.parsed++;
    else this.malformed.set(r.reason, (this.malformed.get(r.reason) ?? 0) + 1);
    return r;
  }

  get malformedTotal(): number {
    let n = 0;
    for (const v of this.malformed.values()) n += v;
    return n;
  }
}
