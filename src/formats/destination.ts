// SPDX-License-Identifier: Apache-2.0
// Where a connection's destination name, pod, service and scope go in each SIEM format. Pure
// functions over a destination view, so the formats take them up once the record schema
// carries dst.name / dst.pod / dst.service / dst.scope.
//
// - OCSF: dst_endpoint.hostname is the name the pod resolved (the fully qualified name the
//   connection was made for), dst_endpoint.domain that name without its host label (or the
//   name itself when it has fewer than three labels), svc_name "<svc>.<ns>" for a cluster
//   service, network_scope_id Internal (pod, service, node, loopback) or External. The
//   destination pod, the CNAME chain and the name's trust go in unmapped.dst, as in the JSON form.
// - ECS: destination.domain is the name; the rest under podtrail.destination.
// - CEF: dhost is the name (the other custom strings are taken by the source pod).
// - A name is never invented: no resolved name, no hostname/domain/dhost.
import type { DestinationPod, DestinationScope, DestinationService } from '../enrich/destination.js';
import { isoNanos } from '../schema/json-form.js';

export interface DestinationName {
  name: string;
  chain: string[];
  /** ns since the epoch */
  answeredAt: bigint;
  ttl: number;
  server: string;
  trust: 'unmatched' | 'matched' | 'resolver';
}

export interface DestinationView {
  name: DestinationName | null;
  scope: DestinationScope | null;
  pod: DestinationPod | null;
  service: DestinationService | null;
  encryptedDns: 'dot' | 'doh' | null;
}

const SCOPE_ID: Record<DestinationScope, 1 | 2> = { pod: 1, service: 1, node: 1, loopback: 1, external: 2 };
const SCOPE_CAPTION = { 1: 'Internal', 2: 'External' } as const;

/** "api.eu.example.com" -> "eu.example.com"; names of one or two labels are their own domain. */
export function domainOf(name: string): string {
  const labels = name.split('.');
  return labels.length >= 3 ? labels.slice(1).join('.') : name;
}

/** The JSON-form object for the name (also what OCSF unmapped and ECS podtrail.* carry). */
export function nameJson(n: DestinationName): Record<string, unknown> {
  return { name: n.name, chain: [...n.chain], answeredAt: isoNanos(n.answeredAt), ttl: n.ttl, server: n.server, trust: n.trust };
}

function extras(d: DestinationView): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (d.scope) out.scope = d.scope;
  if (d.name) out.name = nameJson(d.name);
  if (d.pod) out.pod = { name: d.pod.name, namespace: d.pod.namespace, uid: d.pod.uid, workload: d.pod.workload ? { ...d.pod.workload } : null, labels: { ...d.pod.labels } };
  if (d.service) out.service = { ...d.service };
  if (d.encryptedDns) out.encryptedDns = d.encryptedDns;
  return out;
}

/** Fields to merge into OCSF dst_endpoint, and what goes in unmapped.dst. */
export function ocsfDestination(d: DestinationView): { endpoint: Record<string, unknown>; unmapped: Record<string, unknown> } {
  const endpoint: Record<string, unknown> = {};
  if (d.name) {
    endpoint.hostname = d.name.name;
    endpoint.domain = domainOf(d.name.name);
  }
  if (d.service) endpoint.svc_name = `${d.service.name}.${d.service.namespace}`;
  if (d.scope) {
    const id = SCOPE_ID[d.scope];
    endpoint.network_scope_id = id;
    endpoint.network_scope = SCOPE_CAPTION[id];
  }
  return { endpoint, unmapped: extras(d) };
}

/** Fields to merge into ECS `destination`, and `podtrail.destination`. */
export function ecsDestination(d: DestinationView): { destination: Record<string, unknown>; podtrail: Record<string, unknown> } {
  return { destination: d.name ? { domain: d.name.name } : {}, podtrail: extras(d) };
}

/** CEF extension pairs for the destination. */
export function cefDestination(d: DestinationView): Array<[string, string]> {
  return d.name ? [['dhost', d.name.name]] : [];
}
