// SPDX-License-Identifier: Apache-2.0
// Ingress, when asked for (--ingress): podtrail records only outbound connects, so a workload's
// ingress is what the other workloads of the window were seen sending to it. Who connects from
// outside the cluster, or from a node podtrail does not run on, is never seen, and the header
// says that enforcing the rule blocks them.
import type { Inventory, InventoryWorkload } from '../inventory/model.js';
import { workloadTitle } from '../inventory/render.js';
import { stableLabels } from './labels.js';
import type { Port } from './plan.js';

export interface IngressFrom { namespace: string; labels: Record<string, string>; ports: Port[]; why: string[] }

export interface IngressPlan { from: IngressFrom[]; notCovered: string[] }

export function ingressFor(inv: Inventory, target: InventoryWorkload): IngressPlan {
  const plan: IngressPlan = { from: [], notCovered: [] };
  const byKey = new Map<string, IngressFrom>();
  for (const src of inv.workloads) {
    for (const d of src.destinations) {
      if (d.change === 'gone' || !d.peer) continue;
      if (d.peer.namespace !== target.namespace || d.peer.kind !== target.kind || d.peer.name !== target.name) continue;
      const why = `from ${workloadTitle(src)} to ${d.port}/${d.protocol}: ${d.connections} conns, last ${d.lastSeen}`;
      const { labels } = stableLabels(src.kind, src.labels);
      if (!src.namespace || Object.keys(labels).length === 0) {
        plan.notCovered.push(`${why} (no selectable labels: not in the ingress rule)`);
        continue;
      }
      const k = `${src.namespace}\u0000${JSON.stringify(labels)}`;
      let f = byKey.get(k);
      if (!f) byKey.set(k, (f = { namespace: src.namespace, labels, ports: [], why: [] }));
      if (!f.ports.some((p) => p.port === d.port && p.protocol === d.protocol)) f.ports.push({ port: d.port, protocol: d.protocol });
      f.why.push(why);
    }
  }
  plan.from = [...byKey.values()];
  for (const f of plan.from) f.ports.sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : 1));
  return plan;
}

export const INGRESS_HEADER = [
  'Ingress (asked for with --ingress) is built from what other workloads in this window were seen sending here: podtrail',
  'records outbound connects only, so clients outside the cluster, on nodes without podtrail, or quiet in the window',
  'are not in it and are blocked once it is enforced.',
];
