// SPDX-License-Identifier: Apache-2.0
// The attribution decision: over real metadata (fixtures resolved from temporary host roots),
// over every cgroup fixture row, and the UTS-hint / hostNetwork / sandbox / bad-path cases.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from '../../src/common/log.js';
import { attribute, type AttributeInput } from '../../src/enrich/attribute.js';
import { planLookup } from '../../src/runtime/cgroup-path.js';
import { createResolver } from '../../src/runtime/index.js';
import type { ContainerMeta, ResolveResult } from '../../src/runtime/types.js';
import { CONTAINERD_LABELS_UNKNOWN } from '../../src/runtime/containerd.js';

const FIX = new URL('../../../test/fixtures/', import.meta.url);
const fix = (rel: string): string => readFileSync(new URL(rel, FIX), 'utf8');
const NODE = { hostname: 'node-a', netns: 4026531840, utsNs: 4026531838 };
const NOT_FOUND: ResolveResult = { ok: false, code: 'NOT_FOUND', reason: 'no metadata found (tried docker, containerd, cri-o)' };
const silent = { warn: () => undefined } as unknown as Logger;

// Docker fixture pod
const D_APP = '2a9b309a750b84f05d9a374717fb9bf549691d624be7680148545edee8bb161f';
const D_SB = 'c82a6801e9a395532b91cae203b16cb6acdc0cf4365c4c986ea2d428b8f942d6';
const D_UID = '35b82523-0d1e-4c62-9f3a-6a1d2c7e8b90';
const C_APP = '1733e7a76be7ee5c026275bb563de617e1e5723164a1f07903469a320d5a67a4';
const C_SB = '08880aefad635b5735451d8e933536ca4d715378f3bd94cd35bc8cab77884095';
const C_UID = '4fe556a4-0bd7-45be-966f-46e2cbf4c4ac';
const O_APP = '285af2136db6ddb63b0219e3a3f1a4077a8327531c37bc9150c2410076180395';
const O_SB = '295df75b855572578e97bb7678251d6745188308d93a1b105bad2c329b53dd47';
const O_UID = 'be76f5b7-8151-4a31-98a6-e3a8313959f7';

let root: string;
const put = (rel: string, content: string): void => {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), content);
};

before(() => {
  // One node holding all three runtimes' files, as a mixed test node would.
  root = mkdtempSync(path.join(tmpdir(), 'podtrail-attr-'));
  const d = 'var/lib/docker/containers';
  put(`${d}/${D_APP}/config.v2.json`, fix('runtime-metadata/docker/app.config.v2.json'));
  put(`${d}/${D_APP}/hostconfig.json`, fix('runtime-metadata/docker/app.hostconfig.json'));
  put(`${d}/${D_SB}/config.v2.json`, fix('runtime-metadata/docker/sandbox.config.v2.json'));
  put(`${d}/${D_SB}/hostconfig.json`, fix('runtime-metadata/docker/sandbox.hostconfig.json'));
  const c = 'run/containerd/io.containerd.runtime.v2.task/k8s.io';
  put(`${c}/${C_APP}/config.json`, fix('runtime-metadata/containerd/container.config.json'));
  put(`${c}/${C_SB}/config.json`, fix('runtime-metadata/containerd/sandbox.config.json'));
  const o = 'var/lib/containers/storage/overlay-containers';
  put(`${o}/${O_APP}/userdata/config.json`, fix('runtime-metadata/cri-o/container.config.json'));
  put(`${o}/${O_SB}/userdata/config.json`, fix('runtime-metadata/cri-o/sandbox.config.json'));
});
after(() => rmSync(root, { recursive: true, force: true }));

async function attributeWithResolver(cgroupPath: string, extra: Partial<AttributeInput> = {}) {
  const resolver = createResolver({ hostRoot: root, logger: silent });
  const plan = planLookup(cgroupPath);
  const resolved = plan ? await resolver.resolve(plan.containerId, plan.hint) : undefined;
  return attribute({ cgroupPath, node: NODE, resolved, ...extra });
}

