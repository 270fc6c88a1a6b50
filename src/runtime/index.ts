// SPDX-License-Identifier: Apache-2.0
// The composite resolver: tries the runtime the cgroup path hints at first, then the others,
// each behind its own cache. Each runtime is a MetadataResolver (types.ts); how to add one is
// in this folder's README.md. An unresolved container's reason (or a partial result's warning)
// is logged once per container and reason, not once per event.
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { ConfigError } from '../common/errors.js';
import { moduleLogger, type Logger } from '../common/log.js';
import { DEFAULT_MAX_FILE_BYTES } from './safe-fs.js';
import {
  RUNTIMES,
  isContainerId,
  type MetadataCode,
  type MetadataResolver,
  type ResolveResult,
  type ResolverOptions,
  type Runtime,
  type RuntimeHint,
} from './types.js';
import { CachedResolver, type CacheStats } from './cache.js';
import { ContainerdResolver } from './containerd.js';
import { CrioResolver } from './crio.js';
import { DockerResolver } from './docker.js';
import { annotationFilter, finishPodFacts } from './pod-facts.js';

export const RESOLVER_DEFAULTS = {
  hostRoot: '/',
  cacheTtlMs: 300_000,
  negativeTtlMs: 5_000,
  cacheSize: 10_000,
  maxFileBytes: DEFAULT_MAX_FILE_BYTES,
  runtimes: RUNTIMES,
} as const;

const HINT_RUNTIME: Record<RuntimeHint, Runtime | undefined> = {
  docker: 'docker',
  containerd: 'containerd',
  nerdctl: 'containerd',
  'cri-o': 'cri-o',
  podman: undefined,
};

export interface CompositeResolver extends MetadataResolver {
  stats(): Partial<Record<Runtime, CacheStats>>;
  invalidate(containerId?: string): void;
}

export interface CreateResolverOptions extends ResolverOptions {
  /** Default moduleLogger('runtime.resolver'). */
  logger?: Logger;
}

