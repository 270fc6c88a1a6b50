// SPDX-License-Identifier: Apache-2.0
// patches/kafkajs+2.2.4.patch's linear per-partition grouping gives exactly what kafkajs's
// own (quadratic) one gives: the installed file against the one in kafkajs's npm tarball.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { pristineRequire } from '../helpers/kafkajs-pristine.js';

const require = createRequire(import.meta.url);
type Group = (a: { topic: string; partitionMetadata: unknown[]; messages: unknown[]; partitioner: (a: { message: never }) => number }) => Record<number, unknown[]>;
const patched = require('kafkajs/src/producer/groupMessagesPerPartition.js') as Group & { podtrailPatch?: string };
const theirs = pristineRequire<Group & { podtrailPatch?: string }>('./src/producer/groupMessagesPerPartition.js');

test('the installed grouping is the patched one, the tarball\'s is kafkajs\'s own', () => {
  assert.equal(patched.podtrailPatch, 'linear-grouping', 'node_modules/kafkajs is not patched: npm ci runs patch-package');
  assert.equal(theirs.podtrailPatch, undefined);
  assert.notEqual(patched.toString(), theirs.toString());
});

test('linear grouping gives exactly what kafkajs\'s quadratic one gives', () => {
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
      const a = patched(args as never);
      const b = theirs(args as never);
      assert.deepEqual(a, b);
      assert.deepEqual(Object.keys(a), Object.keys(b), 'same key order');
      for (const k of Object.keys(a)) assert.notEqual(a[Number(k)], messages, 'a fresh array per partition');
    },
  ), { numRuns: 300 });
});

test('a partitioner that throws fails the same way in both', () => {
  const args = {
    topic: 't', partitionMetadata: [{ partitionId: 0 }], messages: [{ key: 'a' }],
    partitioner: () => { throw new RangeError('no partition'); },
  };
  assert.throws(() => patched(args as never), RangeError);
  assert.throws(() => theirs(args as never), RangeError);
});
