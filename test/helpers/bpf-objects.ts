// SPDX-License-Identifier: Apache-2.0
// Which BPF programs, maps and links a process holds (from its fds' fdinfo), and which of them
// the kernel still lists (bpftool prog/map/link show). Ids are never reused while an object
// lives and are allocated cyclically, so "this id is no longer listed" means "it is gone".
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { promisify } from 'node:util';

export interface BpfObjects { progs: number[]; maps: number[]; links: number[] }

const KINDS = [
  { kind: 'progs', inode: 'anon_inode:bpf-prog', field: 'prog_id' },
  { kind: 'maps', inode: 'anon_inode:bpf-map', field: 'map_id' },
  { kind: 'links', inode: 'anon_inode:bpf_link', field: 'link_id' },
] as const;

/** The BPF objects `pid` has fds for (what dies with it, unless pinned or held elsewhere). */
export function bpfObjectsOf(pid: number): BpfObjects {
  const out: BpfObjects = { progs: [], maps: [], links: [] };
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    let info: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    for (const k of KINDS) {
      if (target !== k.inode) continue;
      const m = new RegExp(`^${k.field}:\\s*(\\d+)$`, 'm').exec(info);
      if (m) out[k.kind].push(Number(m[1]));
    }
  }
  for (const k of KINDS) out[k.kind] = [...new Set(out[k.kind])].sort((a, b) => a - b);
  return out;
}

/** What `bpftool -j prog|map|link show` lists now. */
export async function bpftoolListed(): Promise<BpfObjects> {
  const ids = async (what: string): Promise<number[]> => {
    const { stdout } = await promisify(execFile)('bpftool', ['-j', what, 'show'], { maxBuffer: 64 << 20 });
    return (JSON.parse(stdout || '[]') as Array<{ id: number }>).map((o) => o.id);
  };
  const [progs, maps, links] = await Promise.all([ids('prog'), ids('map'), ids('link')]);
  return { progs, maps, links };
}

/** The objects of `objs` that the kernel still lists. */
export async function stillListed(objs: BpfObjects): Promise<BpfObjects> {
  const l = await bpftoolListed();
  return {
    progs: objs.progs.filter((id) => l.progs.includes(id)),
    maps: objs.maps.filter((id) => l.maps.includes(id)),
    links: objs.links.filter((id) => l.links.includes(id)),
  };
}

const count = (o: BpfObjects) => o.progs.length + o.maps.length + o.links.length;

/** Waits (polling; the kernel frees maps after an RCU grace period) until none of objs is listed. */
export async function waitUnlisted(objs: BpfObjects, timeoutMs: number): Promise<BpfObjects> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await stillListed(objs);
    if (count(left) === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function bpftoolMissing(): Promise<string | undefined> {
  try {
    await promisify(execFile)('bpftool', ['version']);
    return undefined;
  } catch (err) {
    return `bpftool does not run: ${(err as Error).message}`;
  }
}
