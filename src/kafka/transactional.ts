// SPDX-License-Identifier: Apache-2.0
// A kafkajs transactional producer for consume-transform-produce (enrich, and export to a topic):
// one consumer batch's outputs and its input offsets commit in one transaction. What it adds to
// kafkajs is what to do when that transaction fails: abort it when kafkajs can, and when it
// cannot (the commit's answer was lost) or the producer was fenced, replace the producer and
// find out from the broker whether the batch committed.
import type { Kafka, Producer, ProducerConfig, TopicMessages, Transaction } from 'kafkajs';
import { KafkaError, errMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { kafkaCondition } from './conditions.js';
import { countProducerReset, retryKafka } from './retry.js';

/** The input position a transaction commits: the group's offset of topic/partition becomes `next`. */
export interface TxnInput { topic: string; partition: number; next: string }

/**
 * How a transaction ended, named as kafkajs names its producer's states
 * (src/producer/eosManager/transactionStates.js), from the batch's point of view:
 * - committed: outputs and offsets are in.
 * - committed-unconfirmed: the commit failed from where we stood (its answer was lost), but the
 *   broker's committed offset says it went through: the batch stays committed.
 * - aborted: the transaction was aborted (by us, or settled as never committed): the batch comes again.
 * - unsettled: the stage was stopping before the outcome was known; the next owner of the
 *   partition reads the group's committed offset, which is the truth either way.
 */
export type TxnOutcome =
  | { kind: 'committed' }
  | { kind: 'committed-unconfirmed'; err: unknown }
  | { kind: 'aborted'; err: unknown }
  | { kind: 'unsettled'; err: unknown };

/** True when the batch's outputs and offsets are in (whatever we were told). */
/** Milliseconds since the previous call (or since it was made): one lap per transaction step. */
export function stopwatch(): () => number {
  let t = performance.now();
  return () => {
    const now = performance.now();
    const ms = now - t;
    t = now;
    return ms;
  };
}

export function isCommitted(o: TxnOutcome): o is Extract<TxnOutcome, { kind: 'committed' | 'committed-unconfirmed' }> {
  return o.kind === 'committed' || o.kind === 'committed-unconfirmed';
}

/**
 * Wall time spent in each step of this producer's transactions, summed (ms): where a
 * transaction's time goes (bench/enrich.bench.ts prints it). `firstSend` is the first produce
 * request, which carries AddPartitionsToTxn and its CONCURRENT_TRANSACTIONS retries.
 */
export interface TxnPhases { transactions: number; begin: number; firstSend: number; sends: number; offsets: number; commit: number }

export class TransactionalProducer {
  private producer: Producer;
  readonly phases: TxnPhases = { transactions: 0, begin: 0, firstSend: 0, sends: 0, offsets: 0, commit: 0 };

  /** `config` must carry a transactionalId, stable per replica (fencing relies on it). */
  constructor(
    private readonly kafka: Kafka,
    private readonly config: ProducerConfig,
    private readonly group: string,
    private readonly log: Logger,
  ) {
    this.producer = kafka.producer(config);
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }

  /**
   * One transaction: each element of `requests` is one produce request, then the group's offsets
   * for `inputs` (one or more partitions' positions), then commit. `stopping` ends the waits of a failed transaction's settlement
   * (the outcome is then "not committed").
   */
  async write(requests: TopicMessages[][], inputs: readonly TxnInput[], stopping: () => boolean): Promise<TxnOutcome> {
    let txn: Transaction | undefined;
    try {
      const ph = this.phases;
      const lap = stopwatch();
      txn = await this.producer.transaction();
      ph.begin += lap();
      await this.send(txn, requests, inputs, lap);
      await txn.commit();
      ph.commit += lap();
      ph.transactions++;
      return { kind: 'committed' };
    } catch (err) {
      // A fenced producer (its epoch bumped by the broker, which expired its transaction) fails
      // every later transaction too, while its abort, with nothing added yet, "succeeds" without
      // a request: enrich then stopped making progress for good (fault-broker-kill). Renew it.
      const aborted = !fenced(err) && txn !== undefined && await txn.abort().then(() => true, (e: unknown) => {
        this.log.warn({ err: e }, 'abort failed');
        return false;
      });
      if (aborted) return { kind: 'aborted', err };
      // Not aborted: the outcome is unknown (see settle). Running the batch again regardless
      // wrote its records twice (fault-broker-kill).
      const settled = await this.settle(requests, inputs, stopping);
      if (settled === 'committed') {
        this.log.warn({ inputs, err: errMessage(err) }, 'the failed commit had gone through: the batch stays committed');
        return { kind: 'committed-unconfirmed', err };
      }
      return { kind: settled, err };
    }
  }

  /** What a transaction for `inputs` writes: each element of `requests` as one produce request, then the group's offsets. */
  private async send(t: Transaction, requests: TopicMessages[][], inputs: readonly TxnInput[], lap?: () => number): Promise<void> {
    let first = true;
    for (const topicMessages of requests) {
      await t.sendBatch({ acks: -1, topicMessages });
      if (lap) this.phases[first ? 'firstSend' : 'sends'] += lap();
      first = false;
    }
    await t.sendOffsets({ consumerGroupId: this.group, topics: offsetTopics(inputs) });
    if (lap) this.phases.offsets += lap();
  }

  /**
   * After a transaction that could not be aborted: 'committed' when it committed after all,
   * 'aborted' when it did not, 'unsettled' when `stopping` says so before we know. Its outcome is
   * unknown to us:
   * - kafkajs refuses abort once commit has sent EndTxn. When the broker took EndTxn and died
   *   before answering, the transaction commits, outputs and offsets alike, while the consumer's
   *   position is still the batch's first offset (test/integration/enrich-commit-outcome,
   *   export-commit-outcome).
   * - A broker restarting after that loaded the transaction as PrepareCommit and completed it
   *   without writing its markers, as its partitions had no leader yet ("Couldn't find leader
   *   endpoint ... likely deleted", Kafka 4.4.0, fault-broker-kill). Its records and its
   *   offsets then hung, open, until the next COMMIT of the same producer id on those partitions,
   *   which is the batch's second run: both copies became visible together.
   * So: a new producer with the same transactional id (its InitProducerId fences the old one and
   * waits until the old transaction is committed or aborted for good) writes what the failed
   * transaction wrote, to the same partitions, and aborts. The ABORT markers end whatever of the
   * old transaction still hung there (a partition ends the producer id's open transaction at its
   * next marker, whichever epoch wrote the records; a completed transaction has nothing left to
   * end). Then the group's committed offset for the partition is the truth: `next` means the
   * batch committed. The path runs in test/integration/enrich-commit-outcome and
   * export-commit-outcome (a broker takes EndTxn and the answer is dropped). The hanging
   * PrepareCommit case above is rare (1 run in ~20 of fault-broker-kill) and no test forces it:
   * that the ABORT markers end it is argued from the broker's logs.
   */
  private async settle(requests: TopicMessages[][], inputs: readonly TxnInput[], stopping: () => boolean): Promise<'committed' | 'aborted' | 'unsettled'> {
    if (stopping()) return 'unsettled';
    try {
      await this.renewProducer((t) => this.send(t, requests, inputs), stopping);
      const committed = await retryKafka('read the committed offset', async () => {
        const admin = this.kafka.admin();
        try {
          await admin.connect();
          const answer = await admin.fetchOffsets({ groupId: this.group, topics: [...new Set(inputs.map((i) => i.topic))] });
          // One transaction: its offsets went in all together or not at all.
          return inputs.every((input) => {
            const offset = answer.find((t) => t.topic === input.topic)?.partitions.find((p) => p.partition === input.partition)?.offset;
            if (offset === undefined) throw new KafkaError(`no committed offset of ${input.topic}/${input.partition} in the answer`, { retriable: true });
            return offset === input.next;
          });
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      }, this.log, { stopping, initialMs: 500 });
      return committed ? 'committed' : 'aborted';
    } catch (err) {
      // Stopping (retryKafka says so with a non-retriable error once `stopping` holds) leaves it
      // to the next owner; anything else (access taken away, a fatal answer) ends the stage.
      if (stopping()) return 'unsettled';
      throw err;
    }
  }

  /**
   * A transactional producer whose abort failed (the broker died mid-transaction, or expired it)
   * is stuck in kafkajs's ABORTING or COMMITTING state: every later transaction() throws, and the
   * stage made no progress for good (found by the broker-kill fault test). A new producer with the
   * same transactional id fences the old one; its InitProducerId, which kafkajs sends with the
   * first transaction (connect only gets an idempotent producer id), waits until the old one's open
   * transaction is committed or aborted for good. That first transaction runs `fence` and aborts.
   * A new producer again until that works; throws when `stopping` says so first.
   */
  private async renewProducer(fence: (t: Transaction) => Promise<void>, stopping: () => boolean): Promise<void> {
    // Every attempt starts from a new producer, so a refused sequence or epoch (a 'reset') is
    // simply tried again.
    await retryKafka('start a new transactional producer', async () => {
      const old = this.producer;
      this.producer = this.kafka.producer(this.config);
      await old.disconnect().catch(() => undefined);
      await this.producer.connect();
      const t = await this.producer.transaction();
      await fence(t);
      await t.abort();
    }, this.log, { stopping, initialMs: 500, onReset: async () => undefined });
    countProducerReset('transactional producer');
    this.log.warn('started a new transactional producer after a failed abort');
  }
}

/** sendOffsets' topics for `inputs`, grouped by topic. */
function offsetTopics(inputs: readonly TxnInput[]): Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> {
  const byTopic = new Map<string, Array<{ partition: number; offset: string }>>();
  for (const { topic, partition, next } of inputs) {
    let ps = byTopic.get(topic);
    if (ps === undefined) byTopic.set(topic, (ps = []));
    ps.push({ partition, offset: next });
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

/**
 * kafkajs errors (or their causes) that leave a transactional producer unusable: fenced (its
 * epoch bumped by the broker, which expired its transaction), or its producer id or sequence
 * refused for good (UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_ID_MAPPING:
 * a broker that lost its state). Aborting and going on with it repeats the refusal for ever;
 * the settlement replaces it (src/kafka/conditions.ts, the 'reset' kind).
 */
export function fenced(err: unknown): boolean {
  return kafkaCondition(err).kind === 'reset';
}
