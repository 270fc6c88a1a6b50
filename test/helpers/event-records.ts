// SPDX-License-Identifier: Apache-2.0
// Builds records and native batches the way bpf/podtrail.h lays them out, for unit tests.
import { CGROUP_REC, CONNECT_EVENT, CONSTANTS } from '../../src/capture/event-layout.js';

export function encodeConnect(f: Partial<Record<keyof typeof CONNECT_EVENT, number | bigint | Buffer | string>> = {}): Buffer {
  const L = CONNECT_EVENT;
  const b = Buffer.alloc(L.SIZE);
  b.writeUInt32LE(CONSTANTS.PT_REC_CONNECT, L.type);
  b[L.family] = 2;
  b[L.protocol] = 6;
  b[L.op] = 1;
  for (const [k, v] of Object.entries(f)) {
    const off = L[k as keyof typeof L];
    if (Buffer.isBuffer(v)) v.copy(b, off);
    else if (typeof v === 'string') b.write(v, off, 'utf8');
    else if (typeof v === 'bigint') b.writeBigUInt64LE(v, off);
    else if (['family', 'protocol', 'status', 'op'].includes(k)) b[off] = v;
    else if (['sport', 'dport', 'cg_hier'].includes(k)) b.writeUInt16LE(v, off);
    else if (k === 'err') b.writeInt32LE(v, off);
    else b.writeUInt32LE(v, off);
  }
  return b;
}

export function encodeCgroup(hier: number, id: bigint, path: string): Buffer {
  const L = CGROUP_REC;
  const b = Buffer.alloc(L.SIZE);
  b.writeUInt32LE(CONSTANTS.PT_REC_CGROUP, L.type);
  b.writeUInt16LE(hier, L.hier);
  b.writeBigUInt64LE(id, L.cgroup_id);
  const n = b.write(path, L.path, 'utf8');
  b.writeUInt32LE(n, L.len);
  return b;
}

export function frame(...recs: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of recs) {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(r.length, 0);
    parts.push(h, r, Buffer.alloc((8 - (r.length % 8)) % 8));
  }
  return Buffer.concat(parts);
}

