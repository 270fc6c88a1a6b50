// SPDX-License-Identifier: Apache-2.0
// The fault tests' audit reader (test/helpers/audit-account.ts readAuditUntil) on the real
// broker. It stopped as soon as its `done` check held, and that check sees the partitions in
// the order the fetches bring them: kafkajs shuffles the partitions of each fetch and brings at
// most maxBytesPerPartition (1 MiB) of each. So `done` could hold while another partition still
// had committed records not yet read, and those were left out. fault-capture-kill then reported
// enrich's first audit records as lost (3 of 16 runs with a 20 ms transactional retry) while the
// audit topic held every one of them. The audit topics here are written the way enrich writes
// them (transactions, so every partition ends in a commit marker).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Kafka, Message } from 'kafkajs';
import { codec } from '../../src/schema/codec.js';
import type { AuditRecord } from '../../src/schema/types.js';
import { accountInstance, readAuditUntil } from '../helpers/audit-account.js';
import { createTopics, deleteTopics, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { sampleAudit } from '../helpers/records.js';

const NODE = 'reader-node';
const INSTANCE = 'aaaa0001';
const j = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));

function event(seq: bigint): Message {
  const rec = sampleAudit({ seq, eventId: `${NODE}:${INSTANCE}:${seq}`, node: NODE, instance: INSTANCE });
  return { key: `${NODE}/1234`, value: codec().encode('AuditRecord', rec) };
}

/** The record the fault tests wait for: the end of a capture instance. */
function endOf(instance: string, fromSeq: bigint): Message {
  const rec: AuditRecord = {
    ...sampleAudit({ seq: fromSeq, eventId: `${NODE}:${instance}:end`, node: NODE, instance }),
    protocol: null, family: null, src: null, dst: null, result: null, process: null, netns: null, mntns: null, pidns: null,
    utsName: null, cgroup: null, container: null, pod: null,
    attribution: { status: 'LOSS', source: 'capture', reason: 'ended' },
    loss: { instance, fromSeq, toSeq: fromSeq - 1n, count: 0n, cause: 'CAPTURE_RESTART', firstTime: 1n, lastTime: 2n },
  };
  return { key: `${NODE}/loss`, value: codec().encode('AuditRecord', rec) };
}

const isEnd = (rs: AuditRecord[]) => rs.some((r) => r.loss?.cause === 'CAPTURE_RESTART');

describe('readAuditUntil reads every partition, whichever one satisfies the wait first', () => {
  let kafka: Kafka;
  const topics: string[] = [];

  /** One transaction per list, in order, each to its partition: enrich commits one per batch. */
  async function writeTransactions(topic: string, txns: Array<{ partition: number; messages: Message[] }>): Promise<void> {
    const producer = kafka.producer({ transactionalId: `reader-${randomBytes(4).toString('hex')}`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (const { partition, messages } of txns) {
        const txn = await producer.transaction();
        await txn.sendBatch({ acks: -1, topicMessages: [{ topic, messages: messages.map((m) => ({ ...m, partition })) }] });
        await txn.commit();
      }
    } finally {
      await producer.disconnect();
    }
  }

  before(async () => {
    kafka = await requireBroker();
  });

  after(async () => {
    if (kafka) await deleteTopics(kafka, topics);
  });

  test('a partition longer than one fetch is read to its end after the awaited record shows up in another', { timeout: 120_000 }, async () => {
    const topic = uniqueTopic('reader-long');
    topics.push(topic);
    await createTopics(kafka, [topic], 2);
    // Partition 0: about 3 MiB in 12 transactions, three fetches' worth at least. Partition 1: the
    // awaited record, committed last, so it is in the first fetch that reaches partition 1.
    const perTxn = 500;
    const txns = Array.from({ length: 12 }, (_, t) => ({
      partition: 0,
      messages: Array.from({ length: perTxn }, (_v, i) => event(BigInt(t * perTxn + i + 1))),
    }));
    const total = 12 * perTxn;
    const bytes = txns.reduce((n, t) => n + t.messages.reduce((m, x) => m + (x.value as Buffer).length, 0), 0);
    assert.ok(bytes > 2.5 * 1024 * 1024, `partition 0 holds more than two fetches (${bytes} bytes)`);
    await writeTransactions(topic, [...txns, { partition: 1, messages: [endOf('bbbb0002', 1n)] }]);

    const recs = await readAuditUntil(kafka, topic, isEnd, 60_000);
    const acc = accountInstance(recs, NODE, INSTANCE);
    const missing: bigint[] = [];
    for (let s = 1n; s <= BigInt(total); s++) if (!acc.delivered.has(s)) missing.push(s);
    assert.deepEqual(missing.length, 0, `read ${recs.length} records; seqs missing: ${missing.length}, from ${j(missing.slice(0, 3))}`);
    assert.ok([...acc.delivered.values()].every((n) => n === 1), 'each record read once');
    assert.equal(recs.length, total + 1);
  });

  test('a few records alone in a partition are read whichever partition the fetch hands over first', { timeout: 120_000 }, async () => {
    // The shape fault-capture-kill failed with: a capture instance's first three events (another
    // cgroup, so another key) in their own partition, one transaction each; the rest of its
    // events and the end record in the other partition. Every fetch brings both partitions, in an
    // order kafkajs shuffles, so ten reads see each order about five times.
    const topic = uniqueTopic('reader-few');
    topics.push(topic);
    await createTopics(kafka, [topic], 2);
    await writeTransactions(topic, [
      { partition: 0, messages: [event(1n)] },
      { partition: 0, messages: [event(2n)] },
      { partition: 0, messages: [event(3n)] },
      { partition: 1, messages: Array.from({ length: 240 }, (_v, i) => event(BigInt(i + 4))) },
      { partition: 1, messages: [endOf(INSTANCE, 244n)] },
    ]);
    const short: string[] = [];
    for (let i = 0; i < 10; i++) {
      const recs = await readAuditUntil(kafka, topic, isEnd, 30_000);
      const acc = accountInstance(recs, NODE, INSTANCE);
      const missing = [1n, 2n, 3n].filter((s) => !acc.delivered.has(s));
      if (recs.length !== 244 || missing.length) short.push(`read ${i}: ${recs.length} records, missing seqs ${j(missing)}`);
    }
    assert.deepEqual(short, [], 'every read holds all 244 records');
  });
});
