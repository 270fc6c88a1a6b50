// SPDX-License-Identifier: Apache-2.0
// Export to a Kafka topic, for Kafka Connect sinks (Splunk, Elastic, S3...).
// Exactly-once by default: a partition batch's outputs, its dead letters and its input
// offsets commit in one transaction (readers must use read_committed: for Connect,
// consumer.override.isolation.level=read_committed). With atLeastOnce, an idempotent
// producer sends, then the offsets commit; a crash in between repeats records. Either way
// the key is the record's eventId, stable through replays, so a sink that writes by key
// (Elastic's connector with key.ignore=false makes it the document _id) deduplicates.
import os from 'node:os';
import type { Kafka, Message, Producer } from 'kafkajs';
import { KafkaError, errMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { IDEMPOTENT_RETRY, TRANSACTIONAL_RETRY } from '../kafka/client.js';
import { TransactionalProducer, isCommitted } from '../kafka/transactional.js';
import type { BatchContext, Sink } from './stage.js';
import { nextOffset } from './stage.js';
import type { ExportFormat } from './render.js';

export interface TopicSinkOptions {
  toTopic: string;
  dlqTopic: string;
  group: string;
  format: ExportFormat;
  atLeastOnce: boolean;
  transactionalId?: string;
  transactionTimeoutMs: number;
}

export class TopicSink implements Sink {
  /** at-least-once */
  private producer: Producer | undefined;
  /** exactly-once */
  private txns: TransactionalProducer | undefined;
  readonly stats = { transactions: 0, aborted: 0, dlq: 0 };

  constructor(private readonly kafka: Kafka, private readonly opts: TopicSinkOptions, private readonly log: Logger) {}

  async start(): Promise<void> {
    const o = this.opts;
    const transactionalId = o.transactionalId ?? `${o.group}-${os.hostname()}-${process.pid}`;
    if (o.atLeastOnce) {
      this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: IDEMPOTENT_RETRY });
      await this.producer.connect();
    } else {
      this.txns = new TransactionalProducer(this.kafka, {
        transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: o.transactionTimeoutMs, allowAutoTopicCreation: false, retry: TRANSACTIONAL_RETRY,
      }, o.group, this.log);
      await this.txns.connect();
    }
    this.log.info({ toTopic: o.toTopic, format: o.format, mode: o.atLeastOnce ? 'at-least-once' : 'exactly-once', transactionalId: o.atLeastOnce ? undefined : transactionalId }, 'export to topic');
  }

  async deliver(ctx: BatchContext): Promise<void> {
    const o = this.opts;
    const contentType = o.format === 'cef' ? 'text/plain' : 'application/json';
    const out: Message[] = ctx.items.map((i) => ({
      key: i.rendered.key, value: i.rendered.text, headers: { 'content-type': contentType, 'podtrail-format': o.format },
    }));
    const dlq: Message[] = ctx.bad.map((b) => ({ key: b.key, value: b.value, headers: b.headers }));
    const topicMessages = [
      ...(out.length ? [{ topic: o.toTopic, messages: out }] : []),
      ...(dlq.length ? [{ topic: o.dlqTopic, messages: dlq }] : []),
    ];
    const next = nextOffset(ctx.lastOffset);
    if (o.atLeastOnce) {
      if (topicMessages.length) await (this.producer as Producer).sendBatch({ acks: -1, topicMessages });
      await ctx.commit(next);
    } else {
      // A commit whose answer was lost may have gone through, and kafkajs cannot abort it; a
      // fenced producer fails every later transaction. Both are settled in write() before the
      // batch comes again (or stays committed): src/kafka/transactional.ts.
      const r = await (this.txns as TransactionalProducer).write(topicMessages.length ? [topicMessages] : [], [{ topic: ctx.topic, partition: ctx.partition, next }], () => ctx.stopping());
      if (!isCommitted(r)) {
        this.stats.aborted++;
        throw new KafkaError(`export transaction failed for ${ctx.topic}/${ctx.partition}: ${errMessage(r.err)}`, { cause: r.err, retriable: true });
      }
      this.stats.transactions++;
    }
    this.stats.dlq += dlq.length;
    ctx.resolve(ctx.lastOffset);
  }

  async stop(): Promise<void> {
    await (this.txns ?? this.producer)?.disconnect();
  }
}
