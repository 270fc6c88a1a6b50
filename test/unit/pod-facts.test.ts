// SPDX-License-Identifier: Apache-2.0
// The pod facts as they leave src/runtime: --pod-annotations globs, bounds on hostile label and
// annotation sets (10,000 labels, 1 MiB values) with the reason carried to the audit record and
// nothing else lost, pod IPs, the workload, and the containers-topic round trip.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { ConfigError } from '../../src/common/errors.js';
import { pino } from 'pino';
import { attribute } from '../../src/enrich/attribute.js';
import { auditFromRaw } from '../../src/enrich/audit.js';
import { planLookup } from '../../src/runtime/cgroup-path.js';
import { createResolver } from '../../src/runtime/index.js';
import { fromMetaRecord, toMetaRecord } from '../../src/runtime/meta-record.js';
import { POD_FACT_LIMITS, annotationFilter, boundMap, finishPodFacts } from '../../src/runtime/pod-facts.js';
import type { ContainerMeta } from '../../src/runtime/types.js';
import { Codec } from '../../src/schema/codec.js';
import { sampleRaw } from '../helpers/records.js';

const silent = pino({ level: 'silent' });
const FIX = new URL('../../../test/fixtures/runtime-metadata/', import.meta.url);
const fixtureJson = (name: string) => JSON.parse(readFileSync(new URL(name, FIX), 'utf8')) as Record<string, any>;
const SANDBOX = 'c82a6801e9a395532b91cae203b16cb6acdc0cf4365c4c986ea2d428b8f942d6';
const APP = '2a9b309a750b84f05d9a374717fb9bf549691d624be7680148545edee8bb161f';
const POD_UID = '35b82523-0d1e-4c62-9f3a-6a1d2c7e8b90';
const MIB = 1 << 20;
const codec = new Codec();

let base: string;
before(() => {
  base = mkdtempSync(path.join(tmpdir(), 'podtrail-podfacts-'));
});
after(() => rmSync(base, { recursive: true, force: true }));

function meta(pod: Partial<NonNullable<ContainerMeta['pod']>> = {}): ContainerMeta {
  return {
    id: APP, runtime: 'docker', name: 'app', image: 'nginx:1.27', hostname: 'h', isSandbox: false, sandboxId: SANDBOX,
    pod: { name: 'web-7d9f8b6c5d-x2k4q', namespace: 'shop', uid: POD_UID, labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' }, annotations: {}, hostNetwork: false, ...pod },
    networkMode: null, utsMode: null,
  };
}

/** A docker node whose pod sandbox carries the given extra labels (Docker labels are the pod's labels under cri-dockerd). */
function dockerNode(name: string, extraLabels: Record<string, string>, annotations: Record<string, string> = {}): string {
  const root = path.join(base, name);
  const put = (rel: string, v: unknown) => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), typeof v === 'string' ? v : JSON.stringify(v));
  };
  const sb = fixtureJson('docker/sandbox.config.v2.json');
  for (const [k, v] of Object.entries(annotations)) sb.Config.Labels[`annotation.${k}`] = v;
  Object.assign(sb.Config.Labels, extraLabels);
  const d = 'var/lib/docker/containers';
  put(`${d}/${SANDBOX}/config.v2.json`, sb);
  put(`${d}/${SANDBOX}/hostconfig.json`, fixtureJson('docker/sandbox.hostconfig.json'));
  put(`${d}/${APP}/config.v2.json`, fixtureJson('docker/app.config.v2.json'));
  put(`${d}/${APP}/hostconfig.json`, fixtureJson('docker/app.hostconfig.json'));
  return root;
}

const PATH = `/kubepods/burstable/pod${POD_UID}/${APP}`;
const NODE = { hostname: 'node-a' };

async function auditOn(root: string, podAnnotations?: string[]) {
  const resolver = createResolver({ hostRoot: root, logger: silent, ...(podAnnotations ? { podAnnotations } : {}) });
  const plan = planLookup(PATH)!;
  const resolved = await resolver.resolve(plan.containerId, plan.hint);
  const a = attribute({ cgroupPath: PATH, node: NODE, resolved });
  return { resolved, rec: auditFromRaw(sampleRaw({ cgroup: { id: 1n, path: PATH } }), a) };
}

