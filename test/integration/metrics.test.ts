// SPDX-License-Identifier: Apache-2.0
// /metrics, /healthz and /readyz over real HTTP, from the real capture and enrich stages.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { BROKERS, createTopics, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { sampleRaw } from '../helpers/records.js';
import { startStage, stopStage, waitForLog, type Stage } from '../helpers/stages.js';

const codec = new Codec();
let kafka: Kafka;
const t = { raw: uniqueTopic('m-raw'), audit: uniqueTopic('m-audit'), dlq: uniqueTopic('m-dlq'), meta: uniqueTopic('m-meta') };
const stages: Stage[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined as T);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The value of one sample line, e.g. metric('x_total{a="b"}'). */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

before(async () => {
  kafka = await requireBroker();
  await createTopics(kafka, [t.raw, t.audit, t.dlq, t.meta], 1);
});
after(async () => {
  for (const s of stages) await stopStage(s);
  if (kafka) await deleteTopics(kafka, Object.values(t));
});

test('enrich serves /metrics, /healthz and /readyz', async () => {
  const port = await freePort();
  const enrich = startStage('enrich', ['enrich', '--raw-topic', t.raw, '--audit-topic', t.audit, '--dlq-topic', t.dlq, '--containers-topic', t.meta,
    '--group', uniqueTopic('m-group'), '--metrics-port', String(port), '--metrics-host', '127.0.0.1', '--host-root', '/nonexistent']);
  stages.push(enrich);
  await waitForLog(enrich, 'metrics server listening', 30_000);
  assert.equal((await get(port, '/healthz')).status, 200);
  const ready = await until(() => get(port, '/readyz'), (r) => r.status === 200, 30_000);
  assert.equal(ready.status, 200, ready.body);
  assert.equal((await get(port, '/nope')).status, 404);

  await produce(kafka, t.raw, [
    ...[1n, 2n, 3n].map((seq) => ({ key: 'n/1', value: codec.encode('RawConnectEvent', sampleRaw({ seq, eventId: `n:i:${seq}`, cgroup: { id: 1n, path: '/' } })) })),
    { key: 'n/1', value: Buffer.from('garbage') },
  ]);
  // records_in counts when a batch is processed; lag and latency when its transaction commits.
  const m = await until(() => get(port, '/metrics'), (r) => sample(r.body, 'podtrail_enrich_records_in_total') === 4
    && sample(r.body, 'podtrail_consumer_lag', { partition: '0' }) !== undefined, 30_000);
  assert.equal(m.status, 200);
  assert.equal(sample(m.body, 'podtrail_enrich_records_in_total'), 4);
  assert.equal(sample(m.body, 'podtrail_enrich_records_out_total', { destination: 'audit' }), 3);
  assert.equal(sample(m.body, 'podtrail_enrich_records_out_total', { destination: 'dlq' }), 1);
  assert.equal(sample(m.body, 'podtrail_enrich_attribution_total', { status: 'HOST', source: 'cgroup' }), 3);
  assert.equal(sample(m.body, 'podtrail_consumer_lag', { partition: '0' }), 0);
  assert.ok((sample(m.body, 'podtrail_produce_latency_seconds_count') ?? 0) >= 1);
  assert.ok((sample(m.body, 'podtrail_enrich_transactions_total') ?? 0) >= 1);
  assert.ok(sample(m.body, 'podtrail_process_resident_memory_bytes') !== undefined, 'default process metrics too');
});

test('capture serves kernel, buffer and produce metrics', async () => {
  const port = await freePort();
  const capture = startStage('capture', ['capture', '--raw-topic', t.raw, '--containers-topic', t.meta, '--node', 'metrics-node', '--metrics-port', String(port), '--metrics-host', '127.0.0.1']);
  stages.push(capture);
  await waitForLog(capture, 'metrics server listening', 30_000);
  const ready = await until(() => get(port, '/readyz'), (r) => r.status === 200, 30_000);
  assert.equal(ready.status, 200, ready.body);
  // A loopback connect of our own makes at least one event.
  const srv = createServer((s) => s.destroy());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { connect } = await import('node:net');
  await new Promise<void>((resolve) => connect((srv.address() as { port: number }).port, '127.0.0.1').once('connect', function (this: import('node:net').Socket) { this.destroy(); resolve(); }));
  srv.close();
  const m = await until(() => get(port, '/metrics'), (r) => (sample(r.body, 'podtrail_capture_events_published_total') ?? 0) >= 1, 30_000);
  assert.ok((sample(m.body, 'podtrail_capture_events_total') ?? 0) >= 1);
  assert.ok((sample(m.body, 'podtrail_capture_events_published_total') ?? 0) >= 1);
  assert.equal(sample(m.body, 'podtrail_capture_kernel_ring_reserve_failures_total', { cpu: '0' }), 0);
  assert.equal(sample(m.body, 'podtrail_capture_buffer_dropped_total'), 0);
  assert.ok(sample(m.body, 'podtrail_capture_buffer_fill_ratio') !== undefined);
  // Read from the kernel (bpf_prog_info.recursion_misses of capture's programs): a count.
  const skipped = sample(m.body, 'podtrail_capture_kernel_skipped_runs_total');
  assert.ok(skipped !== undefined && Number.isInteger(skipped) && skipped >= 0, String(skipped));
  assert.ok((sample(m.body, 'podtrail_produce_latency_seconds_count', { topic: t.raw }) ?? 0) >= 1);
  assert.equal(await stopStage(capture), 0);
  await assert.rejects(get(port, '/healthz'), 'the server is gone after stop');
});

test('export serves its metrics and health too', async () => {
  const port = await freePort();
  const out = uniqueTopic('m-out');
  const exp = startStage('export', ['export', '--format', 'ocsf', '--to-topic', out, '--audit-topic', t.audit, '--dlq-topic', t.dlq,
    '--group', uniqueTopic('m-xgroup'), '--metrics-port', String(port), '--metrics-host', '127.0.0.1']);
  stages.push(exp);
  try {
    await waitForLog(exp, 'metrics server listening', 30_000);
    const ready = await until(() => get(port, '/readyz'), (r) => r.status === 200, 30_000);
    assert.equal(ready.status, 200, ready.body);
    // The enrich stage above is still attributing what capture produced into t.raw.
    // records_in counts as a batch is read, records_out once it is delivered: compare them
    // when the two agree (capture may still be feeding the pipeline with other connects).
    const m = await until(() => get(port, '/metrics'), (r) => {
      const o = sample(r.body, 'podtrail_export_records_out_total', { destination: out }) ?? 0;
      return o >= 3 && o === sample(r.body, 'podtrail_export_records_in_total');
    }, 60_000);
    const n = sample(m.body, 'podtrail_export_records_in_total') ?? 0;
    assert.ok(n >= 3);
    assert.equal(sample(m.body, 'podtrail_export_records_out_total', { destination: out }), n);
    assert.equal(sample(m.body, 'podtrail_export_undecodable_total'), 0);
    assert.equal((await get(port, '/healthz')).status, 200);
  } finally {
    assert.equal(await stopStage(exp), 0);
    await deleteTopics(kafka, [out]);
  }
});
