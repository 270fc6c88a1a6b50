// SPDX-License-Identifier: Apache-2.0
// kafkajs is pinned and patched in one checked place: the installed kafkajs is exactly
// kafkajs's tarball plus patches/kafkajs+2.2.4.patch (fails when the patch is not applied,
// or when node_modules drifts from it), and startup says which changes are in force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../src/common/errors.js';
import { KAFKAJS_PATCH, KAFKAJS_VERSION, PATCHED_ALSO, PATCHED_FILES, checkKafkajsVersion, installedKafkajsVersion, kafkajsChanges } from '../../src/kafka/kafkajs-changes.js';
import { pristineKafkajsDir, repoRoot } from '../helpers/kafkajs-pristine.js';

const patchFile = path.join(repoRoot, KAFKAJS_PATCH);

test('package.json pins kafkajs exactly, applies the patch at install, and the pin is what is installed', () => {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; scripts: Record<string, string> };
  assert.equal(pkg.dependencies.kafkajs, KAFKAJS_VERSION);
  assert.equal(pkg.scripts.postinstall, 'patch-package');
  assert.equal(installedKafkajsVersion(), KAFKAJS_VERSION);
  assert.doesNotThrow(() => checkKafkajsVersion());
});

test('another kafkajs version is refused with a ConfigError naming the pin and the fix', () => {
  for (const v of ['2.2.3', '2.3.0', '', 'garbage']) {
    assert.throws(() => checkKafkajsVersion(v), (e: unknown) =>
      e instanceof ConfigError && e.message.includes(`pinned to kafkajs ${KAFKAJS_VERSION}`) && e.message.includes('npm ci'));
  }
});

test('node_modules/kafkajs is exactly the npm tarball with the patch applied', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'podtrail-kafkajs-patch-'));
  try {
    cpSync(pristineKafkajsDir(), tmp, { recursive: true });
    // The patch's paths are a/node_modules/kafkajs/...: strip three components.
    const apply = spawnSync('git', ['apply', '-p3', '--whitespace=nowarn', patchFile], { cwd: tmp, encoding: 'utf8' });
    assert.equal(apply.status, 0, `the patch does not apply to kafkajs ${KAFKAJS_VERSION}'s tarball: ${apply.stderr}`);
    const touched = readFileSync(patchFile, 'utf8').match(/^\+\+\+ b\/node_modules\/kafkajs\/(.+)$/gm)!.map((l) => l.replace(/^\+\+\+ b\/node_modules\/kafkajs\//, ''));
    const known = [...Object.values(PATCHED_FILES), ...Object.values(PATCHED_ALSO).flat()].map((f) => f!.replace(/^kafkajs\//, ''));
    assert.deepEqual(touched.sort(), known.sort(), 'the patch touches exactly the files kafkajs-changes.ts knows');
    for (const rel of touched) {
      assert.equal(readFileSync(path.join(repoRoot, 'node_modules/kafkajs', rel), 'utf8'), readFileSync(path.join(tmp, rel), 'utf8'),
        `node_modules/kafkajs/${rel} is not the patched file: run npm ci (its postinstall runs patch-package)`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('every hunk of the patch says why, and names the bench line or test that justifies it', () => {
  const text = readFileSync(patchFile, 'utf8');
  const files = text.split(/^diff --git /m).slice(1);
  assert.equal(files.length, Object.keys(PATCHED_FILES).length + Object.values(PATCHED_ALSO).flat().length);
  for (const f of files) {
    for (const hunk of f.split(/^@@ /m).slice(1)) {
      assert.match(hunk, /^\+\s*\/\/ podtrail patch/m, `a hunk without a "podtrail patch" comment:\n${hunk.slice(0, 300)}`);
    }
    assert.match(f, /^\+\s*\/\/ .*(Bench: `npm run bench:kafkajs-record`|Test: test\/\S+\.test\.ts)/m, f.slice(0, 200));
  }
});

test('the changes in force: every patch here; gzip level 1 only once capture asks for it', async () => {
  assert.deepEqual(kafkajsChanges(), { 'linear-grouping': true, 'exact-size-record': true, 'no-negative-timeout': true, 'stable-offset-fetch': true, 'per-partition-retry': true, 'aborted-transactions': true, 'tls-verify-fatal': true, 'gzip-level-1': false });
  const { useFastGzip } = await import('../../src/kafka/kafkajs-changes.js');
  useFastGzip();
  assert.equal(kafkajsChanges()['gzip-level-1'], true);
});

test('a stage\'s first Kafka client logs the kafkajs version and the changes in force, once', () => {
  const script = `
    import { pino } from 'pino';
    const { createKafka } = await import(${JSON.stringify(path.join(repoRoot, 'dist/src/kafka/client.js'))});
    const log = pino({ level: 'info' }, process.stdout);
    const cfg = { clientId: 't', brokers: ['127.0.0.1:1'] };
    createKafka(cfg, log);
    createKafka(cfg, log);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; kafkajs?: string; changes?: string[]; level: number });
  const info = lines.filter((l) => l.kafkajs !== undefined);
  assert.equal(info.length, 1, r.stdout);
  assert.equal(info[0]!.kafkajs, KAFKAJS_VERSION);
  assert.deepEqual(info[0]!.changes, ['linear-grouping', 'exact-size-record', 'no-negative-timeout', 'stable-offset-fetch', 'per-partition-retry', 'aborted-transactions', 'tls-verify-fatal']);
  assert.match(info[0]!.msg, /changes in force: linear-grouping, exact-size-record, no-negative-timeout, stable-offset-fetch, per-partition-retry, aborted-transactions, tls-verify-fatal$/);
  assert.equal(lines.filter((l) => l.level >= 40).length, 0, 'no warning when patched');
});
