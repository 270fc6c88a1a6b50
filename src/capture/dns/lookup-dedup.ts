// SPDX-License-Identifier: Apache-2.0
// Lookups are audit events of their own, but a process polling one name every second would
// drown the topic. As UDP flows are, repeats are folded: the first lookup of a process, name,
// type and answer set within a window is published, later ones are counted, and the count
// rides on the next published one. A different answer set is a new event at once (that is
// exactly what fast-flux or DNS exfiltration looks like).
import { ConfigError } from '../../common/errors.js';
import type { AnswerSet } from './answer-set.js';
import { Lru } from './lru.js';

export interface LookupDedupOptions {
  windowMs: number;
  /** keys remembered; the least recently seen is dropped first */
  maxKeys: number;
}

export const LOOKUP_DEDUP_DEFAULTS: LookupDedupOptions = { windowMs: 60_000, maxKeys: 65_536 };

interface Slot {
  /** when the published event's window began, ns */
  since: bigint;
  suppressed: number;
  /** times of the first and last suppressed lookup (0n: none) */
  first: bigint;
  last: bigint;
}

export type DedupVerdict =
  | {
    publish: true;
    /** repeats folded into the previous window for this key, and the first and last of them (0n when none) */
    repeats: number;
    firstRepeat: bigint;
    lastRepeat: bigint;
  }
  | { publish: false };

/** The key: process, question and the whole answer (rcode, chain, addresses in any order). */
export function lookupKey(process: string, a: AnswerSet): string {
  const addrs = a.addrs.map((x) => x.ip).sort().join(',');
  return `${process}\u0000${a.qtype}\u0000${a.rcode}\u0000${a.chain.join('>')}\u0000${addrs}`;
}

export class LookupDedup {
  private readonly slots = new Lru<string, Slot>();
  private readonly opts: LookupDedupOptions;

  constructor(opts: Partial<LookupDedupOptions> = {}) {
    this.opts = { ...LOOKUP_DEDUP_DEFAULTS, ...opts };
    if (!(this.opts.windowMs >= 0 && this.opts.maxKeys >= 1)) throw new ConfigError('lookup dedup: need windowMs >= 0 and maxKeys >= 1');
  }

  get size(): number {
    return this.slots.size;
  }

  offer(key: string, time: bigint): DedupVerdict {
    const s = this.slots.get(key);
    const window = BigInt(this.opts.windowMs) * 1_000_000n;
    if (s && time >= s.since && time - s.since < window) {
      if (s.suppressed === 0) s.first = time;
      s.last = time;
      s.suppressed++;
      return { publish: false };
    }
    const v = { publish: true as const, repeats: s?.suppressed ?? 0, firstRepeat: s?.first ?? 0n, lastRepeat: s?.last ?? 0n };
    if (s) {
      s.since = time;
      s.suppressed = 0;
      s.first = 0n;
      s.last = 0n;
    } else {
      if (this.slots.size >= this.opts.maxKeys) this.slots.shift();
      this.slots.set(key, { since: time, suppressed: 0, first: 0n, last: 0n });
    }
    return v;
  }

  /** Keys whose window ended before `now` with repeats not yet carried: report them, then forget. */
  flush(now: bigint): Array<{ key: string; repeats: number }> {
    const window = BigInt(this.opts.windowMs) * 1_000_000n;
    const out: Array<{ key: string; repeats: number }> = [];
    for (const [key, s] of this.slots.entries()) {
      if (now - s.since >= window) {
        if (s.suppressed > 0) out.push({ key, repeats: s.suppressed });
        this.slots.delete(key);
      }
    }
    return out;
  }
}
