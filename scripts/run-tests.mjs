#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// `npm test`: builds, makes sure a broker runs (starting the local one when
// PODTRAIL_BROKERS is unset and none answers, and stopping only what it started),
// mounts tracefs when root, then runs every test file with node:test, serially,
// because the integration tests share the broker, the kernel and dockerd.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const kafkaScript = path.join(root, 'scripts/kafka-local.sh');
const say = (m) => process.stderr.write(`run-tests: ${m}\n`);

function sh(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
}

const tsc = sh(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
if (tsc.status !== 0) {
  say('TypeScript build failed');
  process.exit(tsc.status ?? 1);
}

if (process.getuid?.() === 0) {
  const mounts = readFileSync('/proc/mounts', 'utf8');
  if (!/ \/sys\/kernel\/tracing tracefs /.test(mounts)) {
    const r = sh('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
    if (r.status !== 0) say('could not mount tracefs at /sys/kernel/tracing');
  }
}

let startedBroker = false;
if (!process.env.PODTRAIL_BROKERS) {
  const status = sh('bash', [kafkaScript, 'status'], { stdio: ['ignore', 'ignore', 'ignore'] });
  if (status.status !== 0) {
    say('no local broker runs: starting one (scripts/kafka-local.sh start)');
    const r = sh('bash', [kafkaScript, 'start']);
    if (r.status !== 0) {
      say('could not start the local Kafka broker');
      process.exit(1);
    }
    startedBroker = true;
  }
  // The local broker listens where scripts/kafka-local.sh puts it; tell the tests.
  process.env.PODTRAIL_BROKERS = `127.0.0.1:${process.env.PODTRAIL_KAFKA_PORT || 9092}`;
}

function stopBroker() {
  if (startedBroker) {
    say('stopping the broker it started');
    sh('bash', [kafkaScript, 'stop']);
    startedBroker = false;
  }
}

// Captures started by tests keep their instance state here, not in the node's /run/podtrail.
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'podtrail-test-state-'));

// Files, not directories: Node 22 and later take --test arguments as globs and find no
// test in a bare directory name.
const dirs = ['dist/test/unit', 'dist/test/integration']
  .filter((d) => existsSync(path.join(root, d)))
  .flatMap((d) => readdirSync(path.join(root, d)).filter((f) => f.endsWith('.test.js')).sort().map((f) => `${d}/${f}`));
const extra = process.argv.slice(2);
const child = spawn(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-timeout=600000', ...extra, ...(extra.some((a) => !a.startsWith('-')) ? [] : dirs)],
  { cwd: root, stdio: 'inherit', env: { PODTRAIL_STATE_DIR: stateDir, ...process.env, PODTRAIL_TEST_RUNNER: '1' } },
);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => child.kill(sig));
}
child.on('exit', (code, signal) => {
  stopBroker();
  rmSync(stateDir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
