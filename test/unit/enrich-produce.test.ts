// SPDX-License-Identifier: Apache-2.0
// The enrich stage's produce requests: bounded in size, nothing lost or reordered, and the
// memoised partitioner agrees with kafkajs's default (Java-compatible) one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Partitioners, type Message, type PartitionMetadata } from 'kafkajs';
import { bySize, memoKeyPartitioner } from '../../src/enrich/produce.js';

const msg = (key: string, bytes: number, headers?: Record<string, string>): Message => ({ key, value: Buffer.alloc(bytes), ...(headers ? { headers } : {}) });

test('bySize keeps order and every message, and stays under the limit', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(3000), { maxLength: 300 }), fc.array(fc.nat(500), { maxLength: 20 }), (sizes, dlqSizes) => {
      const audit = sizes.map((n, i) => msg(`a${i}`, n));
      const dlq = dlqSizes.map((n, i) => msg(`d${i}`, n, { 'podtrail-error': 'x'.repeat(n % 50) }));
      const reqs = bySize([['audit', audit], ['dlq', dlq]], 20_000);
      const flat = reqs.flat();
      assert.deepEqual(flat.filter((t) => t.topic === 'audit').flatMap((t) => t.messages), audit);
      assert.deepEqual(flat.filter((t) => t.topic === 'dlq').flatMap((t) => t.messages), dlq);
      for (const r of reqs) {
        const bytes = r.flatMap((t) => t.messages).reduce((s, m) => s + (m.value as Buffer).length + String(m.key).length, 0);
        assert.ok(bytes <= 20_000, `request of ${bytes} bytes`);
        assert.ok(r.every((t) => t.messages.length > 0));
      }
      if (audit.length + dlq.length === 0) assert.equal(reqs.length, 0);
    }),
    { numRuns: 300 },
  );
});

test('a message larger than the limit still goes out, alone', () => {
  const reqs = bySize([['audit', [msg('a', 10), msg('b', 50_000), msg('c', 10)]]], 1000);
  assert.deepEqual(reqs.map((r) => r.flatMap((t) => t.messages.map((m) => m.key))), [['a'], ['b'], ['c']]);
});

test('memoKeyPartitioner picks the default partitioner\'s partition, also after the partition count changes', () => {
  const meta = (n: number): PartitionMetadata[] => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  const memo = memoKeyPartitioner(50)();
  const dflt = Partitioners.DefaultPartitioner();
  fc.assert(
    fc.property(fc.string(), fc.boolean(), fc.constantFrom(1, 3, 6, 12), (key, asBuffer, n) => {
      const message = { key: asBuffer ? Buffer.from(key) : key, value: 'v' };
      for (let i = 0; i < 2; i++) assert.equal(memo({ topic: 't', partitionMetadata: meta(n), message }), dflt({ topic: 't', partitionMetadata: meta(n), message }));
    }),
    { numRuns: 2000 },
  );
  // An explicit partition wins.
  assert.equal(memo({ topic: 't', partitionMetadata: meta(6), message: { key: 'k', value: 'v', partition: 4 } }), 4);
});
