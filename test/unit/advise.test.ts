// SPDX-License-Identifier: Apache-2.0
// podtrail advise networkpolicy's logic on inventories built from records: selectors without
// controller hashes, the DNS rule from the resolver seen, names in comments, the honesty header,
// Cilium's toFQDNs, and hostile names. Schema validation of the output is in
// test/integration/advise.test.ts (kubernetes-validate and Cilium's CRD schema).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { advise } from '../../src/advise/render.js';
import { fqdnSelectors } from '../../src/advise/cilium.js';
import { stableLabels } from '../../src/advise/labels.js';
import { Aggregator } from '../../src/inventory/aggregate.js';
import { parseCidr } from '../../src/inventory/ip.js';
import type { Inventory } from '../../src/inventory/model.js';
import type { AuditRecord } from '../../src/schema/types.js';
import { hostRec, lossRec, rec } from '../helpers/inventory-records.js';

const kubeDns = { ns: 'kube-system', kind: 'Deployment', wl: 'coredns', labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '5d78c9869d' }, ips: ['10.244.0.10'] };
const pg = { ns: 'data', kind: 'StatefulSet', wl: 'pg', pod: 'pg-0', labels: { app: 'pg', 'controller-revision-hash': 'pg-5d8', 'statefulset.kubernetes.io/pod-name': 'pg-0', 'apps.kubernetes.io/pod-index': '0' }, ips: ['10.244.1.20'] };
const ds = { ns: 'ops', kind: 'DaemonSet', wl: 'agent', labels: { name: 'agent', 'controller-revision-hash': '6c4', 'pod-template-generation': '3' } };

function inventory(records: AuditRecord[], hints = { serviceCidrs: [parseCidr('10.96.0.0/12')!], podCidrs: [], apiServers: [], dnsIps: [] }): Inventory {
  const a = new Aggregator({ hints });
  for (const r of records) a.addRecord(r);
  return a.finish({ since: '2026-11-01T00:00:00.000000000Z', until: '2026-12-01T00:00:00.000000000Z' }, null, { namespaces: [], workloads: [], selector: null });
}

type Pol = Record<string, any>;
/** the policy as JSON sees it (the YAML comments ride on a symbol) */
const j = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;
const find = (ps: object[], kind: string, name: string) => ps.find((p: Pol) => p.kind === kind && p.metadata.name === name) as Pol;

