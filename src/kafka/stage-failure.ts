// SPDX-License-Identifier: Apache-2.0
// How a consumer-group stage (enrich, export) ends for good: its consumer crashed in a way
// kafkajs does not restart from, or its cluster was replaced. The first reason wins; the CLI
// waits on `failed` beside the signals and exits with it.
import type { Consumer } from 'kafkajs';
import type { Logger } from '../common/log.js';
import { watchConsumer } from './client.js';
import { CLUSTER_CHECK_MS, CLUSTER_REPLACED, type ClusterGuard } from './cluster.js';

export class StageFailure {
  /** why the stage cannot go on, or null */
  reason: string | null = null;
  private resolve!: (why: string) => void;
  readonly failed: Promise<string> = new Promise((r) => (this.resolve = r));

  constructor(private readonly guard?: ClusterGuard) {}

  fail(why: string): void {
    if (this.reason) return;
    this.reason = why;
    this.resolve(why);
  }

  /** Crashes kafkajs does not restart from, and (every CLUSTER_CHECK_MS) a replaced cluster, fail the stage. */
  watch(consumer: Consumer, op: string, log: Logger): void {
    this.guard?.watch(CLUSTER_CHECK_MS, () => this.fail(CLUSTER_REPLACED));
    watchConsumer(consumer, op, log, (why) => this.fail(why));
  }

  /** After each group join (GROUP_JOIN): the next batch checks the cluster id first. */
  rejoined(): void {
    this.guard?.rejoined();
  }

  /**
   * Before a batch: true (and the stage failed) when the cluster was replaced, and nothing of
   * the batch may be processed. The group's offsets and transactions were in the old cluster;
   * a restart joins the new one afresh and reads its topics from the beginning.
   */
  async clusterReplaced(): Promise<boolean> {
    if (!this.guard || !(await this.guard.replaced())) return false;
    this.fail(CLUSTER_REPLACED);
    return true;
  }

  stop(): Promise<void> {
    return this.guard?.stop() ?? Promise.resolve();
  }
}
