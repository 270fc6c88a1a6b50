// SPDX-License-Identifier: Apache-2.0
// Reuse of per-path work across events. A node has a few hundred cgroup paths and makes
// millions of connections, so the enrich hot path parses each path once and decides each
// (path, UTS name, netns, node, metadata) combination once. attribute() is pure, so a reused
// decision is the decision. A decision is tied to the identity of the resolver's answer
// (the invariant is written at ResolveResult in src/runtime/types.ts): a cache refresh (new
// object) or a failure (a fresh object every time) decides again.
// Both maps are bounded and dropped whole at their cap: cheaper than LRU bookkeeping per
// event, and refilling costs one parse per path.
import { deepFreeze } from '../common/immutable.js';
import { attribute, type Attribution } from './attribute.js';
import { tryParseCgroupPath, type ParsedCgroup } from '../runtime/cgroup-path.js';
import type { ResolveResult, RuntimeHint } from '../runtime/types.js';

export interface PathPlan {
  /** undefined for a bad path (attribute() then says BAD_PATH) */
  parsed: ParsedCgroup | undefined;
  /** what to ask the resolver; null for host, pod-level and bad paths */
  lookup: { containerId: string; hint: RuntimeHint | undefined } | null;
}

/** What attribute() looks at in a raw event, besides the resolver's answer. */
export interface EventIdentity {
  cgroupPath: string;
  utsName: string;
  netns: bigint;
  node: string;
}

interface Decision {
  resolved: ResolveResult | null;
  a: Attribution;
}

export class AttributionCache {
  private readonly plans = new Map<string, PathPlan>();
  private readonly decisions = new Map<string, Decision>();

  constructor(private readonly maxEntries = 20_000) {}

  plan(path: string): PathPlan {
    let p = this.plans.get(path);
    if (p === undefined) {
      const r = tryParseCgroupPath(path);
      p = !r.ok
        ? { parsed: undefined, lookup: null }
        : { parsed: r.value, lookup: r.value.containerId !== undefined ? { containerId: r.value.containerId, hint: r.value.runtime } : null };
      if (this.plans.size >= this.maxEntries) this.plans.clear();
      this.plans.set(path, p);
    }
    return p;
  }

  attribute(e: EventIdentity, plan: PathPlan, resolved: ResolveResult | null): Attribution {
    const key = `${e.cgroupPath}\n${e.utsName}\n${e.netns}\n${e.node}`;
    const hit = this.decisions.get(key);
    if (hit !== undefined && hit.resolved === resolved) return hit.a;
    // Shared by every record of the decision (and the transcoder's encoded tails): frozen.
    const a = deepFreeze(attribute({
      cgroupPath: e.cgroupPath, utsName: e.utsName, netns: e.netns, node: { hostname: e.node }, resolved,
      ...(plan.parsed ? { parsed: plan.parsed } : {}),
    }));
    if (this.decisions.size >= this.maxEntries) this.decisions.clear();
    this.decisions.set(key, { resolved, a });
    return a;
  }

  get size(): { plans: number; decisions: number } {
    return { plans: this.plans.size, decisions: this.decisions.size };
  }
}
