// SPDX-License-Identifier: Apache-2.0
// podtrail advise networkpolicy against the real broker, its output checked against the
// schemas: NetworkPolicy with kubernetes-validate --strict (the oldest and newest Kubernetes
// the deploy tests claim), CiliumNetworkPolicy with Cilium's CRD schema through ajv. The audit
// topic is written with the real codec in a Kafka transaction, as enrich writes it. Records do
// not carry dst.name yet (the destinations issue), so toFQDNs output is made from an inventory
// with names in this process and checked against the same schema.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { advise } from '../../src/advise/render.js';
import { Aggregator } from '../../src/inventory/aggregate.js';
import { codec } from '../../src/schema/codec.js';
import type { AuditRecord } from '../../src/schema/types.js';
import { runCli } from '../helpers/cli.js';
import { ciliumValidator } from '../helpers/cilium-schema.js';
import { ensureValidatorVenv, kubernetesValidate, skipUnlessCi, yamlDocs } from '../helpers/deploy-tools.js';
import { rec } from '../helpers/inventory-records.js';
import { BROKERS, createTopics, deleteTopics, requireBroker, uniqueTopic } from '../helpers/kafka.js';

const VERSIONS = ['1.30.0', '1.37.0'];
const missing = ensureValidatorVenv();
const NOW = BigInt(Date.now()) * 1_000_000n;

const kubeDns = { ns: 'kube-system', kind: 'Deployment', wl: 'coredns', labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '5d78c9869d' }, ips: ['10.244.0.10'] };
const pg = { ns: 'data', kind: 'StatefulSet', wl: 'pg', pod: 'pg-0', labels: { app: 'pg', 'controller-revision-hash': 'pg-5d8' }, ips: ['10.244.1.20'] };
const agent = { ns: 'ops', kind: 'DaemonSet', wl: 'agent', labels: { name: 'agent', 'controller-revision-hash': '6c4', 'pod-template-generation': '3' } };

function records(): AuditRecord[] {
  const at = (r: AuditRecord, i: number) => ({ ...r, time: NOW - BigInt(60 - i) * 1_000_000_000n });
  return [
    rec({}, '10.244.1.20', 5432), rec(pg, '1.2.3.4', 443), rec(kubeDns, '8.8.8.8', 53, { proto: 'UDP' }),
    rec({}, '10.244.0.10', 53, { proto: 'UDP' }), rec({}, '169.254.169.254', 80), rec({}, '93.184.216.34', 443, { status: 'REFUSED' }),
    rec({}, '2606:2800:220:1:248:1893:25c8:1946', 443), rec({}, '10.96.0.1', 443), rec({}, '10.96.40.4', 8080),
    rec(agent, '169.254.20.10', 53, { proto: 'UDP' }), rec(agent, '172.18.0.2', 10250),
  ].map(at);
}

