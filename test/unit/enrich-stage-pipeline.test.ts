// SPDX-License-Identifier: Apache-2.0
// The enrich stage's pipeline (one batch processed while another commits) with fake kafkajs
// objects: commits keep processing order, and a failed commit rolls loss tracking back to
// before its batch, only between two processing steps, and voids every batch processed after
// it (they come again) without voiding batches before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EachBatchPayload, Kafka } from 'kafkajs';
import { pino } from 'pino';
import { EnrichStage } from '../../src/enrich/stage.js';
import type { EnrichProcessor, InMessage, OutMessage } from '../../src/enrich/processor.js';

const tick = () => new Promise((r) => setImmediate(r));

interface Gate { promise: Promise<void>; open: () => void }
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** A processor whose batches finish when the test says so; its "state" is the log of partitions seen. */
class FakeProcessor {
  seen: number[] = [];
  events: string[] = [];
  gates = new Map<number, Gate>();
  checkpoint(): number[] { return [...this.seen]; }
  rollback(cp: number[]): void { this.events.push(`rollback to [${cp.join(',')}]`); this.seen = [...cp]; }
  keepPartitions(): void {}
  async processBatch(partition: number, messages: InMessage[]): Promise<OutMessage[]> {
    this.events.push(`process ${partition} start`);
    await this.gates.get(partition)?.promise;
    this.seen.push(partition);
    this.events.push(`process ${partition} done`);
    return messages.map((m) => ({ kind: 'audit', key: m.key, value: m.value!, record: {} as never }));
  }
}

/**
 * With `unknown`: a failed commit cannot be aborted (kafkajs refuses abort once commit sent EndTxn),
 * and the broker's committed offset per partition says whether it went through.
 */
function fakeKafka(events: string[], failCommitOf: Set<number>, unknown?: Map<number, string>, fencedOf = new Set<number>()) {
  let eachBatch!: (p: EachBatchPayload) => Promise<void>;
  let producers = 0;
  const producer = {
    connect: async () => {}, disconnect: async () => {},
    transaction: async () => {
      // The input partitions whose offsets the transaction commits (several when batches commit together).
      let partitions: number[] = [];
      let commitFailed = false;
      const name = () => partitions.join('+');
      return {
        sendBatch: async () => { await tick(); },
        sendOffsets: async (o: { topics: Array<{ partitions: Array<{ partition: number }> }> }) => {
          partitions = o.topics.flatMap((t) => t.partitions.map((p) => p.partition));
          if (partitions.some((p) => fencedOf.delete(p))) throw Object.assign(new Error('old epoch'), { type: 'INVALID_PRODUCER_EPOCH' });
        },
        commit: async () => {
          await tick();
          if (partitions.some((p) => failCommitOf.has(p))) { events.push(`commit ${name()} failed`); commitFailed = true; throw new Error('broker says no'); }
          events.push(`commit ${name()}`);
        },
        abort: async () => {
          if (commitFailed && unknown) { events.push(`abort ${name()} refused`); throw new Error('Cannot continue to use transaction once ended'); }
          if (partitions.length) events.push(`abort ${name()}`);
        },
      };
    },
  };
  const consumer = {
    connect: async () => {}, disconnect: async () => {}, subscribe: async () => {}, on: () => {},
    events: { GROUP_JOIN: 'join', CRASH: 'crash' },
    run: async (o: { eachBatch: typeof eachBatch }) => { eachBatch = o.eachBatch; },
  };
  const admin = {
    connect: async () => {}, disconnect: async () => {},
    fetchOffsets: async () => [{ topic: 'raw', partitions: [...(unknown ?? [])].map(([partition, offset]) => ({ partition, offset, metadata: null })) }],
  };
  return {
    kafka: { producer: () => { producers++; return producer; }, consumer: () => consumer, admin: () => admin } as unknown as Kafka,
    batch: (...a: Parameters<typeof eachBatch>) => eachBatch(...a),
    producers: () => producers,
  };
}

