#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// The `podtrail doctor` output with containerd in docs/runtimes.md (its temporary host root
// written HOSTROOT there): starts the tests' private containerd,
// bind-mounts its directory read-only at <root>/run/containerd (as the DaemonSet mounts the
// node's), runs doctor with --host-root <root> (discovery) and with --cri-socket, and stops it.
// Run as root after `npm ci`: node scripts/readme-doctor-containerd.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { startContainerd } from '../dist/test/helpers/containerd.js';
const h = await startContainerd();
const root = mkdtempSync(join(tmpdir(), 'pt-host-'));
const at = join(root, 'run/containerd');
mkdirSync(at, { recursive: true });
const sh = (cmd, args) => { const r = spawnSync(cmd, args, { encoding: 'utf8' }); if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`); };
try {
  sh('mount', ['--bind', dirname(h.socket), at]);
  sh('mount', ['-o', 'remount,bind,ro', at]);
  for (const args of [['doctor', '--host-root', root], ['doctor', '--cri-socket', h.socket]]) {
    const r = spawnSync(process.execPath, ['bin/podtrail.js', ...args], { encoding: 'utf8' });
    console.log(`$ node bin/podtrail.js ${args.join(' ')}   # exit ${r.status}`);
    process.stdout.write(r.stdout + r.stderr);
  }
} finally {
  spawnSync('umount', [at]);
  rmSync(root, { recursive: true, force: true });
  await h.stop();
}
