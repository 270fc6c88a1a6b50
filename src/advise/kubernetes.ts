// SPDX-License-Identifier: Apache-2.0
// A plan as a Kubernetes NetworkPolicy (networking.k8s.io/v1), egress only.
import { createHash } from 'node:crypto';
import { COMMENT, type Commented } from './yaml.js';
import { policyName } from './labels.js';
import type { IngressPlan } from './ingress.js';
import type { Plan, Port } from './plan.js';

const NS_LABEL = 'kubernetes.io/metadata.name';

const ports = (ps: Port[]) => ps.map((p) => ({ protocol: p.protocol, port: p.port }));

/** metadata.name from the workload; a hash keeps two names apart that sanitising made equal. */
export function nameFor(prefix: string, plan: Plan): string {
  const w = plan.workload;
  const base = policyName([prefix, w.kind, w.name]);
  const exact = `${prefix}-${w.kind}-${w.name}`.toLowerCase();
  return base === exact ? base : `${base.slice(0, 230)}-${createHash('sha256').update(`${w.kind}/${w.name}`).digest('hex').slice(0, 8)}`;
}

export function networkPolicy(plan: Plan, ingress?: IngressPlan): object {
  const w = plan.workload;
  const egress = plan.allows.filter((a) => a.type !== 'fqdn').map((a) => {
    const rule: Record<string, unknown> & Commented = a.type === 'peer'
      ? { to: [{ namespaceSelector: { matchLabels: { [NS_LABEL]: a.namespace } }, podSelector: { matchLabels: a.labels } }], ports: ports(a.ports) }
      : { to: a.cidrs.map((cidr) => ({ ipBlock: { cidr } })), ports: ports(a.ports) };
    rule[COMMENT] = a.why;
    return rule;
  });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: nameFor('podtrail-egress', plan),
      namespace: w.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'podtrail' },
    },
    spec: {
      podSelector: { matchLabels: plan.selector },
      policyTypes: ingress ? ['Ingress', 'Egress'] : ['Egress'],
      ...(ingress ? {
        ingress: ingress.from.map((f) => {
          const rule: Record<string, unknown> & Commented = { from: [{ namespaceSelector: { matchLabels: { [NS_LABEL]: f.namespace } }, podSelector: { matchLabels: f.labels } }], ports: ports(f.ports) };
          rule[COMMENT] = f.why;
          return rule;
        }),
      } : {}),
      egress,
    },
  };
}
