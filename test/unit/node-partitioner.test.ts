// SPDX-License-Identifier: Apache-2.0
// src/kafka/partitioner.ts: capture's raw-topic partitioner remembers the node's partition per
// partition count. It must give exactly what kafkajs's default partitioner gives for the node as
// key (what it computed before the memo), follow a change of the partition count, and leave other
// topics and explicit partitions to kafkajs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { nodePartitioner } from '../../src/kafka/partitioner.js';

const meta = (n: number): PartitionMetadata[] => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));

test('the raw topic goes by node, as kafkajs partitions the node as key, for every partition count', () => {
  const dflt = Partitioners.DefaultPartitioner();
  for (const node of ['node-a', 'ip-10-0-3-17.ec2.internal', 'w', 'kind-worker2', 'ñode']) {
    const p = nodePartitioner('raw', node)();
    // The count changes up and down: the remembered partition follows it.
    for (const n of [6, 6, 1, 12, 6, 7, 64, 6]) {
      for (const key of [`${node}/1`, `${node}/99`, 'other']) {
        const want = dflt({ topic: 'raw', partitionMetadata: meta(n), message: { key: node, value: null } });
        assert.equal(p({ topic: 'raw', partitionMetadata: meta(n), message: { key, value: null } }), want, `${node}, ${n} partitions`);
      }
    }
  }
});

test('other topics and explicit partitions are kafkajs\'s default partitioner\'s', () => {
  const dflt = Partitioners.DefaultPartitioner();
  const p = nodePartitioner('raw', 'node-a')();
  for (const key of ['a', 'b/c', 'container-1234']) {
    assert.equal(p({ topic: 'containers', partitionMetadata: meta(6), message: { key, value: null } }), dflt({ topic: 'containers', partitionMetadata: meta(6), message: { key, value: null } }));
  }
  assert.equal(p({ topic: 'raw', partitionMetadata: meta(6), message: { key: 'x', value: null, partition: 4 } }), 4);
});
