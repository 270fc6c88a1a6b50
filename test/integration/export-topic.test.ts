// SPDX-License-Identifier: Apache-2.0
// podtrail export --to-topic against the real broker: JSON, OCSF and ECS records parse back
// with the right fields, keyed by eventId, read_committed; garbage goes to the DLQ.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { auditToJson } from '../../src/schema/json-form.js';
import { parseAddr } from '../../src/schema/addr.js';
import type { AuditRecord } from '../../src/schema/types.js';
import { spawnCli, runCli } from '../helpers/cli.js';
import { readAll } from '../helpers/consume.js';
import { BROKERS, createTopics, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { OcsfSchema } from '../helpers/ocsf-schema.js';
import { lossRecord } from '../helpers/audit-arb.js';
import { sampleAudit } from '../helpers/records.js';
import { terminate } from '../helpers/proc.js';
import { BARE_ENDPOINT } from '../../src/schema/endpoint.js';

const codec = new Codec();
const audit = uniqueTopic('export-audit');
const dlq = uniqueTopic('export-dlq');
const outs: string[] = [];
const children: ChildProcess[] = [];
let kafka: Kafka;

const recs: AuditRecord[] = [
  sampleAudit({ seq: 1n, eventId: 'node-a:7f3c2d:1' }),
  sampleAudit({ seq: 2n, eventId: 'node-a:7f3c2d:2', result: { status: 'REFUSED', errno: 111 } }),
  sampleAudit({ seq: 3n, eventId: 'node-a:7f3c2d:3', family: 'IPv6', src: { ...BARE_ENDPOINT, addr: parseAddr('fd00::5'), port: 40000 }, dst: { ...BARE_ENDPOINT, addr: parseAddr('2001:db8::7'), port: 443 } }),
  sampleAudit({ seq: 4n, eventId: 'node-a:7f3c2d:4', container: null, pod: null, attribution: { status: 'HOST', source: 'cgroup', reason: null } }),
  lossRecord({ count: 4n }),
];

before(async () => {
  kafka = await requireBroker();
  await createTopics(kafka, [audit, dlq], 2);
  await produce(kafka, audit, [
    ...recs.slice(0, 2).map((r) => ({ key: 'node-a/1234', value: codec.encode('AuditRecord', r), partition: 0 })),
    { key: 'node-a/1234', value: Buffer.from([0xc3, 0x01, 1, 2, 3]), partition: 0 },
    ...recs.slice(2).map((r) => ({ key: 'node-a/99', value: codec.encode('AuditRecord', r), partition: 1 })),
  ]);
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.pid) await terminate(c.pid, 10_000);
  if (kafka) await deleteTopics(kafka, [audit, dlq, ...outs]);
});

