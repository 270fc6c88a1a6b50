// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fc from 'fast-check';
import { compileOwn } from '../../src/kafka/cjs-cache.js';
import { KAFKAJS_GROUPING_FILE, groupMessagesPerPartition } from '../../src/kafka/kafkajs-grouping.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** kafkajs's own function, compiled from its file (the cache may hold ours). */
const original = () => compileOwn<typeof groupMessagesPerPartition>(KAFKAJS_GROUPING_FILE);

test('linear grouping gives exactly what kafkajs\'s quadratic one gives', () => {
  const theirs = original();
  fc.assert(fc.property(
    fc.array(fc.record({ key: fc.string(), partition: fc.nat(7) }), { maxLength: 300 }),
    fc.integer({ min: 0, max: 8 }),
    (messages, nPartitions) => {
      const args = {
        topic: 't',
        partitionMetadata: Array.from({ length: nPartitions }, (_, i) => ({ partitionId: i })),
        messages,
        partitioner: ({ message }: { message: { partition: number } }) => message.partition,
      };
      const a = groupMessagesPerPartition(args);
      const b = theirs(args);
      assert.deepEqual(a, b);
      assert.deepEqual(Object.keys(a), Object.keys(b), 'same key order');
    },
  ), { numRuns: 300 });
});

test('installed before kafkajs loads, kafkajs\'s producer gets it; bin/podtrail.js imports it first', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
    const g = await import(${JSON.stringify(path.join(root, 'dist/src/kafka/kafkajs-grouping.js'))});
    await import('kafkajs');
    process.stdout.write(String(g.groupingPatched()));`], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'true');
  const late = spawnSync(process.execPath, ['--input-type=module', '-e', `
    await import('kafkajs');
    const g = await import(${JSON.stringify(path.join(root, 'dist/src/kafka/kafkajs-grouping.js'))});
    process.stdout.write(String(g.groupingPatched()));`], { cwd: root, encoding: 'utf8' });
  assert.equal(late.stdout, 'false', 'imported after kafkajs it must leave kafkajs alone');
  const imports = readFileSync(path.join(root, 'bin/podtrail.js'), 'utf8').split('\n').filter((l) => l.startsWith('import '));
  assert.equal(imports[0], "import '../dist/src/kafka/kafkajs-grouping.js';");
});