const us = (uid: string) => uid.replaceAll('-', '_');
const realCases = [
  { runtime: 'docker', path: `/kubepods/burstable/pod${D_UID}/${D_APP}`, pod: ['web-7d9f8b6c5d-x2k4q', 'shop', D_UID], container: 'app', labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' }, workload: { kind: 'Deployment', name: 'web' }, ips: [] },
  { runtime: 'docker', path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${us(D_UID)}.slice/docker-${D_SB}.scope`, pod: ['web-7d9f8b6c5d-x2k4q', 'shop', D_UID], container: 'POD', labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' }, workload: { kind: 'Deployment', name: 'web' }, ips: [], sandbox: true },
  { runtime: 'containerd', path: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${us(C_UID)}.slice/cri-containerd-${C_APP}.scope`, pod: ['test-pod-9240', 'default', C_UID], container: 'test-pod-9240', labels: {}, workload: null, ips: [], reason: CONTAINERD_LABELS_UNKNOWN },
  { runtime: 'containerd', path: `/kubepods-besteffort-pod${us(C_UID)}.slice:cri-containerd:${C_APP}`, pod: ['test-pod-9240', 'default', C_UID], container: 'test-pod-9240', labels: {}, workload: null, ips: [], reason: CONTAINERD_LABELS_UNKNOWN },
  { runtime: 'cri-o', path: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${us(O_UID)}.slice/crio-${O_APP}.scope`, pod: ['wasm-test', 'default', O_UID], container: 'app', labels: { run: 'wasm-test' }, workload: { kind: 'Pod', name: 'wasm-test' }, ips: ['10.128.2.57'] },
];

for (const c of realCases) {
  test(`POD from real ${c.runtime} metadata: ${c.path.slice(0, 60)}...`, async () => {
    const a = await attributeWithResolver(c.path, { utsName: c.pod[0] });
    assert.equal(a.status, 'POD');
    assert.equal(a.source, c.runtime);
    // containerd's files have no labels: unknown, so no workload, and the reason says so.
    assert.equal(a.reason, c.sandbox ? 'sandbox (pause) container' : (c.reason ?? null));
    assert.equal(a.container?.runtime, c.runtime);
    assert.equal(a.container?.name, c.container);
    assert.deepEqual(a.pod, { name: c.pod[0], namespace: c.pod[1], uid: c.pod[2], labels: c.labels, hostNetwork: false, workload: c.workload, annotations: {}, ips: c.ips });
  });
}

test('every cgroup fixture row, with no metadata: HOST for host paths, else UNRESOLVED with the path IDs', () => {
  const lines = fix('cgroup-paths.tsv').split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('path\t'));
  assert.equal(lines.length, 66);
  for (const line of lines) {
    const [p, , , , cid, uid] = line.split('\t') as [string, string, string, string, string, string];
    const a = attribute({ cgroupPath: p, node: NODE, resolved: planLookup(p) ? NOT_FOUND : undefined });
    if (!cid && !uid) {
      assert.equal(a.status, 'HOST', p);
      continue;
    }
    assert.equal(a.status, 'UNRESOLVED', p);
    assert.equal(a.container?.id, cid || undefined, p);
    assert.equal(a.pod?.uid, uid || undefined, p);
    assert.equal(a.source, 'cgroup');
  }
});

test('CONTAINER: plain docker container, metadata without pod', () => {
  const id = 'd'.repeat(64);
  const meta: ContainerMeta = { id, runtime: 'docker', name: 'web', image: 'busybox', hostname: 'dddd', isSandbox: false, sandboxId: null, pod: null, networkMode: 'bridge', utsMode: null };
  const a = attribute({ cgroupPath: `/docker/${id}`, node: NODE, utsName: 'dddddddddddd', resolved: { ok: true, meta, source: 'x' } });
  assert.deepEqual(a, { status: 'CONTAINER', source: 'docker', reason: null, container: { id, runtime: 'docker', name: 'web', image: 'busybox' }, pod: null });
  // The same container in a pod's cgroup, but metadata naming no pod: neither POD nor CONTAINER.
  const inPod = attribute({ cgroupPath: `/kubepods/besteffort/pod${D_UID}/${id}`, node: NODE, resolved: { ok: true, meta, source: 'x' } });
  assert.equal(inPod.status, 'UNRESOLVED');
  assert.equal(inPod.container?.name, 'web');
  assert.equal(inPod.pod?.uid, D_UID);
});

test('HOST: host cgroups, including a runtime service cgroup', () => {
  for (const p of ['/', '/init.scope', '/system.slice/docker.service', '/user.slice/user-1000.slice/session-2.scope']) {
    assert.deepEqual(attribute({ cgroupPath: p, node: NODE, utsName: 'node-a' }), { status: 'HOST', source: 'cgroup', reason: null, container: null, pod: null });
  }
});

test('UTS hint: pod name taken only when no metadata, the path names a pod, and the task is not in the host UTS/netns', () => {
  const p = `/kubepods/burstable/pod${D_UID}/${'e'.repeat(64)}`;
  const base: AttributeInput = { cgroupPath: p, node: NODE, resolved: NOT_FOUND, netns: 4026532181, utsNs: 4026532200 };
  const hinted = attribute({ ...base, utsName: 'web-7d9f' });
  assert.equal(hinted.status, 'UNRESOLVED');
  assert.equal(hinted.source, 'uts');
  assert.deepEqual(hinted.pod, { name: 'web-7d9f', namespace: null, uid: D_UID, labels: {}, hostNetwork: false, workload: null, annotations: {}, ips: [] });
  assert.match(hinted.reason ?? '', /^NOT_FOUND: .*UTS hint/);
  assert.deepEqual(hinted.container, { id: 'e'.repeat(64), runtime: null, name: null, image: null });

  const notTaken: Array<[string, Partial<AttributeInput>]> = [
    ['same as node hostname', { utsName: 'node-a' }],
    ['node hostname, other case', { utsName: 'node-a', node: { ...NODE, hostname: 'NODE-A' } }],
    ['host netns (hostNetwork pod)', { utsName: 'web-7d9f', netns: NODE.netns }],
    ['host UTS namespace', { utsName: 'web-7d9f', utsNs: NODE.utsNs }],
    ['not a DNS label', { utsName: 'Web 7d9f' }],
    ['too long for a nodename', { utsName: 'a'.repeat(64) }],
    ['empty', { utsName: '' }],
    ['null', { utsName: null }],
  ];
  for (const [why, extra] of notTaken) {
    const a = attribute({ ...base, ...extra });
    assert.equal(a.status, 'UNRESOLVED', why);
    assert.equal(a.source, 'cgroup', why);
    assert.equal(a.pod?.name, null, why);
  }
  assert.equal(attribute({ ...base, utsName: 'web-7d9f', netns: NODE.netns }).pod?.hostNetwork, true);
  // No pod in the path: a plain container's hostname is never a pod name.
  const plain = attribute({ cgroupPath: `/docker/${'e'.repeat(64)}`, node: NODE, resolved: NOT_FOUND, utsName: 'web-7d9f' });
  assert.equal(plain.pod, null);
  assert.equal(plain.source, 'cgroup');
  assert.equal(plain.container?.runtime, 'docker');
});

test('hostNetwork pod with metadata: POD, hostNetwork true, the node-named UTS ignored', async () => {
  const id = 'f'.repeat(64);
  const meta: ContainerMeta = {
    id, runtime: 'docker', name: 'proxy', image: 'kube-proxy', hostname: 'node-a', isSandbox: false, sandboxId: D_SB,
    pod: { name: 'kube-proxy-x', namespace: 'kube-system', uid: D_UID, labels: {}, annotations: {}, hostNetwork: true },
    networkMode: `container:${D_SB}`, utsMode: 'host',
  };
  const a = attribute({ cgroupPath: `/kubepods/besteffort/pod${D_UID}/${id}`, node: NODE, utsName: 'node-a', netns: NODE.netns, resolved: { ok: true, meta, source: 'x' } });
  assert.equal(a.status, 'POD');
  assert.equal(a.pod?.name, 'kube-proxy-x');
  assert.equal(a.pod?.hostNetwork, true);
});

test('metadata quirks: uid filled from path, uid mismatch flagged, metadata for another container refused', () => {
  const id = '7'.repeat(64);
  const pod = { name: 'p', namespace: 'ns', uid: '', labels: { a: 'b' }, annotations: {}, hostNetwork: false };
  const meta: ContainerMeta = { id, runtime: 'containerd', name: 'c', image: null, hostname: null, isSandbox: false, sandboxId: null, pod, networkMode: null, utsMode: null };
  const p = `/kubepods/burstable/pod${C_UID}/${id}`;
  assert.equal(attribute({ cgroupPath: p, node: NODE, resolved: { ok: true, meta, source: 'x' } }).pod?.uid, C_UID);
  const other = attribute({ cgroupPath: p, node: NODE, resolved: { ok: true, meta: { ...meta, pod: { ...pod, uid: O_UID } }, source: 'x' } });
  assert.equal(other.status, 'POD');
  assert.equal(other.pod?.uid, O_UID);
  assert.match(other.reason ?? '', /differs from the cgroup path/);
  const wrong = attribute({ cgroupPath: p, node: NODE, resolved: { ok: true, meta: { ...meta, id: '8'.repeat(64) }, source: 'x' } });
  assert.equal(wrong.status, 'UNRESOLVED');
  assert.equal(wrong.container?.id, id);
  assert.equal(attribute({ cgroupPath: p, node: NODE }).reason, 'metadata not looked up');
});

test('pod-level cgroup and conmon: UNRESOLVED with the pod UID, no container, nothing to look up', () => {
  const conmon = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${us(O_UID)}.slice/crio-conmon-${O_APP}.scope`;
  assert.equal(planLookup(conmon), null);
  const a = attribute({ cgroupPath: conmon, node: NODE, utsName: 'node-a' });
  assert.equal(a.status, 'UNRESOLVED');
  assert.equal(a.container, null);
  assert.equal(a.pod?.uid, O_UID);
  assert.match(a.reason ?? '', /conmon/);
  assert.match(attribute({ cgroupPath: `/kubepods/pod${O_UID}`, node: NODE }).reason ?? '', /pod-level/);
});

test('bad cgroup paths: UNRESOLVED with BAD_PATH, nothing looked up, nothing taken from the path', () => {
  for (const p of [`/kubepods/burstable/pod${D_UID}/../../../etc/${D_APP}`, `/docker/${D_APP}\0`, `docker/${D_APP}`, '']) {
    assert.equal(planLookup(p), null, p);
    const a = attribute({ cgroupPath: p, node: NODE, utsName: 'web-7d9f' });
    assert.equal(a.status, 'UNRESOLVED');
    assert.equal(a.source, null);
    assert.equal(a.container, null);
    assert.equal(a.pod, null);
    assert.match(a.reason ?? '', /^BAD_PATH: /);
  }
});

test('planLookup gives the ID and runtime hint to resolve', () => {
  assert.deepEqual(planLookup(`/system.slice/docker-${D_APP}.scope`), { containerId: D_APP, hint: 'docker' });
  assert.deepEqual(planLookup(`/kubepods/besteffort/pod${D_UID}/${D_APP}`), { containerId: D_APP, hint: undefined });
  assert.equal(planLookup('/init.scope'), null);
});
