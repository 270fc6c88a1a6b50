// SPDX-License-Identifier: Apache-2.0
// Per-pod table of what each pod's own lookups resolved: IP -> names, with answer time, TTL
// and CNAME chain. A connect takes its name from here (join). Bounded twice: per pod (so one
// noisy pod only evicts itself) and node-wide (the pods least recently used give way).
// Entries outlive their TTL by a retention window because clients cache past it (glibc with
// nscd, JVMs, Go's long-lived connection pools); Cilium keeps such "zombies" for the same reason.
import { ConfigError } from '../../common/errors.js';
import type { NameOwner } from './events.js';
import { Lru } from './lru.js';

export type Trust = 'unmatched' | 'matched' | 'resolver';

export interface NameAnswer {
  /** the name the client asked for */
  name: string;
  /** [name, cname1, ...]: the chain that led to the address */
  chain: string[];
  /** ns since the epoch */
  answeredAt: bigint;
  /** seconds */
  ttl: number;
  /** the answering server's address as text */
  server: string;
  trust: Trust;
  process: string;
  container: string;
}

export interface JoinedName extends NameAnswer {
  /** how close the lookup was to the connect */
  matchedBy: 'process' | 'container' | 'pod';
  /** false: the connect came after the TTL ran out (still within the retention window) */
  withinTtl: boolean;
}

export interface NameTableOptions {
  /** answers kept per pod */
  maxPerPod: number;
  /** answers kept on the node */
  maxTotal: number;
  /** distinct answers kept per IP in one pod (newest win): CDNs put many names on one IP */
  maxNamesPerIp: number;
  /** how long past its TTL an answer still names a connect, ms */
  retentionMs: number;
}

export const NAME_TABLE_DEFAULTS: NameTableOptions = { maxPerPod: 4096, maxTotal: 131_072, maxNamesPerIp: 8, retentionMs: 3_600_000 };

/** One answer, shared by the entries of all its addresses (a CDN answer has several). */
type Shared = Omit<NameAnswer, 'ttl'>;

interface Entry {
  s: Shared;
  /** this address's TTL */
  ttl: number;
}

interface PodTable {
  /** ip -> entries, oldest answer first */
  byIp: Lru<string, Entry[]>;
  count: number;
}

const NS_PER_MS = 1_000_000n;

export class NameTable {
  private readonly pods = new Lru<string, PodTable>();
  private total = 0;
  evictedPerPod = 0;
  evictedNodeWide = 0;
  private readonly opts: NameTableOptions;

  constructor(opts: Partial<NameTableOptions> = {}) {
    this.opts = { ...NAME_TABLE_DEFAULTS, ...opts };
    const o = this.opts;
    if (!(o.maxPerPod >= 1 && o.maxTotal >= o.maxPerPod && o.maxNamesPerIp >= 1 && o.retentionMs >= 0)) {
      throw new ConfigError('name table: need maxPerPod >= 1, maxTotal >= maxPerPod, maxNamesPerIp >= 1, retentionMs >= 0');
    }
  }

  get size(): number {
    return this.total;
  }

  podCount(): number {
    return this.pods.size;
  }

