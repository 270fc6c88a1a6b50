// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CAPTURE_NODE_FLAGS, hasCaptureNodeFlags } from '../../src/capture/node-flags.js';

test('capture node flags: found in argv or NODE_OPTIONS, missing ones reported', () => {
  assert.equal(hasCaptureNodeFlags([...CAPTURE_NODE_FLAGS], ''), true);
  assert.equal(hasCaptureNodeFlags([], `--trace-warnings ${CAPTURE_NODE_FLAGS.join(' ')}`), true);
  assert.equal(hasCaptureNodeFlags([], ''), false);
  assert.equal(hasCaptureNodeFlags(['--max-semi-space-size=16'], '--max-semi-space-size'), false);
});

test('the flag really limits the young generation when node starts with it (it does nothing later)', () => {
  // A fresh node per case: V8 sizes its heap once, at startup.
  const script = `const v8 = require('node:v8'); const keep = [];
    for (let i = 0; i < 2e6; i++) { const o = { a: i, b: 'x' + i }; if (i % 50 === 0) keep.push(o); if (keep.length > 4000) keep.length = 0; }
    process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size))`;
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, [...args, '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return Number(r.stdout) / 1048576;
  };
  const limited = run([...CAPTURE_NODE_FLAGS]);
  const unlimited = run([]);
  assert.ok(limited <= 8, `new space with the flags: ${limited} MiB`);
  assert.ok(unlimited > limited, `new space without the flags: ${unlimited} MiB`);
});
