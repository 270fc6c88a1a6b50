// SPDX-License-Identifier: Apache-2.0
// The enrich stage: a consumer-group member on the raw topic that writes audit records
// (and DLQ records) to Kafka. Exactly-once by default: each partition batch's outputs and
// its input offsets commit in one Kafka transaction, and readers use read_committed.
// With atLeastOnce, outputs are sent by an idempotent producer, then offsets committed.
import os from 'node:os';
import type { Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import { KafkaError, errMessage } from '../common/errors.js';
import { IDEMPOTENT_RETRY, TRANSACTIONAL_RETRY } from '../kafka/client.js';
import type { ClusterGuard } from '../kafka/cluster.js';
import { StageFailure } from '../kafka/stage-failure.js';
import { TransactionalProducer, isCommitted, type TxnPhases } from '../kafka/transactional.js';
import type { Logger } from '../common/log.js';
import type { TopicsConfig } from '../common/config.js';
import type { EnrichProcessor, OutMessage } from './processor.js';
import { BatchPipeline } from './pipeline.js';
import { STAGE_MAX_REQUEST_BYTES, bySize, memoKeyPartitioner } from './produce.js';

export { STAGE_MAX_REQUEST_BYTES, bySize } from './produce.js';

export interface StageOptions {
  group: string;
  topics: TopicsConfig;
  atLeastOnce: boolean;
  /** stable per replica for fencing; default <group>-<hostname>-<pid> */
  transactionalId?: string;
  /** upper bound on how long a dead member's open transaction blocks read_committed readers */
  transactionTimeoutMs: number;
  maxBytesPerPartition: number;
  /** checks after every group join that the cluster is still the one the stage started on */
  guard?: ClusterGuard;
}

/** Consumer settings the stage uses (the benchmark's passthrough uses them too). */
export const STAGE_CONSUMER_DEFAULTS = {
  sessionTimeout: 10_000,
  rebalanceTimeout: 20_000,
  heartbeatInterval: 1_000,
  allowAutoTopicCreation: false,
} as const;

/**
 * Fetch size per partition: one fetched batch becomes one transaction, and a transaction costs
 * several broker round trips whatever its size. 4 MiB (about 15k raw records) makes that a
 * small share; produce requests are split by size anyway (produce.ts).
 */
export const STAGE_MAX_BYTES_PER_PARTITION = 4 * 1024 * 1024;

/** Batches in the stage at once: one committing, one processing, one waiting its turn. */
export const STAGE_PIPELINE_DEPTH = 3;

/** One batch, processed, waiting for its commit. */
interface Processed { p: EachBatchPayload; outs: OutMessage[] }

export interface StageStats { batches: number; transactions: number; aborted: number; lastBatchMs: number }

export class EnrichStage {
  private consumer: Consumer | undefined;
  /** at-least-once */
  private producer: Producer | undefined;
  /** exactly-once */
  private txns: TransactionalProducer | undefined;
  readonly stats: StageStats = { batches: 0, transactions: 0, aborted: 0, lastBatchMs: 0 };
  /** per input partition: records behind the high watermark after the last batch */
  readonly lag = new Map<number, number>();
  joined = false;
  private readonly failure: StageFailure;
  /** called with the seconds each output commit took (transaction or produce) */
  onCommitted?: (seconds: number) => void;
  private stopping = false;
  private readonly pipeline: BatchPipeline<ReturnType<EnrichProcessor['checkpoint']>, Processed>;

  constructor(
    private readonly kafka: Kafka,
    private readonly processor: EnrichProcessor,
    private readonly opts: StageOptions,
    private readonly log: Logger,
  ) {
    this.failure = new StageFailure(opts.guard);
    this.pipeline = new BatchPipeline(processor, (batches) => this.commit(batches));
  }

  async start(): Promise<void> {
    const o = this.opts;
    const transactionalId = o.transactionalId ?? `${o.group}-${os.hostname()}-${process.pid}`;
    if (o.atLeastOnce) {
      this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: IDEMPOTENT_RETRY, createPartitioner: memoKeyPartitioner() });
    } else {
      this.txns = new TransactionalProducer(this.kafka, {
        transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: o.transactionTimeoutMs, allowAutoTopicCreation: false, retry: TRANSACTIONAL_RETRY, createPartitioner: memoKeyPartitioner(),
      }, o.group, this.log);
    }
    this.consumer = this.kafka.consumer({
      groupId: o.group,
      readUncommitted: false,
      maxBytesPerPartition: o.maxBytesPerPartition,
      ...STAGE_CONSUMER_DEFAULTS,
    });
    await this.producer?.connect();
    await this.txns?.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: o.topics.raw, fromBeginning: true });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      this.joined = true;
      this.failure.rejoined();
      // Partitions that went to another member: their sequence tracking starts over there.
      const mine = new Set<number>(e.payload.memberAssignment[o.topics.raw] ?? []);
      this.processor.keepPartitions(mine);
    });
    this.failure.watch(this.consumer, 'enrich consumer', this.log);
    await this.consumer.run({
      autoCommit: o.atLeastOnce,
      eachBatchAutoResolve: false,
      // Enough for one batch to be processed while another commits (see onBatch).
      partitionsConsumedConcurrently: STAGE_PIPELINE_DEPTH,
      eachBatch: (p) => this.onBatch(p),
    });
    this.log.info({ group: o.group, raw: o.topics.raw, audit: o.topics.audit, mode: o.atLeastOnce ? 'at-least-once' : 'exactly-once', transactionalId: o.atLeastOnce ? undefined : transactionalId }, 'enrich running');
  }

  /**
   * Two ordered steps per batch, process then commit (src/enrich/pipeline.ts): the next batch is
   * processed while this one commits, batches processed meanwhile commit together in one
   * transaction, and a failed commit takes loss tracking back to before its batches and voids the
   * batches processed since.
   */
  private async onBatch(p: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale } = p;
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    if (await this.failure.clusterReplaced()) return;
    const t0 = Date.now();
    const end = await this.pipeline.run(
      `${batch.topic}/${batch.partition}@${batch.firstOffset()}`,
      async () => ({ p, outs: await this.processor.processBatch(batch.partition, batch.messages) }),
      // Revoked while waiting: the next owner starts from the committed offset.
      () => isRunning() && !isStale(),
    );
    if (end === 'revoked') return;
    this.stats.batches++;
    this.lag.set(batch.partition, Number(batch.offsetLag()));
    this.stats.lastBatchMs = Date.now() - t0;
    await p.heartbeat();
  }

  /** The outputs of one or more batches (several partitions'), then their input offsets, all or nothing. */
  private async commit(batches: Processed[]): Promise<void> {
    const audit: Message[] = [];
    const dlq: Message[] = [];
    for (const { outs } of batches) {
      for (const o of outs) {
        if (o.kind === 'audit') audit.push({ key: o.key, value: o.value });
        else dlq.push(dlqMessage(o));
      }
    }
    const lastOf = ({ batch }: EachBatchPayload) => batch.messages[batch.messages.length - 1]!.offset;
    const nextOf = (p: EachBatchPayload) => (BigInt(lastOf(p)) + 1n).toString();
    const { topics } = this.opts;
    const tCommit = Date.now();
    const requests = bySize([[topics.audit, audit], [topics.dlq, dlq]], STAGE_MAX_REQUEST_BYTES);
    if (this.opts.atLeastOnce) {
      const producer = this.producer as Producer;
      for (const topicMessages of requests) await producer.sendBatch({ acks: -1, topicMessages });
      for (const { p } of batches) p.resolveOffset(lastOf(p));
      for (const { p } of batches) await p.commitOffsetsIfNecessary();
    } else {
      const inputs = batches.map(({ p }) => ({ topic: p.batch.topic, partition: p.batch.partition, next: nextOf(p) }));
      // A failed transaction that could not be aborted is settled there (src/kafka/transactional.ts):
      // running the batch again regardless wrote its audit records twice (fault-broker-kill).
      const r = await (this.txns as TransactionalProducer).write(requests, inputs, () => this.stopping);
      if (!isCommitted(r)) {
        this.stats.aborted++;
        const names = batches.map(({ p: { batch } }) => `${batch.topic}/${batch.partition}@${batch.firstOffset()}`).join(', ');
        throw new KafkaError(`enrich transaction failed (${r.kind}) for ${names}: ${errMessage(r.err)}`, { cause: r.err, retriable: true });
      }
      this.stats.transactions++;
      for (const { p } of batches) p.resolveOffset(lastOf(p));
    }
    this.onCommitted?.((Date.now() - tCommit) / 1000);
    if (dlq.length) this.log.warn({ count: dlq.length, partitions: batches.map(({ p }) => p.batch.partition) }, 'sent undecodable records to the DLQ');
  }

  /** exactly-once: where its transactions' time went (src/kafka/transactional.ts) */
  get txnPhases(): TxnPhases | undefined {
    return this.txns?.phases;
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
    await (this.txns ?? this.producer)?.disconnect().catch((err: unknown) => this.log.warn({ err }, 'producer disconnect failed'));
  }
}

function dlqMessage(o: Extract<OutMessage, { kind: 'dlq' }>): Message {
  return { key: o.key, value: o.value, headers: o.headers };
}
