// SPDX-License-Identifier: Apache-2.0
// Replay: re-enrich the raw topic's records in a time window from the containers topic, so
// the answer months later is the answer that was true then. It reads with a throwaway
// consumer group that never commits (the live enrich group's offsets are untouched),
// positions each partition by timestamp, and keeps records whose event time is in the window.
import { randomBytes } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from '../common/log.js';
import { retryKafka } from '../kafka/retry.js';
import type { Codec } from '../schema/codec.js';
import type { EnrichProcessor, OutMessage } from './processor.js';

export interface ReplayOptions {
  rawTopic: string;
  sinceNs: bigint;
  untilNs: bigint | undefined;
  /** records are positioned by Kafka timestamp (publish time); look this far around the window */
  slackMs: number;
  progressMs: number;
}

export interface ReplayResult { read: number; inWindow: number; out: number; dlq: number }

export async function replay(
  kafka: Kafka,
  codec: Codec,
  processor: EnrichProcessor,
  opts: ReplayOptions,
  emit: (o: OutMessage) => Promise<void>,
  log: Logger,
): Promise<ReplayResult> {
  const sinceMs = Number(opts.sinceNs / 1_000_000n) - opts.slackMs;
  const { starts, ends } = await retryKafka(`find the window's offsets in ${opts.rawTopic}`, async () => {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const starts = await admin.fetchTopicOffsetsByTimestamp(opts.rawTopic, Math.max(0, sinceMs));
      const highs = await admin.fetchTopicOffsets(opts.rawTopic);
      let ends: Array<{ partition: number; offset: string }> = highs.map((h) => ({ partition: h.partition, offset: h.high }));
      if (opts.untilNs !== undefined) {
        const byTs = await admin.fetchTopicOffsetsByTimestamp(opts.rawTopic, Number(opts.untilNs / 1_000_000n) + opts.slackMs);
        ends = byTs.map((e) => {
          const h = highs.find((x) => x.partition === e.partition)!;
          // -1 / high: nothing at or after that time yet; stop at today's end.
          const off = BigInt(e.offset) < 0n ? BigInt(h.high) : BigInt(e.offset);
          return { partition: e.partition, offset: String(off < BigInt(h.high) ? off : BigInt(h.high)) };
        });
      }
      return { starts, ends };
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }, log);

  const work = new Map<number, { next: bigint; end: bigint }>();
  let total = 0n;
  for (const s of starts) {
    const end = BigInt(ends.find((e) => e.partition === s.partition)!.offset);
    const start = BigInt(s.offset) < 0n ? end : BigInt(s.offset);
    if (start < end) {
      work.set(s.partition, { next: start, end });
      total += end - start;
    }
  }
  const res: ReplayResult = { read: 0, inWindow: 0, out: 0, dlq: 0 };
  if (work.size === 0) {
    log.info('replay: no records in the window');
    return res;
  }

  const groupId = `podtrail-replay-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, sessionTimeout: 30_000, maxBytesPerPartition: 4 << 20 });
  const started = Date.now();
  let lastReport = started;
  const report = (final = false) => {
    const secs = (Date.now() - started) / 1000;
    const rate = res.read / Math.max(secs, 0.001);
    const left = Number(total) - res.read;
    const eta = rate > 0 ? Math.round(left / rate) : 0;
    log.info({ read: res.read, total: Number(total), inWindow: res.inWindow, out: res.out, dlq: res.dlq, perSec: Math.round(rate), etaSec: final ? 0 : eta },
      final ? `replay done: ${res.out} records from ${res.read} read in ${secs.toFixed(1)} s` : `replay: ${res.read}/${total} read (${Math.round(rate)}/s, ETA ${eta} s)`);
  };
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<void>((resolve, reject) => { finish = resolve; fail = reject; });
  await consumer.connect();
  await consumer.subscribe({ topic: opts.rawTopic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      try {
        const w = work.get(batch.partition);
        if (!w) return;
        const msgs: KafkaMessage[] = [];
        for (const m of batch.messages) {
          const off = BigInt(m.offset);
          if (off < w.next || off >= w.end) continue;
          w.next = off + 1n;
          res.read++;
          if (!inWindow(codec, m, opts)) continue;
          res.inWindow++;
          msgs.push(m);
        }
        if (msgs.length) {
          for (const o of await processor.processBatch(batch.partition, msgs)) {
            if (o.kind === 'dlq') res.dlq++;
            else res.out++;
            await emit(o);
          }
        }
        const last = batch.messages[batch.messages.length - 1];
        if (last) resolveOffset(last.offset);
        await heartbeat();
        if (w.next >= w.end) work.delete(batch.partition);
        if (Date.now() - lastReport >= opts.progressMs) { lastReport = Date.now(); report(); }
        if (work.size === 0) finish();
      } catch (err) {
        fail(err);
      }
    },
  });
  for (const [partition, w] of work) consumer.seek({ topic: opts.rawTopic, partition, offset: String(w.next) });
  try {
    await done;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    const a = kafka.admin();
    await a.connect().then(() => a.deleteGroups([groupId])).catch(() => undefined).finally(() => a.disconnect());
  }
  for (const o of processor.flushLosses()) {
    res.out++;
    await emit(o);
  }
  report(true);
  return res;
}

/** Raw records whose event time is in [since, until); undecodable ones are kept (they go to the DLQ output). */
function inWindow(codec: Codec, m: KafkaMessage, o: ReplayOptions): boolean {
  if (!m.value) return true;
  try {
    const d = codec.decode(m.value);
    const t = d.schema === 'RawConnectEvent' ? d.value.time : d.schema === 'CaptureLoss' ? d.value.time : undefined;
    if (t === undefined) return true;
    return t >= o.sinceNs && (o.untilNs === undefined || t < o.untilNs);
  } catch {
    return true;
  }
}
