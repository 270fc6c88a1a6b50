// SPDX-License-Identifier: Apache-2.0
// kafkajs 2.2.4 (as published, or patched as podtrail runs it: spec.client), set up as podtrail uses it: idempotent producer with one request in flight
// per broker, acks=all; the passthrough is one transaction per fetched batch with
// sendOffsets, read_committed (enrich's exactly-once shape).
import { type ArmSpec, type Msg, loadClient, windowed } from './workload.js';

// podtrail's IDEMPOTENT_RETRY (src/kafka/client.ts); initialRetryTime can be changed with
// --kafkajs-retry-initial to see what the CONCURRENT_TRANSACTIONS retries after each commit cost.
const retry = (spec: ArmSpec) => ({ retries: Number.MAX_SAFE_INTEGER, initialRetryTime: spec.retryDelayMs ?? 200, maxRetryTime: 5000 });

async function client(spec: ArmSpec): Promise<any> {
  const m = await loadClient(spec.client === 'kafkajs-patched' ? 'kafkajs-patched' : 'kafkajs');
  const k = m.default ?? m;
  return { k, kafka: new k.Kafka({ clientId: 'bench-clients-kafkajs', brokers: spec.brokers, logLevel: k.logLevel.NOTHING }) };
}

export async function produceKafkajs(spec: ArmSpec, msgs: Msg[], run: (fn: () => Promise<{ records: number }>) => Promise<unknown>): Promise<void> {
  const { kafka } = await client(spec);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: retry(spec) });
  await producer.connect();
  try {
    await run(async () => {
      await windowed(msgs, spec.batch, spec.window, (chunk) => producer.send({ topic: spec.topic, acks: -1, messages: chunk }));
      return { records: msgs.length };
    });
  } finally {
    await producer.disconnect();
  }
}

export async function passthroughKafkajs(spec: ArmSpec, run: (fn: () => Promise<{ records: number; transactions: number; startedAt?: number }>) => Promise<unknown>): Promise<void> {
  const { kafka } = await client(spec);
  const producer = kafka.producer({ transactionalId: spec.transactionalId, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: retry(spec) });
  const consumer = kafka.consumer({ groupId: spec.group, readUncommitted: false, maxBytesPerPartition: 1 << 20 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: spec.topic, fromBeginning: true });
  let done = 0;
  let txns = 0;
  let startedAt: number | undefined;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  try {
    await run(async () => {
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat }: any) => {
          startedAt ??= performance.now();
          for (let i = 0; i < batch.messages.length; i += spec.batch) {
            const part = batch.messages.slice(i, i + spec.batch);
            const last = part[part.length - 1].offset;
            const txn = await producer.transaction();
            try {
              await txn.send({ topic: spec.outTopic, acks: -1, messages: part.map((m: any) => ({ key: m.key, value: m.value })) });
              await txn.sendOffsets({ consumerGroupId: spec.group, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }] });
              await txn.commit();
            } catch (err) {
              await txn.abort().catch(() => undefined);
              throw err;
            }
            txns++;
            resolveOffset(last);
            done += part.length;
            await heartbeat();
          }
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
