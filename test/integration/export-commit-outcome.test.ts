// SPDX-License-Identifier: Apache-2.0
// export --to-topic (exactly-once) when a transaction's commit reached the broker but its answer
// did not (the broker died right after taking EndTxn): the commit throws, abort is refused
// (kafkajs's transaction is already COMMITTING), and the sink cannot tell whether its batch
// committed. It did. The old sink kept that producer, stuck in COMMITTING, so every later batch
// failed and export made no progress; run again from the consumer's in-memory position, the
// batch would have been written twice. The group's committed offset says where to go on.
// Deterministic: a kafkajs socket factory drops the answer to the first EndTxn(commit) and closes
// that connection, on a real broker (test/integration/enrich-commit-outcome is the same for enrich).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { ExportStage } from '../../src/export/stage.js';
import { TopicSink } from '../../src/export/topic-sink.js';
import { createRenderer } from '../../src/export/render.js';
import { Codec } from '../../src/schema/codec.js';
import { readAll } from '../helpers/consume.js';
import { createTopics, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { sampleAudit } from '../helpers/records.js';
import { committedOffset, lossyClient, repeated, until } from '../helpers/txn-faults.js';

const codec = new Codec();
let kafka: Kafka;
const audit = uniqueTopic('xco-audit');
const out = uniqueTopic('xco-out');
const dlq = uniqueTopic('xco-dlq');
const group = uniqueTopic('xco-group');
let stage: ExportStage | undefined;

before(async () => {
  kafka = await requireBroker();
  await createTopics(kafka, [audit, out, dlq], 1);
});

after(async () => {
  await stage?.stop();
  if (!kafka) return;
  await deleteTopics(kafka, [audit, out, dlq]);
  const admin = kafka.admin();
  await admin.connect().then(() => admin.deleteGroups([group])).catch(() => undefined).finally(() => admin.disconnect());
});

const records = (from: number, n: number) => Array.from({ length: n }, (_, i) => {
  const seq = from + i;
  return { key: 'node-a/1234', value: codec.encode('AuditRecord', sampleAudit({ seq: BigInt(seq), eventId: `node-a:7f3c2d:${seq}` })) };
});

test('a commit the broker took but never answered: export goes on, and its batch is not produced again', { timeout: 150_000 }, async () => {
  await produce(kafka, audit, records(1, 20));

  const { lose, kafka: stageKafka, log, lines } = lossyClient('xco-test');
  const sink = new TopicSink(stageKafka, {
    toTopic: out, dlqTopic: dlq, group, format: 'json', atLeastOnce: false, transactionalId: `${group}-t`, transactionTimeoutMs: 10_000,
  }, log);
  stage = new ExportStage(stageKafka, codec, createRenderer('json'), sink, { group, topic: audit, maxBytesPerPartition: 1 << 20, sessionTimeoutMs: 10_000 }, log);
  await stage.start();

  // The first batch's commit goes through on the broker, and the sink is told it failed.
  await until('the lost commit answer', () => lose.lost === 1, 60_000, () => lines.join(''));
  // More input, so the sink has something to commit after the failure.
  await produce(kafka, audit, records(21, 5));
  await until('the group to commit offset 25', async () => (await committedOffset(kafka, group, audit)) === '25', 60_000,
    () => `sink ${JSON.stringify(sink.stats)}, export ${JSON.stringify(stage?.stats)}, log:\n${lines.filter((l) => /abort|producer|commit|transaction/.test(l)).slice(0, 20).join('')}`);

  const got = await readAll(kafka, out, { minCount: 25, idleMs: 3000 });
  const keys = got.map((m) => m.key!.toString());
  assert.deepEqual(repeated(keys), [], `records in the output topic more than once (${got.length} records for 25 inputs)`);
  assert.deepEqual([...new Set(keys)].sort(), Array.from({ length: 25 }, (_, i) => `node-a:7f3c2d:${i + 1}`).sort());
  assert.equal(lose.lost, 1);
  assert.ok(lines.some((l) => l.includes('abort failed')), `the sink could not abort a COMMITTING transaction:\n${lines.join('')}`);
  assert.ok(lines.some((l) => l.includes('started a new transactional producer')), lines.join(''));
  assert.ok(lines.some((l) => l.includes('the failed commit had gone through')), lines.join(''));
  assert.equal(sink.stats.aborted, 0, 'nothing aborted: the batch committed once');
  assert.equal(sink.stats.transactions, stage.stats.batches);
});
