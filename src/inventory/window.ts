// SPDX-License-Identifier: Apache-2.0
// Reads a time window of a topic once, to its end as it was when the read began, and stops.
// read_committed, so aborted transactions and open ones are never counted; a throwaway
// consumer group that never commits and is deleted after, so nobody's offsets move.
// Partitions are positioned by Kafka timestamp (publish time), `slackMs` around the window,
// and the caller keeps records by their own event time. Memory is kafkajs's fetch buffers:
// each message is handed over and forgotten.
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { ConfigError, KafkaError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { retryKafka } from '../kafka/retry.js';

export interface WindowSpec {
  topic: string;
  /** event-time window in ns; undefined ends are open (the topic's start, or its end now) */
  sinceNs: bigint | undefined;
  untilNs: bigint | undefined;
  /** how far publish time may trail event time */
  slackMs: number;
  progressMs?: number;
}

export interface WindowResult { read: number; partitions: number; seconds: number }

export type OnMessage = (value: Buffer | null, partition: number, offset: string) => void;

async function withAdmin<T>(kafka: Kafka, fn: (a: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function readWindow(kafka: Kafka, spec: WindowSpec, onMessage: OnMessage, log: Logger): Promise<WindowResult> {
  const { topic } = spec;
  const exists = await retryKafka(`list the topics`, () => withAdmin(kafka, async (admin) => (await admin.listTopics()).includes(topic)), log);
  // A missing topic is a wrong flag, not an empty window: say so rather than print nothing.
  if (!exists) throw new ConfigError(`topic ${topic} does not exist on this cluster (check --audit-topic and --brokers)`);
  const bounds = await retryKafka(`find the window's offsets in ${topic}`, () => withAdmin(kafka, async (admin) => {
    // The admin client lists offsets read_committed: `high` is the last stable offset.
    const offs = await admin.fetchTopicOffsets(topic);
    const at = async (ns: bigint | undefined, fallback: 'low' | 'high', slack: number) => {
      if (ns === undefined) return new Map(offs.map((o) => [o.partition, BigInt(o[fallback])]));
      const ms = Math.max(0, Number(ns / 1_000_000n) + slack);
      const found = await admin.fetchTopicOffsetsByTimestamp(topic, ms);
      // -1: nothing at or after that time: the partition's end.
      return new Map(found.map((f) => [f.partition, BigInt(f.offset) < 0n ? BigInt(offs.find((o) => o.partition === f.partition)!.high) : BigInt(f.offset)]));
    };
    const starts = await at(spec.sinceNs, 'low', -spec.slackMs);
    const ends = await at(spec.untilNs, 'high', spec.slackMs);
    const work = new Map<number, { next: bigint; end: bigint }>();
    for (const o of offs) {
      const high = BigInt(o.high);
      const end = (ends.get(o.partition) ?? high) < high ? ends.get(o.partition)! : high;
      const start = starts.get(o.partition) ?? BigInt(o.low);
      if (start < end) work.set(o.partition, { next: start, end });
    }
    return { work, partitions: offs.length };
  }), log);
  const { work } = bounds;
  const started = Date.now();
  const res: WindowResult = { read: 0, partitions: bounds.partitions, seconds: 0 };
  if (work.size === 0) return res;
  let total = 0n;
  for (const w of work.values()) total += w.end - w.next;

  const groupId = `podtrail-inventory-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, sessionTimeout: 30_000, maxWaitTimeInMs: 500, maxBytesPerPartition: 4 << 20, allowAutoTopicCreation: false });
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<void>((resolve, reject) => { finish = resolve; fail = reject; });
  let lastReport = started;
  const progress = () => {
    if (Date.now() - lastReport < (spec.progressMs ?? 5000)) return;
    lastReport = Date.now();
    const secs = (Date.now() - started) / 1000;
    log.info({ read: res.read, total: Number(total), perSec: Math.round(res.read / Math.max(secs, 0.001)) }, `inventory: ${res.read}/${total} read from ${topic}`);
  };
  // Past control records (transaction markers) too: they hold offsets but never reach eachBatch.
  const advance = (partition: number, next: bigint) => {
    const w = work.get(partition);
    if (!w) return;
    if (next > w.next) w.next = next;
    if (w.next >= w.end) work.delete(partition);
    if (work.size === 0) finish();
  };
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => advance(payload.partition, BigInt(payload.lastOffset) + 1n));
    // kafkajs forgets seeks when it restarts a crashed consumer: seek again at every join.
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const [partition, w] of work) consumer.seek({ topic, partition, offset: String(w.next) });
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) fail(new KafkaError(`reading ${topic} failed: ${payload.error?.message ?? 'consumer crashed'}`, { cause: payload.error }));
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const w = work.get(batch.partition);
        if (!w) return;
        for (const m of batch.messages) {
          const off = BigInt(m.offset);
          // A re-read after a restart, or past the window's end: not counted again.
          if (off < w.next || off >= w.end) continue;
          w.next = off + 1n;
          res.read++;
          onMessage(m.value, batch.partition, m.offset);
        }
        progress();
      },
    });
    for (const [partition, w] of work) consumer.seek({ topic, partition, offset: String(w.next) });
    await done;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await withAdmin(kafka, (a) => a.deleteGroups([groupId])).catch((err) => log.warn({ err, groupId }, 'could not delete the throwaway consumer group'));
  }
  res.seconds = (Date.now() - started) / 1000;
  return res;
}
