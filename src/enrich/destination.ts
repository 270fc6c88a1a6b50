// SPDX-License-Identifier: Apache-2.0
// The other end of a connection, at enrich: which in-cluster pod owned the destination IP at
// the event's time, which cluster service the resolved name is, and the destination's scope.
// The pod IPs come from podtrail.containers.v1 (every node's ContainerMeta records, with
// pod.ips), so this works anywhere enrich runs, and point in time: an IP reused by a later pod
// names the pod that had it when the connect happened, also in a replay months later.
//
// Decisions:
// - A pod holds its IPs from the first record that carries them until the pod ends: its
//   sandbox's deletion, or, when no sandbox record was seen, the last of its containers'.
//   A container restart does not end the pod.
// - hostNetwork pods report the node's IPs; they are not named as dst.pod (every such pod on
//   the node shares them), but make the address a node address from then on (bounded by the
//   number of nodes, kept after those pods end).
// - Records can lag the pod's first packets; `earlyMs` lets a connect just before an IP's first
//   record name its first owner. It never reaches across an IP's earlier owner.
// - scope: loopback > pod > service > node > external. A headless service's name resolves to
//   pod IPs: the scope is pod, and dst.service is still set.
import type { ContainerMeta } from '../schema/types.js';
import { parseAddr, formatAddr } from '../schema/addr.js';
import { inCidr, isLoopback, parseCidr, unmapped, type Cidr } from './cidr.js';

export type DestinationScope = 'pod' | 'service' | 'node' | 'external' | 'loopback';

export interface DestinationPod {
  name: string;
  namespace: string;
  uid: string;
  workload: { kind: string; name: string } | null;
  labels: Record<string, string>;
}

export interface DestinationService {
  name: string;
  namespace: string;
}

export interface Destination {
  scope: DestinationScope;
  pod: DestinationPod | null;
  service: DestinationService | null;
}

export interface DestinationIndexOptions {
  /** cluster DNS domains (kubelet's --cluster-domain); default ['cluster.local'] */
  clusterDomains: string[];
  /** the cluster's service ranges (kube-apiserver's --service-cluster-ip-range) */
  serviceCidrs: string[];
  /** node addresses or ranges, besides those hostNetwork pods reveal */
  nodeCidrs: string[];
  /** IPs tracked; the one with the oldest ended owner goes first */
  maxIps: number;
  /** owners kept per IP (its history of reuse) */
  maxOwnersPerIp: number;
  /** see the decisions above, ms */
  earlyMs: number;
}

export const DESTINATION_DEFAULTS: DestinationIndexOptions = {
  clusterDomains: ['cluster.local'], serviceCidrs: [], nodeCidrs: [], maxIps: 200_000, maxOwnersPerIp: 16, earlyMs: 30_000,
};

interface Owner {
  podKey: string;
  /** ns since the epoch */
  from: bigint;
  /** null while the pod lives */
  to: bigint | null;
  hostNetwork: boolean;
  /** the pod's facts by the version time they took effect, oldest first (bounded) */
  facts: Array<{ at: bigint; pod: DestinationPod }>;
}

interface PodState {
  /** sandbox container id -> deleted time or null; a pod's sandbox can be recreated (node reboot) */
  sandboxes: Map<string, bigint | null>;
  /** other container id -> deleted time or null */
  containers: Map<string, bigint | null>;
  owners: Owner[];
}

const MAX_FACTS = 8;
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `<svc>.<ns>.svc.<domain>` (and `<host>.<svc>.<ns>.svc.<domain>`, `_port._proto.<svc>...`) -> the service. */
export function serviceOfName(name: string, domains: readonly string[] = DESTINATION_DEFAULTS.clusterDomains): DestinationService | null {
  const n = name.toLowerCase().replace(/\.$/, '');
  for (const d of domains) {
    const dom = d.toLowerCase().replace(/^\.|\.$/g, '');
    if (!n.endsWith(`.svc.${dom}`)) continue;
    const labels = n.slice(0, n.length - `.svc.${dom}`.length).split('.');
    if (labels.length < 2) return null;
    const ns = labels[labels.length - 1]!;
    const svc = labels[labels.length - 2]!;
    // Service names are DNS-1035 labels (start with a letter), namespaces DNS-1123 labels.
    if (!LABEL.test(ns) || !LABEL.test(svc) || !/^[a-z]/.test(svc)) return null;
    return { name: svc, namespace: ns };
  }
  return null;
}

function ipKey(addr: Uint8Array): string {
  return formatAddr(unmapped(addr));
}

export class DestinationIndex {
  private readonly byIp = new Map<string, Owner[]>();
  private readonly pods = new Map<string, PodState>();
  /** addresses hostNetwork pods reported: the node's, from then on (they outlive those pods) */
  private readonly nodeIps = new Map<string, bigint>();
  private readonly opts: DestinationIndexOptions;
  private readonly serviceCidrs: Cidr[];
  private readonly nodeCidrs: Cidr[];
  evicted = 0;

  constructor(opts: Partial<DestinationIndexOptions> = {}) {
    this.opts = { ...DESTINATION_DEFAULTS, ...opts };
    this.serviceCidrs = this.opts.serviceCidrs.map(parseCidr);
    this.nodeCidrs = this.opts.nodeCidrs.map((c) => parseCidr(c.includes('/') ? c : `${c}/${c.includes(':') ? 128 : 32}`));
  }

