// SPDX-License-Identifier: Apache-2.0
// @confluentinc/kafka-javascript through its KafkaJS-compatible API (librdkafka underneath):
// the same calls as the kafkajs arm, with the compat layer's documented differences (acks
// and idempotence per producer, fromBeginning/autoCommit per consumer, sendOffsets takes
// the consumer, eachBatch size set by js.consumer.max.batch.size). librdkafka batches
// internally (linger.ms), so in-flight send() calls share requests.
import { type ArmSpec, type Msg, loadClient, windowed } from './workload.js';

async function client(spec: ArmSpec): Promise<any> {
  const { KafkaJS } = await loadClient('confluent');
  return new KafkaJS.Kafka({ kafkaJS: { clientId: 'bench-clients-confluent', brokers: spec.brokers, logLevel: KafkaJS.logLevel.NOTHING } });
}

export async function produceConfluent(spec: ArmSpec, msgs: Msg[], run: (fn: () => Promise<{ records: number }>) => Promise<unknown>): Promise<void> {
  const kafka = await client(spec);
  const producer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1, allowAutoTopicCreation: false } });
  await producer.connect();
  try {
    await run(async () => {
      await windowed(msgs, spec.batch, spec.window, (chunk) => producer.send({ topic: spec.topic, messages: chunk }));
      return { records: msgs.length };
    });
  } finally {
    await producer.disconnect();
  }
}

export async function passthroughConfluent(spec: ArmSpec, run: (fn: () => Promise<{ records: number; transactions: number; startedAt?: number }>) => Promise<unknown>): Promise<void> {
  const kafka = await client(spec);
  const producer = kafka.producer({ kafkaJS: { transactionalId: spec.transactionalId, idempotent: true, acks: -1, allowAutoTopicCreation: false } });
  const consumer = kafka.consumer({ kafkaJS: { groupId: spec.group, fromBeginning: true, autoCommit: false }, 'js.consumer.max.batch.size': spec.batch });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [spec.topic] });
  let done = 0;
  let txns = 0;
  let startedAt: number | undefined;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  try {
    await run(async () => {
      await consumer.run({
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset }: any) => {
          if (batch.messages.length === 0) return;
          startedAt ??= performance.now();
          const last = batch.messages[batch.messages.length - 1].offset;
          const txn = await producer.transaction();
          try {
            await txn.send({ topic: spec.outTopic, messages: batch.messages.map((m: any) => ({ key: m.key, value: m.value })) });
            await txn.sendOffsets({ consumer, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }] });
            await txn.commit();
          } catch (err) {
            await txn.abort().catch(() => undefined);
            throw err;
          }
          txns++;
          resolveOffset(last);
          done += batch.messages.length;
          if (done >= spec.records) finish();
        },
      });
      await finished;
      return { records: done, transactions: txns, ...(startedAt !== undefined ? { startedAt } : {}) };
    });
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
}
