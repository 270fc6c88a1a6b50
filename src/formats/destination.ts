// SPDX-License-Identifier: Apache-2.0
// Where a connection's destination name, pod, service and scope go in each SIEM format.
//
// - OCSF: dst_endpoint.hostname is the name the pod resolved (the fully qualified name the
//   connection was made for), dst_endpoint.domain that name without its host label (or the
//   name itself when it has fewer than three labels), svc_name "<svc>.<ns>" for a cluster
//   service, network_scope_id Internal (pod, service, node, loopback) or External. The
//   destination pod, the CNAME chain and the name's trust go in unmapped.dst, as in the JSON form.
// - ECS: destination.domain is the name; the rest under podtrail.destination.
// - CEF: dhost is the name (the other custom strings are taken by the source pod).
// - A name is never invented: no resolved name, no hostname/domain/dhost. Names pass through
//   safeDnsName (src/schema/dns-text.ts): a forged record cannot smuggle bytes into a format.
import type { DestinationScope, Endpoint, PeerPod, PeerService, ResolvedName } from '../schema/types.js';
import { isoNanos } from '../schema/json-form.js';
import { safeDnsName } from '../schema/dns-text.js';

export interface DestinationView {
  name: ResolvedName | null;
  scope: DestinationScope | null;
  pod: PeerPod | null;
  service: PeerService | null;
  encryptedDns: boolean;
}

export const NO_DESTINATION: DestinationView = { name: null, scope: null, pod: null, service: null, encryptedDns: false };

/** What a record says of its destination (null dst: a LOSS record). */
export function destinationView(dst: Endpoint | null, encryptedDns: boolean): DestinationView {
  if (!dst) return NO_DESTINATION;
  return { name: dst.name, scope: dst.scope, pod: dst.pod, service: dst.service, encryptedDns };
}

const SCOPE_ID: Record<DestinationScope, 1 | 2> = { pod: 1, service: 1, node: 1, loopback: 1, external: 2 };
const SCOPE_CAPTION = { 1: 'Internal', 2: 'External' } as const;

/** "api.eu.example.com" -> "eu.example.com"; names of one or two labels are their own domain. */
export function domainOf(name: string): string {
  const labels = name.split('.');
  return labels.length >= 3 ? labels.slice(1).join('.') : name;
}

/** The JSON-form object for the name (also what OCSF unmapped and ECS podtrail.* carry). */
export function nameJson(n: ResolvedName): Record<string, unknown> {
  return { name: safeDnsName(n.name), cnames: n.cnames.map(safeDnsName), answeredAt: isoNanos(n.answeredAt), ttl: n.ttl, server: n.server, trust: n.trust };
}

function extras(d: DestinationView): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (d.scope) out.scope = d.scope;
  if (d.name) out.name = nameJson(d.name);
  if (d.pod) out.pod = { name: d.pod.name, namespace: d.pod.namespace, uid: d.pod.uid, workload: d.pod.workload ? { ...d.pod.workload } : null, labels: { ...d.pod.labels } };
  if (d.service) out.service = { ...d.service };
  if (d.encryptedDns) out.encryptedDns = true;
  return out;
}

/** Fields to merge into OCSF dst_endpoint, and what goes in unmapped.dst. */
export function ocsfDestination(d: DestinationView): { endpoint: Record<string, unknown>; unmapped: Record<string, unknown> } {
  const endpoint: Record<string, unknown> = {};
  if (d.name) {
    const name = safeDnsName(d.name.name);
    endpoint.hostname = name;
    endpoint.domain = domainOf(name);
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
  return { destination: d.name ? { domain: safeDnsName(d.name.name) } : {}, podtrail: extras(d) };
}

/** CEF extension pairs for the destination. */
export function cefDestination(d: DestinationView): Array<[string, string]> {
  return d.name ? [['dhost', safeDnsName(d.name.name)]] : [];
}