  get size(): number {
    return this.byIp.size;
  }

  /** Feed every ContainerMeta record as the metadata table reads it (any order, duplicates fine). */
  add(rec: ContainerMeta): void {
    const p = rec.pod;
    if (!p) return;
    const podKey = p.uid !== '' ? p.uid : `${rec.node}/${p.namespace}/${p.name}`;
    let st = this.pods.get(podKey);
    if (!st) this.pods.set(podKey, (st = { sandboxes: new Map(), containers: new Map(), owners: [] }));
    const set = rec.isSandbox ? st.sandboxes : st.containers;
    set.set(rec.containerId, rec.deletedTime ?? set.get(rec.containerId) ?? null);
    // Frozen and shared: every connect to this pod gets the same object, so the fast path can
    // cache its encoding by identity (src/enrich/dst-join.ts).
    const facts: DestinationPod = Object.freeze({
      name: p.name, namespace: p.namespace, uid: p.uid, labels: Object.freeze({ ...p.labels }),
      workload: p.workload ? Object.freeze({ kind: p.workload.kind, name: p.workload.name }) : null,
    });
    for (const text of p.ips) {
      let key: string;
      try {
        key = ipKey(parseAddr(text));
      } catch {
        continue; // pod-facts already bounds and checks IPs; an odd one is simply not indexed
      }
      let owners = this.byIp.get(key);
      if (!owners) {
        this.byIp.set(key, (owners = []));
        this.evict();
      }
      let o = st.owners.find((x) => x.podKey === podKey && owners.includes(x));
      if (!o) {
        o = { podKey, from: rec.validFrom, to: null, hostNetwork: p.hostNetwork, facts: [] };
        owners.push(o);
        st.owners.push(o);
        if (owners.length > this.opts.maxOwnersPerIp) {
          const gone = owners.shift()!;
          st.owners = st.owners.filter((x) => x !== gone);
        }
      }
      if (rec.validFrom < o.from) o.from = rec.validFrom;
      if (p.hostNetwork) {
        const since = this.nodeIps.get(key);
        if ((since === undefined && this.nodeIps.size < this.opts.maxIps) || (since !== undefined && rec.validFrom < since)) this.nodeIps.set(key, rec.validFrom);
      }
      if (!o.facts.some((f) => f.at === rec.validFrom)) {
        o.facts.push({ at: rec.validFrom, pod: facts });
        o.facts.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
        if (o.facts.length > MAX_FACTS) o.facts.splice(1, o.facts.length - MAX_FACTS);
      }
      owners.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
    }
    const end = this.podEnd(st);
    for (const o of st.owners) o.to = end;
  }

  private podEnd(st: PodState): bigint | null {
    let last: bigint | null = null;
    for (const d of (st.sandboxes.size > 0 ? st.sandboxes : st.containers).values()) {
      if (d === null) return null;
      if (last === null || d > last) last = d;
    }
    return last;
  }

  private evict(): void {
    if (this.byIp.size <= this.opts.maxIps) return;
    let victim: string | undefined;
    for (const [ip, owners] of this.byIp) {
      if (owners.every((o) => o.to !== null)) { victim = ip; break; }
    }
    victim ??= this.byIp.keys().next().value as string;
    this.byIp.delete(victim);
    this.evicted++;
  }

  /** The pod that owned `addr` at `at` (ns), hostNetwork or not; null when none. The facts are shared and frozen. */
  ownerAt(addr: Uint8Array, at: bigint): { pod: DestinationPod; hostNetwork: boolean } | null {
    const owners = this.byIp.get(ipKey(addr));
    if (!owners) return null;
    let pick: Owner | undefined;
    for (const o of owners) if (o.from <= at && (o.to === null || at < o.to)) pick = o;
    if (!pick) {
      // A connect just before the first record of an IP's first owner (the records lag).
      const first = owners[0];
      if (first && at < first.from && first.from - at <= BigInt(this.opts.earlyMs) * 1_000_000n) pick = first;
    }
    if (!pick) return null;
    let facts = pick.facts[0]!.pod;
    for (const f of pick.facts) if (f.at <= at) facts = f.pod;
    return { pod: facts, hostNetwork: pick.hostNetwork };
  }

  /** Scope, pod and service of a destination at `at` (ns), given the name the pod resolved, if any. */
  resolve(addr: Uint8Array, at: bigint, name: string | null = null): Destination {
    const service = name ? serviceOfName(name, this.opts.clusterDomains) : null;
    if (isLoopback(addr)) return { scope: 'loopback', pod: null, service: null };
    const owner = this.ownerAt(addr, at);
    if (owner && !owner.hostNetwork) return { scope: 'pod', pod: owner.pod, service };
    if (service || this.serviceCidrs.some((c) => inCidr(addr, c))) return { scope: 'service', pod: null, service };
    const nodeSince = this.nodeIps.get(ipKey(addr));
    if (owner?.hostNetwork || (nodeSince !== undefined && nodeSince <= at) || this.nodeCidrs.some((c) => inCidr(addr, c))) return { scope: 'node', pod: null, service: null };
    return { scope: 'external', pod: null, service: null };
  }
}
