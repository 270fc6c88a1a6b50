// SPDX-License-Identifier: Apache-2.0
// Creates export's output topic when missing, sized like podtrail's own topics.
import type { Kafka } from 'kafkajs';
import type { TopicsConfig } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { ensureTopicSpecs } from '../kafka/topics.js';

/** true when it created the topic. */
export async function ensureTopic(kafka: Kafka, topic: string, t: TopicsConfig, log?: Logger): Promise<boolean> {
  const created = await ensureTopicSpecs(kafka, [{ topic, numPartitions: t.partitions, replicationFactor: t.replicationFactor }], log);
  return created.length > 0;
}
