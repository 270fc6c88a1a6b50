// SPDX-License-Identifier: Apache-2.0
// User space's process table: what each process key (tgid + exec or start time) runs,
// from the kernel's process records (exec, fork, exit), seeded from /proc at start so
// processes older than capture are known. Bounded: least recently touched entries go
// first, and an exited process stays exitGraceMs so its last connects, still in the
// ring or in a batch behind its exit record, find it.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../common/errors.js';
import { CONSTANTS, type RawProcRecord } from './event-layout.js';

/** /proc/<pid>/stat counts start time in USER_HZ ticks, 100 on every Linux ABI. */
const TICK_NS = 10_000_000n;
export const ANCESTRY_MAX = 8;

type Source = 'exec' | 'fork' | 'proc';

/**
 * One process image. Compact, since a node can hold 50,000 of them: the path and argv are
 * kept as one-byte (latin1) strings, which hold any bytes and cost a string header each
 * instead of a Buffer object and its slab; a fork shares its parent's strings, and equal
 * paths, argv and comms share one string (the table interns them). The table finds an entry
 * by its pid and then along `older`, the pid's earlier images, so no key string per entry.
 */
export class ProcEntry {
  /** Date.now() of its exit record (or of the exec that replaced it) */
  exitedAt: number | undefined = undefined;
  /** the same pid's previous image, kept while its grace lasts (newest first) */
  older: ProcEntry | undefined = undefined;

  constructor(
    readonly tgid: number,
    readonly keyNs: bigint,
    readonly ppid: number,
    public parentKeyNs: bigint,
    readonly comm: string,
    /** the path's raw bytes, latin1: untrusted, rendered by proc-text.ts */
    readonly exeL: string,
    /** argv as the kernel held it, NUL-terminated strings, possibly cut; latin1 */
    readonly argsL: string,
    readonly argsTruncated: boolean,
    readonly exeFlags: number,
    /** where the entry came from: an exec seen, a fork of a known image, or /proc at start */
    readonly source: Source,
  ) {}

  /** the path's raw bytes */
  get exe(): Buffer {
    return Buffer.from(this.exeL, 'latin1');
  }

  /** argv's raw bytes */
  get args(): Buffer {
    return Buffer.from(this.argsL, 'latin1');
  }

  /** Is this the image of key keyNs? A /proc seed knows its start only to the tick. */
  matches(keyNs: bigint): boolean {
    return this.keyNs === keyNs || (this.source === 'proc' && this.keyNs / TICK_NS === keyNs / TICK_NS);
  }
}

export interface ProcessTableOptions {
  maxEntries?: number;
  /** path and argv bytes held at most: each process can bring 8 KiB of them */
  maxBytes?: number;
  exitGraceMs?: number;
  now?: () => number;
}

const DEFAULTS = { maxEntries: 131_072, maxBytes: 64 * 2 ** 20, exitGraceMs: 30_000 };
const bytesOf = (e: ProcEntry) => e.exeL.length + e.argsL.length;

/** A bounded set of strings, so that equal ones share one copy; forgets all when full. */
class Interner {
  private m = new Map<string, string>();
  constructor(private readonly max: number) {}
  of(s: string): string {
    const had = this.m.get(s);
    if (had !== undefined) return had;
    if (this.m.size >= this.max) this.m = new Map();
    this.m.set(s, s);
    return s;
  }
}

/** How readProc shares equal strings with a table's others. */
export interface StringInterners { comm(s: string): string; path(s: string): string; argv(s: string): string }
const NO_INTERN: StringInterners = { comm: (s) => s, path: (s) => s, argv: (s) => s };

export class ProcessTable {
  /** each pid's newest image, its older ones chained behind it; in order of last put (LRU) */
  private readonly byPid = new Map<number, ProcEntry>();
  private count = 0;
  private readonly max: number;
  private readonly maxBytes: number;
  private bytes = 0;
  private readonly grace: number;
  private readonly now: () => number;
  /** retired entries in retirement order, for pruning */
  private exited: ProcEntry[] = [];
  evicted = 0;
  /** Paths, argv and comms seen lately: processes of one binary share one string. */
  private readonly paths = new Interner(8192);
  private readonly argvs = new Interner(8192);
  private readonly comms = new Interner(4096);
  /** for readProc, so a seed of 50,000 processes makes each entry once, its strings shared */
  private readonly strings: StringInterners = { comm: (x) => this.comms.of(x), path: (x) => this.paths.of(x), argv: (x) => this.argvs.of(x) };

