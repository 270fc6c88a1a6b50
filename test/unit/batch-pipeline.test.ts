// SPDX-License-Identifier: Apache-2.0
// src/enrich/pipeline.ts on its own: the order of enrich's two steps per batch, and what a failed
// commit, a failed processing step and a revoked partition undo. The state is a list of the
// batches processed; a checkpoint is its length. (The stage with Kafka around it:
// enrich-stage-pipeline.test.ts; on a real broker: fault-broker-kill, enrich-commit-outcome.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchPipeline } from '../../src/enrich/pipeline.js';

function harness() {
  const state: string[] = [];
  const events: string[] = [];
  /** per batch: what its commit waits on, whether it fails */
  const commits = new Map<string, { commit?: Promise<void>; commitFails?: boolean }>();
  const pipeline = new BatchPipeline<number, string>({
    checkpoint: () => state.length,
    rollback: (n) => { state.length = n; events.push(`rollback to ${n}`); },
  }, async (outs) => {
    const name = outs.join('+');
    events.push(`commit ${name} starts`);
    for (const out of outs) await commits.get(out)?.commit;
    if (outs.some((out) => commits.get(out)?.commitFails)) throw new Error(`commit of ${name} failed`);
    events.push(`commit ${name} done`);
  });
  /** A gate a commit waits on, opened by the test. */
  const gate = () => {
    let open!: () => void;
    const p = new Promise<void>((r) => (open = r));
    return { p, open };
  };
  const batch = (name: string, o: { commit?: Promise<void>; commitFails?: boolean; processFails?: boolean; owned?: boolean } = {}) => {
    commits.set(name, o);
    return pipeline.run(name, async () => {
      state.push(name);
      events.push(`process ${name}`);
      if (o.processFails) throw new Error(`cannot process ${name}`);
      return name;
    }, () => o.owned ?? true);
  };
  return { state, events, batch, gate };
}

test('the next batch is processed while one commits; commits keep the processing order', async () => {
  const h = harness();
  const a = h.gate();
  const ra = h.batch('A', { commit: a.p });
  const rb = h.batch('B');
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(new Set(h.events), new Set(['process A', 'commit A starts', 'process B']), 'B processed while A commits, and B waits for its turn');
  a.open();
  assert.deepEqual(await Promise.all([ra, rb]), ['committed', 'committed']);
  assert.deepEqual(h.events.slice(3), ['commit A done', 'commit B starts', 'commit B done']);
  assert.deepEqual(h.state, ['A', 'B']);
});

test('a failed commit undoes its batch and those processed since, which come again; later batches go on', async () => {
  const h = harness();
  await h.batch('0');
  const a = h.gate();
  const ra = h.batch('A', { commit: a.p, commitFails: true });
  const rb = h.batch('B');
  await new Promise((r) => setTimeout(r, 10));
  a.open();
  await assert.rejects(ra, /commit of A failed/);
  await assert.rejects(rb, (e: Error & { retriable?: boolean }) => /B comes again: an earlier batch failed/.test(e.message) && e.retriable === true);
  assert.deepEqual(h.state, ['0'], 'back to before A: what B saw is undone too');
  assert.ok(!h.events.includes('commit B starts'), 'B never commits');
  // A and B come again (kafkajs fetches from the committed offset), on the rolled-back state.
  assert.equal(await h.batch('A'), 'committed');
  assert.equal(await h.batch('B'), 'committed');
  assert.deepEqual(h.state, ['0', 'A', 'B']);
});

test('a processing step that throws undoes only its own batch: the one committing before it still commits', async () => {
  const h = harness();
  const a = h.gate();
  const ra = h.batch('A', { commit: a.p });
  const rb = h.batch('B', { processFails: true });
  await assert.rejects(rb, /cannot process B/);
  assert.deepEqual(h.state, ['A']);
  a.open();
  assert.equal(await ra, 'committed');
  assert.equal(await h.batch('C'), 'committed');
  assert.deepEqual(h.state, ['A', 'C']);
});

test('a batch revoked while it waited to commit is undone, not committed, and voids the batches processed after it', async () => {
  const h = harness();
  const a = h.gate();
  const ra = h.batch('A', { commit: a.p });
  const rb = h.batch('B', { owned: false });
  const rc = h.batch('C');
  await new Promise((r) => setTimeout(r, 10));
  a.open();
  assert.equal(await ra, 'committed');
  assert.equal(await rb, 'revoked');
  await assert.rejects(rc, /C comes again/);
  assert.deepEqual(h.state, ['A']);
  assert.ok(!h.events.includes('commit B starts'));
});

test('the rollback lands between two batches: a batch in processing when a commit fails finishes first', async () => {
  const h = harness();
  const a = h.gate();
  const slow = h.gate();
  const ra = h.batch('A', { commit: a.p, commitFails: true });
  // B's processing is slow: A's rollback must wait for it, or B's work would land after the rollback.
  const rb = (async () => {
    await new Promise((r) => setTimeout(r, 5));
    return h.batch('B', { commit: slow.p });
  })();
  await new Promise((r) => setTimeout(r, 20));
  a.open();
  slow.open();
  await assert.rejects(ra);
  await assert.rejects(rb, /B comes again/);
  assert.deepEqual(h.state, [], 'both undone');
  assert.equal(h.events.indexOf('rollback to 0') > h.events.indexOf('process B'), true, h.events.join(' | '));
});

test('batches processed while one commits commit together, in one call, in processing order', async () => {
  const h = harness();
  const a = h.gate();
  const ra = h.batch('A', { commit: a.p });
  const rb = h.batch('B');
  const rc = h.batch('C');
  await new Promise((r) => setTimeout(r, 10));
  a.open();
  assert.deepEqual(await Promise.all([ra, rb, rc]), ['committed', 'committed', 'committed']);
  assert.deepEqual(h.events.filter((e) => e.startsWith('commit')), ['commit A starts', 'commit A done', 'commit B+C starts', 'commit B+C done']);
});

test('a failed group commit undoes all its batches; a revoked batch ends a group, is undone, and voids those after it', async () => {
  const h = harness();
  const a = h.gate();
  const ra = h.batch('A', { commit: a.p });
  const rb = h.batch('B', { commitFails: true });
  const rc = h.batch('C');
  await new Promise((r) => setTimeout(r, 10));
  a.open();
  assert.equal(await ra, 'committed');
  await assert.rejects(rb, /commit of B\+C failed/);
  await assert.rejects(rc, /commit of B\+C failed/);
  assert.deepEqual(h.state, ['A'], 'back to before B');

  const d = h.gate();
  const rd = h.batch('D', { commit: d.p });
  const re = h.batch('E');
  const rf = h.batch('F', { owned: false });
  const rg = h.batch('G');
  await new Promise((r) => setTimeout(r, 10));
  d.open();
  assert.equal(await rd, 'committed');
  assert.equal(await re, 'committed');
  assert.equal(await rf, 'revoked');
  await assert.rejects(rg, /G comes again/);
  assert.deepEqual(h.state, ['A', 'D', 'E']);
  assert.ok(h.events.includes('commit E done') && !h.events.some((e) => /commit .*[FG]/.test(e)), h.events.join(' | '));
});