function payload(partition: number, resolved: string[]): EachBatchPayload {
  const messages = [{ key: Buffer.from('k'), value: Buffer.from('v'), offset: '10', timestamp: '0', attributes: 0, headers: {} }];
  return {
    batch: { topic: 'raw', partition, messages, firstOffset: () => '10', offsetLag: () => '0' },
    resolveOffset: (o: string) => resolved.push(`${partition}@${o}`),
    heartbeat: async () => {}, isRunning: () => true, isStale: () => false, commitOffsetsIfNecessary: async () => {},
  } as unknown as EachBatchPayload;
}

async function setup(failCommitOf: number[], unknown?: Map<number, string>, fencedOf?: Set<number>) {
  const proc = new FakeProcessor();
  const failing = new Set(failCommitOf);
  const k = fakeKafka(proc.events, failing, unknown, fencedOf);
  const stage = new EnrichStage(k.kafka, proc as unknown as EnrichProcessor, {
    group: 'g', atLeastOnce: false, transactionalId: 't', transactionTimeoutMs: 5000, maxBytesPerPartition: 1 << 20,
    topics: { raw: 'raw', audit: 'audit', dlq: 'dlq', containers: 'c', partitions: 1, replicationFactor: 1 },
  }, pino({ level: 'silent' }));
  await stage.start();
  return { proc, stage, batch: k.batch, failing, producers: k.producers };
}

test('commits follow processing order, the next batch is processed while one commits, and batches processed meanwhile commit together', async () => {
  const { proc, stage, batch } = await setup([]);
  const resolved: string[] = [];
  await Promise.all([0, 1, 2].map((p) => batch(payload(p, resolved))));
  assert.deepEqual(resolved, ['0@10', '1@10', '2@10']);
  // Batches 1 and 2 were processed while batch 0 committed: one transaction with both partitions' offsets.
  assert.deepEqual(proc.events.filter((e) => e.startsWith('commit')), ['commit 0', 'commit 1+2']);
  assert.ok(proc.events.indexOf('process 1 done') < proc.events.indexOf('commit 0'), proc.events.join(' | '));
  assert.ok(proc.events.indexOf('process 2 done') < proc.events.indexOf('commit 0'), proc.events.join(' | '));
  assert.equal(stage.stats.transactions, 2);
  assert.equal(stage.stats.batches, 3);
});

test('a batch still processing when the commit before it ends commits on its own, after', async () => {
  const { proc, stage, batch } = await setup([]);
  const resolved: string[] = [];
  const slow = gate();
  proc.gates.set(2, slow);
  const all = Promise.all([0, 1, 2].map((p) => batch(payload(p, resolved))));
  while (!proc.events.includes('commit 1')) await tick();
  slow.open();
  await all;
  assert.deepEqual(proc.events.filter((e) => e.startsWith('commit')), ['commit 0', 'commit 1', 'commit 2']);
  assert.deepEqual(resolved, ['0@10', '1@10', '2@10']);
  assert.equal(stage.stats.transactions, 3);
});

test('a failed commit rolls back after the batch in processing, voids later batches, keeps earlier ones', async () => {
  const { proc, stage, batch, failing } = await setup([1]);
  const resolved: string[] = [];
  const slow = gate();
  proc.gates.set(2, slow); // batch 2 is still processing when batch 1's commit fails
  const results = [0, 1, 2].map((p) => batch(payload(p, resolved)).then(() => 'ok', (e: Error) => e.message));
  await tick(); await tick(); await tick(); await tick(); await tick(); await tick();
  assert.ok(proc.events.includes('commit 1 failed'), proc.events.join(' | '));
  assert.ok(!proc.events.some((e) => e.startsWith('rollback')), 'no rollback while batch 2 is mid-processing');
  slow.open();
  const [r0, r1, r2] = await Promise.all(results);
  assert.equal(r0, 'ok');
  assert.match(r1!, /transaction failed \(aborted\) for raw\/1@10/);
  assert.match(r2!, /raw\/2@10 comes again: an earlier batch failed/);
  assert.deepEqual(resolved, ['0@10']);
  // Back to just after batch 0: batch 1's and 2's observations are gone, batch 0's stay.
  assert.deepEqual(proc.seen, [0]);
  const rb = proc.events.indexOf('rollback to [0]');
  assert.ok(rb > proc.events.indexOf('process 2 done'), proc.events.join(' | '));
  assert.ok(proc.events.includes('abort 1'));
  assert.ok(!proc.events.includes('commit 2'));
  assert.equal(stage.stats.aborted, 1);

  // Both come again (the broker is fine now) and go through on the same stage.
  failing.delete(1);
  const again: string[] = [];
  await Promise.all([batch(payload(1, again)), batch(payload(2, again))]);
  assert.deepEqual(again, ['1@10', '2@10']);
  assert.deepEqual(proc.seen, [0, 1, 2]);
});

