// SPDX-License-Identifier: Apache-2.0
// One fetched raw batch of several MiB whose audit records all land on one partition: more than
// the broker takes in one record batch (message.max.bytes, 1 MiB by default). The stage must
// split its produce requests inside the transaction instead of retrying a refused one forever.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { spawnCli } from '../helpers/cli.js';
import { readAll } from '../helpers/consume.js';
import { BROKERS, createTopics, deleteTopics, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { sampleRaw } from '../helpers/records.js';

const codec = new Codec();
let kafka: Kafka;
const raw = uniqueTopic('lb-raw');
const audit = uniqueTopic('lb-audit');
const dlq = uniqueTopic('lb-dlq');
let enrich: ChildProcess | undefined;
let stderr = '';

before(async () => {
  kafka = await requireBroker();
  await createTopics(kafka, [raw, audit, dlq], 1);
});
after(async () => {
  if (enrich && enrich.exitCode === null && enrich.signalCode === null) enrich.kill('SIGKILL');
  if (kafka) await deleteTopics(kafka, [raw, audit, dlq]);
});

test('a multi-MiB batch to a single audit partition goes through, exactly once', { timeout: 180_000 }, async () => {
  const N = 16_000;
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let bytes = 0;
  for (let i = 0; i < N; i += 2000) {
    const messages = [];
    for (let j = i; j < i + 2000; j++) {
      const seq = BigInt(j + 1);
      const value = codec.encode('RawConnectEvent', sampleRaw({ seq, eventId: `node-l:inst:${seq}`, node: 'node-l', instance: 'inst', cgroup: { id: 1n, path: `/system.slice/${'padding-'.repeat(20)}.service` } }));
      bytes += value.length;
      messages.push({ key: 'node-l/1', value });
    }
    await producer.send({ topic: raw, acks: -1, messages });
  }
  await producer.disconnect();
  assert.ok(bytes > 3 * 1024 * 1024, `raw batch of ${bytes} bytes`);

  enrich = spawnCli(['enrich', '--brokers', BROKERS.join(','), '--raw-topic', raw, '--audit-topic', audit, '--dlq-topic', dlq,
    '--group', `${audit}-g`, '--metadata', 'files', '--host-root', '/nonexistent-host-root'], { PODTRAIL_LOG_LEVEL: 'warn' });
  enrich.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-20_000); });
  const out = await readAll(kafka, audit, { minCount: N, idleMs: 20_000, maxWaitMs: 150_000 });
  const ids = new Set(out.map((m) => codec.decodeAs('AuditRecord', m.value!).eventId));
  assert.equal(ids.size, N, `all attributed (enrich stderr: ${stderr.slice(-3000)})`);
  assert.equal(out.length, N, 'none twice');
  assert.doesNotMatch(stderr, /MESSAGE_TOO_LARGE|larger than the max message size/);
  enrich.kill('SIGTERM');
  await new Promise((r) => enrich!.once('exit', r));
  assert.equal(enrich.exitCode, 0, stderr.slice(-3000));
});
