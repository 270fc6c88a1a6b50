// SPDX-License-Identifier: Apache-2.0
// Trust for an answer: was it asked for? A query from a marked socket is remembered by
// (socket cookie, transaction id, question); an answer that meets one is "matched", and
// "resolver" when, besides, its server is a configured cluster resolver reached over a
// non-loopback path. Matching is by socket, not by server address: with kube-proxy the answer
// comes from the ClusterIP, with socket-level load balancing it may carry the backend's (so
// the resolver list must then hold the backends' addresses as well).
// Honest limits: a process can always forge answers to itself, and anyone who can see a query
// can race a matched answer in; trust says what was checked, not that the name is true.
import { ConfigError } from '../../common/errors.js';
import { Lru } from './lru.js';
import type { Trust } from './name-table.js';

export interface QueryKey {
  socketCookie: bigint;
  id: number;
  qname: string;
  qtype: number;
}

export interface QueryMatchOptions {
  /** queries waiting for an answer, node-wide */
  maxPending: number;
  /** a query unanswered this long is forgotten, ms (resolvers give up after 5 s x attempts) */
  timeoutMs: number;
  /** cluster resolvers' addresses as text: kube-dns's ClusterIP, a node-local cache, and under socket-level load balancing the resolver pods' own */
  resolvers: readonly string[];
}

export const QUERY_MATCH_DEFAULTS: QueryMatchOptions = { maxPending: 65_536, timeoutMs: 30_000, resolvers: [] };

interface Pending {
  time: bigint;
  /** where the query went, as text */
  server: string;
}

/** Loopback (127/8, ::1, and v4-mapped 127/8) as formatAddr writes them. */
export function isLoopbackText(ip: string): boolean {
  return ip === '::1' || /^(::ffff:)?127\./.test(ip);
}

export class QueryMatcher {
  private readonly pending = new Lru<string, Pending>();
  private readonly resolvers: Set<string>;
  private readonly opts: QueryMatchOptions;
  evicted = 0;
  expired = 0;

  constructor(opts: Partial<QueryMatchOptions> = {}) {
    this.opts = { ...QUERY_MATCH_DEFAULTS, ...opts };
    if (!(this.opts.maxPending >= 1 && this.opts.timeoutMs > 0)) throw new ConfigError('query matcher: need maxPending >= 1 and timeoutMs > 0');
    this.resolvers = new Set(this.opts.resolvers);
  }

  get size(): number {
    return this.pending.size;
  }

  private static key(k: QueryKey): string {
    return `${k.socketCookie}/${k.id}/${k.qtype}/${k.qname}`;
  }

  /** A query left a marked socket at `time` (ns) for `server`. */
  query(k: QueryKey, time: bigint, server: string): void {
    const key = QueryMatcher.key(k);
    this.pending.delete(key);
    if (this.pending.size >= this.opts.maxPending) {
      this.pending.shift();
      this.evicted++;
    }
    this.pending.set(key, { time, server });
  }

  /**
   * An answer arrived at `time` from `server`. A match is used up, so a second answer to the
   * same query (a spoofer racing the resolver, or a duplicate) is unmatched.
   */
  answer(k: QueryKey, time: bigint, server: string): Trust {
    const key = QueryMatcher.key(k);
    const q = this.pending.peek(key);
    if (!q) return 'unmatched';
    this.pending.delete(key);
    if (time < q.time || time - q.time > BigInt(this.opts.timeoutMs) * 1_000_000n) {
      this.expired++;
      return 'unmatched';
    }
    // Only the answer's own source counts: trusting the query's destination would let any pod
    // that guesses the id pass as the resolver. Under socket-level load balancing the answer
    // carries a backend's address, so the operator lists the resolver pods' addresses too.
    const fromResolver = this.resolvers.has(server) && !isLoopbackText(server) && !isLoopbackText(q.server);
    return fromResolver ? 'resolver' : 'matched';
  }

  /** Forgets queries older than the timeout at `now` (ns). */
  sweep(now: bigint): number {
    const limit = BigInt(this.opts.timeoutMs) * 1_000_000n;
    let n = 0;
    for (const [key, q] of this.pending.entries()) {
      if (now - q.time > limit) {
        this.pending.delete(key);
        n++;
      }
    }
    this.expired += n;
    return n;
  }
}
