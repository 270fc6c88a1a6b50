// SPDX-License-Identifier: Apache-2.0
// The export stage: a consumer-group member on the audit topic (read_committed, so it never
// exports what enrich aborted) that renders each record and hands each partition batch to
// a sink. The sink delivers and commits the batch's offsets: after delivery (syslog,
// at-least-once) or with it in one Kafka transaction (topic, exactly-once). Undecodable
// messages are reported with topic/partition/offset and given to the sink as "bad" (the
// topic sink dead-letters them; the syslog sink skips them); they are never fatal.
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { DecodeError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ClusterGuard } from '../kafka/cluster.js';
import { StageFailure } from '../kafka/stage-failure.js';
import type { Decoded } from '../schema/codec.js';
import { DLQ_HEADERS } from '../enrich/processor.js';
import type { Rendered } from './render.js';

export interface Decoder { decode(buf: Buffer): Decoded | Promise<Decoded> }

export interface Item { offset: string; rendered: Rendered }
export interface Bad { offset: string; key: Buffer | null; value: Buffer | null; code: string; error: string; headers: Record<string, string> }

export interface BatchContext {
  topic: string;
  partition: number;
  items: Item[];
  bad: Bad[];
  /** offset of the batch's last message */
  lastOffset: string;
  /** commit "everything before next" for this partition, outside any transaction */
  commit(next: string): Promise<void>;
  /** mark messages up to this offset as processed for kafkajs */
  resolve(offset: string): void;
  heartbeat(): Promise<void>;
  /** false once the consumer stops or this partition was revoked: stop and commit nothing */
  live(): boolean;
  /** true once the stage stops: give up waiting on the broker (a failed transaction's settlement) */
  stopping(): boolean;
}

export interface Sink {
  start(): Promise<void>;
  deliver(ctx: BatchContext): Promise<void>;
  stop(): Promise<void>;
}

export interface ExportStageOptions {
  group: string;
  topic: string;
  maxBytesPerPartition: number;
  sessionTimeoutMs?: number;
  /** checks after every group join that the cluster is still the one the stage started on */
  guard?: ClusterGuard;
}

export interface ExportStats { in: number; out: number; bad: number; batches: number }

export class ExportStage {
  private consumer: Consumer | undefined;
  readonly stats: ExportStats = { in: 0, out: 0, bad: 0, batches: 0 };
  private stopping = false;
  /** per input partition: records behind the high watermark after the last batch */
  readonly lag = new Map<number, number>();
  joined = false;
  private readonly failure: StageFailure;
  /** seconds each batch took to be delivered and committed (metrics) */
  onDelivered?: (seconds: number) => void;

  constructor(
    private readonly kafka: Kafka,
    private readonly decoder: Decoder,
    private readonly render: (d: Decoded) => Rendered,
    private readonly sink: Sink,
    private readonly opts: ExportStageOptions,
    private readonly log: Logger,
  ) {
    this.failure = new StageFailure(opts.guard);
  }

  async start(): Promise<void> {
    const o = this.opts;
    this.consumer = this.kafka.consumer({
      groupId: o.group,
      readUncommitted: false,
      maxBytesPerPartition: o.maxBytesPerPartition,
      sessionTimeout: o.sessionTimeoutMs ?? 30_000,
      rebalanceTimeout: 30_000,
      heartbeatInterval: 1_000,
      allowAutoTopicCreation: false,
    });
    await this.sink.start();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: o.topic, fromBeginning: true });
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => {
      this.joined = true;
      this.failure.rejoined();
    });
    this.failure.watch(this.consumer, 'export consumer', this.log);
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (p) => this.onBatch(p),
    });
    this.log.info({ group: o.group, topic: o.topic }, 'export running');
  }

  private async onBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    if (batch.messages.length === 0 || !p.isRunning() || p.isStale()) return;
    if (await this.failure.clusterReplaced()) return;
    const items: Item[] = [];
    const bad: Bad[] = [];
    for (const m of batch.messages) {
      this.stats.in++;
      const reject = (code: string, error: string) => {
        bad.push({
          offset: m.offset, key: m.key, value: m.value, code, error,
          headers: {
            [DLQ_HEADERS.error]: error, [DLQ_HEADERS.code]: code, [DLQ_HEADERS.topic]: batch.topic,
            [DLQ_HEADERS.partition]: String(batch.partition), [DLQ_HEADERS.offset]: m.offset, [DLQ_HEADERS.stage]: 'export',
          },
        });
        this.log.warn({ topic: batch.topic, partition: batch.partition, offset: m.offset, code, error },
          `undecodable message at ${batch.topic}/${batch.partition}@${m.offset}: ${error}`);
      };
      if (!m.value || m.value.length === 0) { reject('EMPTY', 'empty message value'); continue; }
      try {
        items.push({ offset: m.offset, rendered: this.render(await this.decoder.decode(m.value)) });
      } catch (err) {
        // Anything else (a schema registry that does not answer) is retried by kafkajs.
        if (!(err instanceof DecodeError)) throw err;
        reject(err.code, err.message);
      }
    }
    this.stats.bad += bad.length;
    const consumer = this.consumer as Consumer;
    const t0 = Date.now();
    await this.sink.deliver({
      topic: batch.topic,
      partition: batch.partition,
      items,
      bad,
      lastOffset: batch.messages[batch.messages.length - 1]!.offset,
      commit: (next) => consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]),
      resolve: (offset) => p.resolveOffset(offset),
      heartbeat: () => p.heartbeat(),
      live: () => p.isRunning() && !p.isStale() && !this.stopping,
      stopping: () => this.stopping,
    });
    this.onDelivered?.((Date.now() - t0) / 1000);
    this.stats.out += items.length;
    this.stats.batches++;
    this.lag.set(batch.partition, Number(batch.offsetLag()));
    await p.heartbeat();
  }

  /** why the stage cannot go on (its consumer stopped for good, its cluster was replaced), or null */
  get crashed(): string | null {
    return this.failure.reason;
  }

  /** resolves with that reason when it comes */
  get failed(): Promise<string> {
    return this.failure.failed;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.failure.stop();
    await this.consumer?.disconnect().catch((err: unknown) => this.log.warn({ err }, 'consumer disconnect failed'));
    await this.sink.stop().catch((err: unknown) => this.log.warn({ err }, 'sink stop failed'));
  }
}

/** "offset + 1" as kafkajs wants committed offsets. */
export const nextOffset = (o: string): string => (BigInt(o) + 1n).toString();
