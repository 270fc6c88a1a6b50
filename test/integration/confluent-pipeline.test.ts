// SPDX-License-Identifier: Apache-2.0
// --schema-registry through the real stages: capture writes Confluent-framed Avro (subject
// <topic>-value), enrich reads both framings and writes Confluent-framed audit records, and
// tail reads them back. The registry is a stand-in for Confluent's REST API (no real registry
// server runs on this machine: see the export-confluent test's notes).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { ConfluentDecoder, SchemaRegistryClient } from '../../src/schema/confluent.js';
import { runCli } from '../helpers/cli.js';
import { readAll } from '../helpers/consume.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { BROKERS, createTopics, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { sampleRaw } from '../helpers/records.js';
import { startStage, stopStage, waitForLog, type Stage } from '../helpers/stages.js';

const codec = new Codec();
let kafka: Kafka;
let registry: FakeRegistry;
const t = { raw: uniqueTopic('cf-raw'), audit: uniqueTopic('cf-audit'), dlq: uniqueTopic('cf-dlq'), meta: uniqueTopic('cf-meta') };
const stages: Stage[] = [];

/** Waits (read_committed) until enrich has written the audit record of our connect. */
async function waitForRecord(topic: string, port: number): Promise<void> {
  const dec = new ConfluentDecoder(codec, new SchemaRegistryClient(registry.url));
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    const msgs = await readAll(kafka, topic, { idleMs: 1500, maxWaitMs: 20_000 });
    for (const m of msgs) {
      const d = await dec.decode(m.value!);
      if (d.schema === 'AuditRecord' && d.value.dst?.port === port) return;
    }
  }
  assert.fail(`no audit record for the connect to port ${port}`);
}

before(async () => {
  kafka = await requireBroker();
  registry = await startFakeRegistry();
  await createTopics(kafka, Object.values(t), 1);
});
after(async () => {
  for (const s of stages) await stopStage(s);
  await registry?.close();
  if (kafka) await deleteTopics(kafka, Object.values(t));
});

test('capture and enrich write Confluent framing; enrich and tail read both framings', async () => {
  const common = ['--schema-registry', registry.url, '--raw-topic', t.raw, '--containers-topic', t.meta];
  const capture = startStage('capture', ['capture', ...common, '--audit-topic', t.audit, '--node', 'cf-node']);
  stages.push(capture);
  await waitForLog(capture, 'capture started', 30_000);
  const enrich = startStage('enrich', ['enrich', ...common, '--audit-topic', t.audit, '--dlq-topic', t.dlq, '--group', uniqueTopic('cf-g'), '--host-root', '/nonexistent']);
  stages.push(enrich);
  await waitForLog(enrich, 'enrich running', 30_000);

  const subjects = registry.requests.filter((r) => r.method === 'POST').map((r) => r.path);
  for (const s of [`/subjects/${t.raw}-value/versions`, `/subjects/${t.raw}-io.podtrail.v1.CaptureLoss/versions`, `/subjects/${t.meta}-value/versions`, `/subjects/${t.audit}-value/versions`]) {
    assert.ok(subjects.includes(s), `registered ${s} (got ${subjects.join(', ')})`);
  }

  // One real connect through capture, one raw record in our own framing.
  const srv = createServer((s) => s.destroy());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => { const c: Socket = connect(port, '127.0.0.1', () => { c.destroy(); resolve(); }); });
  srv.close();
  await produce(kafka, t.raw, [{ key: 'x/1', value: codec.encode('RawConnectEvent', sampleRaw({ eventId: 'single-object:1', cgroup: { id: 1n, path: '/' } })) }]);

  const raw = await readAll(kafka, t.raw, { minCount: 1, idleMs: 3000, maxWaitMs: 30_000 });
  assert.ok(raw.some((m) => m.value?.[0] === 0x00), 'capture wrote Confluent-framed records');
  // Capture records every connection on the machine; stop it so the audit topic goes quiet
  // and the tails below can end on --idle-exit.
  await waitForRecord(t.audit, port);
  assert.equal(await stopStage(capture), 0);

  const r = await runCli(['tail', '--topic', t.audit, '--from-beginning', '--idle-exit', '4000', '--schema-registry', registry.url, '--brokers', BROKERS.join(',')], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const recs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  assert.ok(recs.some((x) => x.eventId === 'single-object:1'), 'our framing read by enrich');
  const mine = recs.filter((x) => x.node === 'cf-node' && x.dst?.port === port);
  assert.equal(mine.length, 1, 'the connect captured with Confluent framing was enriched');
  assert.equal(mine[0]!.process.pid, process.pid);
  const audit = await readAll(kafka, t.audit, { minCount: 1, idleMs: 2000, maxWaitMs: 20_000 });
  assert.ok(audit.every((m) => m.value?.[0] === 0x00), 'enrich wrote Confluent framing');

  // Without the registry, tail says what it cannot read and goes on.
  const r2 = await runCli(['tail', '--topic', t.audit, '--from-beginning', '--idle-exit', '3000', '--brokers', BROKERS.join(',')], { timeoutMs: 60_000 });
  assert.equal(r2.code, 0);
  assert.equal(r2.stdout.trim(), '');
  assert.match(r2.stderr, /undecodable/);
});