describe('NetworkPolicy', () => {
  const inv = inventory([
    rec({}, '10.244.1.20', 5432), rec(pg, '1.2.3.4', 443), rec(kubeDns, '8.8.8.8', 53, { proto: 'UDP' }),
    rec({}, '10.244.0.10', 53, { proto: 'UDP' }), rec({}, '169.254.169.254', 80), rec({}, '93.184.216.34', 443),
    rec({}, '10.96.0.1', 443), rec({}, '10.96.40.4', 8080), rec({}, '127.0.0.1', 9000),
    rec(ds, '169.254.20.10', 53, { proto: 'UDP' }), rec(ds, '10.96.0.10', 53, { proto: 'UDP' }),
    hostRec('node-b', '172.18.0.2', '1.1.1.1', 443), rec(ds, '172.18.0.2', 10250),
  ]);
  const out = advise(inv, 'kubernetes');
  const web = find(out.policies, 'NetworkPolicy', 'podtrail-egress-deployment-web');

  test('one egress policy per workload with pods; hosts are named as skipped', () => {
    assert.deepEqual(out.policies.map((p: Pol) => `${p.metadata.namespace}/${p.metadata.name}`).sort(),
      ['data/podtrail-egress-statefulset-pg', 'kube-system/podtrail-egress-deployment-coredns', 'ops/podtrail-egress-daemonset-agent', 'shop/podtrail-egress-deployment-web']);
    assert.deepEqual(web.spec.policyTypes, ['Egress']);
    assert.match(out.skipped.join('\n'), /\/Host\/node-b: not a pod of a namespace/);
  });

  test('selectors never use pod-template-hash, controller-revision-hash or pod-template-generation', () => {
    const text = JSON.stringify(out.policies);
    for (const l of ['pod-template-hash', 'controller-revision-hash', 'pod-template-generation', 'statefulset.kubernetes.io/pod-name', 'apps.kubernetes.io/pod-index']) assert.ok(!text.includes(l), l);
    assert.deepEqual(web.spec.podSelector, { matchLabels: { app: 'web' } });
    assert.deepEqual(find(out.policies, 'NetworkPolicy', 'podtrail-egress-daemonset-agent').spec.podSelector, { matchLabels: { name: 'agent' } });
  });

  test('an in-cluster peer is a namespaceSelector plus podSelector on its stable labels', () => {
    const rule = web.spec.egress.find((r: Pol) => r.to[0].podSelector?.matchLabels?.app === 'pg');
    assert.deepEqual(j(rule), { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'data' } }, podSelector: { matchLabels: { app: 'pg' } } }], ports: [{ protocol: 'TCP', port: 5432 }] });
  });

  test('DNS is allowed to the resolver each workload was seen using, on UDP and TCP', () => {
    const dns = web.spec.egress.find((r: Pol) => r.to[0].podSelector?.matchLabels?.['k8s-app'] === 'kube-dns');
    assert.deepEqual(dns.ports, [{ protocol: 'TCP', port: 53 }, { protocol: 'UDP', port: 53 }]);
    assert.deepEqual(dns.to[0].namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } });
    // NodeLocal DNS and the DNS service address for the agent: the addresses, plus the resolver pods behind the service
    const agent = find(out.policies, 'NetworkPolicy', 'podtrail-egress-daemonset-agent');
    const blocks = agent.spec.egress.flatMap((r: Pol) => r.to.map((t: Pol) => t.ipBlock?.cidr)).filter(Boolean);
    assert.ok(blocks.includes('169.254.20.10/32') && blocks.includes('10.96.0.10/32'), blocks.join());
    assert.ok(agent.spec.egress.some((r: Pol) => r.to[0].podSelector?.matchLabels?.['k8s-app'] === 'kube-dns'), 'the kube-dns pods seen answering, behind the service address');
    assert.match(out.yaml, /# DNS: built from the resolver\(s\) seen: kube-system\/Deployment\/coredns 10\.244\.0\.10\./);
  });

  test('the API server, cloud metadata and public addresses are ipBlocks with what they were in a comment', () => {
    const blocks = web.spec.egress.flatMap((r: Pol) => r.to.map((t: Pol) => t.ipBlock?.cidr)).filter(Boolean).sort();
    assert.deepEqual(blocks, ['10.96.0.1/32', '169.254.169.254/32', '93.184.216.34/32']);
    assert.match(out.yaml, /# kube-apiserver 10\.96\.0\.1 443\/TCP: 1 conns.*kubectl get endpoints kubernetes/);
    assert.match(out.yaml, /# cloud-metadata 169\.254\.169\.254 80\/TCP: .*node credentials/);
  });

  test('the header is honest: a quiet window is not a denial, audit mode first, what was not covered', () => {
    assert.match(out.yaml, /A quiet window is not a denial/);
    assert.match(out.yaml, /Roll it out in audit mode first/);
    assert.match(out.yaml, /Seen but not covered:\n#   - in-cluster-service 10\.96\.40\.4 8080\/TCP.*NetworkPolicy sees the backend pods after DNAT/);
    assert.match(out.yaml, /loopback 127\.0\.0\.1 9000\/TCP.*no rule needed/);
  });

  test('LOSS in the window is in every header; two runs print the same bytes', () => {
    const recs = [rec({}, '1.1.1.1', 443), lossRec(4n)];
    const a = advise(inventory(recs), 'both').yaml;
    assert.match(a, /at least 4 connection\(s\) were not recorded/);
    assert.equal(advise(inventory([...recs].reverse()), 'both').yaml, a);
  });
});

describe('--ingress', () => {
  test('a workload\'s ingress is the other workloads seen connecting to it, by selector and port; the header says what it cannot see', () => {
    const inv = inventory([rec({}, '10.244.1.20', 5432), rec({ wl: 'api', labels: { app: 'api' } }, '10.244.1.20', 5432), rec(pg, '1.2.3.4', 443), hostRec('node-b', '172.18.0.2', '10.244.1.20', 5432)]);
    const out = advise(inv, 'both', { ingress: true });
    const np = find(out.policies, 'NetworkPolicy', 'podtrail-egress-statefulset-pg');
    assert.deepEqual(np.spec.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(j(np.spec.ingress), [
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } }, podSelector: { matchLabels: { app: 'api' } } }], ports: [{ protocol: 'TCP', port: 5432 }] },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } }, podSelector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'TCP', port: 5432 }] },
    ]);
    const cnp = find(out.policies, 'CiliumNetworkPolicy', 'podtrail-egress-statefulset-pg');
    assert.deepEqual(j(cnp.spec.ingress[1]), { fromEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'shop', app: 'web' } }], toPorts: [{ ports: [{ port: '5432', protocol: 'TCP' }] }] });
    assert.match(out.yaml, /clients outside the cluster, on nodes without podtrail, or quiet in the window/);
    assert.match(out.yaml, /from \(no namespace\)\/Host\/node-b to 5432\/TCP.*no selectable labels/);
    assert.equal(find(advise(inv, 'kubernetes').policies, 'NetworkPolicy', 'podtrail-egress-statefulset-pg').spec.ingress, undefined, 'egress only unless asked');
  });
});

