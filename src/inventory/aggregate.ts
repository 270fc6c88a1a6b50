// SPDX-License-Identifier: Apache-2.0
// The inventory's accumulator. It sees each audit record once, in any order, and keeps only
// counters per (workload, destination address, port, protocol): memory grows with the number
// of distinct destinations, never with the number of records, and that number has a limit
// (--max-destinations) past which connections are counted per workload but not itemized.
// Classes are decided at the end, when every pod and node address of the window is known:
// a connection to a pod often comes before any record from that pod.
import type { AuditRecord } from '../schema/types.js';
import { isoNanos } from '../schema/json-form.js';
import { connOf, type Conn, type DstExtra, type WorkloadRef } from './conn.js';
import { classify, isDnsPod, NO_HINTS, CLASSES, type ClusterHints, type PeerIndex, type PeerOwner } from './destination.js';
import { collapseCidrs, exactCidrs, formatCidr, parseIp, compareIpText, ipRange, type Ip } from './ip.js';
import type { Change, Inventory, InventoryDestination, InventorySummary, InventoryWorkload } from './model.js';

export interface AggregatorOptions {
  hints?: ClusterHints;
  /** which connections' sources are inventoried (namespace, workload, selector); the rest still teach pod and node addresses */
  filter?: (c: Conn) => boolean;
  /** distinct (workload, address, port, protocol) kept, over all workloads */
  maxDestinations?: number;
  /** with --compare-since: records before this time belong to the earlier window */
  splitNs?: bigint;
  /** a name with at least this many addresses in one /24 (or /64) gets the block */
  collapseMin?: number;
}

const MAX_PODS = 1000;
const MAX_EXES = 32;
const MAX_IPS = 256;
const MAX_OWNERS_PER_IP = 16;
const MAX_WORKLOAD_PODS = 10_000;

interface Stats {
  connections: number;
  failures: number;
  pods: Set<string>;
  podsCapped: boolean;
  exes: Set<string>;
  exesMore: number;
  first: bigint;
  last: bigint;
}

interface DestAgg { ip: string; port: number; protocol: string; extra: DstExtra; cur?: Stats; old?: Stats }

interface WorkloadAgg {
  ref: WorkloadRef;
  nodes: Set<string>;
  images: Set<string>;
  pods: Set<string>;
  labels: Record<string, string> | undefined;
  connections: number;
  failures: number;
  unlisted: number;
  dests: Map<string, DestAgg>;
}

interface Owner { key: string; owner: PeerOwner; from: bigint; to: bigint }

const newStats = (t: bigint): Stats => ({ connections: 0, failures: 0, pods: new Set(), podsCapped: false, exes: new Set(), exesMore: 0, first: t, last: t });

function bump(s: Stats, c: Conn): void {
  s.connections++;
  if (!c.ok) s.failures++;
  const pod = c.podUid ?? c.podName ?? c.node;
  if (!s.pods.has(pod)) {
    if (s.pods.size < MAX_PODS) s.pods.add(pod);
    else s.podsCapped = true;
  }
  if (!s.exes.has(c.exe)) {
    if (s.exes.size < MAX_EXES) s.exes.add(c.exe);
    else s.exesMore++;
  }
  if (c.time < s.first) s.first = c.time;
  if (c.time > s.last) s.last = c.time;
}

function mergeStats(into: Stats | undefined, s: Stats | undefined): Stats | undefined {
  if (!s) return into;
  if (!into) return { ...s, pods: new Set(s.pods), exes: new Set(s.exes) };
  into.connections += s.connections;
  into.failures += s.failures;
  for (const p of s.pods) if (into.pods.size < MAX_PODS) into.pods.add(p); else into.podsCapped = true;
  into.podsCapped ||= s.podsCapped;
  for (const e of s.exes) if (into.exes.size < MAX_EXES) into.exes.add(e); else into.exesMore++;
  into.exesMore += s.exesMore;
  if (s.first < into.first) into.first = s.first;
  if (s.last > into.last) into.last = s.last;
  return into;
}

const wkKey = (w: WorkloadRef) => `${w.namespace ?? ''}\u0000${w.kind}\u0000${w.name}`;

