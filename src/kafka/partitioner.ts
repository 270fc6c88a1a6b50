// SPDX-License-Identifier: Apache-2.0
// Raw events are keyed `<node>/<cgroupId>` but partitioned by node alone: one partition
// then holds a capture instance's whole sequence in publish order, which is what lets
// enrich detect gaps exactly (and replays find the same ones). Enrich still scales with
// partitions across nodes. Other topics use kafkajs's default (Java-compatible) partitioner.
import { Partitioners, type ICustomPartitioner } from 'kafkajs';

export function nodePartitioner(rawTopic: string, node: string): ICustomPartitioner {
  return () => {
    const dflt = Partitioners.DefaultPartitioner();
    return ({ topic, partitionMetadata, message }) =>
      topic === rawTopic
        ? dflt({ topic, partitionMetadata, message: { ...message, key: node } })
        : dflt({ topic, partitionMetadata, message });
  };
}
