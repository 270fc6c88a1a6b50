// SPDX-License-Identifier: Apache-2.0
// The order enrich's batches go through its two steps. kafkajs hands over batches of several
// partitions at once (partitionsConsumedConcurrently), so the next batch is processed (CPU)
// while one commits (mostly waiting on the broker). Processing carries state from batch to
// batch (loss tracking), so both steps keep the order in which batches entered processing, and
// a commit that fails takes the state back to before its batch. Every batch processed after it
// saw the undone state and has not committed (commits are in order): it fails too and comes
// again. No Kafka here; test/unit/batch-pipeline.test.ts drives it directly.
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

export class BatchPipeline<C> {
  private processing: Promise<void> = Promise.resolve();
  private committing: Promise<void> = Promise.resolve();
  /** Bumped by every rollback after a failed commit: a batch that saw an older epoch is void. */
  private epoch = 0;

  constructor(private readonly state: PipelineState<C>) {}

  /**
   * One batch: `process` in its processing turn, then `commit` in its commit turn. A `process`
   * that throws undoes only its own batch. A `commit` that throws undoes its batch and voids
   * every batch processed since (each of those then throws a retriable KafkaError when its turn
   * comes). `owned` is asked before committing.
   */
  async run<T>(name: string, process: () => Promise<T>, owned: () => boolean, commit: (out: T) => Promise<void>): Promise<BatchEnd> {
    const myTurn = this.processing;
    let processed!: () => void;
    this.processing = new Promise((r) => (processed = r));
    let committed!: () => void;
    let commitTurn: Promise<void>;
    let checkpoint: C;
    let epoch: number;
    let out: T;
    try {
      await myTurn;
      checkpoint = this.state.checkpoint();
      epoch = this.epoch;
      try {
        out = await process();
      } catch (err) {
        // We hold the processing turn: nobody has observed anything since our checkpoint, and
        // batches before us keep their effects (voiding them would lose their LOSS records).
        this.state.rollback(checkpoint);
        throw err;
      }
      commitTurn = this.committing;
      this.committing = new Promise((r) => (committed = r));
    } finally {
      processed();
    }
    try {
      await commitTurn;
      if (epoch !== this.epoch) throw new KafkaError(`${name} comes again: an earlier batch failed`, { retriable: true });
      if (!owned()) {
        await this.rollbackTo(checkpoint);
        return 'revoked';
      }
      try {
        await commit(out);
      } catch (err) {
        await this.rollbackTo(checkpoint);
        throw err;
      }
      return 'committed';
    } finally {
      committed();
    }
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
