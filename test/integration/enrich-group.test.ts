// SPDX-License-Identifier: Apache-2.0
// The enrich stage's delivery guarantees on the real broker: two members of one group
// share the partitions; SIGKILL one mid-stream; every raw record appears exactly once in
// the audit topic (read_committed), and garbage goes to the DLQ without stopping anything.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { spawnCli } from '../helpers/cli.js';
import { BROKERS, createTopics, deleteTopics, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { sampleRaw } from '../helpers/records.js';
import { readAll } from '../helpers/consume.js';

const codec = new Codec();
let kafka: Kafka;
const raw = uniqueTopic('eg-raw');
const audit = uniqueTopic('eg-audit');
const dlq = uniqueTopic('eg-dlq');
const group = uniqueTopic('eg-group');
const children: ChildProcess[] = [];

function startEnrich(name: string): ChildProcess {
  const c = spawnCli(['enrich', '--brokers', BROKERS.join(','), '--raw-topic', raw, '--audit-topic', audit, '--dlq-topic', dlq,
    '--group', group, '--transactional-id', `${group}-${name}`, '--transaction-timeout', '5000', '--host-root', '/nonexistent-host-root'], { PODTRAIL_LOG_LEVEL: 'info' });
  children.push(c);
  let err = '';
  c.stderr?.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-20000); });
  (c as ChildProcess & { errTail: () => string }).errTail = () => err;
  return c;
}

before(async () => {
  kafka = await requireBroker();
  await createTopics(kafka, [raw], 4);
  await createTopics(kafka, [audit, dlq], 4);
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (kafka) await deleteTopics(kafka, [raw, audit, dlq]);
});

test('two enrich members, one SIGKILLed mid-stream: no loss, no duplicate, garbage to the DLQ', { timeout: 180_000 }, async () => {
  const a = startEnrich('a');
  const b = startEnrich('b');
  const N = 20_000;
  const GARBAGE = 25;
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sendChunk = async (from: number, to: number) => {
    const messages = [];
    for (let i = from; i < to; i++) {
            // Four capture nodes, each with its own gap-free sequence on its own partition, as
      // capture's node partitioner lays them out.
      const n = i % 4;
      const nodeSeq = BigInt(Math.floor(i / 4) + 1);
      messages.push({ key: `node-t${n}/${i % 16}`, partition: n, value: codec.encode('RawConnectEvent', sampleRaw({ seq: nodeSeq, eventId: `node-t${n}:inst:${nodeSeq}`, node: `node-t${n}`, cgroup: { id: BigInt(i % 16), path: '/' } })) });
      if (i % 800 === 0 && i / 800 < GARBAGE) messages.push({ key: `node-t${n}/${i % 16}`, partition: n, value: Buffer.from(`garbage ${i}`) });
    }
    await producer.send({ topic: raw, acks: -1, messages });
  };
  for (let i = 0; i < N / 2; i += 1000) await sendChunk(i, i + 1000);
  // Let both members work, then kill one without warning.
  const progress = await readAll(kafka, audit, { minCount: 2000, idleMs: 60_000, maxWaitMs: 60_000 });
  assert.ok(progress.length >= 2000, `enrich made progress before the kill (${progress.length})`);
  a.kill('SIGKILL');
  for (let i = N / 2; i < N; i += 1000) await sendChunk(i, i + 1000);
  await producer.disconnect();

  const records = await readAll(kafka, audit, { minCount: N, idleMs: 20_000, maxWaitMs: 150_000 });
  const ids = records.map((m) => codec.decodeAs('AuditRecord', m.value!).eventId);
  const unique = new Set(ids);
  assert.equal(unique.size, N, `every raw record attributed (b stderr tail: ${(b as ChildProcess & { errTail: () => string }).errTail().slice(-2000)})`);
  assert.equal(ids.length, N, 'and none twice');
  const statuses = new Set(records.map((m) => codec.decodeAs('AuditRecord', m.value!).attribution.status));
  assert.deepEqual([...statuses], ['HOST'], 'no LOSS: every node\'s sequence is whole');

  const dead = await readAll(kafka, dlq, { minCount: GARBAGE, idleMs: 5_000, maxWaitMs: 30_000 });
  assert.equal(dead.length, GARBAGE);
  for (const m of dead) {
    assert.match(String(m.value), /^garbage \d+$/);
    assert.equal(String(m.headers?.['podtrail-error-code']), 'BAD_MAGIC');
    assert.ok(m.headers?.['podtrail-source-offset']);
  }
  b.kill('SIGTERM');
  await new Promise((r) => b.once('exit', r));
  assert.equal(b.exitCode, 0);
});
