// SPDX-License-Identifier: Apache-2.0
// The inventory's output shape: what `podtrail inventory --format json` prints, and what the
// markdown and HTML renderers and the policy advice read. Every list in it is sorted, so two
// runs over the same window print the same bytes.
import type { DestClass } from './destination.js';
import type { WorkloadRef } from './conn.js';

export type Change = 'new' | 'gone' | 'kept';

export interface InventoryDestination {
  class: DestClass;
  /** how the class was decided: record (its dst fields), range, window (pods/nodes seen), hint (flags) */
  basis: string;
  names: string[];
  cnames: string[];
  peer: (WorkloadRef & { labels: Record<string, string> }) | null;
  service: { namespace: string; name: string } | null;
  node: string | null;
  resolver: boolean;
  ips: string[];
  /** more addresses than listed (the list is bounded) */
  ipsMore: number;
  cidrs: string[];
  /** a CIDR covers addresses not seen, because many addresses of one name shared it */
  cidrsWidened: boolean;
  port: number;
  protocol: string;
  connections: number;
  failures: number;
  pods: number;
  /** the pod count stopped at its bound */
  podsAtLeast: boolean;
  executables: string[];
  executablesMore: number;
  firstSeen: string | null;
  lastSeen: string | null;
  /** only with --compare-since */
  change?: Change;
}

export interface InventoryWorkload extends WorkloadRef {
  /** not in the records yet: always null (docs/inventory.md) */
  serviceAccount: string | null;
  nodes: string[];
  images: string[];
  /** labels every pod of the workload carried */
  labels: Record<string, string>;
  pods: number;
  connections: number;
  failures: number;
  /** connections to destinations past --max-destinations, counted but not listed */
  unlistedConnections: number;
  destinations: InventoryDestination[];
}

export interface InventorySummary {
  window: { since: string | null; until: string | null };
  compareWindow: { since: string; until: string } | null;
  filters: { namespaces: string[]; workloads: string[]; selector: string | null };
  records: number;
  connections: number;
  matched: number;
  undecodable: number;
  loss: { records: number; missedConnections: number; openEnded: number; causes: Record<string, number> };
  destinationLimit: number;
  limitReached: boolean;
  /** plain sentences: an empty window, only LOSS records, a filter matching nothing */
  notes: string[];
}

export interface Inventory {
  version: 1;
  summary: InventorySummary;
  workloads: InventoryWorkload[];
}