describe('CiliumNetworkPolicy', () => {
  const named = (ip: string, name: string) => rec({}, ip, 443, { dstExtra: { name } });
  const inv = inventory([
    named('203.0.113.1', 'a.example.com'), named('203.0.113.2', 'b.example.com'), named('198.51.100.1', 'api.other.org'),
    rec({}, '93.184.216.34', 443), rec({}, '10.244.0.10', 53, { proto: 'UDP' }), rec(kubeDns, '8.8.8.8', 53, { proto: 'UDP' }), rec({}, '10.96.0.1', 443),
  ]);
  const out = advise(inv, 'cilium');
  const web = find(out.policies, 'CiliumNetworkPolicy', 'podtrail-egress-deployment-web');

  test('toFQDNs with matchPattern where names share a parent, matchName otherwise; unnamed addresses stay toCIDR', () => {
    const f = web.spec.egress.find((r: Pol) => r.toFQDNs);
    assert.deepEqual(f.toFQDNs, [{ matchPattern: '*.example.com' }, { matchName: 'api.other.org' }]);
    assert.deepEqual(f.toPorts, [{ ports: [{ port: '443', protocol: 'TCP' }] }]);
    const cidrs = web.spec.egress.filter((r: Pol) => r.toCIDR).flatMap((r: Pol) => r.toCIDR);
    assert.deepEqual(cidrs, ['93.184.216.34/32']);
  });

  test('the DNS rule goes to the resolver seen, with the L7 dns section Cilium needs for toFQDNs', () => {
    const dns = web.spec.egress.find((r: Pol) => r.toEndpoints?.[0]?.matchLabels?.['k8s-app'] === 'kube-dns');
    assert.deepEqual(j(dns), { toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system', 'k8s-app': 'kube-dns' } }], toPorts: [{ ports: [{ port: '53', protocol: 'ANY' }], rules: { dns: [{ matchPattern: '*' }] } }] });
    assert.deepEqual(web.spec.egress.find((r: Pol) => r.toEntities).toEntities, ['kube-apiserver']);
  });

  test('names Cilium would refuse are left out and said so', () => {
    const r = fqdnSelectors(['ok.example.com', 'bad name\n.example.com', 'x.y']);
    assert.deepEqual(r.refused, ['bad name\n.example.com']);
    assert.deepEqual(r.selectors, [{ matchName: 'ok.example.com' }, { matchName: 'x.y' }]);
  });
});

describe('bad input', () => {
  test('an empty window and a window with only LOSS records say so, never an empty file', () => {
    assert.match(advise(inventory([]), 'both').yaml, /no audit records[\s\S]*No workload to write a policy for/);
    assert.match(advise(inventory([lossRec(2n)]), 'kubernetes').yaml, /only LOSS records/);
  });

  test('pods with no usable labels get no policy, and the reason', () => {
    const out = advise(inventory([rec({ wl: 'bare', labels: { 'pod-template-hash': 'abc' } }, '1.1.1.1', 443)]), 'kubernetes');
    assert.equal(out.policies.length, 0);
    assert.match(out.yaml, /share no label a selector can use/);
  });

  test('hostile names and labels cannot inject YAML or reach a selector', () => {
    const evil = 'web\nkind: Secret\n# x';
    const out = advise(inventory([rec({ wl: evil, labels: { app: 'web', 'bad key!': 'x', ok: 'bad value\n' } }, '1.1.1.1', 443, { comm: evil })]), 'both');
    assert.doesNotMatch(out.yaml, /^kind: Secret/m);
    assert.equal(out.policies.length, 2);
    for (const p of out.policies as Pol[]) {
      assert.match(p.metadata.name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      assert.deepEqual(p.spec.podSelector ?? p.spec.endpointSelector, { matchLabels: { app: 'web' } });
    }
    assert.match(out.yaml, /Labels not usable in a selector \(invalid syntax\): bad key!, ok/);
    assert.deepEqual(stableLabels('Deployment', { 'a/b/c': 'x', 'example.com/tier': 'db' }).labels, { 'example.com/tier': 'db' });
  });
});
