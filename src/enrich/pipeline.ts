// SPDX-License-Identifier: Apache-2.0
// The order enrich's batches go through its two steps. kafkajs hands over batches of several
// partitions at once (partitionsConsumedConcurrently), so the next batch is processed (CPU)
// while one commits (mostly waiting on the broker). Processing carries state from batch to
// batch (loss tracking), so both steps keep the order in which batches entered processing, and
// a commit that fails takes the state back to before its batch. Every batch processed after it
// saw the undone state and has not committed (commits are in order): it fails too and comes
// again.
// Batches that finished processing while an earlier commit ran commit together, in one call of
// `commit` (enrich: one Kafka transaction for several partitions' batches). A transaction costs
// several broker round trips whatever its size, and right after a commit the broker refuses the
// next one's first request until its markers are written (CONCURRENT_TRANSACTIONS), so fewer
// transactions is what made enrich faster (bench/README.md). All of a group commit or none.
// No Kafka here; test/unit/batch-pipeline.test.ts drives it directly.
import { KafkaError } from '../common/errors.js';

/** What processing carries between batches, and how to go back to an earlier point of it. */
export interface PipelineState<C> {
  checkpoint(): C;
  rollback(checkpoint: C): void;
}

/**
 * How one batch left the pipeline (thrown errors aside):
 * - committed: its commit step ran and returned.
 * - revoked: its partition went to another member while it waited for its turn to commit; the
 *   state is back to before it, and the next owner starts from the group's committed offset.
 */
export type BatchEnd = 'committed' | 'revoked';

/** A processed batch waiting for its commit. */
interface Waiting<C, T> {
  name: string;
  out: T;
  owned: () => boolean;
  checkpoint: C;
  epoch: number;
  end: (e: BatchEnd) => void;
  fail: (err: unknown) => void;
}

export class BatchPipeline<C, T> {
  private processing: Promise<void> = Promise.resolve();
  /** processed batches, in processing order, not yet handed to `commit` */
  private readonly waiting: Array<Waiting<C, T>> = [];
  private committing = false;
  /** Bumped by every rollback after a failed commit: a batch that saw an older epoch is void. */
  private epoch = 0;

  /**
   * `commit` writes the outputs of one or more batches, in order, all or nothing (one Kafka
   * transaction); `maxGroup` bounds how many it gets at once.
   */
  constructor(
    private readonly state: PipelineState<C>,
    private readonly commit: (outs: T[]) => Promise<void>,
    private readonly maxGroup = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * One batch: `process` in its processing turn, then its commit, in processing order, together
   * with the batches waiting beside it. A `process` that throws undoes only its own batch. A
   * commit that throws undoes its batches and voids every batch processed since (each of those
   * then throws a retriable KafkaError when its turn comes). `owned` is asked before committing.
   */
  async run(name: string, process: () => Promise<T>, owned: () => boolean): Promise<BatchEnd> {
    const myTurn = this.processing;
    let processed!: () => void;
    this.processing = new Promise((r) => (processed = r));
    let done!: Promise<BatchEnd>;
    try {
      await myTurn;
      const checkpoint = this.state.checkpoint();
      const epoch = this.epoch;
      let out: T;
      try {
        out = await process();
      } catch (err) {
        // We hold the processing turn: nobody has observed anything since our checkpoint, and
        // batches before us keep their effects (voiding them would lose their LOSS records).
        this.state.rollback(checkpoint);
        throw err;
      }
      // Queued inside the processing turn, so the commit order is the processing order.
      done = new Promise<BatchEnd>((end, fail) => this.waiting.push({ name, out, owned, checkpoint, epoch, end, fail }));
    } finally {
      processed();
    }
    void this.drain();
    return done;
  }

  /** Commits what waits, a group at a time, until nothing does; one drain runs at a time. */
  private async drain(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    try {
      while (this.waiting.length > 0) await this.next();
    } finally {
      this.committing = false;
    }
  }

  /** The head of the queue: void, revoked, or committed with the live, owned batches behind it. */
  private async next(): Promise<void> {
    const head = this.waiting[0]!;
    if (head.epoch !== this.epoch) {
      this.waiting.shift();
      head.fail(new KafkaError(`${head.name} comes again: an earlier batch failed`, { retriable: true }));
      return;
    }
    if (!head.owned()) {
      // Revoked while waiting: the next owner starts from the committed offset.
      this.waiting.shift();
      await this.rollbackTo(head.checkpoint);
      head.end('revoked');
      return;
    }
    let n = 1;
    while (n < this.waiting.length && n < this.maxGroup && this.waiting[n]!.epoch === this.epoch && this.waiting[n]!.owned()) n++;
    const group = this.waiting.splice(0, n);
    try {
      await this.commit(group.map((w) => w.out));
    } catch (err) {
      await this.rollbackTo(head.checkpoint);
      for (const w of group) w.fail(err);
      return;
    }
    for (const w of group) w.end('committed');
  }

  /**
   * Back to before a batch that will come again; batches processed since must not commit. Takes
   * the next processing turn, so the rollback lands between two batches' processing.
   */
  private async rollbackTo(checkpoint: C): Promise<void> {
    const turn = this.processing;
    let done!: () => void;
    this.processing = new Promise((r) => (done = r));
    await turn;
    this.epoch++;
    this.state.rollback(checkpoint);
    done();
  }
}
