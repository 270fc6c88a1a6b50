// SPDX-License-Identifier: Apache-2.0
// podtrail tail against the real broker: good records of both schemas with garbage among them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { auditToJson, rawToJson } from '../../src/schema/json-form.js';
import { runCli } from '../helpers/cli.js';
import { createTopics, deleteTopics, produce, requireBroker, uniqueTopic, BROKERS } from '../helpers/kafka.js';
import { sampleAudit, sampleRaw } from '../helpers/records.js';

const codec = new Codec();
let kafka: Kafka;
const topic = uniqueTopic('tail');

before(async () => {
  kafka = await requireBroker();
  await createTopics(kafka, [topic], 1);
});
after(async () => {
  if (kafka) await deleteTopics(kafka, [topic]);
});

test('tail prints the good records as JSON and reports the one garbage message on stderr', async () => {
  const raws = [1n, 2n, 3n].map((seq) => sampleRaw({ seq, eventId: `node-a:7f3c2d:${seq}`, time: 1_796_005_677_000_000_000n + seq }));
  const audit = sampleAudit({ seq: 4n, eventId: 'node-a:7f3c2d:4' });
  await produce(kafka, topic, [
    { key: 'node-a/1234', value: codec.encode('RawConnectEvent', raws[0]!) },
    { key: 'node-a/1234', value: codec.encode('RawConnectEvent', raws[1]!) },
    { key: 'node-a/1234', value: Buffer.from('this is not avro at all') },
    { key: 'node-a/1234', value: codec.encode('RawConnectEvent', raws[2]!) },
    { key: 'node-a/1234', value: codec.encode('AuditRecord', audit) },
  ]);
  const r = await runCli(['tail', '--topic', topic, '--from-beginning', '--format', 'json', '--idle-exit', '3000', '--brokers', BROKERS.join(',')], { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 4, r.stdout);
  const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(objs.slice(0, 3), raws.map(rawToJson));
  assert.deepEqual(objs[3], auditToJson(audit));
  // kafkajs may warn about a just-created topic's leader; the skip report is what we count.
  const stderrLines = r.stderr.trim().split('\n').filter((l) => /undecodable/.test(l));
  assert.equal(stderrLines.length, 1, r.stderr);
  assert.match(stderrLines[0]!, new RegExp(`${topic.replace(/\./g, '\\.')}/0@2`));
  assert.match(stderrLines[0]!, /bad magic/);
});

test('tail --max stops after N records, --format pretty prints one line each', async () => {
  const r = await runCli(['tail', '--topic', topic, '--from-beginning', '--max', '2', '--format', 'pretty', '--brokers', BROKERS.join(',')], { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /node-a #1 TCP 10\.0\.0\.5:41234 -> 93\.184\.216\.34:443 OK curl\[5113\]/);
});

test('tail --since starts at the first record at or after the time', async () => {
  const t2 = new Date(Date.now() + 60_000).toISOString();
  const later = sampleRaw({ seq: 99n, eventId: 'node-a:7f3c2d:99' });
  await new Promise((r) => setTimeout(r, 1200));
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ value: codec.encode('RawConnectEvent', later), timestamp: String(Date.parse(t2) + 1000) }] });
  await producer.disconnect();
  const r = await runCli(['tail', '--topic', topic, '--since', t2, '--idle-exit', '3000', '--brokers', BROKERS.join(',')], { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  assert.equal((JSON.parse(lines[0]!) as { seq: number }).seq, 99);
});

test('tail refuses bad flags with exit code 2 and a clear message', async () => {
  const r = await runCli(['tail', '--topic', topic, '--since', 'last tuesday']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--since: not an ISO-8601 time/);
  const r2 = await runCli(['tail']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /--topic is required/);
});
