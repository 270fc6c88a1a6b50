// SPDX-License-Identifier: Apache-2.0
// CRI-O resolver on temporary host roots laid out like containers/storage
// (overlay-containers/<id>/userdata/config.json under /var/lib and /run), from the fixtures
// (cri-o#6906's partial-verbatim sandbox annotations and reconstructed specs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from '../../src/common/log.js';
import { parseCgroupPath } from '../../src/runtime/cgroup-path.js';
import { CrioResolver, createResolver } from '../../src/runtime/index.js';
import type { ContainerMeta, ResolveResult } from '../../src/runtime/types.js';

const FIX = new URL('../../../test/fixtures/runtime-metadata/cri-o/', import.meta.url);
type Spec = Record<string, any>;
const spec = (name: string): Spec => JSON.parse(readFileSync(new URL(name, FIX), 'utf8')) as Spec;
const APP = '285af2136db6ddb63b0219e3a3f1a4077a8327531c37bc9150c2410076180395';
const SANDBOX = '295df75b855572578e97bb7678251d6745188308d93a1b105bad2c329b53dd47';
const POD_UID = 'be76f5b7-8151-4a31-98a6-e3a8313959f7';
const VAR = 'var/lib/containers/storage/overlay-containers';
const RUN = 'run/containers/storage/overlay-containers';

let base: string;
let n = 0;
before(() => {
  base = mkdtempSync(path.join(tmpdir(), 'podtrail-crio-'));
});
after(() => rmSync(base, { recursive: true, force: true }));

function write(root: string, rel: string, content: string): void {
  const p = path.join(root, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
}
const file = (dir: string, id: string) => `${dir}/${id}/userdata/config.json`;

function node(edit?: (app: Spec, sandbox: Spec) => void, dir = VAR): string {
  const root = path.join(base, `n${n++}`);
  const app = spec('container.config.json');
  const sb = spec('sandbox.config.json');
  edit?.(app, sb);
  write(root, file(dir, APP), JSON.stringify(app));
  write(root, file(dir, SANDBOX), JSON.stringify(sb));
  return root;
}

const resolver = (hostRoot: string) => new CrioResolver({ hostRoot, maxFileBytes: 4 << 20 });
function metaOf(r: ResolveResult): ContainerMeta {
  assert.ok(r.ok, r.ok ? '' : `${r.code}: ${r.reason}`);
  return r.meta;
}
async function code(root: string, id = APP): Promise<string> {
  const r = await resolver(root).resolve(id);
  return r.ok ? 'ok' : r.code;
}

const POD = {
  name: 'wasm-test',
  namespace: 'default',
  uid: POD_UID,
  labels: { run: 'wasm-test' },
  annotations: { 'kubernetes.io/config.seen': '2023-05-10T16:35:33.916202677Z', 'kubernetes.io/config.source': 'api' },
  hostNetwork: false,
  // The sandbox's io.kubernetes.cri-o.IP.0.
  ips: ['10.128.2.57'],
};

test('app container: pod from plain annotations, labels from the sandbox io.kubernetes.cri-o.Labels', async () => {
  assert.deepEqual(metaOf(await resolver(node()).resolve(APP)), {
    id: APP,
    runtime: 'cri-o',
    name: 'app',
    image: 'docker.io/library/nginx:1.27',
    hostname: 'wasm-test',
    isSandbox: false,
    sandboxId: SANDBOX,
    pod: POD,
    networkMode: null,
    utsMode: null,
  });
});

test('sandbox: name POD, its own labels, HostNetwork annotation honoured', async () => {
  const m = metaOf(await resolver(node()).resolve(SANDBOX));
  assert.equal(m.isSandbox, true);
  assert.equal(m.name, 'POD');
  assert.equal(m.image, 'registry.k8s.io/pause:3.9');
  assert.deepEqual(m.pod, POD);
  const hostNet = node((_a, sb) => {
    sb.annotations['io.kubernetes.cri-o.HostNetwork'] = 'true';
  });
  assert.equal(metaOf(await resolver(hostNet).resolve(APP)).pod?.hostNetwork, true);
});

test('the /run copy is used when /var/lib has none or a corrupt one', async () => {
  assert.equal(metaOf(await resolver(node(undefined, RUN)).resolve(APP)).pod?.name, 'wasm-test');
  const root = node(undefined, RUN);
  write(root, file(VAR, APP), '{corrupt');
  assert.equal(metaOf(await resolver(root).resolve(APP)).name, 'app');
});

test('corrupt io.kubernetes.cri-o.Labels on the sandbox: pod kept, labels empty, warning', async () => {
  const root = node((_a, sb) => {
    sb.annotations['io.kubernetes.cri-o.Labels'] = '{"run":';
  });
  const r = await resolver(root).resolve(APP);
  assert.ok(r.ok);
  assert.deepEqual(r.meta.pod?.labels, {});
  assert.match(r.warning ?? '', /Labels is bad JSON/);
});

test('a podman (libpod) container in the same storage is not taken for CRI-O', async () => {
  const root = node((app) => {
    app.annotations['io.container.manager'] = 'libpod';
  });
  const r = await resolver(root).resolve(APP);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /managed by libpod/);
});

test('bad input: corrupt, huge, symlinked out of the root, ID mismatch, missing, bad ID', async () => {
  const corrupt = node();
  writeFileSync(path.join(corrupt, file(VAR, APP)), '');
  assert.equal(await code(corrupt), 'BAD_JSON');
  const huge = node();
  truncateSync(path.join(huge, file(VAR, APP)), 1024 ** 4);
  assert.equal(await code(huge), 'TOO_LARGE');
  const escape = node();
  rmSync(path.join(escape, file(VAR, APP)));
  symlinkSync('/../../../../../../../../etc/hostname', path.join(escape, file(VAR, APP)));
  assert.equal(await code(escape), 'OUTSIDE_ROOT');
  const mismatch = node((app) => {
    app.annotations['io.kubernetes.cri-o.ContainerID'] = SANDBOX;
  });
  assert.equal(await code(mismatch), 'BAD_ID');
  assert.equal(await code(node(), 'c'.repeat(64)), 'NOT_FOUND');
  assert.equal(await code(node(), APP.toUpperCase()), 'BAD_ID');
});

test('composite: crio-<id>.scope path hints CRI-O', async () => {
  const root = node();
  const r = createResolver({ hostRoot: root, logger: { warn: () => undefined } as unknown as Logger });
  const p = parseCgroupPath(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_UID.replaceAll('-', '_')}.slice/crio-${APP}.scope`);
  assert.equal(p.runtime, 'cri-o');
  const m = metaOf(await r.resolve(p.containerId!, p.runtime));
  assert.equal(m.runtime, 'cri-o');
  assert.equal(r.stats().docker?.misses, 0);
  assert.equal(r.stats().containerd?.misses, 0);
});
