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
