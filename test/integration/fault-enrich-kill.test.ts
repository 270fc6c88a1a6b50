// SPDX-License-Identifier: Apache-2.0
// Fault: the only enrich replica is SIGKILLed mid-stream and a new process starts with the same
// --transactional-id and group. The new producer fences the dead one's open transaction, the
// group resumes from the committed offsets, and read_committed readers of the audit topic see
// every raw record exactly once: no loss, no duplicate, and no false LOSS record.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka, Producer } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { readAuditUntil } from '../helpers/audit-account.js';
import { readAll } from '../helpers/consume.js';
import { BROKERS, createTopics, deleteTopics, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { keepLogs } from '../helpers/private-broker.js';
import { sampleRaw } from '../helpers/records.js';
import { startStage, stopStage, waitForLog, type Stage } from '../helpers/stages.js';

const codec = new Codec();
const NODES = ['node-k0', 'node-k1', 'node-k2'];
const PER_NODE = 3000;
const N = NODES.length * PER_NODE;
const CHUNK = 30;
const t = { raw: uniqueTopic('fek-raw'), audit: uniqueTopic('fek-audit'), dlq: uniqueTopic('fek-dlq'), meta: uniqueTopic('fek-meta') };
const group = uniqueTopic('fek-group');
const instance = 'fek00001';
let kafka: Kafka;
let producer: Producer | undefined;
const stages: Stage[] = [];

function startEnrich(name: string): Stage {
  const s = startStage(name, ['enrich', '--brokers', BROKERS.join(','), '--raw-topic', t.raw, '--audit-topic', t.audit, '--dlq-topic', t.dlq,
    '--containers-topic', t.meta, '--group', group, '--transactional-id', `${group}-replica-0`, '--transaction-timeout', '10000',
    '--host-root', '/nonexistent-host-root', '--file-fallback', 'off', '--gap-window', '20']);
  stages.push(s);
  return s;
}

/**
 * SIGKILLs `victim` while it has a transaction open on the audit topic, once `minCommitted`
 * records are committed. It stops the process first (SIGSTOP), so nothing changes while it looks:
 * a record that a read_uncommitted reader has seen at or past the last stable offset (admin's
 * ListOffsets is read_committed) is in a transaction that can now only be aborted. If none is
 * open, the process goes on (SIGCONT) and it looks again.
 */
async function killInOpenTransaction(victim: Stage, minCommitted: number, timeoutMs: number): Promise<{ committed: number; open: number; tries: number }> {
  const seen = new Map<number, number>();
  const tail = kafka.consumer({ groupId: `test-fek-tail-${Date.now()}`, readUncommitted: true, sessionTimeout: 10_000, maxWaitTimeInMs: 100 });
  const admin = kafka.admin();
  await Promise.all([tail.connect(), admin.connect()]);
  const lso = async () => new Map((await admin.fetchTopicOffsets(t.audit)).map((o) => [o.partition, Number(o.high)]));
  try {
    await tail.subscribe({ topic: t.audit, fromBeginning: true });
    await tail.run({ autoCommit: false, eachBatch: async ({ batch }) => {
      for (const m of batch.messages) seen.set(batch.partition, Math.max(seen.get(batch.partition) ?? -1, Number(m.offset)));
    } });
    const deadline = Date.now() + timeoutMs;
    for (let tries = 0; ;) {
      assert.ok(Date.now() < deadline, `no open enrich transaction caught in ${timeoutMs} ms: ${victim.log().slice(-3000)}`);
      const stable = await lso();
      const committed = [...stable.values()].reduce((a, b) => a + b, 0);
      if (committed < minCommitted) continue;
      victim.child.kill('SIGSTOP');
      tries++;
      // The reader may still be catching up with what was written just before the stop.
      for (const until = Date.now() + 500; Date.now() < until;) {
        const now = await lso();
        const open = [...now].filter(([p, off]) => (seen.get(p) ?? -1) >= off).length;
        if (open > 0) {
          const exited = new Promise((r) => victim.child.once('exit', r));
          victim.child.kill('SIGKILL');
          await exited;
          return { committed: [...now.values()].reduce((a, b) => a + b, 0), open, tries };
        }
      }
      victim.child.kill('SIGCONT');
    }
  } finally {
    await Promise.all([tail.disconnect(), admin.disconnect()]);
  }
}

before(async () => {
  kafka = await requireBroker();
  await createTopics(kafka, [t.raw, t.audit], NODES.length);
  await createTopics(kafka, [t.dlq, t.meta], 1);
});

after(async () => {
  await producer?.disconnect().catch(() => undefined);
  for (const s of stages) {
    s.child.kill('SIGCONT'); // a failure may have left one stopped
    await stopStage(s);
  }
  keepLogs('fault-enrich-kill', Object.fromEntries(stages.map((s, i) => [`enrich${i}`, s.log()])));
  if (kafka) await deleteTopics(kafka, Object.values(t));
});

test('enrich SIGKILLed mid-stream and restarted with the same transactional id: no loss, no duplicate', { timeout: 180_000 }, async (tc) => {
  const started = Date.now();
  const first = startEnrich('enrich (first)');
  await waitForLog(first, 'enrich running', 60_000);

  // Raw records as capture writes them: one partition per node, each node's seqs gap-free.
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let sent = 0;
  let killDone!: () => void;
  const killed = new Promise<void>((r) => (killDone = r));
  const produceAll = (async () => {
    // Paced at ~10 s, but the last third waits for the kill: it must land while records are
    // still coming however slowly enrich gets going (the kill needs only a sixth committed).
    for (let off = 0; off < PER_NODE; off += CHUNK) {
      if (off >= (PER_NODE * 2) / 3) await killed;
      await producer!.sendBatch({
        acks: -1,
        topicMessages: [{
          topic: t.raw,
          messages: NODES.flatMap((node, p) => Array.from({ length: CHUNK }, (_, i) => {
            const seq = BigInt(off + i + 1);
            return { partition: p, key: `${node}/7`, value: codec.encode('RawConnectEvent', sampleRaw({ node, instance, seq, eventId: `${node}:${instance}:${seq}`, time: 1_800_000_000_000_000_000n + seq, cgroup: { id: 7n, path: '/' } })) };
          })),
        }],
      });
      sent += CHUNK * NODES.length;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  // Kill while the stream is flowing and a transaction is open: enrich has committed part of
  // the stream, has written more it has not committed, and the producer is still sending.
  const atKill = await killInOpenTransaction(first, N / 6, 60_000).finally(() => killDone());
  const sentAtKill = sent;
  assert.ok(sentAtKill < N, `the producer was still sending when enrich died (${sentAtKill} of ${N})`);

  const restartAt = Date.now();
  const second = startEnrich('enrich (restarted)');
  await waitForLog(second, 'enrich running', 60_000);
  await produceAll;

  const ids = new Set<string>();
  let seen = 0;
  const recs = await readAuditUntil(kafka, t.audit, (rs) => {
    for (; seen < rs.length; seen++) ids.add(rs[seen]!.eventId);
    return ids.size >= N;
  }, 120_000);
  const catchUpMs = Date.now() - restartAt;
  const byId = new Map<string, number>();
  for (const r of recs) byId.set(r.eventId, (byId.get(r.eventId) ?? 0) + 1);
  const losses = recs.filter((r) => r.attribution.status === 'LOSS');
  assert.deepEqual(losses.map((r) => r.eventId), [], 'no LOSS record: nothing was lost');
  const dups = [...byId].filter(([, n]) => n > 1);
  assert.deepEqual(dups.slice(0, 10), [], `${dups.length} eventIds appear more than once in read_committed`);
  for (const node of NODES) {
    for (let s = 1; s <= PER_NODE; s++) {
      if (!byId.has(`${node}:${instance}:${s}`)) assert.fail(`${node} seq ${s} is missing from the audit topic; restarted enrich: ${second.log().slice(-3000)}`);
    }
  }
  assert.equal(recs.length, N, 'exactly one audit record per raw record');

  const admin = kafka.admin();
  await admin.connect();
  const dlq = await admin.fetchTopicOffsets(t.dlq).finally(() => admin.disconnect());
  assert.deepEqual(dlq.map((o) => o.high), ['0'], 'nothing went to the DLQ');

  // The dead replica's open transaction was aborted, not lost and not committed: its records are
  // there for read_uncommitted readers only.
  const uncommitted = await readAll(kafka, t.audit, { readUncommitted: true, minCount: N + 1, idleMs: 1500, maxWaitMs: 30_000 });
  assert.ok(uncommitted.length > N, `read_uncommitted sees the aborted transaction's records (${uncommitted.length})`);
  tc.diagnostic(`${N} raw records, ${sentAtKill} produced and ${atKill.committed} committed when enrich was killed with a transaction open on ${atKill.open} partition(s) (stop ${atKill.tries}); restarted replica caught up in ${catchUpMs} ms; ` +
    `read_uncommitted sees ${uncommitted.length} (${uncommitted.length - N} from the aborted transaction); test ${Date.now() - started} ms`);
});
