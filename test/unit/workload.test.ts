// SPDX-License-Identifier: Apache-2.0
// pod.workload from the controllers' labels and the pod name: each kind from names built the
// way the controllers build them (examples and properties), the limits (truncated names, a
// ReplicaSet with no Deployment, labels that do not add up), and hostile input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { inferWorkload, type Workload } from '../../src/runtime/workload.js';

const RAND = 'bcdfghjklmnpqrstvwxz2456789';
const randStr = (n: number) => fc.string({ unit: fc.constantFrom(...RAND), minLength: n, maxLength: n });
// DNS-1123 labels of a bounded length.
const dnsLabel = (max: number) =>
  fc.tuple(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'), maxLength: Math.max(0, max - 2) }), fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'))
    .map(([a, mid, z]) => (max === 1 ? a : `${a}${mid}${z}`))
    .filter((s) => s.length <= max);

/** The API server's generateName: the base cut to 58 characters, then 5 random ones. */
function generated(base: string, random: string): string {
  return `${base.slice(0, 58)}${random}`;
}

const ok = (kind: Workload['kind'], name: string) => ({ workload: { kind, name } });

test('examples: one per kind, labels as the controllers set them', () => {
  assert.deepEqual(inferWorkload('web-7c5ddbdf54-x2x7k', { app: 'web', 'pod-template-hash': '7c5ddbdf54' }), ok('Deployment', 'web'));
  assert.deepEqual(
    inferWorkload('coredns-5d78c9869d-8gkqz', { 'k8s-app': 'kube-dns', 'pod-template-hash': '5d78c9869d' }),
    ok('Deployment', 'coredns'),
  );
  assert.deepEqual(
    inferWorkload('db-2', { 'controller-revision-hash': 'db-6f8b7c9d4', 'statefulset.kubernetes.io/pod-name': 'db-2', 'apps.kubernetes.io/pod-index': '2' }),
    ok('StatefulSet', 'db'),
  );
  assert.deepEqual(
    inferWorkload('kube-proxy-7xqvd', { 'controller-revision-hash': '6b8d9c7f5', 'k8s-app': 'kube-proxy', 'pod-template-generation': '1' }),
    ok('DaemonSet', 'kube-proxy'),
  );
  const jobLabels = (name: string) => ({
    'batch.kubernetes.io/controller-uid': '1f0d5c3a-2b4e-4c6d-8e9f-0a1b2c3d4e5f',
    'batch.kubernetes.io/job-name': name,
    'controller-uid': '1f0d5c3a-2b4e-4c6d-8e9f-0a1b2c3d4e5f',
    'job-name': name,
  });
  assert.deepEqual(inferWorkload('migrate-schema-lq8zt', jobLabels('migrate-schema')), ok('Job', 'migrate-schema'));
  // 28948930 minutes since the epoch = 2025-01-15T10:30Z, as the CronJob controller names its Jobs.
  assert.deepEqual(inferWorkload('backup-28948930-5jqbh', jobLabels('backup-28948930')), ok('CronJob', 'backup'));
  // Indexed Job pods: <job>-<index>-<random>.
  assert.deepEqual(inferWorkload('train-3-pk7vw', { ...jobLabels('train'), 'batch.kubernetes.io/job-completion-index': '3' }), ok('Job', 'train'));
  // Pre-1.27 Job pods carry only the unprefixed labels.
  assert.deepEqual(inferWorkload('once-x9k2p', { 'job-name': 'once', 'controller-uid': 'u' }), ok('Job', 'once'));
  assert.deepEqual(inferWorkload('debug', { run: 'debug' }), ok('Pod', 'debug'));
  assert.deepEqual(inferWorkload('debug', {}), ok('Pod', 'debug'));
});

test('limits: what labels and names cannot tell is reported, not guessed', () => {
  // A ReplicaSet made by hand has no pod-template-hash: its pods are bare Pods to us.
  assert.deepEqual(inferWorkload('frontend-b2zdv', { tier: 'frontend' }), ok('Pod', 'frontend-b2zdv'));
  // A Deployment name long enough that kube cut the pod name: the name is unknown.
  const longDeploy = 'a'.repeat(50);
  const pod = generated(`${longDeploy}-5d78c9869d-`, 'x2x7k');
  assert.equal(pod.length, 63);
  const r = inferWorkload(pod, { 'pod-template-hash': '5d78c9869d' });
  assert.equal(r.workload, null);
  assert.match(r.reason!, /cut to 63 characters/);
  // Labels that do not add up.
  assert.match(inferWorkload('web-x2x7k', { 'pod-template-hash': '7c5ddbdf54' }).reason!, /does not end in its pod-template-hash/);
  assert.match(inferWorkload('web-7c5ddbdf54-aeiou', { 'pod-template-hash': '7c5ddbdf54' }).reason!, /generated 5-character suffix/);
  assert.match(inferWorkload('db-2', { 'controller-revision-hash': 'other-6f8b', 'statefulset.kubernetes.io/pod-name': 'db-2' }).reason!, /does not name the StatefulSet/);
  assert.match(inferWorkload('db-2', { 'controller-revision-hash': 'db-6f8b', 'statefulset.kubernetes.io/pod-name': 'db-3' }).reason!, /names another pod/);
  assert.match(inferWorkload('db-x', { 'controller-revision-hash': 'db-6f8b', 'statefulset.kubernetes.io/pod-name': 'db-x' }).reason!, /no ordinal/);
  assert.match(inferWorkload('other-lq8zt', { 'job-name': 'migrate', 'controller-uid': 'u' }).reason!, /does not start with its job-name/);
  // job-name without controller-uid is just a label someone set.
  assert.deepEqual(inferWorkload('x-lq8zt', { 'job-name': 'x' }), ok('Pod', 'x-lq8zt'));
  // A numeric suffix outside 2015..2100 in minutes (the pre-1.21 controller used seconds) is a Job.
  assert.deepEqual(inferWorkload('old-1500000000-lq8zt', { 'job-name': 'old-1500000000', 'controller-uid': 'u' }), ok('Job', 'old-1500000000'));
  assert.deepEqual(inferWorkload('nightly-12345678-lq8zt', { 'job-name': 'nightly-12345678', 'controller-uid': 'u' }), ok('Job', 'nightly-12345678'));
});

