// SPDX-License-Identifier: Apache-2.0
// Creates podtrail's topics when missing (existing topics are left as they are), and returns
// only once every partition of every topic it was asked for has a leader. Stages started
// together on a brand-new cluster all get here at once: one creates, the others see
// TOPIC_ALREADY_EXISTS, and all of them wait through the moments when a new topic is listed
// but its partitions are not yet served (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE).
import type { Admin, Kafka, ITopicConfig } from 'kafkajs';
import type { TopicsConfig } from '../common/config.js';
import { KafkaError } from '../common/errors.js';
import { moduleLogger, type Logger } from '../common/log.js';
import { kafkaCondition } from './conditions.js';
import { retryKafka, type RetryOptions } from './retry.js';

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

/**
 * A topic whose replication is left to the broker (-1) gets 3 replicas and
 * min.insync.replicas 2 on a cluster of three or more brokers: with acks=all a write then
 * survives the loss of one broker, and a second loss stops writes rather than losing them. A
 * broker's own default is often 1, which loses acknowledged records with one disk.
 */
export function replicated(spec: ITopicConfig, brokers: number): ITopicConfig {
  if ((spec.replicationFactor ?? -1) !== -1 || brokers < 3) return spec;
  const entries = spec.configEntries ?? [];
  return {
    ...spec,
    replicationFactor: 3,
    configEntries: entries.some((e) => e.name === 'min.insync.replicas') ? entries : [...entries, { name: 'min.insync.replicas', value: '2' }],
  };
}

/** Throws a retriable KafkaError until every partition of `topics` has a leader. */
export async function requireLeaders(admin: Admin, topics: string[]): Promise<void> {
  const md = await admin.fetchTopicMetadata({ topics });
  for (const name of topics) {
    const t = md.topics.find((x) => x.name === name);
    const leaderless = t ? t.partitions.filter((p) => p.leader < 0).map((p) => p.partitionId) : undefined;
    if (!t || t.partitions.length === 0 || leaderless!.length > 0) {
      throw new KafkaError(`topic ${name} ${t ? `has no leader yet for partition(s) ${leaderless!.join(',')}` : 'is not in the metadata yet'}`, { retriable: true });
    }
  }
}

/**
 * Makes the topics of `specs` exist with leaders. Returns the names of those this call
 * created. Retries retriable conditions (logged once per episode); fatal ones (no
 * permission, an invalid name) throw.
 */
export async function ensureTopicSpecs(kafka: Kafka, specs: ITopicConfig[], log: Logger = moduleLogger('kafka.topics'), opts: RetryOptions = {}): Promise<string[]> {
  const names = specs.map((s) => s.topic);
  let created: string[] = [];
  await retryKafka(`create topics ${names.join(', ')}`, async () => {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((s) => !existing.has(s.topic));
      if (missing.length > 0) {
        const brokers = (await admin.describeCluster()).brokers.length;
        try {
          // waitForLeaders is ours (requireLeaders), retried as a whole with the listing.
          if (await admin.createTopics({ topics: missing.map((m) => replicated(m, brokers)), waitForLeaders: false })) created = [...created, ...missing.map((s) => s.topic)];
        } catch (err) {
          const c = kafkaCondition(err);
          // Least privilege (deploy/kafka/acls.tsv): a stage may create only the topics it
          // writes. One it reads is made by its writer, or by an administrator: wait for it.
          // (No cause: the authorization error under it would make the condition fatal.)
          if (c.type === 'TOPIC_AUTHORIZATION_FAILED' || c.type === 'CLUSTER_AUTHORIZATION_FAILED') {
            throw new KafkaError(`no permission to create ${missing.map((m) => m.topic).join(', ')} (${c.type}): waiting for a principal that may (the stage that writes it, or an administrator) to create it`, { retriable: true });
          }
          // Another stage created some of them a moment ago: the listing next time says which.
          if (c.type !== 'TOPIC_ALREADY_EXISTS') throw err;
        }
      }
      await requireLeaders(admin, names);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }, log, opts);
  return created;
}

/** Creates the default topics (docs/reference/records.md) for `roles` when missing; returns the names it created. */
export function ensureTopics(kafka: Kafka, t: TopicsConfig, roles?: TopicRole[], log?: Logger, opts?: RetryOptions): Promise<string[]> {
  return ensureTopicSpecs(kafka, topicSpecs(t, roles), log, opts);
}
