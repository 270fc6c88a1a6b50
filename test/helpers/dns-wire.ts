// SPDX-License-Identifier: Apache-2.0
// Builds DNS messages byte by byte for tests and the test DNS server: plain names or
// compressed ones, and the broken forms a hostile server could send.

export interface WireRecord {
  name: string;
  type: 'A' | 'AAAA' | 'CNAME' | 'TXT';
  ttl: number;
  /** A/AAAA: address text; CNAME: target name; TXT: text */
  value: string;
}

export interface WireMessage {
  id: number;
  response: boolean;
  rcode?: number;
  tc?: boolean;
  rd?: boolean;
  question?: { name: string; type: number };
  answers?: WireRecord[];
  /** EDNS OPT record in the additional section with this UDP size */
  edns?: number;
  /** compress names against earlier ones (as real servers do) */
  compress?: boolean;
}

const TYPES = { A: 1, CNAME: 5, TXT: 16, AAAA: 28 } as const;

export function encodeAddr(text: string): Buffer {
  if (text.includes('.') && !text.includes(':')) return Buffer.from(text.split('.').map(Number));
  const [head = '', tail = ''] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

class Writer {
  private chunks: number[] = [];
  private readonly names = new Map<string, number>();

  constructor(private readonly compress: boolean) {}

  get length(): number {
    return this.chunks.length;
  }

  u8(v: number): void { this.chunks.push(v & 0xff); }
  u16(v: number): void { this.u8(v >> 8); this.u8(v); }
  u32(v: number): void { this.u16(v >>> 16); this.u16(v & 0xffff); }
  bytes(b: Uint8Array): void { for (const x of b) this.u8(x); }
  patch16(at: number, v: number): void { this.chunks[at] = (v >> 8) & 0xff; this.chunks[at + 1] = v & 0xff; }

  name(n: string): void {
    const labels = n === '' ? [] : n.split('.');
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      const at = this.names.get(suffix);
      if (this.compress && at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.length < 0x3fff) this.names.set(suffix, this.length);
      const b = Buffer.from(labels[i]!, 'latin1');
      this.u8(b.length);
      this.bytes(b);
    }
    this.u8(0);
  }

  done(): Buffer {
    return Buffer.from(this.chunks);
  }
}

export function encodeDns(m: WireMessage): Buffer {
  const w = new Writer(m.compress ?? true);
  w.u16(m.id);
  w.u16((m.response ? 0x8000 : 0) | (m.tc ? 0x0200 : 0) | ((m.rd ?? true) ? 0x0100 : 0) | (m.response ? 0x0080 : 0) | ((m.rcode ?? 0) & 0xf));
  w.u16(m.question ? 1 : 0);
  w.u16(m.answers?.length ?? 0);
  w.u16(0);
  w.u16(m.edns !== undefined ? 1 : 0);
  if (m.question) {
    w.name(m.question.name);
    w.u16(m.question.type);
    w.u16(1);
  }
  for (const r of m.answers ?? []) {
    w.name(r.name);
    w.u16(TYPES[r.type]);
    w.u16(1);
    w.u32(r.ttl);
    if (r.type === 'A' || r.type === 'AAAA') {
      const a = encodeAddr(r.value);
      w.u16(a.length);
      w.bytes(a);
    } else if (r.type === 'CNAME') {
      const lenAt = w.length;
      w.u16(0);
      const start = w.length;
      w.name(r.value);
      w.patch16(lenAt, w.length - start);
    } else {
      const t = Buffer.from(r.value, 'latin1');
      w.u16(t.length + 1);
      w.u8(t.length);
      w.bytes(t);
    }
  }
  if (m.edns !== undefined) {
    w.u8(0);
    w.u16(41);
    w.u16(m.edns);
    w.u32(0);
    w.u16(0);
  }
  return w.done();
}

/** A response whose answer name is a pointer to itself: a compression loop. */
export function loopAnswer(id: number, qname: string, qtype = 1): Buffer {
  const base = encodeDns({ id, response: true, question: { name: qname, type: qtype } });
  const b = Buffer.concat([base, Buffer.from([0xc0, 0x00, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1])]);
  b.writeUInt16BE(1, 6); // ANCOUNT 1
  b.writeUInt16BE(0xc000 | base.length, base.length); // the answer's name points at itself
  return b;
}

/** The question name as it sits in a query's bytes (for the server to read). */
export function readQuestion(q: Buffer): { id: number; name: string; type: number } | null {
  if (q.length < 12 || q.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let p = 12;
  while (p < q.length) {
    const len = q[p]!;
    if (len === 0) break;
    if (len > 63 || p + 1 + len > q.length) return null;
    labels.push(q.subarray(p + 1, p + 1 + len).toString('latin1'));
    p += 1 + len;
  }
  if (p + 5 > q.length) return null;
  return { id: q.readUInt16BE(0), name: labels.join('.'), type: q.readUInt16BE(p + 1) };
}
