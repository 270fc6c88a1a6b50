// SPDX-License-Identifier: Apache-2.0
// src/kafka/transactional.ts (enrich's and export's transactions) with fake kafkajs objects that
// keep kafkajs's rules: a producer begins a transaction only when the last one ended (READY), and
// abort is refused once commit has sent EndTxn (COMMITTING). The broker side is a map of the
// group's committed offsets, which a commit whose answer is lost may or may not have moved.
// Then TopicSink (export --to-topic) on the same fakes: it used to keep a producer stuck after a
// lost commit answer, or fenced, for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka, TopicMessages } from 'kafkajs';
import { pino } from 'pino';
import { TransactionalProducer, fenced, type TxnOutcome } from '../../src/kafka/transactional.js';
import { KafkaAccessError } from '../../src/common/errors.js';
import { TopicSink } from '../../src/export/topic-sink.js';

interface World {
  events: string[];
  producers: number;
  /** what the next commit does: goes through, fails before EndTxn (abortable), or loses EndTxn's answer */
  nextCommit: 'ok' | 'fails' | 'answer lost, committed' | 'answer lost, not committed';
  /** producers whose transactions fail at sendOffsets with INVALID_PRODUCER_EPOCH */
  fenced: Set<number>;
  connectFailures: number;
  fetchFailures: number;
  /** what a failed fetch of the committed offsets throws (default: a coordinator loading) */
  fetchError?: Error;
  /** the group's committed offset per input partition */
  offsets: Map<number, string>;
  fetches: number;
}

/** The error a failed outcome carries. */
function errOf(r: TxnOutcome): Error {
  assert.ok('err' in r, `outcome ${r.kind} carries no error`);
  return r.err as Error;
}

function world(over: Partial<World> = {}): World {
  return { events: [], producers: 0, nextCommit: 'ok', fenced: new Set(), connectFailures: 0, fetchFailures: 0, offsets: new Map([[0, '10']]), fetches: 0, ...over };
}

interface OffsetsArg { topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> }

function fakeKafka(w: World): Kafka {
  const producer = () => {
    const id = ++w.producers;
    let state: 'READY' | 'TRANSACTING' | 'COMMITTING' = 'READY';
    return {
      connect: async () => {
        if (w.connectFailures > 0) { w.connectFailures--; throw Object.assign(new Error('broker away'), { name: 'KafkaJSConnectionError' }); }
        w.events.push(`p${id} connect`);
      },
      disconnect: async () => { w.events.push(`p${id} disconnect`); },
      transaction: async () => {
        if (state !== 'READY') throw new Error(`Invalid state transition ${state} -> TRANSACTING`);
        state = 'TRANSACTING';
        let pending: { partition: number; offset: string } | undefined;
        const guard = () => { if (state !== 'TRANSACTING') throw new Error('Cannot continue to use transaction once ended'); };
        return {
          sendBatch: async ({ topicMessages }: { topicMessages: TopicMessages[] }) => {
            guard();
            w.events.push(`p${id} send ${topicMessages.map((t) => `${t.topic}:${t.messages.length}`).join(',')}`);
          },
          sendOffsets: async (o: OffsetsArg) => {
            guard();
            const t = o.topics[0]!;
            pending = t.partitions[0]!;
            if (w.fenced.has(id)) throw Object.assign(new Error('old epoch'), { type: 'INVALID_PRODUCER_EPOCH' });
            w.events.push(`p${id} offsets ${t.topic}/${pending.partition}@${pending.offset}`);
          },
          commit: async () => {
            guard();
            const how = w.nextCommit;
            w.nextCommit = 'ok';
            if (how === 'fails') { w.events.push(`p${id} commit failed`); throw new Error('broker says no'); }
            state = 'COMMITTING';
            if (how !== 'answer lost, not committed' && pending) w.offsets.set(pending.partition, pending.offset);
            if (how !== 'ok') { w.events.push(`p${id} commit answer lost`); throw new Error('Closed connection'); }
            state = 'READY';
            w.events.push(`p${id} commit`);
          },
          abort: async () => {
            guard();
            state = 'READY';
            w.events.push(`p${id} abort`);
          },
        };
      },
    };
  };
  const admin = () => ({
    connect: async () => {}, disconnect: async () => {},
    fetchOffsets: async () => {
      w.fetches++;
      if (w.fetchFailures > 0) { w.fetchFailures--; throw w.fetchError ?? Object.assign(new Error('coordinator loading'), { type: 'COORDINATOR_LOAD_IN_PROGRESS' }); }
      return [{ topic: 'in', partitions: [...w.offsets].map(([partition, offset]) => ({ partition, offset, metadata: null })) }];
    },
  });
  return { producer, admin } as unknown as Kafka;
}