function nonNegInt(name: string, v: unknown, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ConfigError(`${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

// lru-cache allocates its whole table up front: 2^31 entries abort the process (V8 out of
// memory) before anything could check. A million containers' metadata is far more than a
// cluster's worth.
export const MAX_CACHE_SIZE = 1_000_000;

function checkPath(name: string, v: unknown, absolute: boolean): void {
  if (typeof v !== 'string' || v === '' || v.includes('\0') || (absolute && !path.isAbsolute(v))) {
    throw new ConfigError(`${name} must be a${absolute ? 'n absolute' : ''} path, got ${JSON.stringify(v)}`);
  }
}

export function createResolver(opts: CreateResolverOptions = {}): CompositeResolver {
  const hostRoot = opts.hostRoot ?? RESOLVER_DEFAULTS.hostRoot;
  checkPath('hostRoot', hostRoot, true);
  if (opts.dockerConfigPath !== undefined) checkPath('dockerConfigPath', opts.dockerConfigPath, false);
  const ttlMs = nonNegInt('cacheTtlMs', opts.cacheTtlMs, RESOLVER_DEFAULTS.cacheTtlMs);
  const negativeTtlMs = nonNegInt('negativeTtlMs', opts.negativeTtlMs, RESOLVER_DEFAULTS.negativeTtlMs);
  const size = nonNegInt('cacheSize', opts.cacheSize, RESOLVER_DEFAULTS.cacheSize, 1, MAX_CACHE_SIZE);
  const maxFileBytes = nonNegInt('maxFileBytes', opts.maxFileBytes, RESOLVER_DEFAULTS.maxFileBytes, 1);
  const runtimes = opts.runtimes ?? [...RESOLVER_DEFAULTS.runtimes];
  if (!Array.isArray(runtimes) || runtimes.length === 0 || new Set(runtimes).size !== runtimes.length) {
    throw new ConfigError('runtimes must be a non-empty list without repeats');
  }
  for (const r of runtimes) {
    if (!RUNTIMES.includes(r)) throw new ConfigError(`unknown runtime ${JSON.stringify(r)}; known: ${RUNTIMES.join(', ')}`);
  }
  const clock = opts.clock ?? Date.now;
  const log = opts.logger ?? moduleLogger('runtime.resolver');

  const cacheOpts = { ttlMs, negativeTtlMs, size, clock };
  const keepAnnotation = annotationFilter(opts.podAnnotations ?? []);
  const make = (r: Runtime): MetadataResolver => withPodFacts(makeRuntime(r), keepAnnotation);
  const makeRuntime = (r: Runtime): MetadataResolver => {
    switch (r) {
      case 'docker':
        return new DockerResolver({ hostRoot, dockerConfigPath: opts.dockerConfigPath, maxFileBytes, configTtlMs: ttlMs, configNegativeTtlMs: negativeTtlMs, clock });
      case 'containerd':
        return new ContainerdResolver({ hostRoot, maxFileBytes, namespaces: opts.containerdNamespaces });
      case 'cri-o':
        return new CrioResolver({ hostRoot, maxFileBytes });
    }
  };
  const resolvers = new Map<Runtime, CachedResolver>(runtimes.map((r) => [r, new CachedResolver(make(r), cacheOpts)]));
  // Bounded memory of what was already logged; a container that fails again later is not re-logged.
  const logged = new LRUCache<string, true>({ max: Math.max(1000, size * 2) });
  const logOnce = (key: string, fn: () => void): void => {
    if (logged.has(key)) return;
    logged.set(key, true);
    fn();
  };

  const logPartial = (containerId: string, res: ResolveResult): ResolveResult => {
    if (res.ok && res.warning) {
      const { warning } = res;
      logOnce(`${containerId}/warning`, () =>
        log.warn({ containerId, runtime: res.meta.runtime, warning }, 'container metadata partial'),
      );
    }
    return res;
  };

  type Failure = { runtime: Runtime; code: MetadataCode; reason: string };
  // The lookup order per hint, computed once rather than per event.
  const orders = new Map<RuntimeHint | undefined, readonly Runtime[]>();
  const orderFor = (hint: RuntimeHint | undefined): readonly Runtime[] => {
    let order = orders.get(hint);
    if (order === undefined) {
      const first = hint ? HINT_RUNTIME[hint] : undefined;
      order = first && resolvers.has(first) ? [first, ...runtimes.filter((r) => r !== first)] : runtimes;
      orders.set(hint, order);
    }
    return order;
  };
  const BAD_ID: ResolveResult = { ok: false, code: 'BAD_ID', reason: 'not a 64-hex container ID' };

  const unresolved = (containerId: string, order: readonly Runtime[], failures: Failure[]): ResolveResult => {
    // Anything beats NOT_FOUND: a corrupt file is what the operator needs to hear about.
    const worst = failures.find((f) => f.code !== 'NOT_FOUND');
    const result: ResolveResult = worst
      ? { ok: false, code: worst.code, reason: `${worst.runtime}: ${worst.reason}` }
      : { ok: false, code: 'NOT_FOUND', reason: `no metadata found (tried ${order.join(', ')})` };
    logOnce(`${containerId}/${result.code}`, () =>
      log.warn({ containerId, code: result.code, tried: failures }, 'container metadata unresolved'),
    );
    return result;
  };

  return {
    async resolve(containerId: string, hint?: RuntimeHint): Promise<ResolveResult> {
      if (!isContainerId(containerId)) return BAD_ID;
      const order = orderFor(hint);
      const failures: Failure[] = [];
      for (const r of order) {
        const res = await resolvers.get(r)!.resolve(containerId, hint);
        if (res.ok) return logPartial(containerId, res);
        failures.push({ runtime: r, code: res.code, reason: res.reason });
      }
      return unresolved(containerId, order, failures);
    },
    peek(containerId: string, hint?: RuntimeHint): ResolveResult | undefined {
      if (!isContainerId(containerId)) return BAD_ID;
      const order = orderFor(hint);
      let failures: Failure[] | undefined;
      for (const r of order) {
        const res = resolvers.get(r)!.peek(containerId);
        if (res === undefined) return undefined;
        if (res.ok) return logPartial(containerId, res);
        (failures ??= []).push({ runtime: r, code: res.code, reason: res.reason });
      }
      return unresolved(containerId, order, failures ?? []);
    },
    stats() {
      return Object.fromEntries([...resolvers].map(([r, c]) => [r, c.stats()]));
    },
    invalidate(containerId?: string) {
      for (const c of resolvers.values()) c.invalidate(containerId);
    },
  };
}

/**
 * A resolver whose answers leave src/runtime finished (pod-facts.ts): annotations filtered,
 * labels bounded, workload inferred. Every runtime, files or CRI, goes through this once,
 * before the cache, so a cached answer is the finished one.
 */
export function withPodFacts(inner: MetadataResolver, keepAnnotation: (key: string) => boolean): MetadataResolver {
  return {
    async resolve(containerId, hint, at) {
      const res = await inner.resolve(containerId, hint, at);
      return res.ok ? { ...res, meta: finishPodFacts(res.meta, keepAnnotation) } : res;
    },
  };
}

export { CachedResolver } from './cache.js';
export { annotationFilter, finishPodFacts, POD_FACT_LIMITS } from './pod-facts.js';
export { ContainerdResolver } from './containerd.js';
export { CrioResolver } from './crio.js';
export { DockerResolver, dataRootFromDaemonJson } from './docker.js';
