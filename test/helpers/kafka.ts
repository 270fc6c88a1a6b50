// SPDX-License-Identifier: Apache-2.0
// Test helpers for the real broker (started by `npm test`, or scripts/kafka-local.sh start).
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { ensureTopicSpecs } from '../../src/kafka/topics.js';

export const BROKERS = (process.env.PODTRAIL_BROKERS ?? '127.0.0.1:9092').split(',');

export function testKafka(clientId = 'podtrail-test'): Kafka {
  return new Kafka({ clientId, brokers: BROKERS, logLevel: logLevel.NOTHING, connectionTimeout: 3000 });
}

/** Fails (never skips) when no broker answers: the machine has one, so its absence is a bug. */
export async function requireBroker(): Promise<Kafka> {
  const kafka = testKafka();
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } catch (err) {
    throw new Error(`no Kafka broker answers at ${BROKERS.join(',')}: run \`npm test\` or scripts/kafka-local.sh start (${(err as Error).message})`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  return kafka;
}

export function uniqueTopic(prefix: string): string {
  return `test.${prefix}.${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
}

/**
 * Makes the topics and returns once every partition has a leader, through the moments a new
 * topic is listed but not yet served (kafkajs's own waitForLeaders threw then on a busy machine).
 */
export async function createTopics(kafka: Kafka, topics: string[], numPartitions = 1): Promise<void> {
  await ensureTopicSpecs(kafka, topics.map((topic) => ({ topic, numPartitions, replicationFactor: 1 })), silent, { deadlineMs: 60_000 });
}

const silent = pino({ level: 'silent' });

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics, timeout: 10000 });
  } catch {
    // best effort: a leftover test topic is harmless
  } finally {
    await admin.disconnect();
  }
}

export async function produce(kafka: Kafka, topic: string, messages: Array<{ key?: string; value: Buffer; partition?: number }>): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}