test('annotationFilter: none by default, globs with * and ?, bad globs refused', () => {
  assert.equal(annotationFilter()('kubernetes.io/config.source'), false);
  assert.equal(annotationFilter([])('a'), false);
  const keep = annotationFilter(['kubernetes.io/*', 'team.example.com/owne?']);
  assert.equal(keep('kubernetes.io/config.source'), true);
  assert.equal(keep('team.example.com/owner'), true);
  assert.equal(keep('team.example.com/owners'), false);
  assert.equal(keep('xkubernetes.io/a'), false, 'anchored');
  assert.equal(annotationFilter(['a.b'])('aXb'), false, 'a dot is a dot');
  for (const bad of ['', 'a b', 'x{1,3}', '(a|b)', 'a'.repeat(400), 'é']) {
    assert.throws(() => annotationFilter([bad]), (e: unknown) => e instanceof ConfigError && /--pod-annotations/.test((e as Error).message), bad);
  }
});

test('the composite resolver keeps no annotation unless --pod-annotations names it', async () => {
  const root = dockerNode('annotations', {}, { 'vault.example.com/token': 's3cret' });
  const none = await auditOn(root);
  assert.deepEqual(none.rec.pod?.annotations, {});
  assert.equal(JSON.stringify(none.resolved).includes('s3cret'), false, 'the secret never leaves src/runtime');
  const some = await auditOn(root, ['kubernetes.io/config.source']);
  assert.deepEqual(some.rec.pod?.annotations, { 'kubernetes.io/config.source': 'api' });
});

