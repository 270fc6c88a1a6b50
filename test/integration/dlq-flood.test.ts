// SPDX-License-Identifier: Apache-2.0
// 10,000 garbage messages of every kind (random bytes, truncated records, wrong fingerprints,
// valid magic with a garbage body, empty values, tombstones, other schemas, Confluent frames,
// the map-count record that used to hang readers, 50-100 KB blobs) interleaved with good raw
// records on a 3-partition raw topic, then the real `podtrail enrich` on the backlog: it keeps
// up (rate measured, a floor asserted), sends each garbage message to the DLQ exactly once
// with its source partition and offset, and enriches every good record exactly once
// (read_committed), attributed as its cgroup says (a docker pod from a host root, the host, an
// unresolved container).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Kafka, Message } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { DLQ_HEADERS } from '../../src/enrich/processor.js';
import { createTopics, deleteTopics, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { readAll } from '../helpers/consume.js';
import { sampleRaw } from '../helpers/records.js';
import { startStage, stopStage, waitForLog, type Stage } from '../helpers/stages.js';
import { garbage, rng, type Garbage } from '../helpers/garbage.js';
import { A, C, metadataDocs } from '../helpers/host-tree.js';

const GARBAGE = 10_000;
const GOOD = 10_000;
const PARTITIONS = 3;
// A floor ~5x below what this 2-core VM did with other suites running (~5,000/s, see the report):
// it catches a stage that stalls or crawls on garbage, not ordinary noise.
const MIN_RATE = 1_000;
const MAX_CATCH_UP_MS = 150_000;

const codec = new Codec();
const raw = uniqueTopic('flood-raw');
const audit = uniqueTopic('flood-audit');
const dlq = uniqueTopic('flood-dlq');
const group = uniqueTopic('flood-group');
let kafka: Kafka;
let stage: Stage | undefined;
let hostRoot: string;

const POD_PATH = `/kubepods/burstable/pod35b82523-06c1-48e7-9e61-2521a89b703b/${A}`;
const CGROUPS = [{ path: POD_PATH, status: 'POD' }, { path: '/', status: 'HOST' }, { path: `/docker/${C}`, status: 'UNRESOLVED' }];

before(async () => {
  kafka = await requireBroker();
  await createTopics(kafka, [raw, audit, dlq], PARTITIONS);
  // Docker's files for pod inside-pod (container A); C has none.
  hostRoot = mkdtempSync(path.join(tmpdir(), 'podtrail-flood-'));
  for (const [rel, doc] of Object.entries(metadataDocs('inside-pod')).filter(([p]) => p.startsWith('var/lib/docker/'))) {
    mkdirSync(path.join(hostRoot, path.dirname(rel)), { recursive: true });
    writeFileSync(path.join(hostRoot, rel), JSON.stringify(doc));
  }
});

after(async () => {
  if (stage) await stopStage(stage);
  rmSync(hostRoot, { recursive: true, force: true });
  if (kafka) {
    await deleteTopics(kafka, [raw, audit, dlq]);
    const admin = kafka.admin();
    await admin.connect().then(() => admin.deleteGroups([group])).catch(() => undefined).finally(() => admin.disconnect());
  }
});

interface Sent { partition: number; offset: string; garbage?: Garbage; eventId?: string; status?: string }

/** Produces per partition in chunks; each chunk is one batch, so its offsets are baseOffset + i. */
async function produceAll(plan: Array<{ partition: number; msg: Message; info: Omit<Sent, 'partition' | 'offset'> }>): Promise<Sent[]> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sent: Sent[] = [];
  try {
    for (let p = 0; p < PARTITIONS; p++) {
      const mine = plan.filter((x) => x.partition === p);
      for (let i = 0; i < mine.length;) {
        // Chunks under the broker's 1 MB batch limit.
        const size = (x: { msg: Message }): number => (x.msg.value as Buffer | null)?.length ?? 0;
        let bytes = 0;
        let j = i;
        while (j < mine.length && (j === i || bytes + size(mine[j]!) < 800_000) && j - i < 1000) bytes += size(mine[j++]!);
        const chunk = mine.slice(i, j);
        const [meta] = await producer.send({ topic: raw, acks: -1, messages: chunk.map((x) => ({ ...x.msg, partition: p })) });
        chunk.forEach((x, k) => sent.push({ partition: p, offset: (BigInt(meta!.baseOffset!) + BigInt(k)).toString(), ...x.info }));
        i = j;
      }
    }
  } finally {
    await producer.disconnect();
  }
  return sent;
}

async function committedAll(ends: Map<number, string>): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [raw] });
    return (t?.partitions ?? []).every((p) => p.offset === ends.get(p.partition)) && (t?.partitions.length ?? 0) === PARTITIONS;
  } finally {
    await admin.disconnect();
  }
}

