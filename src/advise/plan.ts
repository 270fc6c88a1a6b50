// SPDX-License-Identifier: Apache-2.0
// What a workload's egress policy must allow, from its inventory, before any policy syntax:
// peers by selector, address blocks with their names, the resolver it was seen using, the API
// server as seen. Both flavours (NetworkPolicy, CiliumNetworkPolicy) are written from this.
import type { Inventory, InventoryDestination, InventoryWorkload } from '../inventory/model.js';
import { destinationText, workloadTitle } from '../inventory/render.js';
import { stableLabels } from './labels.js';

export interface Port { port: number; protocol: string }

export type Allow =
  /** pods by namespace and labels */
  | { type: 'peer'; namespace: string; labels: Record<string, string>; ports: Port[]; why: string[]; dns: boolean }
  /** address blocks */
  | { type: 'cidr'; cidrs: string[]; ports: Port[]; why: string[]; dns: boolean; entity?: 'kube-apiserver' | 'node' | 'cloud-metadata'; named?: boolean }
  /** DNS names (only from records that carry dst.name) */
  | { type: 'fqdn'; names: string[]; ports: Port[]; why: string[] };

export interface Plan {
  workload: InventoryWorkload;
  /** undefined: no policy can be written (why in `skipped`) */
  selector: Record<string, string> | undefined;
  droppedLabels: string[];
  allows: Allow[];
  /** seen but left out of the policy, each with the reason */
  notCovered: string[];
  /** resolvers seen: what the DNS rule is built from */
  resolvers: string[];
  skipped?: string;
}

const KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod']);

const portKey = (p: Port) => `${p.protocol}/${p.port}`;
function addPort(list: Port[], p: Port): void {
  if (!list.some((x) => portKey(x) === portKey(p))) list.push(p);
}

/** DNS over TCP is what a resolver falls back to for a truncated answer: allow both for a resolver. */
function dnsPorts(d: InventoryDestination): Port[] {
  return d.port === 53 ? [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] : [{ port: d.port, protocol: d.protocol }];
}

/** Other pods known to be cluster resolvers (DNS service IPs are answered by them after DNAT). */
function dnsPods(inv: Inventory): Map<string, { namespace: string; labels: Record<string, string>; title: string }> {
  const out = new Map<string, { namespace: string; labels: Record<string, string>; title: string }>();
  for (const w of inv.workloads) {
    for (const d of w.destinations) {
      if (d.class === 'cluster-dns' && d.peer) {
        const { labels } = stableLabels(d.peer.kind, d.peer.labels);
        if (Object.keys(labels).length) out.set(`${d.peer.namespace}/${d.peer.kind}/${d.peer.name}`, { namespace: d.peer.namespace as string, labels, title: `${d.peer.namespace}/${d.peer.kind}/${d.peer.name}` });
      }
    }
  }
  return out;
}