export class Aggregator implements PeerIndex {
  private readonly workloads = new Map<string, WorkloadAgg>();
  private readonly owners = new Map<string, Owner[]>();
  private readonly nodes = new Map<string, string>();
  private readonly hints: ClusterHints;
  private readonly filter: (c: Conn) => boolean;
  private readonly maxDestinations: number;
  private readonly collapseMin: number;
  private destinations = 0;
  private limitReached = false;
  readonly counts = { records: 0, connections: 0, matched: 0, undecodable: 0 };
  readonly loss = { records: 0, missedConnections: 0, openEnded: 0, causes: {} as Record<string, number> };

  constructor(private readonly opts: AggregatorOptions = {}) {
    this.hints = opts.hints ?? NO_HINTS;
    this.filter = opts.filter ?? (() => true);
    this.maxDestinations = opts.maxDestinations ?? 1_000_000;
    this.collapseMin = opts.collapseMin ?? 4;
  }

  noteUndecodable(): void {
    this.counts.undecodable++;
  }

  addRecord(r: AuditRecord): void {
    this.counts.records++;
    if (r.attribution.status === 'LOSS') {
      this.loss.records++;
      const l = r.loss;
      if (l) {
        this.loss.missedConnections += Number(l.count);
        if (l.count === 0n) this.loss.openEnded++;
        this.loss.causes[l.cause] = (this.loss.causes[l.cause] ?? 0) + 1;
      }
      return;
    }
    const c = connOf(r);
    if (c) this.addConn(c);
  }

  addConn(c: Conn): void {
    this.counts.connections++;
    this.learnAddresses(c);
    if (!this.filter(c)) return;
    this.counts.matched++;
    const wk = wkKey(c.workload);
    let w = this.workloads.get(wk);
    if (!w) {
      w = { ref: c.workload, nodes: new Set(), images: new Set(), pods: new Set(), labels: undefined, connections: 0, failures: 0, unlisted: 0, dests: new Map() };
      this.workloads.set(wk, w);
    }
    const earlier = this.opts.splitNs !== undefined && c.time < this.opts.splitNs;
    if (!earlier) {
      w.connections++;
      if (!c.ok) w.failures++;
    }
    w.nodes.add(c.node);
    if (c.image) w.images.add(c.image);
    const pod = c.podUid ?? c.podName;
    if (pod && !w.pods.has(pod) && w.pods.size < MAX_WORKLOAD_PODS) {
      w.pods.add(pod);
      // Labels every pod carried: the ones a selector for the workload can use.
      if (w.labels === undefined) w.labels = { ...c.labels };
      else for (const k of Object.keys(w.labels)) if (c.labels[k] !== w.labels[k]) delete w.labels[k];
    }
    const nameKey = typeof c.dst.name === 'string' ? c.dst.name : c.dst.name?.name ?? c.dst.name?.query ?? '';
    const dk = `${c.dstIp}\u0000${c.dstPort}\u0000${c.protocol}\u0000${nameKey}`;
    let d = w.dests.get(dk);
    if (!d) {
      if (this.destinations >= this.maxDestinations) {
        this.limitReached = true;
        if (!earlier) w.unlisted++;
        return;
      }
      this.destinations++;
      d = { ip: c.dstIp, port: c.dstPort, protocol: c.protocol, extra: c.dst };
      w.dests.set(dk, d);
    }
    const s = earlier ? (d.old ??= newStats(c.time)) : (d.cur ??= newStats(c.time));
    bump(s, c);
  }

  /** Pod and node addresses: every record teaches them, filtered or not. */
  private learnAddresses(c: Conn): void {
    if (c.hostNetwork || c.workload.kind === 'Host') {
      for (const ip of [...c.podIps, ...(c.srcIp ? [c.srcIp] : [])]) this.addNodeIp(ip, c.node);
      return;
    }
    if (c.workload.kind === 'Container' || c.workload.kind === 'Unresolved' || c.podIps.length === 0) return;
    for (const ip of c.podIps) this.addOwner(ip, c.workload, c.labels, c.time, c.time);
  }

  private addNodeIp(ip: string, node: string): void {
    const p = parseIp(ip);
    if (!p || ipRange(p) === 'loopback' || ipRange(p) === 'unspecified') return;
    if (!this.nodes.has(ip)) this.nodes.set(ip, node);
  }