test('10k garbage messages among good records: each to the DLQ once with its offset, every good record enriched once, at a sane rate', { timeout: 400_000 }, async (t) => {
  const seed = Number(process.env.FLOOD_SEED ?? Date.now() % 2 ** 31);
  t.diagnostic(`seed ${seed} (FLOOD_SEED=${seed} replays the same messages)`);
  const r = rng(seed);
  // Each partition holds one capture instance's consecutive seqs, so no LOSS is expected.
  const seqs = [0, 0, 0];
  const plan: Array<{ partition: number; msg: Message; info: Omit<Sent, 'partition' | 'offset'> }> = [];
  let g = 0;
  let good = 0;
  while (g < GARBAGE || good < GOOD) {
    const partition = Math.floor(r() * PARTITIONS);
    if (g < GARBAGE && (good >= GOOD || r() < 0.5)) {
      const gb = garbage(codec, r, g);
      plan.push({ partition, msg: { key: r() < 0.1 ? null : `garbage/${g}`, value: gb.value }, info: { garbage: gb } });
      g++;
    } else {
      const seq = BigInt(++seqs[partition]!);
      const cg = CGROUPS[good % CGROUPS.length]!;
      const eventId = `flood-n${partition}:i${partition}:${seq}`;
      const value = codec.encode('RawConnectEvent', sampleRaw({ seq, eventId, node: `flood-n${partition}`, instance: `i${partition}`, cgroup: { id: BigInt(good % 7), path: cg.path } }));
      plan.push({ partition, msg: { key: `flood-n${partition}/${good % 7}`, value }, info: { eventId, status: cg.status } });
      good++;
    }
  }
  const sent = await produceAll(plan);
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(raw)).map((o) => [o.partition, o.high]));
  await admin.disconnect();
  for (let p = 0; p < PARTITIONS; p++) {
    assert.equal(ends.get(p), String(sent.filter((s) => s.partition === p).length), `partition ${p} holds exactly what was sent`);
  }

  const t0 = Date.now();
  stage = startStage('enrich', ['enrich', '--raw-topic', raw, '--audit-topic', audit, '--dlq-topic', dlq, '--group', group,
    '--transactional-id', `${group}-a`, '--metadata', 'files', '--host-root', hostRoot]);
  await waitForLog(stage, 'enrich running', 60_000);
  const tRunning = Date.now();
  while (!(await committedAll(ends))) {
    assert.ok(stage.child.exitCode === null, `enrich exited ${stage.child.exitCode}: ${stage.log().slice(-3000)}`);
    assert.ok(Date.now() - tRunning < MAX_CATCH_UP_MS, `enrich did not catch up in ${MAX_CATCH_UP_MS} ms: ${stage.log().slice(-3000)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
  const tDone = Date.now();
  const rate = sent.length / ((tDone - tRunning) / 1000);
  t.diagnostic(`${sent.length} messages (${GARBAGE} garbage) in ${tDone - tRunning} ms after "enrich running" (${rate.toFixed(0)}/s); ${tDone - t0} ms from spawn`);
  assert.ok(rate >= MIN_RATE, `enrich keeps up: ${rate.toFixed(0)} messages/s, floor ${MIN_RATE}`);

  // The DLQ: each garbage message once, with where it came from, byte for byte.
  const dead = await readAll(kafka, dlq, { minCount: GARBAGE, idleMs: 5_000, maxWaitMs: 60_000 });
  const garbageAt = new Map(sent.filter((s) => s.garbage).map((s) => [`${s.partition}/${s.offset}`, s]));
  const seen = new Map<string, number>();
  for (const m of dead) {
    const h = (k: string) => m.headers?.[k]?.toString();
    assert.equal(h(DLQ_HEADERS.topic), raw);
    assert.equal(h(DLQ_HEADERS.stage), 'enrich');
    const at = `${h(DLQ_HEADERS.partition)}/${h(DLQ_HEADERS.offset)}`;
    seen.set(at, (seen.get(at) ?? 0) + 1);
    const src = garbageAt.get(at);
    assert.ok(src, `DLQ record ${at} points at a garbage message`);
    assert.equal(h(DLQ_HEADERS.code), src.garbage!.code, `${at} (${src.garbage!.kind}): error code`);
    assert.ok(h(DLQ_HEADERS.error), 'the error text is in the headers');
    const want = src.garbage!.value;
    assert.ok(want === null ? m.value === null : m.value?.equals(want), `${at} (${src.garbage!.kind}): the original bytes`);
  }
  assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], 'no garbage message twice in the DLQ');
  assert.deepEqual([...seen.keys()].sort(), [...garbageAt.keys()].sort(), 'the DLQ source offsets are exactly the garbage offsets');
  const byKind: Record<string, number> = {};
  for (const s of garbageAt.values()) byKind[s.garbage!.kind] = (byKind[s.garbage!.kind] ?? 0) + 1;
  t.diagnostic(`garbage by kind: ${JSON.stringify(byKind)}`);

  // The audit topic: every good record exactly once, attributed as its cgroup says; no LOSS.
  const records = (await readAll(kafka, audit, { minCount: GOOD, idleMs: 5_000, maxWaitMs: 60_000 })).map((m) => codec.decodeAs('AuditRecord', m.value!));
  const want = new Map(sent.filter((s) => s.eventId).map((s) => [s.eventId!, s.status!]));
  const ids = records.map((a) => a.eventId);
  assert.equal(new Set(ids).size, ids.length, 'no audit record twice');
  assert.deepEqual([...ids].sort(), [...want.keys()].sort(), 'every good record enriched');
  for (const a of records) assert.equal(a.attribution.status, want.get(a.eventId), `${a.eventId} attributed ${a.attribution.status}`);
  assert.equal(records.find((a) => a.attribution.status === 'POD')?.pod?.name, 'inside-pod');

  const code = await stopStage(stage);
  const stopping = stage.log().split('\n').find((l) => l.includes('"msg":"stopping"'));
  stage = undefined;
  assert.equal(code, 0);
  assert.ok(stopping, 'enrich logged its counts on the way out');
  const stats = JSON.parse(stopping) as { in: number; audit: number; dlq: number; aborted: number };
  // A retried batch (after an aborted transaction) is counted again in these in-memory counts.
  if (stats.aborted === 0) {
    assert.equal(stats.dlq, GARBAGE);
    assert.equal(stats.audit, GOOD);
  }
  t.diagnostic(`enrich's own counts: in ${stats.in}, audit ${stats.audit}, dlq ${stats.dlq}, aborted transactions ${stats.aborted}`);
});
