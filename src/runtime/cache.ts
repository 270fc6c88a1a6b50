// SPDX-License-Identifier: Apache-2.0
// A resolver's LRU cache: positive results for ttlMs, failures (the negative cache) for
// negativeTtlMs, and one in-flight lookup per container however many events ask at once.
// Expiry is checked against an injectable clock rather than lru-cache's own TTL, so tests
// move time by hand and nothing depends on timers.
import { LRUCache } from 'lru-cache';
import { deepFreeze } from '../common/immutable.js';
import { failure } from './common.js';
import type { Clock, MetadataResolver, ResolveResult, RuntimeHint } from './types.js';

export interface CacheOptions {
  ttlMs: number;
  negativeTtlMs: number;
  size: number;
  clock: Clock;
}

export interface CacheStats {
  hits: number;
  negativeHits: number;
  misses: number;
  /** Lookups that joined one already in flight for the same container. */
  joined: number;
  size: number;
}

interface Entry {
  result: ResolveResult;
  expires: number;
}

export class CachedResolver implements MetadataResolver {
  private readonly lru: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<ResolveResult>>();
  private readonly counts = { hits: 0, negativeHits: 0, misses: 0, joined: 0 };

  constructor(
    private readonly inner: MetadataResolver,
    private readonly opts: CacheOptions,
  ) {
    this.lru = new LRUCache<string, Entry>({ max: opts.size });
  }

  resolve(containerId: string, hint?: RuntimeHint): Promise<ResolveResult> {
    const now = this.opts.clock();
    const e = this.lru.get(containerId);
    if (e && now < e.expires) {
      if (e.result.ok) this.counts.hits++;
      else this.counts.negativeHits++;
      return Promise.resolve(e.result);
    }
    const running = this.inflight.get(containerId);
    if (running) {
      this.counts.joined++;
      return running;
    }
    this.counts.misses++;
    const p = this.inner
      .resolve(containerId, hint)
      .catch((err: unknown) => failure(err))
      .then((answer) => {
        // Handed out again until it expires: frozen (ResolveResult in types.ts).
        const result = deepFreeze(answer);
        const ttl = result.ok ? this.opts.ttlMs : this.opts.negativeTtlMs;
        if (ttl > 0) this.lru.set(containerId, { result, expires: this.opts.clock() + ttl });
        else this.lru.delete(containerId);
        return result;
      })
      .finally(() => this.inflight.delete(containerId));
    this.inflight.set(containerId, p);
    return p;
  }

  /** The cached answer if fresh (counted as a hit), else undefined; never starts a lookup. */
  peek(containerId: string): ResolveResult | undefined {
    const e = this.lru.get(containerId);
    if (e === undefined || this.opts.clock() >= e.expires) return undefined;
    if (e.result.ok) this.counts.hits++;
    else this.counts.negativeHits++;
    return e.result;
  }

  /** Drops one container (e.g. when it is known to have changed) or everything. */
  invalidate(containerId?: string): void {
    if (containerId === undefined) this.lru.clear();
    else this.lru.delete(containerId);
  }

  stats(): CacheStats {
    return { ...this.counts, size: this.lru.size };
  }
}
