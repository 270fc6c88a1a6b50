// SPDX-License-Identifier: Apache-2.0
// The advice as one YAML stream: a header comment for the run (window, what was skipped and
// why), then per workload a NetworkPolicy and/or a CiliumNetworkPolicy, each with its own
// honesty header. An inventory with nothing to write says so instead of printing nothing.
import type { Inventory } from '../inventory/model.js';

import { ciliumNetworkPolicy } from './cilium.js';
import { networkPolicy } from './kubernetes.js';
import { ingressFor, INGRESS_HEADER } from './ingress.js';
import { honestyHeader, planFor } from './plan.js';
import { commentLines, yamlDocument } from './yaml.js';

export const FLAVOURS = ['kubernetes', 'cilium', 'both'] as const;
export type Flavour = (typeof FLAVOURS)[number];

export interface Advice { yaml: string; policies: object[]; skipped: string[] }

export function advise(inv: Inventory, flavour: Flavour, opts: { ingress?: boolean } = {}): Advice {
  const plans = inv.workloads.map((w) => planFor(inv, w));
  const skipped = plans.filter((p) => p.skipped).map((p) => p.skipped as string);
  const head = [
    'podtrail advise networkpolicy: one egress policy per workload, from what the audit records show.',
    ...inv.summary.notes,
    ...(skipped.length ? ['No policy for:', ...skipped.map((s) => `  - ${s}`)] : []),
  ];
  const docs: string[] = [];
  const policies: object[] = [];
  for (const plan of plans) {
    if (plan.skipped) continue;
    const ingress = opts.ingress ? ingressFor(inv, plan.workload) : undefined;
    const extra = ingress ? [...INGRESS_HEADER, ...(ingress.notCovered.length ? ['Ingress seen but not covered:', ...ingress.notCovered.map((n) => `  - ${n}`)] : [])] : [];
    const what = ingress ? 'ingress and egress' : 'egress';
    if (flavour !== 'cilium') {
      const p = networkPolicy(plan, ingress);
      policies.push(p);
      docs.push(yamlDocument([...honestyHeader(inv, plan, `Kubernetes NetworkPolicy (${what})`), ...extra], p));
    }
    if (flavour !== 'kubernetes') {
      const p = ciliumNetworkPolicy(plan, ingress);
      policies.push(p);
      docs.push(yamlDocument([...honestyHeader(inv, plan, `CiliumNetworkPolicy (${what}, toFQDNs where names were seen)`), ...extra], p));
    }
  }
  if (docs.length === 0) head.push(inv.workloads.length ? 'No workload in the window could get a policy (see above).' : 'No workload to write a policy for in this window.');
  return { yaml: `${commentLines(head, '').join('\n')}\n${docs.join('')}`, policies, skipped };
}