  constructor(o: ProcessTableOptions = {}) {
    this.max = o.maxEntries ?? DEFAULTS.maxEntries;
    this.grace = o.exitGraceMs ?? DEFAULTS.exitGraceMs;
    this.maxBytes = o.maxBytes ?? DEFAULTS.maxBytes;
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 65_536) throw new ConfigError(`process table maxBytes must be an integer >= 65536, got ${String(this.maxBytes)}`);
    if (!Number.isInteger(this.max) || this.max < 16) throw new ConfigError(`process table maxEntries must be an integer >= 16, got ${String(this.max)}`);
    if (!Number.isInteger(this.grace) || this.grace < 0) throw new ConfigError(`process table exitGraceMs must be an integer >= 0, got ${String(this.grace)}`);
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.count;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  /** Unlinks e from its pid's chain; false when it was not there. */
  private remove(e: ProcEntry): boolean {
    const head = this.byPid.get(e.tgid);
    if (head === e) {
      if (e.older) this.byPid.set(e.tgid, e.older); // keeps the pid's place in the LRU order
      else this.byPid.delete(e.tgid);
    } else {
      let p = head;
      while (p && p.older !== e) p = p.older;
      if (!p) return false;
      p.older = e.older;
    }
    e.older = undefined;
    this.count--;
    this.bytes -= bytesOf(e);
    return true;
  }

  /**
   * An image that ended (exit) or was replaced (exec; a fork's image when the child execs):
   * kept exitGraceMs for connects still on their way, then pruned. Without this, every
   * fork+exec would leave its fork entry in the table until the bound pushed out live ones.
   */
  private retire(e: ProcEntry): void {
    if (e.exitedAt === undefined) {
      e.exitedAt = this.now();
      this.exited.push(e);
    }
  }

  private find(tgid: number, keyNs: bigint, exact: boolean): ProcEntry | undefined {
    for (let e = this.byPid.get(tgid); e; e = e.older) if (exact ? e.keyNs === keyNs : e.matches(keyNs)) return e;
    return undefined;
  }

  /** e is tgid's image from now on: the one it replaces (same key aside) is retired. */
  private putNewest(e: ProcEntry): void {
    const same = this.find(e.tgid, e.keyNs, true);
    if (same) this.remove(same);
    const prev = this.byPid.get(e.tgid);
    if (prev) {
      this.retire(prev);
      // Re-inserted, so the pid moves to the end of the LRU order.
      this.byPid.delete(e.tgid);
    }
    e.older = prev;
    this.byPid.set(e.tgid, e);
    this.added(e);
  }

  private added(e: ProcEntry): void {
    this.count++;
    this.bytes += bytesOf(e);
    // A Map iterates in insertion order: the first pid is the least recently put; its
    // oldest image goes first.
    while (this.count > this.max || (this.bytes > this.maxBytes && this.count > 1)) {
      let victim = this.byPid.values().next().value as ProcEntry;
      while (victim.older) victim = victim.older;
      this.remove(victim);
      this.evicted++;
    }
  }

  /** One kernel process record, in ring order. */
  apply(r: RawProcRecord): void {
    this.prune();
    if (r.procKind === 'exec') {
      this.putNewest(new ProcEntry(r.tgid, r.keyNs, r.ppid, r.parentKeyNs, this.comms.of(r.comm), this.paths.of(r.exe.toString('latin1')),
        this.argvs.of(r.args.toString('latin1')), (r.exeFlags & CONSTANTS.PT_EXE_ARGS_TRUNCATED) !== 0 || r.args.length < r.argsFull, r.exeFlags, 'exec'));
    } else if (r.procKind === 'fork') {
      // The child runs its parent's image until it execs.
      const p = this.get(r.ppid, r.parentKeyNs);
      this.putNewest(new ProcEntry(r.tgid, r.keyNs, r.ppid, r.parentKeyNs, this.comms.of(r.comm), p?.exeL ?? '', p?.argsL ?? '', p?.argsTruncated ?? false,
        p?.exeFlags ?? r.exeFlags, 'fork'));
    } else {
      const e = this.get(r.tgid, r.keyNs);
      if (e) this.retire(e);
    }
  }