  private addOwner(ip: string, workload: WorkloadRef, labels: Record<string, string>, from: bigint, to: bigint): void {
    const key = wkKey(workload);
    let list = this.owners.get(ip);
    if (!list) this.owners.set(ip, (list = []));
    const o = list.find((x) => x.key === key);
    if (o) {
      if (from < o.from) o.from = from;
      if (to > o.to) o.to = to;
      return;
    }
    if (list.length >= MAX_OWNERS_PER_IP) list.shift();
    list.push({ key, owner: { workload, labels, dns: isDnsPod(labels, workload) }, from, to });
  }

  /**
   * A pod's addresses from the containers topic (issue 13's pod.ips): pods that never connect
   * out, such as databases, are known only from there. `to` is undefined while it lives.
   */
  addPodFacts(f: { ips: readonly string[]; workload: WorkloadRef; labels: Record<string, string>; hostNetwork: boolean; node: string; from: bigint; to: bigint | undefined }): void {
    if (f.hostNetwork) {
      for (const ip of f.ips) this.addNodeIp(ip, f.node);
      return;
    }
    for (const ip of f.ips) this.addOwner(ip, f.workload, f.labels, f.from, f.to ?? BigInt(Number.MAX_SAFE_INTEGER) * 1_000_000n);
  }

  ownerOf(ip: string, first: bigint, last: bigint): PeerOwner | undefined {
    const list = this.owners.get(ip);
    if (!list?.length) return undefined;
    let best: Owner | undefined;
    let bestOverlap = -1n;
    for (const o of list) {
      const lo = o.from > first ? o.from : first;
      const hi = o.to < last ? o.to : last;
      // Owners that held the address around the connections, else the nearest in time.
      const overlap = hi >= lo ? hi - lo + 1n : -((lo - hi));
      if (best === undefined || overlap > bestOverlap) { best = o; bestOverlap = overlap; }
    }
    return best?.owner;
  }

  nodeOf(ip: string): string | undefined {
    return this.nodes.get(ip);
  }

  finish(window: InventorySummary['window'], compareWindow: InventorySummary['compareWindow'], filters: InventorySummary['filters']): Inventory {
    const comparing = compareWindow !== null;
    const workloads: InventoryWorkload[] = [];
    for (const w of this.workloads.values()) {
      const groups = new Map<string, { dest: ReturnType<typeof classify>; port: number; protocol: string; ips: Set<string>; cur?: Stats; old?: Stats }>();
      for (const d of w.dests.values()) {
        const span = mergeStats(mergeStats(undefined, d.old), d.cur)!;
        const dest = classify(d.ip, d.port, d.extra, span.first, span.last, this, this.hints);
        const identity = dest.name ?? (dest.peer ? `peer:${wkKey(dest.peer)}` : dest.service ? `svc:${dest.service.namespace}/${dest.service.name}` : `ip:${d.ip}`);
        const gk = `${dest.class}\u0000${identity}\u0000${d.port}\u0000${d.protocol}`;
        let g = groups.get(gk);
        if (!g) groups.set(gk, (g = { dest, port: d.port, protocol: d.protocol, ips: new Set() }));
        g.ips.add(d.ip);
        g.cur = mergeStats(g.cur, d.cur);
        g.old = mergeStats(g.old, d.old);
        if (d.extra && dest.cnames && !g.dest.cnames) g.dest.cnames = dest.cnames;
      }
      const dests: InventoryDestination[] = [];
      for (const g of groups.values()) {
        const s = g.cur ?? g.old!;
        const ipsSorted = [...g.ips].sort(compareIpText);
        const parsed = ipsSorted.map(parseIp).filter((x): x is Ip => x !== undefined);
        const names = g.dest.name ? [g.dest.name] : [];
        const coll = names.length && parsed.length >= this.collapseMin ? collapseCidrs(parsed, this.collapseMin) : { cidrs: exactCidrs(parsed), widened: false };
        const change: Change | undefined = !comparing ? undefined : g.cur && g.old ? 'kept' : g.cur ? 'new' : 'gone';
        dests.push({
          class: g.dest.class,
          basis: g.dest.basis,
          names,
          cnames: [...new Set(g.dest.cnames ?? [])].sort(),
          peer: g.dest.peer ? { namespace: g.dest.peer.namespace, kind: g.dest.peer.kind, name: g.dest.peer.name, labels: sortedObject(g.dest.peer.labels) } : null,
          service: g.dest.service ?? null,
          node: g.dest.node ?? null,
          resolver: g.dest.resolver,
          ips: ipsSorted.slice(0, MAX_IPS),
          ipsMore: Math.max(0, ipsSorted.length - MAX_IPS),
          cidrs: coll.cidrs.map(formatCidr),
          cidrsWidened: coll.widened,
          port: g.port,
          protocol: g.protocol,
          connections: s.connections,
          failures: s.failures,
          pods: s.pods.size,
          podsAtLeast: s.podsCapped,
          executables: [...s.exes].sort(),
          executablesMore: s.exesMore,
          firstSeen: isoNanos(s.first),
          lastSeen: isoNanos(s.last),
          ...(change ? { change } : {}),
        });
      }
      dests.sort(compareDestinations);
      workloads.push({
        namespace: w.ref.namespace, kind: w.ref.kind, name: w.ref.name,
        serviceAccount: null,
        nodes: [...w.nodes].sort(),
        images: [...w.images].sort(),
        labels: sortedObject(w.labels ?? {}),
        pods: w.pods.size,
        connections: w.connections,
        failures: w.failures,
        unlistedConnections: w.unlisted,
        destinations: dests,
      });
    }
    workloads.sort((a, b) => cmp(a.namespace ?? '', b.namespace ?? '') || cmp(a.kind, b.kind) || cmp(a.name, b.name));
    const summary: InventorySummary = {
      window, compareWindow, filters,
      ...this.counts,
      loss: { ...this.loss, causes: sortedObject(this.loss.causes) },
      destinationLimit: this.maxDestinations,
      limitReached: this.limitReached,
      notes: [],
    };
    summary.notes = notesFor(summary, workloads.length);
    return { version: 1, summary, workloads };
  }
}

