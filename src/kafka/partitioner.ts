// SPDX-License-Identifier: Apache-2.0
// Raw events are keyed `<node>/<cgroupId>` but partitioned by node alone: one partition
// then holds a capture instance's whole sequence in publish order, which is what lets
// enrich detect gaps exactly (and replays find the same ones). Enrich still scales with
// partitions across nodes. Other topics use kafkajs's default (Java-compatible) partitioner.
import { Partitioners, type ICustomPartitioner } from 'kafkajs';

export function nodePartitioner(rawTopic: string, node: string): ICustomPartitioner {
  return () => {
    const dflt = Partitioners.DefaultPartitioner();
    // The node's partition, per partition count: kafkajs's murmur2 (a 64-bit Long class) and a
    // copied message per event cost capture ~1 us of CPU per event (bench/README.md), for the
    // same answer every time. Computed again when the partition list changes length.
    let memo: { n: number; partition: number } | undefined;
    return ({ topic, partitionMetadata, message }) => {
      if (topic !== rawTopic || message.partition != null) return dflt({ topic, partitionMetadata, message });
      const n = partitionMetadata.length;
      if (memo === undefined || memo.n !== n) memo = { n, partition: dflt({ topic, partitionMetadata, message: { ...message, key: node } }) };
      return memo.partition;
    };
  };
}
