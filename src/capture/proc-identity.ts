// SPDX-License-Identifier: Apache-2.0
// What a raw event says about its process beyond the kernel's connect record: executable,
// argv, parent and ancestry from the process table, as record text. Rendered once per
// process key while it keeps connecting (a bounded cache of recent ones), so a busy
// process's connects cost one map lookup; the raw writer encodes the same object once too.
import type { ProcessRef } from '../schema/types.js';
import type { ProcEntry, ProcessTable } from './process-table.js';
import { argsList, bytesText, exeFlagNames, stringText } from './proc-text.js';

export interface ProcIdentity {
  key: bigint;
  exe: string | null;
  args: string[];
  argsTruncated: boolean;
  parent: ProcessRef | null;
  ancestry: ProcessRef[];
  /** exeFlags while the file has a link, and once it has none (DELETED added) */
  flags: readonly [string[], string[]];
}

type FlagPair = readonly [string[], string[]];
const flagPairs = new Map<number, FlagPair>();
/** One pair of arrays per flags value, shared by every identity with it. */
function flagPair(f: number): FlagPair {
  let p = flagPairs.get(f);
  if (!p) flagPairs.set(f, (p = [exeFlagNames(f, false), exeFlagNames(f, true)] as const));
  return p;
}
const NO_FLAGS = flagPair(0);
export const unknownIdentity = (key: bigint): ProcIdentity => ({ key, exe: null, args: [], argsTruncated: false, parent: null, ancestry: [], flags: NO_FLAGS });

/** Rendered paths by their raw (latin1) form: processes of one binary share one string. */
let exeTexts = new Map<string, string>();
function exeText(e: ProcEntry): string | null {
  if (e.exeL === '') return null;
  let t = exeTexts.get(e.exeL);
  if (t === undefined) {
    if (exeTexts.size >= 8192) exeTexts = new Map();
    exeTexts.set(e.exeL, (t = bytesText(e.exe)));
  }
  return t;
}

/** One ProcessRef per entry, shared by the ancestries it is in. */
const refs = new WeakMap<ProcEntry, ProcessRef>();
function refOf(e: ProcEntry): ProcessRef {
  let r = refs.get(e);
  if (!r) refs.set(e, (r = { pid: e.tgid, comm: stringText(e.comm), exe: exeText(e) }));
  return r;
}

/**
 * Rendered identities of the processes that connected lately: two generations of at most
 * RENDERED (2048) each, so a busy process's connects find theirs with one lookup, while a node
 * with 50,000 processes that all connected holds at most 2 x RENDERED of them (an
 * identity costs ~800 bytes; one per table entry was ~39 MiB at 50,000). A process whose
 * identity aged out is rendered again on its next connect.
 */
export const RENDERED = 2048;
class Rendered {
  private cur = new Map<ProcEntry, ProcIdentity>();
  private old = new Map<ProcEntry, ProcIdentity>();
  get(e: ProcEntry): ProcIdentity | undefined {
    const id = this.cur.get(e);
    if (id !== undefined) return id;
    const aged = this.old.get(e);
    if (aged !== undefined) this.set(e, aged);
    return aged;
  }
  set(e: ProcEntry, id: ProcIdentity): void {
    if (this.cur.size >= RENDERED) {
      this.old = this.cur;
      this.cur = new Map();
    }
    this.cur.set(e, id);
  }
}
const rendered = new WeakMap<ProcessTable, Rendered>();

/** The identity of process key (pid, keyNs); an empty one (exe null) when the table does not know it. */
export function identityOf(table: ProcessTable, pid: number, keyNs: bigint): ProcIdentity {
  const e = table.get(pid, keyNs);
  if (!e) return unknownIdentity(keyNs);
  let cache = rendered.get(table);
  if (!cache) rendered.set(table, (cache = new Rendered()));
  let id = cache.get(e);
  if (id === undefined) {
    const { args, truncated } = argsList(e.args, e.argsTruncated);
    const ancestry = table.ancestry(e).map(refOf);
    id = { key: keyNs, exe: exeText(e), args, argsTruncated: truncated, parent: ancestry[0] ?? null, ancestry, flags: flagPair(e.exeFlags) };
    cache.set(e, id);
  }
  return id;
}

/** The record's exeFlags: the exec's, and DELETED when the file had no link left at the connect. */
export function flagsOf(id: ProcIdentity, unlinked: boolean): string[] {
  return id.flags[unlinked ? 1 : 0];
}
