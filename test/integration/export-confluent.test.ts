// SPDX-License-Identifier: Apache-2.0
// export --schema-registry: an audit topic holding both framings (ours and Confluent's)
// exports every record; without the registry, the Confluent-framed ones are reported.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { ConfluentEncoder, SchemaRegistryClient } from '../../src/schema/confluent.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { readAll } from '../helpers/consume.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { BROKERS, createTopics, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { terminate } from '../helpers/proc.js';
import { sampleAudit } from '../helpers/records.js';

const codec = new Codec();
const audit = uniqueTopic('confluent-audit');
const out = uniqueTopic('confluent-out');
const dlq = uniqueTopic('confluent-dlq');
let kafka: Kafka;
let reg: FakeRegistry;

before(async () => {
  kafka = await requireBroker();
  reg = await startFakeRegistry();
  await createTopics(kafka, [audit, dlq], 1);
  const enc = new ConfluentEncoder(codec, new SchemaRegistryClient(reg.url));
  const recs = [1n, 2n, 3n, 4n].map((seq) => sampleAudit({ seq, eventId: `node-a:7f3c2d:${seq}` }));
  await produce(kafka, audit, [
    { key: 'k', value: codec.encode('AuditRecord', recs[0]!) },
    { key: 'k', value: await enc.encode(audit, 'AuditRecord', recs[1]!) },
    { key: 'k', value: codec.encode('AuditRecord', recs[2]!) },
    { key: 'k', value: await enc.encode(audit, 'AuditRecord', recs[3]!) },
  ]);
  assert.ok(reg.requests.some((r) => r.path === `/subjects/${audit}-value/versions`));
});

after(async () => {
  await reg?.close();
  if (kafka) await deleteTopics(kafka, [audit, out, dlq]);
});

test('both framings export with --schema-registry', async () => {
  const child = spawnCli(['export', '--format', 'json', '--to-topic', out, '--audit-topic', audit, '--dlq-topic', dlq, '--group', `test-${out}`,
    '--schema-registry', reg.url, '--brokers', BROKERS.join(',')]);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // terminate() returns once the pid is a zombie, which can be before node has seen it exit.
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  try {
    const admin = kafka.admin();
    await admin.connect();
    for (let i = 0; !(await admin.listTopics()).includes(out); i++) {
      assert.ok(i < 100 && child.exitCode === null, stderr);
      await new Promise((r) => setTimeout(r, 200));
    }
    await admin.disconnect();
    const got = await readAll(kafka, out, { minCount: 4, idleMs: 3000 });
    assert.deepEqual(got.map((m) => m.key!.toString()).sort(), ['node-a:7f3c2d:1', 'node-a:7f3c2d:2', 'node-a:7f3c2d:3', 'node-a:7f3c2d:4']);
    assert.ok(reg.requests.some((r) => r.method === 'GET' && /^\/schemas\/ids\/\d+$/.test(r.path)), 'schema fetched by id');
  } finally {
    await terminate(child.pid!, 15_000);
  }
  assert.equal(child.exitCode ?? (await exited), 0, stderr);
});

test('without --schema-registry, Confluent-framed records are reported as undecodable, not fatal', async () => {
  const r = await runCli(['tail', '--topic', audit, '--from-beginning', '--idle-exit', '3000', '--brokers', BROKERS.join(',')], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 2);
  assert.equal(r.stderr.split('\n').filter((l) => /undecodable/.test(l)).length, 2);
});
