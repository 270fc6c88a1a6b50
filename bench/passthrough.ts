// SPDX-License-Identifier: Apache-2.0
// The benchmark's yardstick: a bare kafkajs consume-and-produce loop with the enrich stage's
// consumer and producer settings and delivery mode, but no decode and no enrichment. Message
// timestamps are not copied, so output CreateTime is when the loop sent them, as for enrich.
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { IDEMPOTENT_RETRY, TRANSACTIONAL_RETRY } from '../src/kafka/client.js';
import { STAGE_CONSUMER_DEFAULTS } from '../src/enrich/stage.js';
import { STAGE_MAX_REQUEST_BYTES, bySize } from '../src/enrich/produce.js';
import { stopwatch, type TxnPhases } from '../src/kafka/transactional.js';

export interface PassthroughOptions {
  group: string;
  inTopic: string;
  outTopic: string;
  atLeastOnce: boolean;
  transactionalId: string;
  transactionTimeoutMs: number;
  maxBytesPerPartition: number;
}

export class Passthrough {
  readonly stats = { in: 0, batches: 0, calls: 0, firstBatchAt: 0 };
  /** exactly-once: where its transactions' time went, as the stage's (src/kafka/transactional.ts) */
  readonly phases: TxnPhases = { transactions: 0, begin: 0, firstSend: 0, sends: 0, offsets: 0, commit: 0 };
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;

  constructor(private readonly kafka: Kafka, private readonly o: PassthroughOptions) {}

  async start(): Promise<void> {
    const o = this.o;
    this.producer = this.kafka.producer(
      o.atLeastOnce
        ? { idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: IDEMPOTENT_RETRY }
        : { transactionalId: o.transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: o.transactionTimeoutMs, allowAutoTopicCreation: false, retry: TRANSACTIONAL_RETRY },
    );
    this.consumer = this.kafka.consumer({ groupId: o.group, readUncommitted: false, maxBytesPerPartition: o.maxBytesPerPartition, ...STAGE_CONSUMER_DEFAULTS });
    await this.producer.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: o.inTopic, fromBeginning: true });
    await this.consumer.run({ autoCommit: o.atLeastOnce, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch: (p) => this.onBatch(p) });
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    this.stats.calls++;
    this.stats.firstBatchAt ||= performance.now();
    const messages = batch.messages.map((m) => ({ key: m.key, value: m.value }));
    // Same request sizes as the stage (kafkajs groups a request's messages in quadratic time).
    const requests = bySize([[this.o.outTopic, messages]], STAGE_MAX_REQUEST_BYTES);
    const last = batch.messages[batch.messages.length - 1]!.offset;
    const producer = this.producer!;
    if (this.o.atLeastOnce) {
      for (const topicMessages of requests) await producer.sendBatch({ acks: -1, topicMessages });
      resolveOffset(last);
      await commitOffsetsIfNecessary();
    } else {
      const ph = this.phases;
      const lap = stopwatch();
      const txn = await producer.transaction();
      ph.begin += lap();
      try {
        let first = true;
        for (const topicMessages of requests) {
          await txn.sendBatch({ acks: -1, topicMessages });
          ph[first ? 'firstSend' : 'sends'] += lap();
          first = false;
        }
        await txn.sendOffsets({ consumerGroupId: this.o.group, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }] });
        ph.offsets += lap();
        await txn.commit();
        ph.commit += lap();
        ph.transactions++;
      } catch (err) {
        await txn.abort().catch(() => undefined);
        throw err;
      }
      resolveOffset(last);
    }
    this.stats.in += batch.messages.length;
    this.stats.batches++;
    await heartbeat();
  }

  /** Everything handed to eachBatch so far has been committed. */
  idle(): boolean {
    return this.stats.calls === this.stats.batches;
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
  }
}
