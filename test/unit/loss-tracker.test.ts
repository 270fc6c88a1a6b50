// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LossTracker } from '../../src/enrich/loss-tracker.js';

const feed = (t: LossTracker, seqs: number[], partition = 0, instance = 'i1') =>
  seqs.flatMap((q) => t.observe(partition, 'node-a', instance, BigInt(q), BigInt(q) * 1000n));

test('a gap is declared exactly once, after `window` later events, with its range and times', () => {
  const t = new LossTracker(3);
  assert.deepEqual(feed(t, [1, 2, 3, 7, 8, 9]), []);
  const out = feed(t, [10]);
  assert.equal(out.length, 1);
  assert.deepEqual(
    { from: out[0]!.fromSeq, to: out[0]!.toSeq, count: out[0]!.count, cause: out[0]!.cause, first: out[0]!.firstTime, last: out[0]!.lastTime, id: out[0]!.eventId },
    { from: 4n, to: 6n, count: 3n, cause: 'SEQUENCE_GAP', first: 3000n, last: 7000n, id: 'node-a:i1:gap:4-6' },
  );
  assert.deepEqual(feed(t, [11, 12, 13, 14, 5]), [], 'no second report, late arrivals ignored');
  assert.deepEqual(t.flush(), []);
});

test('small reordering across CPUs is not a loss', () => {
  const t = new LossTracker(4);
  assert.deepEqual(feed(t, [1, 3, 2, 5, 4, 6, 8, 7, 9, 10, 11, 12, 13]), []);
  assert.deepEqual(t.flush(), []);
});

test('streams are per partition and capture instance', () => {
  const t = new LossTracker(2);
  feed(t, [1, 2], 0, 'a');
  feed(t, [100, 101], 0, 'b');
  feed(t, [1], 1, 'a');
  assert.deepEqual(feed(t, [3, 4], 0, 'a'), []);
  assert.deepEqual(t.flush(), []);
});

test("capture's loss record covers its range; a range already declared is not reported twice", () => {
  const t = new LossTracker(100);
  feed(t, [1, 2, 6, 7]);
  const loss = { eventId: 'x', time: 1n, node: 'node-a', instance: 'i1', fromSeq: 3n, toSeq: 5n, count: 3n, cause: 'KERNEL_RING_BUFFER' as const, firstTime: 1n, lastTime: 1n };
  assert.equal(t.captureLoss(0, loss), true);
  assert.deepEqual(t.flush(), [], 'the hole is accounted for');
  // Declared as a gap first, then capture's record for the same range arrives.
  const t2 = new LossTracker(1);
  feed(t2, [1, 2, 6]);
  assert.equal(feed(t2, [7]).length, 1);
  assert.equal(t2.captureLoss(0, loss), false);
});

test('flush declares open holes; rollback restores the state before a batch', () => {
  const t = new LossTracker(1000);
  feed(t, [1, 2, 5]);
  const cp = t.checkpoint();
  assert.equal(t.flush().length, 1);
  t.rollback(cp);
  const again = t.flush();
  assert.equal(again.length, 1);
  assert.equal(again[0]!.fromSeq, 3n);
});
