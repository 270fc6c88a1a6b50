// SPDX-License-Identifier: Apache-2.0
// Which Kafka cluster a stage talks to, by its cluster id. A cluster replaced at the same
// address (a wiped data directory, a test or staging cluster rebuilt) has a new id: its topics,
// producer ids and group offsets are gone, and what the stage published before is not in it.
import type { Kafka } from 'kafkajs';
import type { Logger } from '../common/log.js';

export class ClusterIdentity {
  private id: string | undefined;

  constructor(private readonly kafka: Kafka, private readonly log: Logger) {}

  get clusterId(): string | undefined {
    return this.id;
  }

  /** Reads the cluster id; true (and said at error level) when it differs from the one read before. */
  async changed(): Promise<boolean> {
    const admin = this.kafka.admin();
    let now: string;
    try {
      await admin.connect();
      now = (await admin.describeCluster()).clusterId;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const before = this.id;
    this.id = now;
    if (before === undefined || before === now) return false;
    this.log.error({ before, now }, `the Kafka cluster was replaced (cluster id ${before} -> ${now}): what was published to the old one is not in the new one; recreating topics and continuing`);
    return true;
  }
}
