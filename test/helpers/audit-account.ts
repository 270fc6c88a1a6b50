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
 * after every batch) and then every partition has been read up to the end offsets it had at that
 * moment; or until maxWaitMs passes. Returns what it read either way, so the caller asserts.
 * `appended`, when given, gets each record's Kafka timestamp (eventId -> ms).
 *
 * `done` alone is not enough to stop: it sees the partitions in whatever order the fetches bring
 * them (kafkajs shuffles the partitions of each fetch, and a fetch brings at most
 * maxBytesPerPartition of each), so it can hold while another partition still has committed
 * records not yet read, and stopping then dropped them: fault-capture-kill reported enrich's
 * first audit records as lost while the audit topic held them (test/integration/audit-reader).
 */
export async function readAuditUntil(kafka: Kafka, topic: string, done: (recs: AuditRecord[]) => boolean, maxWaitMs: number, appended?: Map<string, number>, where?: Map<string, string[]>): Promise<AuditRecord[]> {
  const groupId = `test-fault-read-${randomBytes(6).toString('hex')}`;
  // A short fetch wait: disconnect waits for the fetch in flight, and we stop once caught up.
  const consumer = kafka.consumer({ groupId, readUncommitted: false, sessionTimeout: 10_000, maxWaitTimeInMs: 500, allowAutoTopicCreation: false });
  const admin = kafka.admin();
  const recs: AuditRecord[] = [];
  const seen = new Set<string>();
  /** partition -> the next offset to read, past records and transaction markers alike */
  const position = new Map<number, bigint>();
  /** partition -> its end offset once `done` held: read up to there, then stop */
  let ends: Map<number, bigint> | undefined;
  let snapshot: Promise<void> | undefined;
  let stopped = false;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  const timer = setTimeout(() => finish(), maxWaitMs);
  const caughtUp = () => ends !== undefined && [...ends].every(([p, end]) => (position.get(p) ?? 0n) >= end);
  const check = () => {
    if (ends === undefined) {
      if (snapshot || !done(recs)) return;
      snapshot = admin.fetchTopicOffsets(topic).then((offs) => {
        ends = new Map(offs.map((o) => [o.partition, BigInt(o.high)]));
        check();
      }, () => {
        setTimeout(() => { snapshot = undefined; if (!stopped) check(); }, 200);
      });
      return;
    }
    if (caughtUp()) finish();
  };
  await consumer.connect();
  try {
    await admin.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    // Emitted after eachBatch, and also for fetches that brought only markers or aborted records.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const next = BigInt(payload.lastOffset) + 1n;
      if (next > (position.get(payload.partition) ?? 0n)) position.set(payload.partition, next);
      check();
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          // The reader's own consumer can be restarted by kafkajs (a coordinator that moved):
          // it never commits, so it reads again from the start. The topic holds a record once
          // per offset; count each offset once.
          const at = `${batch.partition}@${m.offset}`;
          if (seen.has(at)) continue;
          seen.add(at);
          const r = codec.decodeAs('AuditRecord', m.value!);
          recs.push(r);
          // the record's Kafka timestamp: when enrich produced it (appended: eventId -> ms)
          appended?.set(r.eventId, Number(m.timestamp));
          if (where) {
            const bc = (m as unknown as { batchContext?: { producerId: string; producerEpoch: number; inTransaction: boolean; firstOffset: string } }).batchContext;
            const w = `${at} pid=${bc?.producerId} epoch=${bc?.producerEpoch} txn=${bc?.inTransaction} batch=${bc?.firstOffset}`;
            where.set(r.eventId, [...(where.get(r.eventId) ?? []), w]);
          }
        }
      },
    });
    check();
    await finished;
  } finally {
    stopped = true;
    clearTimeout(timer);
    await consumer.disconnect();
    await snapshot;
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
