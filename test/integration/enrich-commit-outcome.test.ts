// SPDX-License-Identifier: Apache-2.0
// The enrich stage when a transaction's commit reached the broker but its answer did not (the
// broker died right after taking EndTxn, as in fault-broker-kill): the commit throws, abort is
// refused (kafkajs's transaction is already COMMITTING), and the stage cannot tell whether its
// batch committed. It did. The batch must not come again from the consumer's in-memory position,
// or its audit records are in the topic twice; the group's committed offset says where to go on.
// Deterministic: a kafkajs socket factory drops the answer to the first EndTxn(commit) and
// closes that connection, on a real broker.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { EnrichStage } from '../../src/enrich/stage.js';
import type { EnrichProcessor, InMessage, OutMessage } from '../../src/enrich/processor.js';
import { readAll } from '../helpers/consume.js';
import { createTopics, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { committedOffset, lossyClient, repeated, until } from '../helpers/txn-faults.js';

/** Each raw record becomes one output record with the same value. */
const passthrough = {
  checkpoint: () => null,
  rollback: () => undefined,
  keepPartitions: () => undefined,
  processBatch: async (_partition: number, messages: InMessage[]): Promise<OutMessage[]> =>
    messages.map((m) => ({ kind: 'audit', key: m.key, value: m.value!, record: {} as never })),
} as unknown as EnrichProcessor;

let kafka: Kafka;
const raw = uniqueTopic('eco-raw');
const audit = uniqueTopic('eco-audit');
const dlq = uniqueTopic('eco-dlq');
const group = uniqueTopic('eco-group');
let stage: EnrichStage | undefined;

before(async () => {
  kafka = await requireBroker();
  await createTopics(kafka, [raw, audit, dlq], 1);
});

after(async () => {
  await stage?.stop();
  if (!kafka) return;
  await deleteTopics(kafka, [raw, audit, dlq]);
  const admin = kafka.admin();
  await admin.connect().then(() => admin.deleteGroups([group])).catch(() => undefined).finally(() => admin.disconnect());
});

test('a commit the broker took but never answered: its batch is not produced again', { timeout: 120_000 }, async () => {
  const first = Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: Buffer.from(`r-${i}`) }));
  const second = Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: Buffer.from(`r-${20 + i}`) }));
  await produce(kafka, raw, first);

  const { lose, kafka: stageKafka, log, lines } = lossyClient('eco-test');
  stage = new EnrichStage(stageKafka, passthrough, {
    group, atLeastOnce: false, transactionalId: `${group}-t`, transactionTimeoutMs: 10_000, maxBytesPerPartition: 1 << 20,
    topics: { raw, audit, dlq, containers: 'unused', partitions: 1, replicationFactor: 1 },
  }, log);
  await stage.start();

  // The first batch's commit goes through on the broker, and the stage is told it failed.
  await until('the lost commit answer and a new producer', () => lose.lost === 1 && lines.some((l) => l.includes('started a new transactional producer')), 60_000);
  assert.ok(lines.some((l) => l.includes('abort failed')), `the stage could not abort a COMMITTING transaction:\n${lines.join('')}`);
  // More input, so the stage has something to commit after its recovery.
  await produce(kafka, raw, second);
  await until('the group to commit offset 25', async () => (await committedOffset(kafka, group, raw)) === '25', 60_000);

  const out = await readAll(kafka, audit, { minCount: 25, idleMs: 3000 });
  const values = out.map((m) => m.value!.toString());
  assert.deepEqual(repeated(values), [], `records in the audit topic more than once (${out.length} records for 25 inputs)`);
  assert.deepEqual([...new Set(values)].sort(), [...first, ...second].map((m) => m.value.toString()).sort());
  assert.equal(lose.lost, 1);
  assert.ok(lines.some((l) => l.includes('the failed commit had gone through')), lines.join(''));
  assert.equal(stage.stats.aborted, 0, 'nothing aborted: the batch committed once');
});