function notesFor(s: InventorySummary, workloads: number): string[] {
  const notes: string[] = [];
  if (s.records === 0) notes.push('The window holds no audit records: nothing was recorded, or the window or topic is wrong. This is not evidence that nothing connected.');
  else if (s.connections === 0 && s.loss.records > 0) notes.push(`The window holds only LOSS records (${s.loss.records}): connections happened that podtrail did not record, so there is nothing to list.`);
  if (s.connections > 0 && s.matched === 0) notes.push('No connection matched the namespace, workload or label filters.');
  if (s.loss.records > 0 && s.connections > 0) {
    notes.push(`${s.loss.records} LOSS record(s) in the window: at least ${s.loss.missedConnections} connection(s) were missed${s.loss.openEnded ? `, plus an unknown number after ${s.loss.openEnded} capture restart(s)` : ''}. The lists below may be incomplete.`);
  }
  if (s.undecodable > 0) notes.push(`${s.undecodable} message(s) could not be decoded and were skipped.`);
  if (s.limitReached) notes.push(`More than ${s.destinationLimit} distinct destinations: connections past the limit are counted per workload (unlistedConnections), not listed. Raise --max-destinations or narrow the filters.`);
  if (s.compareWindow && workloads > 0) notes.push('change: "new" = seen in this window but not in the earlier one; "gone" = seen in the earlier window only (its counts are the earlier window\'s).');
  return notes;
}

const CLASS_ORDER = new Map(CLASSES.map((c, i) => [c, i]));

function identityText(d: InventoryDestination): string {
  return d.names[0] ?? (d.peer ? `${d.peer.namespace}/${d.peer.kind}/${d.peer.name}` : d.service ? `${d.service.namespace}/${d.service.name}` : '');
}

export function compareDestinations(a: InventoryDestination, b: InventoryDestination): number {
  return (CLASS_ORDER.get(a.class)! - CLASS_ORDER.get(b.class)!) || cmp(identityText(a), identityText(b)) ||
    compareIpText(a.ips[0] ?? '', b.ips[0] ?? '') || a.port - b.port || cmp(a.protocol, b.protocol);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedObject(o: Record<string, string>): Record<string, string>;
function sortedObject(o: Record<string, number>): Record<string, number>;
function sortedObject(o: Record<string, string | number>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k] as string | number;
  return out;
}
