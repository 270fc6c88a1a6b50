// SPDX-License-Identifier: Apache-2.0
// Read a topic from the beginning, read_committed, with a throwaway group.
import { randomBytes } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

export async function readAll(kafka: Kafka, topic: string, opts: { minCount?: number; idleMs?: number; maxWaitMs?: number; readUncommitted?: boolean } = {}): Promise<KafkaMessage[]> {
  const groupId = `test-read-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: opts.readUncommitted ?? false, sessionTimeout: 10_000 });
  const out: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let last = Date.now();
  const started = Date.now();
  await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => { out.push(message); last = Date.now(); } });
  const idleMs = opts.idleMs ?? 5000;
  const maxWaitMs = opts.maxWaitMs ?? 60_000;
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      const enough = opts.minCount !== undefined && out.length >= opts.minCount;
      const idle = Date.now() - last >= idleMs;
      const tooLong = Date.now() - started >= maxWaitMs;
      if ((enough && Date.now() - last >= Math.min(idleMs, 2000)) || (opts.minCount === undefined && idle) || tooLong) {
        clearInterval(t);
        resolve();
      }
    }, 100);
  });
  await consumer.disconnect();
  const admin = kafka.admin();
  await admin.connect().then(() => admin.deleteGroups([groupId])).catch(() => undefined).finally(() => admin.disconnect());
  return out;
}
