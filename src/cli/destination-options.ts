// SPDX-License-Identifier: Apache-2.0
// The destination join's options, shared by enrich and replay (both read the containers topic):
// what the records cannot say about the cluster (its DNS domains, service and node ranges).
import { parseCidr } from '../enrich/cidr.js';
import { DESTINATION_DEFAULTS, DestinationIndex } from '../enrich/destination.js';
import { DestinationJoin } from '../enrich/dst-join.js';
import type { MetaTable } from '../enrich/meta-table.js';
import type { Codec } from '../schema/codec.js';

const cidrs = (v: string[]) => {
  for (const c of v) {
    try {
      parseCidr(c.includes('/') ? c : `${c}/${c.includes(':') ? 128 : 32}`);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return undefined;
};
const domains = (v: string[]) => v.find((d) => !/^\.?[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.?$/i.test(d)) && `not a DNS domain: ${JSON.stringify(v.find((d) => !/^\.?[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.?$/i.test(d)))}`;

export const DESTINATION_OPTIONS = {
  destinations: { type: 'enum', choices: ['on', 'off'], default: 'on', env: 'PODTRAIL_DESTINATIONS', desc: 'name the pod, service and scope on the other end of each connect (dst.pod, dst.service, dst.scope) from the containers topic' },
  'cluster-domain': { type: 'list', arg: 'DOMAIN', default: DESTINATION_DEFAULTS.clusterDomains, env: 'PODTRAIL_CLUSTER_DOMAIN', desc: 'cluster DNS domain(s): <svc>.<ns>.svc.<domain> names a service', check: domains },
  'service-cidr': { type: 'list', arg: 'CIDR', env: 'PODTRAIL_SERVICE_CIDR', desc: "the cluster's service range(s): addresses there are scope service", check: cidrs },
  'node-cidr': { type: 'list', arg: 'CIDR', env: 'PODTRAIL_NODE_CIDR', desc: 'node addresses or ranges (besides those hostNetwork pods report): scope node', check: cidrs },
} as const;

/**
 * The join, fed by the table with every ContainerMeta version it reads (call before the table
 * starts). Undefined when off; without the containers topic there is nothing to join from, so
 * callers leave dst.pod/service/scope null rather than call every pod address external.
 */
export function destinationJoin(v: { destinations?: string | undefined; 'cluster-domain': string[]; 'service-cidr': string[]; 'node-cidr': string[] }, codec: Codec, table: MetaTable | undefined): DestinationJoin | undefined {
  if (v.destinations !== 'on' || !table) return undefined;
  const index = new DestinationIndex({ clusterDomains: v['cluster-domain'], serviceCidrs: v['service-cidr'], nodeCidrs: v['node-cidr'] });
  table.onRecord((rec) => index.add(rec));
  return new DestinationJoin(codec, index);
}