export function planFor(inv: Inventory, w: InventoryWorkload): Plan {
  const title = workloadTitle(w);
  const plan: Plan = { workload: w, selector: undefined, droppedLabels: [], allows: [], notCovered: [], resolvers: [] };
  if (!w.namespace || !KINDS.has(w.kind)) {
    plan.skipped = `${title}: not a pod of a namespace (${w.kind}); NetworkPolicy selects pods only`;
    return plan;
  }
  const { labels, dropped } = stableLabels(w.kind, w.labels);
  plan.droppedLabels = dropped;
  if (Object.keys(labels).length === 0) {
    plan.skipped = `${title}: its pods share no label a selector can use (besides controller hashes); label them, then run this again`;
    return plan;
  }
  plan.selector = labels;
  const peers = new Map<string, Extract<Allow, { type: 'peer' }>>();
  const cidrsByPort = new Map<string, Extract<Allow, { type: 'cidr' }>>();
  const fqdnByPort = new Map<string, Extract<Allow, { type: 'fqdn' }>>();
  const peer = (namespace: string, sel: Record<string, string>, ports: Port[], why: string, dns: boolean) => {
    const k = `${namespace}\u0000${JSON.stringify(sel)}`;
    let a = peers.get(k);
    if (!a) peers.set(k, (a = { type: 'peer', namespace, labels: sel, ports: [], why: [], dns }));
    for (const p of ports) addPort(a.ports, p);
    if (!a.why.includes(why)) a.why.push(why);
  };
  const cidr = (cidrs: string[], ports: Port[], why: string, dns: boolean, entity?: 'kube-apiserver' | 'node' | 'cloud-metadata', named = false) => {
    const k = `${ports.map(portKey).join(',')}\u0000${entity ?? ''}\u0000${dns}\u0000${named}`;
    let a = cidrsByPort.get(k);
    if (!a) cidrsByPort.set(k, (a = { type: 'cidr', cidrs: [], ports, why: [], dns, ...(entity ? { entity } : {}), ...(named ? { named } : {}) }));
    for (const c of cidrs) if (!a.cidrs.includes(c)) a.cidrs.push(c);
    a.why.push(why);
  };
  const knownDnsPods = dnsPods(inv);
  for (const d of w.destinations) {
    if (d.change === 'gone') continue;
    const what = `${d.class} ${destinationText(d)} ${d.port}/${d.protocol}: ${d.connections} conns${d.failures ? `, ${d.failures} failed` : ''}, last ${d.lastSeen}`;
    const ports = d.class === 'cluster-dns' || d.resolver ? dnsPorts(d) : [{ port: d.port, protocol: d.protocol }];
    const cidrs = d.cidrs.length ? d.cidrs : d.ips.map((ip) => `${ip}/${ip.includes(':') ? 128 : 32}`);
    switch (d.class) {
      case 'loopback':
        plan.notCovered.push(`${what} (loopback never leaves the pod; no rule needed)`);
        break;
      case 'cluster-dns':
        plan.resolvers.push(destinationText(d));
        if (d.peer) {
          const sel = stableLabels(d.peer.kind, d.peer.labels).labels;
          if (Object.keys(sel).length && d.peer.namespace) peer(d.peer.namespace, sel, ports, what, true);
          else cidr(cidrs, ports, `${what} (the resolver pod has no selectable labels: its addresses)`, true);
        } else {
          cidr(cidrs, ports, what, true);
          // A DNS service address is rewritten to a resolver pod before most CNIs apply policy.
          for (const p of knownDnsPods.values()) peer(p.namespace, p.labels, ports, `resolver pods ${p.title}, seen answering DNS in this window, behind ${destinationText(d)}`, true);
        }
        break;
      case 'in-cluster-workload': {
        const sel = d.peer ? stableLabels(d.peer.kind, d.peer.labels).labels : {};
        if (d.peer?.namespace && Object.keys(sel).length) peer(d.peer.namespace, sel, ports, what, false);
        else {
          cidr(cidrs, ports, `${what} (pod addresses change: replace with a selector for that workload)`, false);
        }
        break;
      }
      case 'in-cluster-service':
        plan.notCovered.push(`${what}: a service address; NetworkPolicy sees the backend pods after DNAT, which this window does not name (the destinations issue adds dst.service)`);
        break;
      case 'kube-apiserver':
        cidr(cidrs, ports, `${what} (if this is the kubernetes service address, most CNIs match the endpoint instead: add the addresses of \`kubectl get endpoints kubernetes\` on their port)`, false, 'kube-apiserver');
        break;
      case 'node':
        cidr(cidrs, ports, what, false, 'node');
        break;
      case 'cloud-metadata':
        cidr(cidrs, ports, `${what} (cloud metadata hands out node credentials: keep only if the workload needs it)`, false, 'cloud-metadata');
        break;
      default:
        if (d.names.length) {
          const k = portKey({ port: d.port, protocol: d.protocol });
          let a = fqdnByPort.get(k);
          if (!a) fqdnByPort.set(k, (a = { type: 'fqdn', names: [], ports, why: [] }));
          for (const n of d.names) if (!a.names.includes(n)) a.names.push(n);
          a.why.push(what);
        }
        if (d.resolver) plan.resolvers.push(`${destinationText(d)} (upstream DNS)`);
        cidr(cidrs, ports, what, d.resolver, undefined, d.names.length > 0);
    }
  }
  plan.allows = [...peers.values(), ...cidrsByPort.values(), ...fqdnByPort.values()];
  for (const a of plan.allows) {
    a.ports.sort((x, y) => x.port - y.port || (x.protocol < y.protocol ? -1 : 1));
    if (a.type !== 'peer') (a.type === 'cidr' ? a.cidrs : a.names).sort();
  }
  return plan;
}

/** The header every policy carries: what it was built from, and what it cannot know. */
export function honestyHeader(inv: Inventory, plan: Plan, flavour: string): string[] {
  const s = inv.summary;
  const w = plan.workload;
  const lines = [
    `${flavour} for ${workloadTitle(w)}, written by podtrail advise networkpolicy.`,
    `Built from audit records of ${s.window.since ?? 'the topic\'s start'} to ${s.window.until ?? 'the end of the topic when read'}: ${w.connections} connections from ${w.pods} pod(s) on ${w.nodes.length} node(s).`,
    'What it allows is what was seen. A quiet window is not a denial: anything this workload did not reach in the window',
    '(a monthly job, a failover path, error handling, a new release) is blocked once this policy is enforced.',
    'Roll it out in audit mode first (Cilium: policy-audit-mode; Calico: a StagedNetworkPolicy; or a CNI that logs',
    'would-be drops), watch for drops over a full business cycle, then enforce.',
  ];
  if (s.loss.records) lines.push(`The window has ${s.loss.records} LOSS record(s): at least ${s.loss.missedConnections} connection(s) were not recorded and may be missing here.`);
  if (w.unlistedConnections) lines.push(`${w.unlistedConnections} connection(s) past --max-destinations are not in this policy.`);
  lines.push(plan.resolvers.length ? `DNS: built from the resolver(s) seen: ${[...new Set(plan.resolvers)].join('; ')}.` : 'DNS: no lookup was seen in the window, so no DNS rule is written.');
  if (plan.allows.some((a) => a.type === 'fqdn') && !plan.allows.some((a) => a.type !== 'fqdn' && a.dns)) {
    lines.push('Names were seen but no resolver: Cilium\'s toFQDNs only learns addresses from lookups its DNS proxy sees; add the DNS rule for your resolver.');
  }
  if (plan.droppedLabels.length) lines.push(`Labels not usable in a selector (invalid syntax): ${plan.droppedLabels.join(', ')}.`);
  if (plan.notCovered.length) lines.push('Seen but not covered:', ...plan.notCovered.map((n) => `  - ${n}`));
  return lines;
}
