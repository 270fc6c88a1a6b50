// SPDX-License-Identifier: Apache-2.0
// Which Kafka cluster a stage talks to, by its cluster id. A cluster replaced at the same
// address (a wiped data directory, a test or staging cluster rebuilt) has a new id: its topics,
// producer ids and group offsets are gone, and what the stage published before is not in it.
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from '../common/log.js';
import { settlesWithin } from '../common/settle.js';

export class ClusterIdentity {
  private id: string | undefined;
  private admin: Admin | undefined;
  /** set once a read saw an id other than the first */
  replaced = false;

  constructor(private readonly kafka: Kafka, private readonly log: Logger) {}

  get clusterId(): string | undefined {
    return this.id;
  }

  /** Reads the cluster id; true (and said at error level) when it differs from the one read before. */
  async changed(): Promise<boolean> {
    if (!this.admin) {
      this.admin = this.kafka.admin();
      await this.admin.connect().catch((err: unknown) => {
        this.admin = undefined;
        throw err;
      });
    }
    const now = (await this.admin.describeCluster()).clusterId;
    const before = this.id;
    this.id = now;
    if (before === undefined || before === now) return false;
    this.replaced = true;
    this.log.error({ before, now }, `the Kafka cluster was replaced (cluster id ${before} -> ${now}): what was published to the old one is not in the new one`);
    return true;
  }

  /**
   * Disconnects its admin client, waiting at most 2 s: it only reads the cluster id, so nothing
   * is lost by not waiting, and kafkajs's disconnect waits for any request still in flight (up
   * to its 30 s request timeout), which held a stopping enrich past its grace period.
   */
  async close(): Promise<void> {
    const a = this.admin;
    this.admin = undefined;
    if (a) await settlesWithin(a.disconnect(), 2000);
  }
}

/**
 * For a consumer-group stage. Its position, its group's offsets and its transactions lived in
 * the cluster; after a replacement kafkajs would go on from its in-memory offsets, which mean
 * nothing in the new cluster (and skip records there). Every group join (a replaced cluster
 * forces one) makes the next batch check the cluster id before anything is processed.
 */
/** How often a consumer-group stage reads the cluster id besides after each group join. */
export const CLUSTER_CHECK_MS = 10_000;

export const CLUSTER_REPLACED = 'the Kafka cluster was replaced under this stage (new cluster id): its offsets and transactions were in the old one; restart it to start afresh on the new one';

export class ClusterGuard {
  private verified: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly identity: ClusterIdentity) {}

  rejoined(): void {
    this.verified = undefined;
  }

  /** True when the cluster is not the one the stage started on. A failed read is thrown (and read again next time). */
  replaced(): Promise<boolean> {
    this.verified ??= this.identity.changed().then(() => this.identity.replaced, (err: unknown) => {
      this.verified = undefined;
      throw err;
    });
    return this.verified;
  }

  /**
   * Also reads the id every `intervalMs`: a stage waiting inside a transaction for a topic the
   * new cluster does not have never gets to its next batch or group join.
   */
  watch(intervalMs: number, onReplaced: () => void): void {
    this.timer = setInterval(() => {
      this.rejoined();
      this.replaced().then((r) => { if (r) onReplaced(); }, () => undefined);
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.identity.close();
  }
}
