// SPDX-License-Identifier: Apache-2.0
// What a destination is: the one place that decides. Records from the destinations issue
// carry dst.name, dst.pod, dst.service and dst.scope, and those win. Today's records carry only
// the IP, so the class comes from the address: well-known ranges, the pod and node addresses
// seen in the window (and on the containers topic), and what the operator tells us about the
// cluster (--service-cidr, --pod-cidr, --apiserver, --cluster-dns).
import type { Cidr, Ip } from './ip.js';
import { inCidr, ipRange, parseIp } from './ip.js';
import type { DstExtra, WorkloadRef } from './conn.js';

export const CLASSES = [
  'in-cluster-service', 'in-cluster-workload', 'cluster-dns', 'kube-apiserver', 'node',
  'cloud-metadata', 'loopback', 'private-unknown', 'public',
] as const;
export type DestClass = (typeof CLASSES)[number];

export interface ClusterHints {
  serviceCidrs: Cidr[];
  podCidrs: Cidr[];
  /** API server endpoints the operator named (ip, and port when given) */
  apiServers: Array<{ ip: Ip; port: number | undefined }>;
  /** resolver addresses the operator named */
  dnsIps: Ip[];
}

export const NO_HINTS: ClusterHints = { serviceCidrs: [], podCidrs: [], apiServers: [], dnsIps: [] };

/** A pod that held an address, as the window or the containers topic showed it. */
export interface PeerOwner { workload: WorkloadRef; labels: Record<string, string>; dns: boolean }

export interface PeerIndex {
  /** the pod that held ip during [first, last], the one overlapping most when several did */
  ownerOf(ip: string, first: bigint, last: bigint): PeerOwner | undefined;
  /** the node whose address this is */
  nodeOf(ip: string): string | undefined;
}

export interface Destination {
  class: DestClass;
  /** the name the pod resolved (dst.name), lower-cased; absent before the destinations issue */
  name?: string;
  cnames?: string[];
  peer?: WorkloadRef & { labels: Record<string, string> };
  service?: { namespace: string; name: string };
  node?: string;
  /** a resolver: DNS port, or a cluster DNS pod */
  resolver: boolean;
  /** how the class was decided, for the reader: record, range, window, hint */
  basis: 'record' | 'range' | 'window' | 'hint';
}

const DNS_PORTS = new Set([53]);
const DNS_APPS = new Set(['kube-dns', 'coredns', 'node-local-dns']);

/** A pod that is a cluster resolver by its labels or its workload's name. */
export function isDnsPod(labels: Record<string, string>, workload: WorkloadRef): boolean {
  return DNS_APPS.has(labels['k8s-app'] ?? '') || DNS_APPS.has(labels['app.kubernetes.io/name'] ?? '') || DNS_APPS.has(workload.name);
}

function extraName(x: DstExtra['name']): { name?: string; cnames?: string[] } {
  if (!x) return {};
  if (typeof x === 'string') return x ? { name: x.toLowerCase() } : {};
  const name = x.name ?? x.query ?? undefined;
  const cnames = (x.cnames ?? []).map((c) => c.toLowerCase());
  return { ...(name ? { name: name.toLowerCase() } : {}), ...(cnames.length ? { cnames } : {}) };
}

export function classify(
  dstIp: string, port: number, extra: DstExtra, first: bigint, last: bigint,
  peers: PeerIndex, hints: ClusterHints,
): Destination {
  const named = extraName(extra.name);
  const dnsPort = DNS_PORTS.has(port);
  const d = (cls: DestClass, basis: Destination['basis'], more: Partial<Destination> = {}): Destination =>
    ({ class: cls, ...named, resolver: dnsPort, basis, ...more });
  const ip = parseIp(dstIp);
  const range = ip ? ipRange(ip) : 'public';
  if (range === 'loopback' || extra.scope === 'loopback') return d('loopback', range === 'loopback' ? 'range' : 'record');

  // The destinations issue's fields, when the record has them.
  if (extra.service?.name && extra.service.namespace) {
    const service = { namespace: extra.service.namespace, name: extra.service.name };
    if (service.namespace === 'default' && service.name === 'kubernetes') return d('kube-apiserver', 'record', { service });
    return d(dnsPort ? 'cluster-dns' : 'in-cluster-service', 'record', { service });
  }
  if (extra.pod?.namespace && extra.pod.workload) {
    const workload = { namespace: extra.pod.namespace, kind: extra.pod.workload.kind, name: extra.pod.workload.name };
    const labels = extra.pod.labels ?? {};
    const dns = isDnsPod(labels, workload);
    return d(dns && dnsPort ? 'cluster-dns' : 'in-cluster-workload', 'record', { peer: { ...workload, labels }, resolver: dnsPort || dns });
  }
  if (extra.scope === 'node') return d('node', 'record', { node: peers.nodeOf(dstIp) });

  if (range === 'metadata') return d('cloud-metadata', 'range');
  if (ip && hints.apiServers.some((a) => a.ip.v === ip.v && a.ip.n === ip.n && (a.port === undefined || a.port === port))) return d('kube-apiserver', 'hint');
  const owner = peers.ownerOf(dstIp, first, last);
  if (owner) {
    return d(owner.dns && dnsPort ? 'cluster-dns' : 'in-cluster-workload', 'window', { peer: { ...owner.workload, labels: owner.labels }, resolver: dnsPort || owner.dns });
  }
  const node = peers.nodeOf(dstIp);
  if (node !== undefined) return d(port === 6443 ? 'kube-apiserver' : 'node', 'window', { node });
  if (ip && hints.serviceCidrs.some((c) => inCidr(ip, c))) {
    // kubernetes.default always takes the first address of the service range.
    const apiserver = port === 443 && hints.serviceCidrs.some((c) => c.v === ip.v && c.base + 1n === ip.n);
    return d(apiserver ? 'kube-apiserver' : dnsPort ? 'cluster-dns' : 'in-cluster-service', 'hint');
  }
  if (ip && hints.dnsIps.some((x) => x.v === ip.v && x.n === ip.n)) return d('cluster-dns', 'hint', { resolver: true });
  if (ip && hints.podCidrs.some((c) => inCidr(ip, c))) return d('in-cluster-workload', 'hint');
  if (dnsPort && (range === 'linkLocal' || range === 'private')) return d('cluster-dns', 'range');
  if (port === 6443 && range === 'private') return d('kube-apiserver', 'range');
  if (range === 'private' || range === 'linkLocal' || range === 'unspecified') return d('private-unknown', 'range');
  return d('public', 'range');
}
