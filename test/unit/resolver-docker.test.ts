// SPDX-License-Identifier: Apache-2.0
// Docker resolver on temporary host roots laid out like docker nodes, from the
// runtime-metadata fixtures (config.v2.json/hostconfig.json of a pod's sandbox and app
// container, daemon.json variants); plus the composite's cache and log-once behaviour.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerResolver, createResolver } from '../../src/runtime/index.js';
import type { Logger } from '../../src/common/log.js';
import type { ContainerMeta, ResolveResult } from '../../src/runtime/types.js';

const FIX = new URL('../../../test/fixtures/runtime-metadata/docker/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIX), 'utf8');
const fixtureJson = (name: string): Record<string, unknown> => JSON.parse(fixture(name)) as Record<string, unknown>;
const SANDBOX = 'c82a6801e9a395532b91cae203b16cb6acdc0cf4365c4c986ea2d428b8f942d6';
const APP = '2a9b309a750b84f05d9a374717fb9bf549691d624be7680148545edee8bb161f';
const POD_UID = '35b82523-0d1e-4c62-9f3a-6a1d2c7e8b90';

let base: string;
after(() => rmSync(base, { recursive: true, force: true }));
before(() => {
  base = mkdtempSync(path.join(tmpdir(), 'podtrail-docker-'));
});

function write(root: string, rel: string, content: string): void {
  const p = path.join(root, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
}

/** A docker node: <root>/<dataRoot>/containers/<id>/{config.v2.json,hostconfig.json} for the fixture pod. */
function dockerNode(name: string, dataRoot: string, daemonJson?: string, hostVariant?: 'hostNetwork'): string {
  const root = path.join(base, name);
  mkdirSync(root, { recursive: true });
  if (daemonJson !== undefined) write(root, 'etc/docker/daemon.json', daemonJson);
  const variants = fixtureJson('variants.hostconfig.json');
  const sbHost = { ...fixtureJson('sandbox.hostconfig.json'), ...(hostVariant ? (variants.sandbox_hostNetwork as object) : {}) };
  const appHost = { ...fixtureJson('app.hostconfig.json'), ...(hostVariant ? (variants.app_hostNetwork as object) : {}) };
  write(root, `${dataRoot}/containers/${SANDBOX}/config.v2.json`, fixture('sandbox.config.v2.json'));
  write(root, `${dataRoot}/containers/${SANDBOX}/hostconfig.json`, JSON.stringify(sbHost));
  write(root, `${dataRoot}/containers/${APP}/config.v2.json`, fixture('app.config.v2.json'));
  write(root, `${dataRoot}/containers/${APP}/hostconfig.json`, JSON.stringify(appHost));
  return root;
}

function resolver(hostRoot: string, dockerConfigPath?: string): DockerResolver {
  return new DockerResolver({ hostRoot, dockerConfigPath, maxFileBytes: 4 * 1024 * 1024, configTtlMs: 60_000, configNegativeTtlMs: 1_000, clock: Date.now });
}

function metaOf(r: ResolveResult): ContainerMeta {
  assert.ok(r.ok, r.ok ? '' : `${r.code}: ${r.reason}`);
  return r.meta;
}

const EXPECTED_POD = {
  name: 'web-7d9f8b6c5d-x2k4q',
  namespace: 'shop',
  uid: POD_UID,
  labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' },
  annotations: { 'kubernetes.io/config.seen': '2026-11-30T02:19:58.461209112Z', 'kubernetes.io/config.source': 'api' },
  hostNetwork: false,
};

const layouts: Array<{ name: string; dataRoot: string; daemon?: string }> = [
  { name: 'default data root, no daemon.json', dataRoot: 'var/lib/docker' },
  { name: 'daemon.json data-root', dataRoot: 'mnt/docker-data', daemon: fixture('daemon.data-root.json') },
  { name: 'daemon.json deprecated graph', dataRoot: 'data/docker', daemon: fixture('daemon.graph-deprecated.json') },
  { name: 'kubeadm/systemd daemon.json', dataRoot: 'var/lib/docker', daemon: fixture('daemon.kubeadm-systemd.json') },
  { name: 'data-root wins over graph', dataRoot: 'new', daemon: '{"graph":"/old","data-root":"/new"}' },
];

for (const [i, l] of layouts.entries()) {
  test(`app container of a pod: ${l.name}`, async () => {
    const root = dockerNode(`layout${i}`, l.dataRoot, l.daemon);
    const m = metaOf(await resolver(root).resolve(APP));
    assert.deepEqual(m, {
      id: APP,
      runtime: 'docker',
      name: 'app',
      image: 'nginx@sha256:996aabedb632ac0d6b7fcd5e52cbd0b89022349a49dd94ced33e74f911e9cda5',
      hostname: 'web-7d9f8b6c5d-x2k4q',
      isSandbox: false,
      sandboxId: SANDBOX,
      pod: EXPECTED_POD,
      networkMode: `container:${SANDBOX}`,
      utsMode: null,
      created: '2026-11-30T02:20:00.987654321Z',
    });
  });
}

test('the sandbox itself: name POD, its own pod labels, sandboxId is its ID', async () => {
  const root = dockerNode('sandbox', 'var/lib/docker');
  const m = metaOf(await resolver(root).resolve(SANDBOX));
  assert.equal(m.isSandbox, true);
  assert.equal(m.name, 'POD');
  assert.equal(m.sandboxId, SANDBOX);
  assert.equal(m.image, 'registry.k8s.io/pause:3.9');
  assert.deepEqual(m.pod, EXPECTED_POD);
  assert.equal(m.networkMode, 'none');
});

test('hostNetwork pod: sandbox NetworkMode host, app UTSMode host', async () => {
  const root = dockerNode('hostnet', 'var/lib/docker', undefined, 'hostNetwork');
  const app = metaOf(await resolver(root).resolve(APP));
  assert.equal(app.pod?.hostNetwork, true);
  assert.equal(app.utsMode, 'host');
  assert.equal(metaOf(await resolver(root).resolve(SANDBOX)).pod?.hostNetwork, true);
});

test('--docker-config overrides where daemon.json is (an operator path, not under the host root)', async () => {
  const root = dockerNode('override', 'custom/docker', '{"data-root":"/var/lib/not-here"}');
  const cfg = path.join(base, 'operator-daemon.json');
  writeFileSync(cfg, '{"data-root":"/custom/docker"}');
  assert.equal(metaOf(await resolver(root, cfg).resolve(APP)).pod?.name, EXPECTED_POD.name);
  const missing = await resolver(root, path.join(base, 'nope.json')).resolve(APP);
  assert.equal(missing.ok ? 'ok' : missing.code, 'NOT_FOUND');
});

test('a data root symlinked to another directory inside the host root is allowed', async () => {
  const root = dockerNode('symlinked', 'srv/docker');
  mkdirSync(path.join(root, 'var/lib'), { recursive: true });
  symlinkSync('/srv/docker', path.join(root, 'var/lib/docker'));
  assert.equal(metaOf(await resolver(root).resolve(APP)).name, 'app');
});

test('plain docker container: no pod, name without the leading slash', async () => {
  const root = path.join(base, 'plain');
  const id = 'd'.repeat(64);
  write(root, `var/lib/docker/containers/${id}/config.v2.json`, JSON.stringify({ ID: id, Name: '/web', Config: { Image: 'busybox:latest', Hostname: 'dddddddddddd', Labels: {} } }));
  write(root, `var/lib/docker/containers/${id}/hostconfig.json`, JSON.stringify({ NetworkMode: 'bridge', UTSMode: '' }));
  assert.deepEqual(metaOf(await resolver(root).resolve(id)), {
    id, runtime: 'docker', name: 'web', image: 'busybox:latest', hostname: 'dddddddddddd',
    isSandbox: false, sandboxId: null, pod: null, networkMode: 'bridge', utsMode: null, created: null,
  });
});

test('sandbox gone: pod identity kept, labels missing, a warning says why', async () => {
  const root = dockerNode('nosandbox', 'var/lib/docker');
  rmSync(path.join(root, 'var/lib/docker/containers', SANDBOX), { recursive: true });
  const r = await resolver(root).resolve(APP);
  assert.ok(r.ok);
  assert.equal(r.meta.pod?.name, EXPECTED_POD.name);
  assert.deepEqual(r.meta.pod?.labels, {});
  assert.match(r.warning ?? '', /sandbox unreadable/);
});

async function failureCode(root: string | DockerResolver, id: string, cfg?: string): Promise<string> {
  const r = await (typeof root === 'string' ? resolver(root, cfg) : root).resolve(id);
  return r.ok ? 'ok' : r.code;
}

test('bad input: corrupt config.v2.json, huge file, symlink out of the root, missing hostconfig, ID mismatch', async () => {
  const root = dockerNode('bad', 'var/lib/docker');
  const dir = (id: string) => path.join(root, 'var/lib/docker/containers', id);
  const ids = ['1', '2', '3', '4', '5'].map((c) => c.repeat(64));
  for (const id of ids) write(root, `var/lib/docker/containers/${id}/hostconfig.json`, '{}');
  writeFileSync(path.join(dir(ids[0]!), 'config.v2.json'), '{"ID": "11');
  writeFileSync(path.join(dir(ids[1]!), 'config.v2.json'), '');
  truncateSync(path.join(dir(ids[1]!), 'config.v2.json'), 6 * 1024 * 1024 * 1024);
  writeFileSync(path.join(base, 'stolen.json'), fixture('app.config.v2.json'));
  symlinkSync(`../../../../../../stolen.json`, path.join(dir(ids[2]!), 'config.v2.json'));
  writeFileSync(path.join(dir(ids[3]!), 'config.v2.json'), JSON.stringify({ ID: ids[3] }));
  rmSync(path.join(dir(ids[3]!), 'hostconfig.json'));
  writeFileSync(path.join(dir(ids[4]!), 'config.v2.json'), JSON.stringify({ ID: APP }));
  assert.equal(await failureCode(root, ids[0]!), 'BAD_JSON');
  assert.equal(await failureCode(root, ids[1]!), 'TOO_LARGE');
  assert.equal(await failureCode(root, ids[2]!), 'OUTSIDE_ROOT');
  assert.equal(await failureCode(root, ids[3]!), 'NOT_FOUND');
  assert.equal(await failureCode(root, ids[4]!), 'BAD_ID');
  assert.equal(await failureCode(root, '9'.repeat(64)), 'NOT_FOUND');
});

test('bad IDs never reach the filesystem: 63 chars, uppercase, with a slash, traversal', async () => {
  const root = dockerNode('badid', 'var/lib/docker');
  // A file a traversal "ID" would reach if it were used as a path.
  write(root, 'var/lib/docker/containers/x/config.v2.json', fixture('app.config.v2.json'));
  write(root, 'var/lib/docker/containers/x/hostconfig.json', '{}');
  for (const id of [APP.slice(1), APP.toUpperCase(), `${APP.slice(0, 30)}/${APP.slice(31)}`, '../containers/x', `${APP}/../x`]) {
    assert.equal(await failureCode(root, id), 'BAD_ID', id);
  }
});

test('bad daemon.json: corrupt JSON, not an object, non-string or relative data-root', async () => {
  const cases: Array<[string, string]> = [
    ['{"data-root": "/x",', 'BAD_JSON'],
    ['[]', 'BAD_JSON'],
    ['{"data-root": 42}', 'BAD_JSON'],
    ['{"graph": "relative/docker"}', 'BAD_PATH'],
  ];
  for (const [i, [json, want]] of cases.entries()) {
    const root = dockerNode(`baddaemon${i}`, 'var/lib/docker', json);
    assert.equal(await failureCode(root, APP), want, json);
  }
});

test('daemon.json is re-read: a new data root after configTtlMs, a fixed corrupt file after configNegativeTtlMs', async () => {
  const root = dockerNode('reread', 'new/docker', '{"data-root": "/old/docker"}');
  let now = 0;
  const r = new DockerResolver({ hostRoot: root, maxFileBytes: 1 << 20, configTtlMs: 60_000, configNegativeTtlMs: 1_000, clock: () => now });
  assert.equal(await failureCode(r, APP), 'NOT_FOUND');
  write(root, 'etc/docker/daemon.json', '{"data-root": "/new/docker"}');
  now += 59_999;
  assert.equal(await failureCode(r, APP), 'NOT_FOUND', 'data root still cached');
  now += 1;
  assert.equal(await failureCode(r, APP), 'ok');
  write(root, 'etc/docker/daemon.json', '{"data-root": ');
  now += 60_000;
  assert.equal(await failureCode(r, APP), 'BAD_JSON');
  write(root, 'etc/docker/daemon.json', '{"data-root": "/new/docker"}');
  assert.equal(await failureCode(r, APP), 'BAD_JSON', 'failure cached briefly');
  now += 1_000;
  assert.equal(await failureCode(r, APP), 'ok');
});

test('composite: positive cache until TTL, negative cache, one lookup for concurrent events, reason logged once', async () => {
  const root = dockerNode('cache', 'var/lib/docker');
  let now = 1_000_000;
  const warnings: unknown[] = [];
  const logger = { warn: (obj: unknown) => warnings.push(obj) } as unknown as Logger;
  const r = createResolver({ hostRoot: root, runtimes: ['docker'], cacheTtlMs: 10_000, negativeTtlMs: 1_000, clock: () => now, logger });
  const stats = () => r.stats().docker!;

  const all = await Promise.all(Array.from({ length: 20 }, () => r.resolve(APP, 'docker')));
  assert.ok(all.every((x) => x.ok));
  assert.equal(stats().misses, 1);
  assert.equal(stats().joined, 19);

  // The file changes on disk; the cache hides it until the TTL passes.
  const appCfg = path.join(root, 'var/lib/docker/containers', APP, 'config.v2.json');
  writeFileSync(appCfg, fixture('app.config.v2.json').replace('"io.kubernetes.container.name": "app"', '"io.kubernetes.container.name": "app2"'));
  now += 9_999;
  assert.equal(metaOf(await r.resolve(APP)).name, 'app');
  now += 1;
  assert.equal(metaOf(await r.resolve(APP)).name, 'app2');
  assert.equal(stats().misses, 2);

  // Negative cache: a missing container is looked up again only after negativeTtlMs.
  const ghost = 'e'.repeat(64);
  for (let i = 0; i < 5; i++) assert.equal((await r.resolve(ghost)).ok, false);
  assert.equal(stats().misses, 3);
  assert.equal(stats().negativeHits, 4);
  write(root, `var/lib/docker/containers/${ghost}/config.v2.json`, JSON.stringify({ ID: ghost, Name: '/late', Config: {} }));
  write(root, `var/lib/docker/containers/${ghost}/hostconfig.json`, '{}');
  assert.equal((await r.resolve(ghost)).ok, false, 'still negatively cached');
  now += 1_000;
  assert.equal(metaOf(await r.resolve(ghost)).name, 'late');

  // A corrupt container: logged once however many events and cache expiries.
  const bad = 'f'.repeat(64);
  write(root, `var/lib/docker/containers/${bad}/config.v2.json`, '{');
  for (let i = 0; i < 10; i++) {
    const res = await r.resolve(bad);
    assert.equal(res.ok ? 'ok' : res.code, 'BAD_JSON');
    now += 2_000;
  }
  const about = (id: string) => warnings.filter((w) => (w as { containerId?: string }).containerId === id);
  assert.equal(about(bad).length, 1);
  assert.equal(about(ghost).length, 1);
  assert.equal(about(APP).length, 0);
});

test('composite: options are validated at construction', () => {
  assert.throws(() => createResolver({ hostRoot: 'relative' }), /hostRoot/);
  assert.throws(() => createResolver({ runtimes: [] }), /runtimes/);
  assert.throws(() => createResolver({ runtimes: ['rkt' as never] }), /unknown runtime/);
  assert.throws(() => createResolver({ cacheTtlMs: -1 }), /cacheTtlMs/);
  assert.throws(() => createResolver({ maxFileBytes: 0 }), /maxFileBytes/);
  // Refused, not allocated: lru-cache would try to build a 2^31-entry table and abort node.
  assert.throws(() => createResolver({ cacheSize: 2 ** 31 }), /cacheSize must be an integer in \[1, 1000000\]/);
  assert.throws(() => createResolver({ containerdNamespaces: ['../x'] }), /namespace/);
});
