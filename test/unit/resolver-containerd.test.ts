// SPDX-License-Identifier: Apache-2.0
// containerd resolver on temporary host roots holding OCI bundles laid out like a node's
// /run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/config.json, from the fixtures
// (containerd#7735's verbatim annotations in a reconstructed spec, and a sandbox spec).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from '../../src/common/log.js';
import { parseCgroupPath } from '../../src/runtime/cgroup-path.js';
import { ContainerdResolver, createResolver } from '../../src/runtime/index.js';
import type { ContainerMeta, ResolveResult } from '../../src/runtime/types.js';
import { CONTAINERD_LABELS_UNKNOWN } from '../../src/runtime/containerd.js';
import { finishPodFacts } from '../../src/runtime/pod-facts.js';
import { fromMetaRecord, toMetaRecord } from '../../src/runtime/meta-record.js';

const FIX = new URL('../../../test/fixtures/runtime-metadata/containerd/', import.meta.url);
type Spec = Record<string, any>;
const spec = (name: string): Spec => JSON.parse(readFileSync(new URL(name, FIX), 'utf8')) as Spec;
const SANDBOX = '08880aefad635b5735451d8e933536ca4d715378f3bd94cd35bc8cab77884095';
const POD_UID = '4fe556a4-0bd7-45be-966f-46e2cbf4c4ac';
// The container's ID is the last part of its cgroupsPath in the fixture.
const APP = parseCgroupPath(`/${spec('container.config.json').linux.cgroupsPath}`).containerId!;
const TASKS = 'run/containerd/io.containerd.runtime.v2.task';
const silent = { warn: () => undefined } as unknown as Logger;

let base: string;
let n = 0;
before(() => {
  base = mkdtempSync(path.join(tmpdir(), 'podtrail-containerd-'));
});
after(() => rmSync(base, { recursive: true, force: true }));