  /** Records one answer's addresses for the owner's pod. */
  record(owner: NameOwner, a: { name: string; chain: string[]; answeredAt: bigint; server: string; trust: Trust }, addrs: ReadonlyArray<{ ip: string; ttl: number }>): void {
    if (addrs.length === 0) return;
    let pt = this.pods.get(owner.pod);
    if (!pt) this.pods.set(owner.pod, (pt = { byIp: new Lru(), count: 0 }));
    const shared: Shared = { name: a.name, chain: [...a.chain], answeredAt: a.answeredAt, server: a.server, trust: a.trust, process: owner.process, container: owner.container };
    for (const { ip, ttl } of addrs) {
      let list = pt.byIp.get(ip);
      if (!list) pt.byIp.set(ip, (list = []));
      // The same process asking the same name again replaces its older answer.
      const same = list.findIndex((e) => e.s.process === owner.process && e.s.name === a.name);
      if (same >= 0) {
        list.splice(same, 1);
        pt.count--;
        this.total--;
      }
      list.push({ s: shared, ttl });
      pt.count++;
      this.total++;
      // Answers can arrive out of time order (a TCP retry finishing after a later UDP answer).
      if (list.length > 1 && list[list.length - 2]!.s.answeredAt > a.answeredAt) list.sort((x, y) => (x.s.answeredAt < y.s.answeredAt ? -1 : x.s.answeredAt > y.s.answeredAt ? 1 : 0));
      if (list.length > this.opts.maxNamesPerIp) {
        list.shift();
        pt.count--;
        this.total--;
        this.evictedPerPod++;
      }
    }
    while (pt.count > this.opts.maxPerPod) {
      this.evictOldestIp(pt);
      this.evictedPerPod++;
    }
    while (this.total > this.opts.maxTotal) {
      // The least recently used pod gives way, never the one just written unless it is alone.
      const [key, victim] = this.pods.oldest()!;
      this.evictOldestIp(victim);
      this.evictedNodeWide++;
      if (victim.count === 0) this.pods.delete(key);
    }
  }

  private evictOldestIp(pt: PodTable): void {
    const [, list] = pt.byIp.shift()!;
    pt.count -= list.length;
    this.total -= list.length;
  }

  /**
   * The name for a connect by `owner` to `ip` at `at` (ns): the newest answer from the same
   * process, else the same container, else the same pod, answered at or before the connect and
   * not past TTL + retention. Only the owner's own pod is ever searched.
   */
  join(owner: NameOwner, ip: string, at: bigint): JoinedName | null {
    const pt = this.pods.peek(owner.pod);
    const list = pt?.byIp.peek(ip);
    if (!pt || !list) return null;
    const retention = BigInt(this.opts.retentionMs) * NS_PER_MS;
    let best: { e: Entry; rank: number } | undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i]!;
      if (e.s.answeredAt > at) continue;
      if (at > e.s.answeredAt + BigInt(e.ttl) * 1_000_000_000n + retention) continue;
      const rank = e.s.process === owner.process ? 0 : e.s.container === owner.container ? 1 : 2;
      // Newest first, so the first answer at a rank is that rank's newest.
      if (!best || rank < best.rank) best = { e, rank };
      if (rank === 0) break;
    }
    if (!best) return null;
    // A name in use is recently used: touch the IP and the pod.
    pt.byIp.get(ip);
    this.pods.get(owner.pod);
    const e = best.e;
    return {
      ...e.s, ttl: e.ttl, chain: [...e.s.chain],
      matchedBy: best.rank === 0 ? 'process' : best.rank === 1 ? 'container' : 'pod',
      withinTtl: at <= e.s.answeredAt + BigInt(e.ttl) * 1_000_000_000n,
    };
  }

  /** The pod went away: its names go with it. */
  dropPod(pod: string): void {
    const pt = this.pods.peek(pod);
    if (!pt) return;
    this.total -= pt.count;
    this.pods.delete(pod);
  }

  /** Drops answers past TTL + retention at `now` (ns); returns how many. */
  sweep(now: bigint): number {
    const retention = BigInt(this.opts.retentionMs) * NS_PER_MS;
    let dropped = 0;
    for (const [pod, pt] of this.pods.entries()) {
      for (const [ip, list] of pt.byIp.entries()) {
        const keep = list.filter((e) => now <= e.s.answeredAt + BigInt(e.ttl) * 1_000_000_000n + retention);
        const gone = list.length - keep.length;
        if (gone === 0) continue;
        dropped += gone;
        pt.count -= gone;
        if (keep.length === 0) pt.byIp.delete(ip);
        else list.splice(0, list.length, ...keep);
      }
      if (pt.count === 0) this.pods.delete(pod);
    }
    this.total -= dropped;
    return dropped;
  }
}
