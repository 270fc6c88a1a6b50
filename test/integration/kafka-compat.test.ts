// SPDX-License-Identifier: Apache-2.0
// kafkajs 2.2.4 against the broker that scripts/kafka-local.sh runs. Kafka 4 dropped the
// protocol versions older than 2.1 (KIP-896) and kafkajs was last released in 2023, so
// every API podtrail relies on is exercised here for real: admin, idempotent gzip
// produce, consumer groups, transactions with sendOffsets, read_committed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompressionTypes, Kafka, logLevel, type Consumer, type KafkaMessage, type Producer } from 'kafkajs';

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'scripts/kafka-local.sh'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('scripts/kafka-local.sh not found above the test file');
    dir = up;
  }
  return dir;
}

const ROOT = repoRoot();
const SCRIPT = path.join(ROOT, 'scripts/kafka-local.sh');
const PORT = process.env.PODTRAIL_KAFKA_PORT ?? '9092';
const KDIR = path.resolve(ROOT, process.env.PODTRAIL_KAFKA_DIR ?? '.kafka');
const suffix = `${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
const name = (what: string): string => `compat.${what}.${suffix}`;

function script(cmd: string, env: Record<string, string> = {}): { status: number | null; out: string } {
  const r = spawnSync('bash', [SCRIPT, cmd], {
    cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000, env: { ...process.env, ...env },
  });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

let startedHere = false;
const kafka = new Kafka({ clientId: 'podtrail-compat', brokers: [`127.0.0.1:${PORT}`], logLevel: logLevel.NOTHING, retry: { retries: 3 } });
const admin = kafka.admin();
const closers: Array<() => Promise<void>> = [];
const topics: string[] = [];

before(async () => {
  if (script('status').status !== 0) {
    const r = script('start');
    assert.equal(r.status, 0, `scripts/kafka-local.sh start failed:\n${r.out}`);
    startedHere = true;
  }
  await admin.connect();
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
  await admin.disconnect().catch(() => undefined);
  if (startedHere) {
    const r = script('stop');
    assert.equal(r.status, 0, `scripts/kafka-local.sh stop failed:\n${r.out}`);
  }
});

async function createTopic(what: string, numPartitions: number): Promise<string> {
  const topic = name(what);
  topics.push(topic);
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }], waitForLeaders: true }), true);
  return topic;
}

async function producer(opts: Parameters<Kafka['producer']>[0] = {}): Promise<Producer> {
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, ...opts });
  await p.connect();
  closers.push(() => p.disconnect());
  return p;
}

type Seen = { partition: number; message: KafkaMessage };

/** Starts a consumer from the beginning of `topic` and collects what it is given. */
async function consume(topic: string, groupId: string, opts: { readUncommitted?: boolean; autoCommit?: boolean } = {}) {
  const consumer: Consumer = kafka.consumer({
    groupId, sessionTimeout: 6000, heartbeatInterval: 300, rebalanceTimeout: 10_000, maxWaitTimeInMs: 200,
    readUncommitted: opts.readUncommitted ?? false,
  });
  const seen: Seen[] = [];
  const assigned: number[][] = [];
  consumer.on(consumer.events.GROUP_JOIN, (e) => assigned.push(e.payload.memberAssignment[topic] ?? []));
  await consumer.connect();
  closers.push(() => consumer.disconnect());
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({ autoCommit: opts.autoCommit ?? true, eachMessage: async ({ partition, message }) => void seen.push({ partition, message }) });
  return { consumer, seen, assigned };
}

async function waitFor(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const values = (seen: Seen[]): string[] => seen.map((s) => s.message.value?.toString() ?? '<null>');

/** The v2 record batch headers of a partition's first segment, read from the broker's own files. */
function batchHeaders(topic: string, partition: number) {
  const props = readFileSync(path.join(KDIR, 'server.properties'), 'utf8');
  const logDir = /^log\.dirs=(.*)$/m.exec(props)?.[1];
  assert.ok(logDir, 'log.dirs in server.properties');
  const buf = readFileSync(path.join(logDir, `${topic}-${partition}`, '00000000000000000000.log'));
  const out = [];
  for (let at = 0; at + 61 <= buf.length; ) {
    out.push({
      baseOffset: buf.readBigInt64BE(at), magic: buf.readInt8(at + 16), attributes: buf.readInt16BE(at + 21),
      producerId: buf.readBigInt64BE(at + 43), producerEpoch: buf.readInt16BE(at + 51),
      baseSequence: buf.readInt32BE(at + 53), records: buf.readInt32BE(at + 57),
    });
    at += 12 + buf.readInt32BE(at + 8);
  }
  return out;
}

test('kafka-local.sh: bad settings and a stale pid file get clear answers', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'podtrail-kafka-local-'));
  try {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ PODTRAIL_KAFKA_PORT: 'abc' }, /PODTRAIL_KAFKA_PORT must be a port number/],
      [{ PODTRAIL_KAFKA_PORT: '70000' }, /PODTRAIL_KAFKA_PORT must be a port number/],
      [{ PODTRAIL_KAFKA_PORT: '65000' }, /set PODTRAIL_KAFKA_CONTROLLER_PORT/],
      [{ PODTRAIL_KAFKA_PORT: '9100', PODTRAIL_KAFKA_CONTROLLER_PORT: '9100' }, /must differ/],
      [{ PODTRAIL_KAFKA_AUTO_CREATE_TOPICS: 'yes' }, /must be true or false/],
      [{ PODTRAIL_KAFKA_HEAP: 'lots' }, /PODTRAIL_KAFKA_HEAP/],
      [{ PODTRAIL_KAFKA_START_TIMEOUT: '-1' }, /PODTRAIL_KAFKA_START_TIMEOUT/],
    ];
    for (const [env, message] of bad) {
      const r = script('start', { ...env, PODTRAIL_KAFKA_DIR: dir });
      assert.equal(r.status, 1, JSON.stringify(env));
      assert.match(r.out, message);
    }
    assert.equal(script('restart').status, 64);
    // A pid file naming a live process that is not our broker (this test) must not count.
    writeFileSync(path.join(dir, 'kafka.pid'), `${process.pid}\n`);
    const status = script('status', { PODTRAIL_KAFKA_DIR: dir });
    assert.equal(status.status, 3);
    assert.match(status.out, /^not running/);
    assert.equal(script('stop', { PODTRAIL_KAFKA_DIR: dir }).status, 0);
    assert.equal(existsSync(path.join(dir, 'kafka.pid')), false, 'stop removes the stale pid file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('admin: createTopics, fetchTopicMetadata, no auto-creation', async () => {
  const topic = await createTopic('admin', 3);
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }), false, 'second create reports "exists"');
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const parts = meta.topics[0]?.partitions.map((p) => ({ id: p.partitionId, leader: p.leader, isr: p.isr })).sort((a, b) => a.id - b.id);
  assert.deepEqual(parts, [0, 1, 2].map((id) => ({ id, leader: 1, isr: [1] })));
  assert.ok((await admin.listTopics()).includes(topic));
  const strict = kafka.admin({ retry: { retries: 0 } });
  await strict.connect();
  try {
    await assert.rejects(strict.fetchTopicMetadata({ topics: [name('missing')] }), /does not host this topic-partition/);
  } finally {
    await strict.disconnect();
  }
});

test('idempotent producer: acks=all, gzip, stored as gzip batches with a producer id', async () => {
  const topic = await createTopic('idem', 1);
  const p = await producer();
  const meta = [];
  for (const batch of [0, 1]) {
    const messages = Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: `v${batch * 5 + i} ${'x'.repeat(200)}` }));
    meta.push(...(await p.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages })));
  }
  assert.deepEqual(meta.map((m) => [m.errorCode, m.baseOffset]), [[0, '0'], [0, '5']]);
  const batches = batchHeaders(topic, 0);
  assert.equal(batches.length, 2);
  for (const [i, b] of batches.entries()) {
    assert.equal(b.magic, 2);
    assert.equal(b.attributes & 0x7, 1, 'codec bits say gzip');
    assert.equal(b.attributes & 0x10, 0, 'not transactional');
    assert.ok(b.producerId >= 0n, 'idempotent batches carry a producer id');
    assert.equal(b.producerId, batches[0]?.producerId);
    assert.equal(b.baseSequence, i * 5);
    assert.equal(b.records, 5);
  }
  const { seen } = await consume(topic, name('idem-reader'));
  await waitFor('10 records', () => seen.length >= 10);
  assert.deepEqual(values(seen).map((v) => v.split(' ')[0]), Array.from({ length: 10 }, (_, i) => `v${i}`));
});

test('consumer group: join, consume, commit, resume from the commit', async () => {
  const topic = await createTopic('group', 2);
  const groupId = name('group');
  const p = await producer();
  await p.send({ topic, acks: -1, messages: [0, 1, 2, 3, 4, 5].map((i) => ({ value: `m${i}`, partition: i % 2 })) });
  const first = await consume(topic, groupId, { autoCommit: false });
  await waitFor('6 records', () => first.seen.length >= 6);
  assert.deepEqual(first.assigned.at(-1)?.slice().sort(), [0, 1]);
  await first.consumer.commitOffsets([0, 1].map((partition) => ({ topic, partition, offset: '3' })));
  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  assert.deepEqual(committed[0]?.partitions.map((x) => [x.partition, x.offset]).sort(), [[0, '3'], [1, '3']]);
  await first.consumer.disconnect();
  const described = await admin.describeGroups([groupId]);
  assert.equal(described.groups[0]?.state, 'Empty', 'the member left the group');

  await p.send({ topic, acks: -1, messages: [{ value: 'late', partition: 1 }] });
  const second = await consume(topic, groupId);
  await waitFor('the record after the commit', () => second.seen.length >= 1);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(values(second.seen), ['late'], 'nothing before the committed offsets is redelivered');
});

test('transactions: consume-transform-produce with sendOffsets; read_committed hides an abort', async () => {
  const input = await createTopic('tx-in', 1);
  const output = await createTopic('tx-out', 1);
  const groupId = name('tx-group');
  await (await producer()).send({ topic: input, acks: -1, messages: ['a', 'b', 'c', 'd'].map((value) => ({ value })) });

  const tx = await producer({ transactionalId: name('tx'), maxInFlightRequests: 1 });
  const stage = kafka.consumer({ groupId, heartbeatInterval: 300, maxWaitTimeInMs: 200 });
  await stage.connect();
  closers.push(() => stage.disconnect());
  await stage.subscribe({ topics: [input], fromBeginning: true });
  let processed = 0;
  await stage.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      const txn = await tx.transaction();
      try {
        await txn.send({ topic: output, messages: [{ value: message.value!.toString().toUpperCase() }] });
        await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition, offset: (BigInt(message.offset) + 1n).toString() }] }] });
        await txn.commit();
        processed += 1;
      } catch (err) {
        await txn.abort();
        throw err;
      }
    },
  });
  await waitFor('4 transformed records', () => processed >= 4);
  await stage.disconnect();
  const offsets = await admin.fetchOffsets({ groupId, topics: [input] });
  assert.deepEqual(offsets[0]?.partitions.map((x) => x.offset), ['4'], 'offsets committed inside the transactions');

  const aborted = await tx.transaction();
  await aborted.send({ topic: output, messages: [{ value: 'ABORTED-1' }, { value: 'ABORTED-2' }] });
  await aborted.abort();
  const last = await tx.transaction();
  await last.send({ topic: output, messages: [{ value: 'AFTER-ABORT' }] });
  await last.commit();

  const committedView = await consume(output, name('rc'));
  const everything = await consume(output, name('ru'), { readUncommitted: true });
  await waitFor('read_committed to reach the end', () => values(committedView.seen).includes('AFTER-ABORT'));
  await waitFor('read_uncommitted to reach the end', () => values(everything.seen).includes('AFTER-ABORT'));
  assert.deepEqual(values(committedView.seen), ['A', 'B', 'C', 'D', 'AFTER-ABORT']);
  assert.deepEqual(values(everything.seen), ['A', 'B', 'C', 'D', 'ABORTED-1', 'ABORTED-2', 'AFTER-ABORT']);
  const flags = batchHeaders(output, 0).map((b) => (b.attributes & 0x30) >> 4);
  assert.ok(flags.every((f) => f === 1 || f === 3), 'all output batches are transactional (data or control)');
});

test('two consumers in one group share the partitions', async () => {
  const topic = await createTopic('share', 4);
  const groupId = name('share');
  const a = await consume(topic, groupId);
  await waitFor('the first member to own all 4 partitions', () => a.assigned.at(-1)?.length === 4);
  const b = await consume(topic, groupId);
  const settled = (): boolean => {
    const [pa, pb] = [a.assigned.at(-1) ?? [], b.assigned.at(-1) ?? []];
    return pa.length > 0 && pb.length > 0 && [...pa, ...pb].sort().join() === '0,1,2,3';
  };
  await waitFor('the rebalance to split the partitions', settled);
  const p = await producer();
  await p.send({ topic, acks: -1, messages: Array.from({ length: 8 }, (_, i) => ({ value: `s${i}`, partition: i % 4 })) });
  await waitFor('8 records across both members', () => a.seen.length + b.seen.length >= 8);
  for (const member of [a, b]) {
    const owned = new Set(member.assigned.at(-1));
    assert.ok(member.seen.length > 0, 'each member gets records');
    assert.ok(member.seen.every((s) => owned.has(s.partition)), 'only from its own partitions');
  }
  assert.deepEqual([...values(a.seen), ...values(b.seen)].sort(), Array.from({ length: 8 }, (_, i) => `s${i}`));
});