/** Runs export to a fresh topic until it has n records, then stops it (exit 0). */
async function exportTo(format: string, n: number, extra: string[] = []): Promise<{ messages: KafkaMessage[]; stderr: string; out: string }> {
  const out = uniqueTopic(`export-out-${format}`);
  outs.push(out);
  const child = spawnCli(['export', '--format', format, '--to-topic', out, '--audit-topic', audit, '--dlq-topic', dlq, '--group', `test-${out}`,
    '--topic-partitions', '2', '--brokers', BROKERS.join(','), ...extra]);
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  // The output topic appears once export starts; wait for it before reading.
  const admin = kafka.admin();
  await admin.connect();
  for (let i = 0; !(await admin.listTopics()).includes(out); i++) {
    assert.ok(i < 100 && child.exitCode === null, `export never created ${out}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await admin.disconnect();
  const messages = await readAll(kafka, out, { minCount: n, idleMs: 3000, maxWaitMs: 60_000 });
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  await terminate(child.pid!, 15_000);
  assert.equal(child.exitCode ?? (await exited), 0, stderr);
  return { messages, stderr, out };
}

const byKey = (ms: KafkaMessage[]) => new Map(ms.map((m) => [m.key!.toString(), JSON.parse(m.value!.toString()) as any]));

test('--format json: the JSON form, keyed by eventId, exactly once', async () => {
  const { messages, stderr } = await exportTo('json', 5);
  assert.equal(messages.length, 5, 'each record once');
  const m = byKey(messages);
  for (const r of recs) assert.deepEqual(m.get(r.eventId), JSON.parse(JSON.stringify(auditToJson(r))), r.eventId);
  assert.equal(messages[0]!.headers!['content-type']!.toString(), 'application/json');
  assert.match(stderr, new RegExp(`undecodable message at ${audit.replace(/\./g, '\\.')}/0@2`));
});

test('--format ocsf: valid Network Activity events with the right fields', async () => {
  const { messages } = await exportTo('ocsf', 5);
  assert.equal(messages.length, 5);
  const schema = new OcsfSchema();
  const m = byKey(messages);
  for (const ev of m.values()) assert.deepEqual(schema.validateEvent(ev), []);
  const ok = m.get('node-a:7f3c2d:1');
  assert.equal(ok.class_uid, 4001);
  assert.equal(ok.activity_id, 1);
  assert.equal(ok.actor.process.pid, 5113);
  assert.equal(ok.actor.process.container.pod_uuid, '35b82523-06c1-48e7-9e61-2521a89b703b');
  assert.equal(ok.unmapped.pod.namespace, 'shop');
  assert.equal(m.get('node-a:7f3c2d:2').activity_id, 5);
  assert.equal(m.get('node-a:7f3c2d:3').dst_endpoint.ip, '2001:db8::7');
  assert.equal(m.get('node-a:7f3c2d:loss:100').activity_id, 99);
  assert.equal(m.get('node-a:7f3c2d:loss:100').count, 4);
});

test('--format ecs --at-least-once: ECS documents with the issue\'s fields; garbage in the DLQ', async () => {
  const { messages } = await exportTo('ecs', 5, ['--at-least-once']);
  const m = byKey(messages);
  assert.equal(m.size, 5);
  const d = m.get('node-a:7f3c2d:1');
  assert.equal(d.network.direction, 'egress');
  assert.match(d.network.community_id, /^1:/);
  assert.equal(d.orchestrator.resource.name, 'web-7d9f');
  assert.equal(d.container.runtime, 'docker');
  assert.equal(d.event.outcome, 'success');
  assert.equal(m.get('node-a:7f3c2d:2').event.outcome, 'failure');
  assert.equal(m.get('node-a:7f3c2d:3').network.type, 'ipv6');
  assert.equal(m.get('node-a:7f3c2d:4').orchestrator, undefined);
  const dead = await readAll(kafka, dlq, { minCount: 1, idleMs: 2000 });
  assert.ok(dead.length >= 1, 'garbage dead-lettered');
  for (const x of dead) {
    assert.deepEqual([...x.value!], [0xc3, 0x01, 1, 2, 3]);
    assert.equal(x.headers!['podtrail-stage']!.toString(), 'export');
    assert.equal(x.headers!['podtrail-source-offset']!.toString(), '2');
  }
});

test('export refuses bad combinations with exit code 2', async () => {
  const r1 = await runCli(['export', '--to-topic', 'bad topic name']);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /not a valid Kafka topic name/);
  const r2 = await runCli(['export', '--to-topic', 'x', '--format', 'xml']);
  assert.equal(r2.code, 2);
  const r3 = await runCli(['export', '--syslog', 'tcp://127.0.0.1:514', '--at-least-once']);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /--at-least-once is for --to-topic/);
});

test('tail --format ocsf|ecs prints one SIEM event per record', async () => {
  for (const format of ['ocsf', 'ecs']) {
    const r = await runCli(['tail', '--topic', audit, '--from-beginning', '--format', format, '--idle-exit', '3000', '--brokers', BROKERS.join(',')], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const evs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as any);
    assert.equal(evs.length, 5, format);
    if (format === 'ocsf') {
      const schema = new OcsfSchema();
      for (const ev of evs) assert.deepEqual(schema.validateEvent(ev), []);
    } else {
      assert.deepEqual(evs.map((e) => e.event.id).sort(), recs.map((x) => x.eventId).sort());
    }
  }
});
