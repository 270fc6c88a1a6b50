// SPDX-License-Identifier: Apache-2.0
// Finding CRI sockets under a host root: the default paths, /var/run as a link to /run, and
// links or paths that would lead out of the host root.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSocketPath, criSockets } from '../../src/runtime/cri/sockets.js';
import { ConfigError } from '../../src/common/errors.js';
import { runCli } from '../helpers/cli.js';

let root: string;
let outside: string;
const servers: Server[] = [];
const listen = (p: string): Promise<void> => new Promise((resolve, reject) => {
  const s = createServer();
  servers.push(s);
  s.once('error', reject);
  s.listen(p, () => resolve());
});

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ptcs-'));
  outside = await mkdtemp(join(tmpdir(), 'ptcs-out-'));
  await mkdir(join(root, 'run/containerd'), { recursive: true });
  await mkdir(join(root, 'run/crio'), { recursive: true });
  await mkdir(join(root, 'var'), { recursive: true });
  await listen(join(root, 'run/containerd/containerd.sock'));
  // /var/run -> /run as on most nodes (absolute: taken inside the host root).
  await symlink('/run', join(root, 'var/run'));
  await listen(join(root, 'run/cri-dockerd.sock'));
  // CRI-O's path is a plain file, not a socket.
  await writeFile(join(root, 'run/crio/crio.sock'), 'not a socket');
  // k3s's directory links out of the host root.
  await listen(join(outside, 'containerd.sock'));
  await mkdir(join(root, 'run/k3s'), { recursive: true });
  await symlink(`../../../../../../../../../..${outside}`, join(root, 'run/k3s/containerd'));
});

after(async () => {
  for (const s of servers) s.close();
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

test('discovery: sockets at the default paths under the host root, links resolved inside it', async () => {
  const found = await criSockets(root);
  assert.deepEqual(found, [
    { path: join(root, 'run/containerd/containerd.sock'), runtime: 'containerd', label: 'containerd' },
    { path: join(root, 'run/cri-dockerd.sock'), runtime: 'docker', label: 'cri-dockerd' },
  ]);
});

test("a link that climbs with '..' stays inside the host root (as in a chroot), so k3s's outside socket is not found", async () => {
  const found = await criSockets(root);
  assert.ok(!found.some((s) => s.path.startsWith(outside)));
});

test('--cri-socket: taken as given (not probed), checked, de-duplicated; bad paths are a ConfigError', async () => {
  assert.deepEqual(await criSockets(root, ['/run/crio/crio.sock', '/run/crio/../crio/crio.sock', '/x/y.sock']), [
    { path: '/run/crio/crio.sock', runtime: 'cri-o', label: 'CRI-O' },
    { path: '/x/y.sock', runtime: undefined, label: 'CRI' },
  ]);
  for (const bad of ['relative.sock', '', '/a\0b', `/${'x'.repeat(200)}`]) {
    assert.throws(() => checkSocketPath(bad), ConfigError, JSON.stringify(bad));
  }
});

test('the CLI refuses a bad --cri-socket with exit 2 and names the flag', async () => {
  for (const cmd of ['capture', 'enrich', 'doctor']) {
    const r = await runCli([cmd, '--cri-socket', 'relative.sock'], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, `${cmd}: ${r.stderr}`);
    assert.match(r.stderr, /--cri-socket: must be an absolute path of at most 107 bytes \(a unix socket\), got "relative\.sock"/);
  }
});

test('a node without a CRI socket never loads gRPC (17 MiB of RSS); one with a socket does', async () => {
  // A child whose module resolver refuses @grpc/*: opening the runtimes must not ask for it.
  const hooks = join(root, '..', `${root.split('/').pop()}-hooks.mjs`);
  await writeFile(hooks, 'export async function resolve(s, c, next) { if (s.startsWith("@grpc/")) throw new Error(`gRPC loaded: ${s}`); return next(s, c); }\n');
  const open = (hostRoot: string) => `
    import { register } from 'node:module';
    register(${JSON.stringify(new URL(`file://${hooks}`).href)});
    const { openCriRuntimes } = await import(${JSON.stringify(new URL('../../src/runtime/cri/runtimes.js', import.meta.url).href)});
    const files = { resolve: async () => ({ ok: false, code: 'NOT_FOUND', reason: 'none' }) };
    const log = { info() {}, warn() {}, error() {}, debug() {}, child() { return log; } };
    const r = await openCriRuntimes({ hostRoot: ${JSON.stringify(hostRoot)}, files, log });
    console.log(JSON.stringify({ sockets: r.sockets.length, filesOnly: r.resolver === files, watchers: r.watchers.length }));
    r.close();`;
  const run = async (hostRoot: string) => {
    const { spawnSync } = await import('node:child_process');
    return spawnSync(process.execPath, ['--input-type=module', '-e', open(hostRoot)], { encoding: 'utf8', timeout: 30_000 });
  };
  const empty = await mkdtemp(join(tmpdir(), 'ptcs-empty-'));
  try {
    const none = await run(empty);
    assert.equal(none.status, 0, none.stderr);
    assert.deepEqual(JSON.parse(none.stdout), { sockets: 0, filesOnly: true, watchers: 0 });
    // The hook does refuse: with containerd's socket found, the same code fails to load gRPC.
    const some = await run(root);
    assert.notEqual(some.status, 0);
    assert.match(some.stderr, /gRPC loaded: @grpc\//);
  } finally {
    await rm(empty, { recursive: true, force: true });
    await rm(hooks, { force: true });
  }
});