const quiet = pino({ level: 'silent' });
const requests: TopicMessages[][] = [[{ topic: 'out', messages: [{ value: 'a' }, { value: 'b' }] }]];
const input = { topic: 'in', partition: 0, next: '11' };
const notStopping = () => false;

async function started(w: World): Promise<TransactionalProducer> {
  const t = new TransactionalProducer(fakeKafka(w), { transactionalId: 't' }, 'g', quiet);
  await t.connect();
  return t;
}

test('a transaction that commits: committed, on the same producer', async () => {
  const w = world();
  const t = await started(w);
  assert.deepEqual(await t.write(requests, [input], notStopping), { kind: 'committed' });
  assert.deepEqual(w.events, ['p1 connect', 'p1 send out:2', 'p1 offsets in/0@11', 'p1 commit']);
  assert.equal(w.fetches, 0);
});

test('a failed commit that kafkajs can abort: aborted, not committed, the producer is kept', async () => {
  const w = world({ nextCommit: 'fails' });
  const t = await started(w);
  const r = await t.write(requests, [input], notStopping);
  assert.equal(r.kind, 'aborted');
  assert.match(errOf(r).message, /broker says no/);
  assert.deepEqual(w.events.slice(-2), ['p1 commit failed', 'p1 abort']);
  assert.equal(w.producers, 1);
  assert.equal(w.fetches, 0);
  assert.deepEqual(await t.write(requests, [input], notStopping), { kind: 'committed' });
});

test('a commit whose answer was lost and that went through: committed, on a new producer that fenced the old one', async () => {
  const w = world({ nextCommit: 'answer lost, committed' });
  const t = await started(w);
  const r = await t.write(requests, [input], notStopping);
  assert.equal(r.kind, 'committed-unconfirmed');
  assert.match(errOf(r).message, /Closed connection/);
  // The new producer's first transaction writes what the failed one wrote, to the same partitions, and aborts.
  assert.deepEqual(w.events.slice(w.events.indexOf('p1 commit answer lost')), [
    'p1 commit answer lost', 'p1 disconnect', 'p2 connect', 'p2 send out:2', 'p2 offsets in/0@11', 'p2 abort',
  ]);
  assert.equal(w.fetches, 1);
  // Later transactions go on the new producer.
  assert.deepEqual(await t.write(requests, [{ ...input, next: '12' }], notStopping), { kind: 'committed' });
  assert.equal(w.events.at(-1), 'p2 commit');
});

test('a commit whose answer was lost and that did not go through: not committed', async () => {
  const w = world({ nextCommit: 'answer lost, not committed' });
  const t = await started(w);
  const r = await t.write(requests, [input], notStopping);
  assert.equal(r.kind, 'aborted');
  assert.match(errOf(r).message, /Closed connection/);
  assert.equal(w.producers, 2);
  assert.deepEqual(await t.write(requests, [input], notStopping), { kind: 'committed' });
});

test('a fenced producer is replaced without trying its abort; the committed offset decides', async () => {
  const w = world({ fenced: new Set([1]) });
  const t = await started(w);
  const r = await t.write(requests, [input], notStopping);
  assert.equal(r.kind, 'aborted');
  assert.ok(fenced(errOf(r)));
  assert.ok(!w.events.includes('p1 abort'), w.events.join(' | '));
  assert.equal(w.producers, 2);
  assert.deepEqual(await t.write(requests, [input], notStopping), { kind: 'committed' });
  assert.equal(w.events.at(-1), 'p2 commit');
});