test('a batch whose processing throws rolls back its own work only; earlier batches still commit', async () => {
  const { proc, batch } = await setup([]);
  const resolved: string[] = [];
  proc.processBatch = (async (partition: number, messages: InMessage[]) => {
    if (partition === 1) { proc.seen.push(1); throw new Error('registry down'); }
    return FakeProcessor.prototype.processBatch.call(proc, partition, messages);
  }) as FakeProcessor['processBatch'];
  const results = await Promise.all([0, 1, 2].map((p) => batch(payload(p, resolved)).then(() => 'ok', (e: Error) => e.message)));
  assert.deepEqual(results, ['ok', 'registry down', 'ok']);
  assert.deepEqual(resolved, ['0@10', '2@10']);
  assert.deepEqual(proc.seen, [0, 2]);
});

test('a failed commit that went through on the broker (its answer lost): the batch stays committed, later batches too', async () => {
  // Batches 1 and 2 commit together; their offsets (next offset 11) are the group's committed ones: their transaction committed.
  const { proc, stage, batch } = await setup([1], new Map([[0, '11'], [1, '11'], [2, '11']]));
  const resolved: string[] = [];
  const results = await Promise.all([0, 1, 2].map((p) => batch(payload(p, resolved)).then(() => 'ok', (e: Error) => e.message)));
  assert.deepEqual(results, ['ok', 'ok', 'ok']);
  assert.deepEqual(resolved, ['0@10', '1@10', '2@10']);
  assert.ok(proc.events.includes('abort 1+2 refused'), proc.events.join(' | '));
  assert.ok(!proc.events.some((e) => e.startsWith('rollback')), proc.events.join(' | '));
  assert.deepEqual(proc.seen, [0, 1, 2]);
  assert.deepEqual(proc.events.filter((e) => e.startsWith('commit')), ['commit 0', 'commit 1+2 failed']);
  assert.equal(stage.stats.transactions, 2);
  assert.equal(stage.stats.aborted, 0);
});

test('a failed commit that did not go through: rolled back, its batches come again', async () => {
  // Batches 1 and 2 commit together; the group's committed offsets are still the batches' first: not committed.
  const { proc, stage, batch } = await setup([1], new Map([[0, '11'], [1, '10'], [2, '10']]));
  const resolved: string[] = [];
  const results = await Promise.all([0, 1, 2].map((p) => batch(payload(p, resolved)).then(() => 'ok', (e: Error) => e.message)));
  assert.equal(results[0], 'ok');
  assert.match(results[1]!, /transaction failed \(aborted\) for raw\/1@10, raw\/2@10/);
  assert.match(results[2]!, /transaction failed \(aborted\) for raw\/1@10, raw\/2@10/);
  assert.deepEqual(resolved, ['0@10']);
  assert.deepEqual(proc.seen, [0]);
  assert.ok(proc.events.includes('rollback to [0]'), proc.events.join(' | '));
  assert.equal(stage.stats.aborted, 1);
});

test('a fenced producer (the broker expired its transaction) is replaced, not kept for every later batch', async () => {
  // kafkajs's abort "succeeds" without a request when nothing was added to the transaction yet.
  const { proc, stage, batch, producers } = await setup([], new Map([[1, '10']]), new Set([1]));
  const resolved: string[] = [];
  const r = await batch(payload(1, resolved)).then(() => 'ok', (e: Error) => e.message);
  assert.match(r, /transaction failed \(aborted\) for raw\/1@10: old epoch/);
  assert.equal(producers(), 2, 'a new producer');
  assert.deepEqual(proc.seen, []);
  assert.equal(stage.stats.aborted, 1);
  // It comes again, on the new producer.
  await batch(payload(1, resolved));
  assert.deepEqual(resolved, ['1@10']);
});