  /** Drops retired entries whose grace is over. */
  prune(): void {
    const limit = this.now() - this.grace;
    let i = 0;
    for (; i < this.exited.length && this.exited[i]!.exitedAt! <= limit; i++) this.remove(this.exited[i]!);
    if (i > 0) this.exited = this.exited.slice(i);
  }

  /**
   * The entry of a process key. A process seeded from /proc is known by its start time
   * in ticks only; the kernel's key for it is its start time in ns, so both are tried.
   */
  get(tgid: number, keyNs: bigint): ProcEntry | undefined {
    return this.find(tgid, keyNs, false);
  }

  /** Up to ANCESTRY_MAX parents, nearest first, as far as the table knows them. */
  ancestry(e: ProcEntry): ProcEntry[] {
    const out: ProcEntry[] = [];
    let cur = e;
    const seen = new Set<ProcEntry>([e]);
    while (out.length < ANCESTRY_MAX && cur.ppid !== 0) {
      const p = this.get(cur.ppid, cur.parentKeyNs);
      if (!p || seen.has(p)) break;
      out.push(p);
      seen.add(p);
      cur = p;
    }
    return out;
  }

  /**
   * Seeds the table from procRoot (/proc): one entry per process, keyed by its start
   * time. Call after the BPF programs are attached, so no exec falls between the two.
   * Processes that vanish or cannot be read mid-scan are skipped; returns how many were read.
   */
  seedFromProc(procRoot = '/proc'): number {
    let n = 0;
    let names: string[];
    try {
      names = readdirSync(procRoot);
    } catch {
      return 0;
    }
    const read = new Map<number, ProcEntry>();
    for (const name of names) {
      if (!/^[1-9][0-9]{0,9}$/.test(name)) continue;
      const e = readProc(join(procRoot, name), Number(name), this.strings);
      if (e) read.set(e.tgid, e);
    }
    for (const e of read.values()) {
      // /proc names a parent by pid only; its start time makes the key.
      e.parentKeyNs = read.get(e.ppid)?.keyNs ?? 0n;
      // An exec or fork already seen is newer than the scan.
      if (this.find(e.tgid, e.keyNs, false)) continue;
      const x = e; // its strings are interned already (readProc)
      // Behind whatever the pid already has: an exec or fork of it seen before the scan is newer.
      let tail = this.byPid.get(x.tgid);
      if (!tail) this.byPid.set(x.tgid, x);
      else {
        while (tail.older) tail = tail.older;
        tail.older = x;
      }
      this.added(x);
      n++;
    }
    return n;
  }
}

/** One /proc/<pid> as a table entry, or undefined when it is gone or malformed. */
export function readProc(dir: string, tgid: number, intern: StringInterners = NO_INTERN): ProcEntry | undefined {
  try {
    const stat = readFileSync(join(dir, 'stat'), 'latin1');
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (open < 0 || close < open) return undefined;
    const f = stat.slice(close + 2).split(' ');
    const ppid = Number(f[1]);
    const ticks = f[19];
    if (!Number.isInteger(ppid) || ticks === undefined || !/^[0-9]+$/.test(ticks)) return undefined;
    const comm = Buffer.from(stat.slice(open + 1, close), 'latin1').toString('utf8');
    let exe = Buffer.alloc(0);
    try {
      exe = Buffer.from(readlinkSync(join(dir, 'exe'), { encoding: 'buffer' }));
    } catch {
      // kernel threads have none; a zombie's is gone
    }
    let args = Buffer.alloc(0);
    try {
      args = readFileSync(join(dir, 'cmdline'));
    } catch {
      // gone meanwhile
    }
    const max = CONSTANTS.PT_ARGS_MAX;
    return new ProcEntry(tgid, BigInt(ticks) * TICK_NS, ppid, 0n, intern.comm(comm), intern.path(exe.toString('latin1')),
      intern.argv(args.subarray(0, max).toString('latin1')), args.length > max, 0, 'proc');
  } catch {
    return undefined;
  }
}
