// SPDX-License-Identifier: Apache-2.0
// A plan as a CiliumNetworkPolicy (cilium.io/v2): toFQDNs for named destinations (matchName,
// and matchPattern where several names sit directly under one parent domain), with the DNS
// rule Cilium needs to learn those names: its DNS proxy must see the lookups, so the rule to
// the resolver carries an L7 `dns` section. Entities for the API server and nodes.
import { COMMENT, type Commented } from './yaml.js';
import { nameFor } from './kubernetes.js';
import type { IngressPlan } from './ingress.js';
import type { Allow, Plan, Port } from './plan.js';

const NS_LABEL = 'k8s:io.kubernetes.pod.namespace';
// Cilium's own pattern for matchName (its CRD schema).
const FQDN = /^([-a-zA-Z0-9_]+[.]?)+$/;

const toPorts = (ps: Port[], dns: boolean) => {
  // DNS on UDP and TCP becomes one ANY port, as Cilium's examples write it.
  const isDns = dns && ps.some((p) => p.port === 53);
  const list = isDns ? [{ port: '53', protocol: 'ANY' }, ...ps.filter((p) => p.port !== 53).map((p) => ({ port: String(p.port), protocol: p.protocol }))]
    : ps.map((p) => ({ port: String(p.port), protocol: p.protocol }));
  return [{ ports: list, ...(isDns ? { rules: { dns: [{ matchPattern: '*' }] } } : {}) }];
};

/** matchPattern `*.parent` for parents with two or more names directly under them; matchName for the rest. */
export function fqdnSelectors(names: string[]): { selectors: Array<{ matchName: string } | { matchPattern: string }>; refused: string[] } {
  const ok = names.filter((n) => FQDN.test(n));
  const refused = names.filter((n) => !FQDN.test(n));
  const byParent = new Map<string, string[]>();
  for (const n of ok) {
    const i = n.indexOf('.');
    const parent = i < 0 ? '' : n.slice(i + 1);
    if (parent.includes('.')) byParent.set(parent, [...(byParent.get(parent) ?? []), n]);
  }
  const patterns = [...byParent].filter(([, ns]) => ns.length >= 2).map(([p]) => p).sort();
  const covered = new Set(patterns.flatMap((p) => byParent.get(p) ?? []));
  return {
    selectors: [...patterns.map((p) => ({ matchPattern: `*.${p}` })), ...ok.filter((n) => !covered.has(n)).sort().map((n) => ({ matchName: n }))],
    refused,
  };
}

function rule(a: Allow): (Record<string, unknown> & Commented) | undefined {
  let r: Record<string, unknown> & Commented;
  switch (a.type) {
    case 'peer':
      r = { toEndpoints: [{ matchLabels: { [NS_LABEL]: a.namespace, ...a.labels } }], toPorts: toPorts(a.ports, a.dns) };
      break;
    case 'cidr':
      if (a.entity === 'kube-apiserver') r = { toEntities: ['kube-apiserver'], toPorts: toPorts(a.ports, false) };
      else if (a.entity === 'node') r = { toEntities: ['host', 'remote-node'], toPorts: toPorts(a.ports, false) };
      else r = { toCIDR: a.cidrs, toPorts: toPorts(a.ports, a.dns) };
      break;
    case 'fqdn': {
      const { selectors, refused } = fqdnSelectors(a.names);
      if (!selectors.length) return undefined;
      r = { toFQDNs: selectors, toPorts: toPorts(a.ports, false) };
      r[COMMENT] = [...a.why, ...refused.map((n) => `not a DNS name Cilium accepts, left out: ${n}`)];
      return r;
    }
  }
  r[COMMENT] = a.why;
  return r;
}

export function ciliumNetworkPolicy(plan: Plan, ingress?: IngressPlan): object {
  const w = plan.workload;
  // Named destinations are allowed by toFQDNs instead of their addresses: Cilium follows the
  // answers, so addresses that rotate stay allowed. Unnamed addresses keep their blocks.
  const allows = plan.allows.filter((a) => !(a.type === 'cidr' && a.named && fqdnSelectors(plan.allows.filter((f) => f.type === 'fqdn').flatMap((f) => f.names)).refused.length === 0));
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: nameFor('podtrail-egress', plan), namespace: w.namespace, labels: { 'app.kubernetes.io/managed-by': 'podtrail' } },
    spec: {
      description: `egress of ${w.namespace}/${w.kind}/${w.name} as podtrail saw it; see the header comment`,
      endpointSelector: { matchLabels: plan.selector },
      ...(ingress ? {
        ingress: ingress.from.map((f) => {
          const r: Record<string, unknown> & Commented = { fromEndpoints: [{ matchLabels: { [NS_LABEL]: f.namespace, ...f.labels } }], toPorts: toPorts(f.ports, false) };
          r[COMMENT] = f.why;
          return r;
        }),
      } : {}),
      egress: allows.map(rule).filter((r): r is Record<string, unknown> => r !== undefined),
    },
  };
}