test('boundMap: within limits the same object; beyond them a deterministic subset and a note', () => {
  const small = { a: '1', b: '2' };
  assert.equal(boundMap(small, POD_FACT_LIMITS.labels, 'labels').map, small);
  const many = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${String(i).padStart(5, '0')}`, 'v']));
  const b = boundMap(many, POD_FACT_LIMITS.labels, 'labels');
  assert.equal(Object.keys(b.map).length, 256);
  assert.equal(Object.keys(b.map)[0], 'k00000');
  assert.match(b.note!, /^pod labels bounded: kept 256 of 10000 \(9744 past 256 entries or 65536 bytes\)$/);
  const huge = { a: 'x'.repeat(MIB), b: 'ok', ['k'.repeat(400)]: 'v' };
  const h = boundMap(huge, POD_FACT_LIMITS.labels, 'labels');
  assert.deepEqual(h.map, { b: 'ok' });
  assert.match(h.note!, /kept 1 of 3 \(2 over 317-byte keys or 1024-byte values\)/);
  const proto = JSON.parse(`{"__proto__": "x", ${Array.from({ length: 300 }, (_, i) => `"k${i}": "v"`).join(',')}}`) as Record<string, string>;
  const p = boundMap(proto, POD_FACT_LIMITS.labels, 'labels');
  assert.equal(Object.getPrototypeOf(p.map), Object.prototype);
  assert.equal(Object.keys(p.map).includes('__proto__'), true, '__proto__ stays a plain key');
});

test('property: boundMap never exceeds its limits and keeps only input entries', () => {
  const lim = { maxEntries: 8, maxKeyBytes: 16, maxValueBytes: 32, maxTotalBytes: 128 };
  fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 24 }), fc.string({ maxLength: 48 }), { maxKeys: 40 }), (m) => {
    const { map, note } = boundMap(m, lim, 'labels');
    const entries = Object.entries(map);
    assert.ok(entries.length <= lim.maxEntries);
    let total = 0;
    for (const [k, v] of entries) {
      assert.equal(m[k], v);
      assert.ok(Buffer.byteLength(k) <= lim.maxKeyBytes && Buffer.byteLength(v) <= lim.maxValueBytes);
      total += Buffer.byteLength(k) + Buffer.byteLength(v);
    }
    assert.ok(total <= lim.maxTotalBytes);
    assert.equal(note === undefined, entries.length === Object.keys(m).length);
  }), { numRuns: 2000 });
});

test('finishPodFacts: workload inferred, IPs checked, notes joined, no pod left alone', () => {
  const done = finishPodFacts(meta({ ips: ['10.244.1.7', 'fd00::7', '10.244.1.7', 'not-an-ip', '999.1.1.1'] }), () => false);
  assert.deepEqual(done.pod?.workload, { kind: 'Deployment', name: 'web' });
  assert.deepEqual(done.pod?.ips, ['10.244.1.7', 'fd00::7']);
  assert.match(done.bounded!, /pod ips bounded: kept 2 of 5 \(2 not an IP address; repeats or past 16\)/);
  const plain = { ...meta(), pod: null };
  assert.equal(finishPodFacts(plain, () => true), plain);
  const clean = finishPodFacts(meta(), () => true);
  assert.equal(clean.bounded, null);
  assert.deepEqual(clean.pod?.ips, []);
});

test('hostile Docker sandbox, 10,000 labels: bounded with the reason in attribution, nothing else lost', async () => {
  const labels = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`example.com/l${i}`, `v${i}`]));
  const { rec } = await auditOn(dockerNode('ten-thousand', labels));
  assert.equal(rec.attribution.status, 'POD');
  assert.equal(rec.attribution.source, 'docker');
  assert.match(rec.attribution.reason!, /^pod labels bounded: kept 256 of 10002 \(9746 past 256 entries or 65536 bytes\)$/);
  assert.equal(Object.keys(rec.pod!.labels).length, 256);
  // Everything else is as for a clean pod.
  assert.deepEqual([rec.pod!.name, rec.pod!.namespace, rec.pod!.uid], ['web-7d9f8b6c5d-x2k4q', 'shop', POD_UID]);
  assert.deepEqual(rec.pod!.workload, { kind: 'Deployment', name: 'web' }, 'inferred from the full label set');
  assert.deepEqual([rec.container!.name, rec.container!.image?.slice(0, 12)], ['app', 'nginx@sha256']);
  const framed = codec.encode('AuditRecord', rec);
  assert.ok(framed.length < 64 * 1024, `audit record ${framed.length} bytes`);
});

test('hostile Docker sandbox, 1 MiB label values: dropped and named, the rest kept', async () => {
  const { rec, resolved } = await auditOn(dockerNode('one-mib', { big1: 'x'.repeat(MIB), big2: 'y'.repeat(MIB), team: 'pay' }));
  assert.equal(rec.attribution.status, 'POD');
  assert.match(rec.attribution.reason!, /pod labels bounded: kept 3 of 5 \(2 over 317-byte keys or 1024-byte values\)/);
  assert.deepEqual(rec.pod!.labels, { app: 'web', 'pod-template-hash': '7d9f8b6c5d', team: 'pay' });
  // The containers-topic version is small too, and says what was cut.
  assert.ok(resolved.ok);
  const version = toMetaRecord(resolved.meta, { node: 'node-a', time: 1n, firstSeen: 1n, validFrom: 1n });
  const bytes = codec.encode('ContainerMeta', version);
  assert.ok(bytes.length < 64 * 1024, `containers-topic record ${bytes.length} bytes`);
  assert.equal(version.bounded, rec.attribution.reason);
});

test('hostile CRI-O sandbox: a 10,000-label io.kubernetes.cri-o.Labels is bounded the same way', async () => {
  const root = path.join(base, 'crio');
  const app = fixtureJson('cri-o/container.config.json');
  const sb = fixtureJson('cri-o/sandbox.config.json');
  const O_APP = app.annotations['io.kubernetes.cri-o.ContainerID'] as string;
  const O_SB = sb.annotations['io.kubernetes.cri-o.ContainerID'] as string;
  sb.annotations['io.kubernetes.cri-o.Labels'] = JSON.stringify({
    ...JSON.parse(sb.annotations['io.kubernetes.cri-o.Labels'] as string),
    ...Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`l${i}`, 'v'])),
  });
  for (const [id, spec] of [[O_APP, app], [O_SB, sb]] as const) {
    const p = path.join(root, `var/lib/containers/storage/overlay-containers/${id}/userdata/config.json`);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, JSON.stringify(spec));
  }
  const r = await createResolver({ hostRoot: root, logger: silent }).resolve(O_APP, 'cri-o');
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(Object.keys(r.meta.pod!.labels).length, 256);
  assert.match(r.meta.bounded!, /pod labels bounded: kept 256 of 1000[0-9]/);
  assert.deepEqual(r.meta.pod!.ips, ['10.128.2.57']);
  assert.equal(r.meta.pod!.name, 'wasm-test');
});

test('containers topic round trip: workload, ips, origin and bounded survive; older versions get a workload inferred', () => {
  const m = finishPodFacts({ ...meta({ ips: ['10.244.1.7'], annotations: { 'a.example/x': '1', 'b.example/y': '2' } }), origin: 'cri' }, () => true);
  const rec = toMetaRecord(m, { node: 'node-a', time: 5n, firstSeen: 5n, validFrom: 5n });
  const back = codec.decode(codec.encode('ContainerMeta', rec)).value as typeof rec;
  const again = fromMetaRecord(back);
  assert.deepEqual(again.pod?.workload, { kind: 'Deployment', name: 'web' });
  assert.deepEqual(again.pod?.ips, ['10.244.1.7']);
  assert.equal(again.origin, 'cri');
  assert.deepEqual(again.pod?.annotations, { 'a.example/x': '1', 'b.example/y': '2' });
  // The reader's own --pod-annotations narrows what the node kept.
  assert.deepEqual(fromMetaRecord(back, annotationFilter(['b.*'])).pod?.annotations, { 'b.example/y': '2' });
  // A version from before workload existed: inferred on read, the same answer as the node's.
  const old = { ...back, pod: { ...back.pod!, workload: null }, origin: null };
  assert.deepEqual(fromMetaRecord(old).pod?.workload, { kind: 'Deployment', name: 'web' });
  assert.equal(fromMetaRecord(old).origin, 'files');
  // attribution.source says cri when the facts came from CRI.
  const a = attribute({ cgroupPath: PATH, node: NODE, resolved: { ok: true, meta: again, source: 'topic' } });
  assert.equal(a.source, 'cri');
});

test('--pod-annotations: comma-separated globs from the flag or PODTRAIL_POD_ANNOTATIONS, default none, bad globs refused', async () => {
  const { parseOptions } = await import('../../src/common/options.js');
  const { POD_ANNOTATIONS_OPTION } = await import('../../src/cli/pod-annotations.js');
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseOptions('enrich', argv, POD_ANNOTATIONS_OPTION, env).values['pod-annotations'];
  assert.deepEqual(parse([]), []);
  assert.deepEqual(parse(['--pod-annotations', 'kubernetes.io/*, team.example.com/owner']), ['kubernetes.io/*', 'team.example.com/owner']);
  assert.deepEqual(parse([], { PODTRAIL_POD_ANNOTATIONS: 'a/*' }), ['a/*']);
  assert.throws(() => parse(['--pod-annotations', 'ok/*,bad glob']), (e: unknown) => e instanceof ConfigError && /--pod-annotations: .*"bad glob" is not an annotation key glob/.test((e as Error).message));
});

test('a containers-topic version from an unbounded writer is bounded on read, its stored workload kept', () => {
  const labels = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`l${i}`, 'v']));
  const rec = toMetaRecord(meta({ labels, ips: ['10.1.2.3'] }), { node: 'node-a', time: 1n, firstSeen: 1n, validFrom: 1n });
  rec.pod!.workload = { kind: 'StatefulSet', name: 'db' };
  const read = fromMetaRecord(rec);
  assert.equal(Object.keys(read.pod!.labels).length, 256);
  assert.match(read.bounded!, /^pod labels bounded: kept 256 of 10000/);
  assert.deepEqual(read.pod!.workload, { kind: 'StatefulSet', name: 'db' }, "the node's answer, not re-inferred");
  const a = attribute({ cgroupPath: PATH, node: NODE, resolved: { ok: true, meta: read, source: 'topic' } });
  assert.equal(a.status, 'POD');
  assert.match(a.reason!, /pod labels bounded/);
  assert.deepEqual(a.pod!.ips, ['10.1.2.3']);
});

test('property: any pod facts come out within the limits, encodable, and never throw', () => {
  const str = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 400 }), fc.constantFrom('', 'x'.repeat(2000), '__proto__', 'constructor'));
  const map = fc.dictionary(str, str, { maxKeys: 300 });
  fc.assert(fc.property(str, map, map, fc.array(fc.oneof(str, fc.ipV4(), fc.ipV6()), { maxLength: 40 }), fc.boolean(), (name, labels, annotations, ips, keepAll) => {
    const out = finishPodFacts(meta({ name, labels, annotations, ips }), () => keepAll);
    const pod = out.pod!;
    const within = (m: Record<string, string>, lim: { maxEntries: number; maxKeyBytes: number; maxValueBytes: number; maxTotalBytes: number }) => {
      const e = Object.entries(m);
      assert.ok(e.length <= lim.maxEntries);
      assert.ok(e.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0) <= lim.maxTotalBytes);
      for (const [k, v] of e) assert.ok(Buffer.byteLength(k) <= lim.maxKeyBytes && Buffer.byteLength(v) <= lim.maxValueBytes);
    };
    within(pod.labels, POD_FACT_LIMITS.labels);
    within(pod.annotations, POD_FACT_LIMITS.annotations);
    if (!keepAll) assert.deepEqual(pod.annotations, {});
    assert.ok(pod.ips!.length <= POD_FACT_LIMITS.maxIps);
    assert.equal(pod.name, name, 'the pod identity is never cut');
    // What goes on the containers topic encodes, whatever came in.
    codec.encode('ContainerMeta', toMetaRecord(out, { node: 'n', time: 1n, firstSeen: 1n, validFrom: 1n }));
  }), { numRuns: 300 });
});
