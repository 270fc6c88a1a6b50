// SPDX-License-Identifier: Apache-2.0
// @platformatic/kafka 1.x (pure JavaScript; 1.x is the last line that runs on Node 20):
// idempotent producer with acks=all; the passthrough reads its message stream
// (read_committed, its default), gathers what is already buffered into a batch of at most
// `batch` messages, and writes each batch in one transaction with the consumer's offsets
// (addConsumer, then addOffset with each partition's last message).
import { type ArmSpec, type Msg, loadClient, windowed } from './workload.js';

// retryDelay: its default is 1000 ms, and the AddPartitionsToTxn that follows a commit is often
// refused with CONCURRENT_TRANSACTIONS (retriable) while the broker still writes the markers;
// the comparison uses 200 ms, what podtrail's kafkajs producers wait (--platformatic-retry-delay).
const base = (spec: ArmSpec) => ({ clientId: 'bench-clients-platformatic', bootstrapBrokers: spec.brokers, retryDelay: spec.retryDelayMs ?? 1000 });

export async function producePlatformatic(spec: ArmSpec, msgs: Msg[], run: (fn: () => Promise<{ records: number }>) => Promise<unknown>): Promise<void> {
  const { Producer, ProduceAcks } = await loadClient('platformatic');
  const producer = new Producer({ ...base(spec), idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false });
  try {
    await run(async () => {
      await windowed(msgs, spec.batch, spec.window, (chunk) => producer.send({ messages: chunk.map((m) => ({ topic: spec.topic, key: m.key, value: m.value })) }));
      return { records: msgs.length };
    });
  } finally {
    await producer.close();
  }
}

export async function passthroughPlatformatic(spec: ArmSpec, run: (fn: () => Promise<{ records: number; transactions: number; startedAt?: number }>) => Promise<unknown>): Promise<void> {
  const { Producer, Consumer, ProduceAcks } = await loadClient('platformatic');
  const producer = new Producer({ ...base(spec), idempotent: true, transactionalId: spec.transactionalId, acks: ProduceAcks.ALL, autocreateTopics: false });
  const consumer = new Consumer({ ...base(spec), groupId: spec.group, maxBytesPerPartition: 1 << 20 });
  let done = 0;
  let txns = 0;
  let startedAt: number | undefined;
  try {
    await run(async () => {
      const stream = await consumer.consume({ topics: [spec.topic], mode: 'earliest', autocommit: false, sessionTimeout: 30_000, heartbeatInterval: 1000 });
      const it = stream[Symbol.asyncIterator]();
      while (done < spec.records) {
        const first = await it.next();
        if (first.done) throw new Error('platformatic: the message stream ended early');
        startedAt ??= performance.now();
        const batch: any[] = [first.value];
        // Take what the stream already holds, without waiting for more.
        while (batch.length < spec.batch && stream.readableLength > 0) {
          const n = await it.next();
          if (n.done) break;
          batch.push(n.value);
        }
        const lastByPartition = new Map<string, any>();
        for (const m of batch) lastByPartition.set(`${m.topic}/${m.partition}`, m);
        const txn = await producer.beginTransaction();
        try {
          await txn.send({ messages: batch.map((m) => ({ topic: spec.outTopic, key: m.key, value: m.value })) });
          await txn.addConsumer(consumer);
          for (const m of lastByPartition.values()) await txn.addOffset(m);
          await txn.commit();
        } catch (err) {
          await txn.abort().catch(() => undefined);
          throw err;
        }
        txns++;
        done += batch.length;
      }
      await stream.close();
      return { records: done, transactions: txns, ...(startedAt !== undefined ? { startedAt } : {}) };
    });
  } finally {
    await consumer.close(true).catch(() => undefined);
    await producer.close().catch(() => undefined);
  }
}
