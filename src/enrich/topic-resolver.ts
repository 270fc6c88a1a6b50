// SPDX-License-Identifier: Apache-2.0
// A resolver backed by the container metadata topic (MetaTable), point-in-time, with the
// node-file resolvers as a local fallback. A raw event that arrives before its container's
// metadata waits a bounded time; a container that never shows up is remembered for a while
// so its later events do not each wait again.
import { LRUCache } from 'lru-cache';
import { deepFreeze } from '../common/immutable.js';
import type { MetaTable } from './meta-table.js';
import { fromMetaRecord } from '../runtime/meta-record.js';
import type { ContainerMeta as MetaRecord } from '../schema/types.js';
import type { MetadataResolver, ResolveResult, RuntimeHint } from '../runtime/types.js';

export interface TopicResolverOptions {
  topic: string;
  waitMs: number;
  /** how long a container that never appeared skips the wait */
  missTtlMs: number;
  fallback?: MetadataResolver;
  /** This reader's --pod-annotations; default: keep what the node published. */
  keepAnnotation?: (key: string) => boolean;
}

export class TopicResolver implements MetadataResolver {
  private readonly missed: LRUCache<string, true>;
  /** One frozen answer per stored version: enrich reuses its decision while the answer is the same object (ResolveResult). */
  private readonly answers = new WeakMap<MetaRecord, ResolveResult>();
  hits = 0;
  waits = 0;
  misses = 0;

  constructor(private readonly table: MetaTable, private readonly opts: TopicResolverOptions) {
    this.missed = new LRUCache({ max: 50_000, ttl: Math.max(1, opts.missTtlMs) });
  }

  async resolve(containerId: string, hint?: RuntimeHint, at?: bigint): Promise<ResolveResult> {
    let rec = this.table.lookup(containerId, at);
    if (!rec && !this.missed.has(containerId)) {
      this.waits++;
      if (!this.table.ready) await this.table.caughtUp;
      if (!this.table.has(containerId)) await this.table.waitFor(containerId, this.opts.waitMs);
      rec = this.table.lookup(containerId, at);
      if (!rec) this.missed.set(containerId, true);
    }
    if (rec) {
      this.hits++;
      return this.answer(rec);
    }
    this.misses++;
    if (!this.opts.fallback) return { ok: false, code: 'NOT_FOUND', reason: this.why() };
    return this.withFallback(await this.opts.fallback.resolve(containerId, hint, at));
  }

  /** Without waiting: a version in the table, or the fallback's cached answer for a container known to be missing. */
  peek(containerId: string, hint?: RuntimeHint, at?: bigint): ResolveResult | undefined {
    const rec = this.table.lookup(containerId, at);
    if (rec) {
      this.hits++;
      return this.answer(rec);
    }
    if (!this.missed.has(containerId)) return undefined;
    if (!this.opts.fallback) {
      this.misses++;
      return { ok: false, code: 'NOT_FOUND', reason: this.why() };
    }
    const local = this.opts.fallback.peek?.(containerId, hint, at);
    if (local === undefined) return undefined;
    this.misses++;
    return this.withFallback(local);
  }

  private answer(rec: MetaRecord): ResolveResult {
    let a = this.answers.get(rec);
    if (a === undefined) {
      a = deepFreeze({ ok: true, meta: fromMetaRecord(rec, this.opts.keepAnnotation), source: `${this.opts.topic}@${rec.node}` });
      this.answers.set(rec, a);
    }
    return a;
  }

  private why(): string {
    return `no metadata for the container in ${this.opts.topic} within ${this.opts.waitMs} ms`;
  }

  private withFallback(local: ResolveResult): ResolveResult {
    return local.ok ? local : { ok: false, code: local.code, reason: `${this.why()}; node files: ${local.reason}` };
  }
}