describe('podtrail advise networkpolicy: schema-valid policies', { skip: skipUnlessCi(missing) }, () => {
  let kafka: Kafka;
  let tmp = '';
  const topic = uniqueTopic('advise-audit');
  const run = (flavour: string, ...more: string[]) => runCli(['advise', 'networkpolicy', '--flavour', flavour, ...more, '--audit-topic', topic, '--pod-addresses', 'off', '--service-cidr', '10.96.0.0/12', '--brokers', BROKERS.join(',')], { timeoutMs: 60_000 });

  before(async () => {
    if (missing) throw new Error(`kubernetes-validate venv: ${missing}`);
    tmp = mkdtempSync(path.join(tmpdir(), 'podtrail-advise-'));
    kafka = await requireBroker();
    await createTopics(kafka, [topic], 1);
    const producer = kafka.producer({ transactionalId: `advise-${randomBytes(4).toString('hex')}`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const txn = await producer.transaction();
      await txn.send({ topic, acks: -1, messages: records().map((r) => ({ key: `${r.node}/1`, value: codec().encode('AuditRecord', r) })) });
      await txn.commit();
    } finally {
      await producer.disconnect();
    }
  });
  after(async () => {
    if (kafka) await deleteTopics(kafka, [topic]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('NetworkPolicies validate against Kubernetes\' schemas (strict), one per workload', async () => {
    const r = await run('kubernetes');
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(tmp, 'np.yaml');
    writeFileSync(file, r.stdout);
    const docs = yamlDocs([file]);
    assert.deepEqual(docs.map((d) => `${d.kind} ${d.metadata.namespace}/${d.metadata.name}`).sort(), [
      'NetworkPolicy data/podtrail-egress-statefulset-pg', 'NetworkPolicy kube-system/podtrail-egress-deployment-coredns',
      'NetworkPolicy ops/podtrail-egress-daemonset-agent', 'NetworkPolicy shop/podtrail-egress-deployment-web',
    ]);
    for (const version of VERSIONS) {
      const v = kubernetesValidate([file], version);
      assert.ok(v.ok, v.output);
      assert.equal((v.output.match(/ passed for resource /g) ?? []).length, docs.length, v.output);
    }
    assert.doesNotMatch(r.stdout, /pod-template-hash|controller-revision-hash|pod-template-generation/);
    assert.match(r.stdout, /A quiet window is not a denial/);
  });

  test('with --ingress, both flavours validate too', async () => {
    const r = await run('both', '--ingress');
    assert.equal(r.code, 0, r.stderr);
    const docs = yamlDocs([], r.stdout);
    const np = docs.filter((d) => d.kind === 'NetworkPolicy');
    const file = path.join(tmp, 'np-ingress.yaml');
    writeFileSync(file, np.map((d) => JSON.stringify(d)).join('\n---\n'));
    const v = kubernetesValidate([file], VERSIONS[1]!);
    assert.ok(v.ok, v.output);
    const pg = np.find((d) => d.metadata.name === 'podtrail-egress-statefulset-pg');
    assert.deepEqual(pg.spec.policyTypes, ['Ingress', 'Egress']);
    assert.equal(pg.spec.ingress[0].from[0].podSelector.matchLabels.app, 'web');
    const validate = ciliumValidator();
    for (const d of docs.filter((x) => x.kind === 'CiliumNetworkPolicy')) assert.ok(validate(d), `${d.metadata.name}: ${JSON.stringify(validate.errors)}`);
  });

  test('the validator catches a broken NetworkPolicy (the check can fail)', async () => {
    const r = await run('kubernetes');
    const file = path.join(tmp, 'bad.yaml');
    writeFileSync(file, r.stdout.replace('policyTypes:', 'policyType:'));
    const v = kubernetesValidate([file], VERSIONS[1]!);
    assert.equal(v.ok, false, v.output);
    assert.match(v.output, /'policyType' was unexpected/);
  });

  test('CiliumNetworkPolicies validate against Cilium\'s CRD schema, with and without names', async () => {
    const validate = ciliumValidator();
    const r = await run('cilium');
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(tmp, 'cnp.yaml');
    writeFileSync(file, r.stdout);
    const docs = yamlDocs([file]);
    assert.equal(docs.length, 4);
    for (const d of docs) assert.ok(validate(d), `${d.metadata.name}: ${JSON.stringify(validate.errors)}`);
    assert.ok(docs.some((d) => JSON.stringify(d).includes('"toEntities":["kube-apiserver"]')));
    // Names: records of the destinations issue, made here; the YAML goes through the same parser.
    const a = new Aggregator();
    for (const x of [['203.0.113.1', 'a.example.com'], ['203.0.113.2', 'b.example.com'], ['198.51.100.1', 'api.other.org']]) a.addRecord(rec({}, x[0]!, 443, { dstExtra: { name: x[1] } }));
    a.addRecord(rec({}, '10.244.0.10', 53, { proto: 'UDP' }));
    a.addRecord(rec(kubeDns, '8.8.8.8', 53, { proto: 'UDP' }));
    const named = advise(a.finish({ since: null, until: null }, null, { namespaces: [], workloads: [], selector: null }), 'cilium');
    const ndocs = yamlDocs([], named.yaml);
    const web = ndocs.find((d) => d.metadata.name === 'podtrail-egress-deployment-web');
    assert.deepEqual(web.spec.egress.find((e: any) => e.toFQDNs).toFQDNs, [{ matchPattern: '*.example.com' }, { matchName: 'api.other.org' }]);
    for (const d of ndocs) assert.ok(validate(d), `${d.metadata.name}: ${JSON.stringify(validate.errors)}`);
    // and the schema refuses what Cilium would refuse
    const bad = structuredClone(web);
    bad.spec.egress[0].toPorts[0].ports[0].protocol = 'SCTPX';
    assert.equal(validate(bad), false);
  });
});
