// SPDX-License-Identifier: Apache-2.0
// Reading an audit topic (read_committed) in fault tests, and accounting for a capture
// instance's sequence: which seqs came through, how often, and which LOSS records cover
// the rest.
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import type { AuditRecord } from '../../src/schema/types.js';

const codec = new Codec();

/**
 * Reads `topic` from the beginning, read_committed, until `done` holds for what was read (checked
 * after every batch) or maxWaitMs passes; returns what it read either way, so the caller asserts.
 */
export async function readAuditUntil(kafka: Kafka, topic: string, done: (recs: AuditRecord[]) => boolean, maxWaitMs: number): Promise<AuditRecord[]> {
  const groupId = `test-fault-read-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, sessionTimeout: 10_000, allowAutoTopicCreation: false });
  const recs: AuditRecord[] = [];
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  const timer = setTimeout(() => finish(), maxWaitMs);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) recs.push(codec.decodeAs('AuditRecord', m.value!));
        if (done(recs)) finish();
      },
    });
    if (done(recs)) finish();
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
    const admin = kafka.admin();
    await admin.connect().then(() => admin.deleteGroups([groupId])).catch(() => undefined).finally(() => admin.disconnect());
  }
  return recs;
}

export interface InstanceAccount {
  /** seq -> how many audit records carry it */
  delivered: Map<bigint, number>;
  /** LOSS records of this instance */
  losses: AuditRecord[];
  /** seqs inside some LOSS range (a CAPTURE_RESTART record covers everything from its fromSeq on) */
  covered: (seq: bigint) => boolean;
  /** seqs in more than one closed LOSS range */
  doublyCovered: bigint[];
  maxSeq: bigint;
}

export function accountInstance(recs: AuditRecord[], node: string, instance: string): InstanceAccount {
  const delivered = new Map<bigint, number>();
  const losses: AuditRecord[] = [];
  let maxSeq = 0n;
  for (const r of recs) {
    if (r.node !== node || r.instance !== instance) continue;
    if (r.attribution.status === 'LOSS') {
      losses.push(r);
      continue;
    }
    delivered.set(r.seq, (delivered.get(r.seq) ?? 0) + 1);
    if (r.seq > maxSeq) maxSeq = r.seq;
  }
  const closed = losses.filter((l) => l.loss!.cause !== 'CAPTURE_RESTART').map((l) => [l.loss!.fromSeq, l.loss!.toSeq] as const);
  const openFrom = losses.filter((l) => l.loss!.cause === 'CAPTURE_RESTART').map((l) => l.loss!.fromSeq);
  const seen = new Set<bigint>();
  const doublyCovered: bigint[] = [];
  for (const [a, b] of closed) {
    for (let s = a; s <= b; s++) {
      if (seen.has(s)) doublyCovered.push(s);
      seen.add(s);
    }
    if (b > maxSeq) maxSeq = b;
  }
  return {
    delivered, losses, doublyCovered, maxSeq,
    covered: (seq) => seen.has(seq) || openFrom.some((f) => seq >= f),
  };
}

/** Audit records of connections from one cgroup path (the generator's), by pid. */
export function byPid(recs: AuditRecord[], cgroupPath: string): Map<number, AuditRecord[]> {
  const out = new Map<number, AuditRecord[]>();
  for (const r of recs) {
    if (r.cgroup?.path !== cgroupPath || !r.process) continue;
    const list = out.get(r.process.pid) ?? [];
    list.push(r);
    out.set(r.process.pid, list);
  }
  return out;
}
