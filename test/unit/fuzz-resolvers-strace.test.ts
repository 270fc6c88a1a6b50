// SPDX-License-Identifier: Apache-2.0
// The resolvers' "nothing read outside the host root", seen by the kernel: a child process
// (test/helpers/resolve-child.ts) resolves containers and reads paths in random host roots
// (test/helpers/host-tree.ts) under `strace -f -y`, and every file it opens between the
// markers must lie under the root being worked on. Complements fuzz-resolvers, which checks
// in-process through node:fs; this one would also see a read that bypassed node:fs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { A, C, S, buildTree, treeArb, treeBase } from '../helpers/host-tree.js';

const CHILD = fileURLToPath(new URL('../helpers/resolve-child.js', import.meta.url));
const TREES = 20;
const MARKER = '/nonexistent-podtrail-fuzz-marker';
// Opens the runtime itself makes at any time (glibc's CPU count for V8 and libuv), named
// exactly; nothing a host root's contents can steer.
const RUNTIME_OPENS = new Set(['/sys/devices/system/cpu/online', '/sys/devices/system/cpu/possible']);

function haveStrace(): boolean {
  return spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;
}

test('strace: every file the resolvers open lies under the host root being resolved', { timeout: 120_000 }, (t) => {
  if (!haveStrace()) {
    // CI installs strace (scripts/setup.sh); elsewhere say so loudly rather than pass.
    if (process.env.CI === 'true') assert.fail('strace is not installed (apt-get install strace)');
    t.skip('strace is not installed (apt-get install strace)');
    return;
  }
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
  t.diagnostic(`seed ${seed} (FUZZ_SEED=${seed} replays it)`);
  const base = treeBase('podtrail-fuzz-strace-');
  const trees = fc.sample(treeArb, { seed, numRuns: TREES });
  const roots = trees.map((entries, i) => realpathSync(buildTree(path.join(base, String(i)), entries)));
  const paths = ['/etc/docker/daemon.json', `/var/lib/docker/containers/${A}/config.v2.json`, '/../outside/secret', '../../outside/secret',
    '/var/lib/docker/../../../outside/secret', `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${S}/config.json`, '/dev/zero', '/proc/self/environ'];
  const specFile = path.join(base, 'spec.json');
  writeFileSync(specFile, JSON.stringify({ marker: MARKER, roots, ids: [A, S, C], hints: [null, 'docker', 'containerd', 'cri-o'], paths }));
  const traceFile = path.join(base, 'trace.txt');
  const r = spawnSync('strace', ['-f', '-y', '-qq', '-e', 'trace=open,openat,openat2', '-o', traceFile, process.execPath, CHILD, specFile],
    { encoding: 'utf8', timeout: 90_000 });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  const tally = JSON.parse(r.stdout) as Record<string, number>;
  t.diagnostic(`answers: ${JSON.stringify(tally)}`);
  assert.ok((tally.ok ?? 0) > 0, 'some lookups succeed, so the trace covers real reads');

  let current: number | 'end' | undefined;
  const opened: string[] = [];
  const violations: string[] = [];
  for (const line of readFileSync(traceFile, 'utf8').split('\n')) {
    const m = line.includes(MARKER) ? new RegExp(`${MARKER}/(root-(\\d+)|end)`).exec(line) : null;
    if (m) {
      current = m[1] === 'end' ? 'end' : Number(m[2]);
      continue;
    }
    if (current === undefined || current === 'end') continue;
    const o = /(?:open|openat|openat2)(?:\(| resumed>).*= \d+<(.*)>$/.exec(line);
    if (!o) continue;
    const file = o[1]!;
    if (RUNTIME_OPENS.has(file)) continue;
    opened.push(file);
    const root = roots[current]!;
    if (file !== root && !file.startsWith(`${root}/`)) violations.push(`root ${current}: opened ${file}\n  ${line}`);
  }
  assert.equal(current, 'end', 'the trace holds every marker');
  t.diagnostic(`${opened.length} files opened under strace`);
  assert.ok(opened.length > TREES, 'the trace shows the resolvers at work');
  assert.deepEqual(violations, []);
});
