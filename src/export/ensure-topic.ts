// SPDX-License-Identifier: Apache-2.0
// Creates export's output topic when missing, sized like podtrail's own topics.
import type { Kafka } from 'kafkajs';
import type { TopicsConfig } from '../common/config.js';
import { KafkaError, errMessage } from '../common/errors.js';

/** true when it created the topic. */
export async function ensureTopic(kafka: Kafka, topic: string, t: TopicsConfig): Promise<boolean> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    if ((await admin.listTopics()).includes(topic)) return false;
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: t.partitions, replicationFactor: t.replicationFactor }], waitForLeaders: true });
    } catch (err) {
      if (!(await admin.listTopics()).includes(topic)) throw err;
      return false;
    }
    return true;
  } catch (err) {
    throw new KafkaError(`cannot create topic ${topic}: ${errMessage(err)}`, { cause: err, retriable: true });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