test('a fatal answer while settling (access taken away) ends the write with a clear error, not a retry loop', async () => {
  const w = world({ nextCommit: 'answer lost, committed' });
  const t = await started(w);
  w.fetchFailures = 1;
  w.fetchError = Object.assign(new Error('Not authorized to access group'), { type: 'GROUP_AUTHORIZATION_FAILED' });
  await assert.rejects(t.write(requests, [input], notStopping), (e: Error) => e instanceof KafkaAccessError && /read the committed offset/.test(e.message));
});

test('fenced() looks through causes', () => {
  assert.ok(fenced({ cause: { originalError: { type: 'PRODUCER_FENCED' } } }));
  assert.ok(!fenced(new Error('x')));
  assert.ok(!fenced(undefined));
});

test('settlement waits for a new producer and for the committed offset, and gives up when stopping', async () => {
  const w = world({ nextCommit: 'answer lost, committed', fetchFailures: 1 });
  const t = await started(w);
  w.connectFailures = 1;
  const r = await t.write(requests, [input], notStopping);
  assert.equal(r.kind, 'committed-unconfirmed');
  assert.equal(w.producers, 3, 'one new producer could not start, the next did');
  assert.equal(w.fetches, 2);

  const w2 = world({ nextCommit: 'answer lost, committed' });
  const t2 = await started(w2);
  const r2 = await t2.write(requests, [input], () => true);
  assert.equal(r2.kind, 'unsettled', 'unknown when stopping');
  assert.equal(w2.producers, 1);
});

/** One export batch: the audit record at offset 10 of audit/0. */
function batch(resolved: string[]) {
  return {
    topic: 'in', partition: 0, lastOffset: '10', bad: [],
    items: [{ offset: '10', rendered: { key: 'node-a:1', text: '{}', timeNs: 0n, node: 'node-a', msgId: 'connect' as const, severity: 'info' as const } }],
    commit: async () => { throw new Error('not in exactly-once'); },
    resolve: (o: string) => { resolved.push(o); },
    heartbeat: async () => {}, live: () => true, stopping: () => false,
  };
}

async function sink(w: World): Promise<TopicSink> {
  const s = new TopicSink(fakeKafka(w), { toTopic: 'out', dlqTopic: 'dlq', group: 'g', format: 'json', atLeastOnce: false, transactionalId: 't', transactionTimeoutMs: 5000 }, quiet);
  await s.start();
  return s;
}

test('export to a topic: a commit whose answer was lost but went through stays committed, and export goes on', async () => {
  const w = world({ nextCommit: 'answer lost, committed' });
  const s = await sink(w);
  const resolved: string[] = [];
  await s.deliver(batch(resolved));
  assert.deepEqual(resolved, ['10']);
  assert.deepEqual(s.stats, { transactions: 1, aborted: 0, dlq: 0 });
  // The next batch commits (the old sink's producer was stuck in COMMITTING: every later batch failed).
  await s.deliver({ ...batch(resolved), lastOffset: '11' });
  assert.deepEqual(resolved, ['10', '11']);
  assert.equal(w.offsets.get(0), '12');
  await s.stop();
});

test('export to a topic: a commit whose answer was lost and that did not go through fails its batch, which then commits', async () => {
  const w = world({ nextCommit: 'answer lost, not committed' });
  const s = await sink(w);
  const resolved: string[] = [];
  await assert.rejects(s.deliver(batch(resolved)), /export transaction failed for in\/0: Closed connection/);
  assert.deepEqual(resolved, []);
  await s.deliver(batch(resolved));
  assert.deepEqual(resolved, ['10']);
  assert.deepEqual(s.stats, { transactions: 1, aborted: 1, dlq: 0 });
});

test('export to a topic: a fenced producer is replaced, not kept for every later batch', async () => {
  const w = world({ fenced: new Set([1]) });
  const s = await sink(w);
  const resolved: string[] = [];
  await assert.rejects(s.deliver(batch(resolved)), /old epoch/);
  await s.deliver(batch(resolved));
  assert.deepEqual(resolved, ['10']);
  assert.equal(w.producers, 2);
  assert.equal(w.offsets.get(0), '11');
});
