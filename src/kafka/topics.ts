// SPDX-License-Identifier: Apache-2.0
// Creates DESIGN.md's default topics when missing. Existing topics are left as they are.
import type { Kafka, ITopicConfig } from 'kafkajs';
import type { TopicsConfig } from '../common/config.js';
import { KafkaError } from '../common/errors.js';

export type TopicRole = 'raw' | 'audit' | 'containers' | 'dlq';

export function topicSpecs(t: TopicsConfig, roles: TopicRole[] = ['raw', 'audit', 'containers', 'dlq']): ITopicConfig[] {
  return roles.map((role) => {
    const spec: ITopicConfig = { topic: t[role], numPartitions: t.partitions, replicationFactor: t.replicationFactor };
    // The container topic is a table keyed by container ID: compaction keeps each
    // container's latest versions without deleting history we still join against.
    if (role === 'containers') {
      spec.configEntries = [
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'min.compaction.lag.ms', value: String(7 * 24 * 3600 * 1000) },
      ];
    }
    if (role === 'dlq') spec.numPartitions = Math.min(t.partitions, 3);
    return spec;
  });
}

/** Returns the names of topics it created. */
export async function ensureTopics(kafka: Kafka, t: TopicsConfig, roles?: TopicRole[]): Promise<string[]> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const missing = topicSpecs(t, roles).filter((s) => !existing.has(s.topic));
    if (missing.length === 0) return [];
    try {
      await admin.createTopics({ topics: missing, waitForLeaders: true });
    } catch (err) {
      // Another stage may have created it a moment ago.
      const still = new Set(await admin.listTopics());
      if (missing.some((s) => !still.has(s.topic))) throw err;
    }
    return missing.map((s) => s.topic);
  } catch (err) {
    throw new KafkaError(`cannot create topics: ${(err as Error).message}`, { cause: err, retriable: true });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