function write(root: string, rel: string, content: string): void {
  const p = path.join(root, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
}

function node(edit?: (app: Spec, sandbox: Spec) => void, dir = `${TASKS}/k8s.io`): string {
  const root = path.join(base, `n${n++}`);
  const app = spec('container.config.json');
  const sb = spec('sandbox.config.json');
  edit?.(app, sb);
  write(root, `${dir}/${APP}/config.json`, JSON.stringify(app));
  write(root, `${dir}/${SANDBOX}/config.json`, JSON.stringify(sb));
  return root;
}

const resolver = (hostRoot: string, namespaces?: string[]) => new ContainerdResolver({ hostRoot, maxFileBytes: 4 << 20, namespaces });

function metaOf(r: ResolveResult): ContainerMeta {
  assert.ok(r.ok, r.ok ? '' : `${r.code}: ${r.reason}`);
  return r.meta;
}

test('fixture ID is a real 64-hex ID from the verbatim annotations issue', () => {
  assert.equal(APP, '1733e7a76be7ee5c026275bb563de617e1e5723164a1f07903469a320d5a67a4');
});

test('app container: CRI annotations give pod, container name, image; hostname from the sandbox spec', async () => {
  const m = metaOf(await resolver(node()).resolve(APP));
  assert.deepEqual(m, {
    id: APP,
    runtime: 'containerd',
    name: 'test-pod-9240',
    image: 'mirror.gcr.io/library/alpine:latest',
    hostname: 'test-pod-9240',
    isSandbox: false,
    sandboxId: SANDBOX,
    // Pod labels are not in any bundle file (containerd keeps them in its bolt DB).
    pod: { name: 'test-pod-9240', namespace: 'default', uid: POD_UID, labels: {}, annotations: {}, hostNetwork: false },
    networkMode: null,
    utsMode: null,
    // So they are unknown, not none, and the note (attribution.reason) says so.
    note: CONTAINERD_LABELS_UNKNOWN,
  });
});

test("k3s: its containerd's bundles under /run/k3s/containerd are read too", async () => {
  const m = metaOf(await resolver(node(undefined, 'run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io')).resolve(APP));
  assert.equal(m.pod?.name, 'test-pod-9240');
  assert.equal(m.sandboxId, SANDBOX);
});

test('unknown labels give no workload: a Deployment\'s pod from the files is not called a bare Pod, on the node or on read', async () => {
  const root = node((app, sb) => {
    for (const s of [app, sb]) s.annotations['io.kubernetes.cri.sandbox-name'] = 'web-7d9f8b6c5d-x2k4q';
  });
  const r = await createResolver({ hostRoot: root, cacheTtlMs: 0, negativeTtlMs: 0, runtimes: ['containerd'], logger: silent }).resolve(APP);
  const m = metaOf(r);
  assert.equal(m.pod?.name, 'web-7d9f8b6c5d-x2k4q');
  assert.equal(m.pod?.workload, null);
  assert.equal(m.note, CONTAINERD_LABELS_UNKNOWN);
  const back = fromMetaRecord(toMetaRecord(m, { node: 'n', time: 1n, firstSeen: 1n, validFrom: 1n }));
  assert.equal(back.pod?.workload, null);
  assert.equal(back.note, CONTAINERD_LABELS_UNKNOWN);
  // The same pod from CRI (labels known) is a Deployment's: the rule is about what is known.
  const fromCri = finishPodFacts({ ...m, origin: 'cri', note: null, pod: { ...m.pod!, labels: { 'pod-template-hash': '7d9f8b6c5d' } } }, () => false);
  assert.deepEqual(fromCri.pod?.workload, { kind: 'Deployment', name: 'web' });
});

test('sandbox: name POD, sandboxId is its own ID, pass-through pod annotations kept', async () => {
  const root = node((_app, sb) => {
    sb.annotations['example.com/team'] = 'payments';
  });
  const m = metaOf(await resolver(root).resolve(SANDBOX));
  assert.equal(m.isSandbox, true);
  assert.equal(m.name, 'POD');
  assert.equal(m.sandboxId, SANDBOX);
  assert.deepEqual(m.pod?.annotations, { 'example.com/team': 'payments' });
  assert.equal(metaOf(await resolver(root).resolve(APP)).pod?.annotations['example.com/team'], 'payments');
});

test('containerd before 1.6.x: no sandbox-uid annotation, pod UID from linux.cgroupsPath', async () => {
  const root = node((app, sb) => {
    delete app.annotations['io.kubernetes.cri.sandbox-uid'];
    delete sb.annotations['io.kubernetes.cri.sandbox-uid'];
  });
  assert.equal(metaOf(await resolver(root).resolve(APP)).pod?.uid, POD_UID);
});

test('hostNetwork pod: no network namespace in the specs', async () => {
  const noNet = (s: Spec) => {
    s.linux.namespaces = s.linux.namespaces.filter((x: Spec) => x.type !== 'network' && x.type !== 'uts');
  };
  const m = metaOf(await resolver(node((app, sb) => (noNet(app), noNet(sb)))).resolve(APP));
  assert.equal(m.pod?.hostNetwork, true);
  assert.equal(m.networkMode, 'host');
  assert.equal(m.utsMode, 'host');
});

test('v1 shim state dir and the default (nerdctl) namespace; a non-CRI container has no pod', async () => {
  assert.equal(metaOf(await resolver(node(undefined, 'run/containerd/io.containerd.runtime.v1.linux/k8s.io')).resolve(APP)).pod?.name, 'test-pod-9240');
  const root = node((app) => {
    app.annotations = {};
  }, `${TASKS}/default`);
  const m = metaOf(await resolver(root).resolve(APP));
  assert.equal(m.pod, null);
  assert.equal(m.name, null);
  const onlyK8s = await resolver(root, ['k8s.io']).resolve(APP);
  assert.equal(onlyK8s.ok ? 'ok' : onlyK8s.code, 'NOT_FOUND');
});

test('sandbox bundle gone: pod identity kept from the container, warning set', async () => {
  const root = node();
  rmSync(path.join(root, TASKS, 'k8s.io', SANDBOX), { recursive: true });
  const r = await resolver(root).resolve(APP);
  assert.ok(r.ok);
  assert.equal(r.meta.pod?.uid, POD_UID);
  assert.equal(r.meta.hostname, 'test-pod-9240', 'from process.env HOSTNAME');
  assert.match(r.warning ?? '', /sandbox unreadable/);
});

test('bad input: corrupt, huge, symlinked out of the root, missing, bad ID', async () => {
  const code = async (root: string, id = APP) => {
    const r = await resolver(root).resolve(id);
    return r.ok ? 'ok' : r.code;
  };
  const bundle = (root: string) => path.join(root, TASKS, 'k8s.io', APP, 'config.json');
  const corrupt = node();
  writeFileSync(bundle(corrupt), '{"ociVersion": ');
  assert.equal(await code(corrupt), 'BAD_JSON');
  const huge = node();
  truncateSync(bundle(huge), 5 * 1024 * 1024);
  assert.equal(await code(huge), 'TOO_LARGE');
  const escape = node();
  rmSync(bundle(escape));
  writeFileSync(path.join(base, 'evil.json'), JSON.stringify(spec('container.config.json')));
  symlinkSync('../../../../../../../evil.json', bundle(escape));
  assert.equal(await code(escape), 'OUTSIDE_ROOT');
  assert.equal(await code(node(), 'a'.repeat(64)), 'NOT_FOUND');
  assert.equal(await code(node(), APP.slice(2)), 'BAD_ID');
  assert.equal(await code(node(), `../k8s.io/${APP}`), 'BAD_ID');
});

test('composite: the containerd hint is tried first, and the other runtimes are fallbacks', async () => {
  const root = node();
  const r = createResolver({ hostRoot: root, logger: silent });
  const id = parseCgroupPath(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_UID.replaceAll('-', '_')}.slice/cri-containerd-${APP}.scope`);
  assert.equal(metaOf(await r.resolve(id.containerId!, id.runtime)).runtime, 'containerd');
  assert.equal(r.stats().docker?.misses, 0, 'docker not consulted when containerd is hinted and found');
  assert.equal(metaOf(await r.resolve(SANDBOX)).runtime, 'containerd', 'found without a hint');
  assert.equal(r.stats().docker?.misses, 1);
  const miss = await r.resolve('b'.repeat(64), 'containerd');
  assert.deepEqual(miss, { ok: false, code: 'NOT_FOUND', reason: 'no metadata found (tried containerd, docker, cri-o)' });
});