test('hostile input: invalid names, prototype keys, huge values, never a throw', () => {
  assert.match(inferWorkload('', {}).reason!, /not a valid Kubernetes name/);
  assert.match(inferWorkload('Bad_Name', {}).reason!, /not a valid Kubernetes name/);
  assert.match(inferWorkload('x'.repeat(300), {}).reason!, /not a valid Kubernetes name/);
  const proto = JSON.parse('{"__proto__": {"pod-template-hash": "h"}}') as Record<string, string>;
  assert.deepEqual(inferWorkload('web-h-x2x7k', proto), ok('Pod', 'web-h-x2x7k'));
  // Object.prototype keys are not labels.
  assert.deepEqual(inferWorkload('web-x2x7k', {}), ok('Pod', 'web-x2x7k'));
  const huge = 'a'.repeat(1 << 20);
  assert.match(inferWorkload('w-lq8zt', { 'job-name': huge, 'controller-uid': 'u' }).reason!, /not a valid name/);
  assert.match(inferWorkload('w-7c5-x2x7k', { 'pod-template-hash': huge }).reason!, /does not end/);
});

test('property: a Deployment pod named as kube names it gives its Deployment, or null when the name was cut; never a wrong name', () => {
  fc.assert(
    fc.property(dnsLabel(63), randStr(10), randStr(5), (deploy, hash, random) => {
      const pod = generated(`${deploy}-${hash}-`, random);
      const r = inferWorkload(pod, { 'pod-template-hash': hash });
      if (deploy.length + hash.length + 2 < 58) assert.deepEqual(r, ok('Deployment', deploy));
      else assert.ok(r.workload === null || (r.workload.kind === 'Deployment' && r.workload.name === deploy), JSON.stringify(r));
    }),
    { numRuns: 2000 },
  );
});

test('property: StatefulSet, DaemonSet, Job and CronJob pods named as their controllers name them', () => {
  fc.assert(
    fc.property(dnsLabel(50), randStr(9), fc.nat({ max: 9999 }), (sts, hash, ordinal) => {
      const pod = `${sts}-${ordinal}`;
      assert.deepEqual(inferWorkload(pod, { 'controller-revision-hash': `${sts}-${hash}`, 'statefulset.kubernetes.io/pod-name': pod }), ok('StatefulSet', sts));
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(dnsLabel(63), randStr(9), randStr(5), fc.nat({ max: 99 }), (ds, hash, random, gen) => {
      const r = inferWorkload(generated(`${ds}-`, random), { 'controller-revision-hash': hash, 'pod-template-generation': String(gen) });
      if (ds.length + 1 < 58) assert.deepEqual(r, ok('DaemonSet', ds));
      else assert.ok(r.workload === null || r.workload.name === ds);
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(dnsLabel(52), fc.integer({ min: 23_667_840, max: 68_166_720 }), randStr(5), (cron, minutes, random) => {
      const job = `${cron}-${minutes}`;
      const labels = { 'batch.kubernetes.io/job-name': job, 'batch.kubernetes.io/controller-uid': 'u' };
      assert.deepEqual(inferWorkload(generated(`${job}-`, random), labels), ok('CronJob', cron));
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(dnsLabel(63).filter((j) => !/-[0-9]{8}$/.test(j)), randStr(5), (job, random) => {
      const labels = { 'job-name': job, 'controller-uid': 'u' };
      assert.deepEqual(inferWorkload(generated(`${job}-`, random), labels), ok('Job', job));
    }),
    { numRuns: 1000 },
  );
});

test('property: any name and labels: no throw, and a named workload is always part of the pod name or a label', () => {
  const key = fc.constantFrom('pod-template-hash', 'controller-revision-hash', 'statefulset.kubernetes.io/pod-name', 'pod-template-generation', 'job-name', 'batch.kubernetes.io/job-name', 'controller-uid', 'batch.kubernetes.io/controller-uid', 'app');
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 80 }), dnsLabel(63)), fc.dictionary(key, fc.oneof(fc.string({ maxLength: 70 }), dnsLabel(63))), (pod, labels) => {
      const r = inferWorkload(pod, labels);
      if (r.workload === null) {
        assert.equal(typeof r.reason, 'string');
        return;
      }
      assert.ok(r.workload.name.length > 0);
      assert.ok(pod.startsWith(r.workload.name) || Object.values(labels).some((v) => v.startsWith(r.workload!.name)), JSON.stringify({ pod, labels, r }));
    }),
    { numRuns: 5000 },
  );
});
