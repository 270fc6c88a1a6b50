// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeqTracker } from '../../src/capture/seq-tracker.js';

test('in-order and slightly reordered sequences have no gap', () => {
  const t = new SeqTracker({ window: 16, graceMs: 1000, now: () => 0 });
  for (const s of [1n, 2n, 4n, 3n, 5n, 7n, 6n, 8n]) assert.deepEqual(t.observe(s), []);
  assert.deepEqual(t.tick(), []);
  assert.equal(t.expected, 9n);
});

test('a hole open longer than the grace period is declared lost', () => {
  let now = 0;
  const t = new SeqTracker({ window: 16, graceMs: 1000, now: () => now });
  t.observe(10n);
  t.observe(11n);
  t.observe(15n); // 12..14 missing
  t.observe(16n);
  now = 999;
  assert.deepEqual(t.tick(), []);
  now = 1000;
  assert.deepEqual(t.tick(), [{ fromSeq: 12n, toSeq: 14n, count: 3n }]);
  assert.deepEqual(t.observe(17n), []);
  assert.deepEqual(t.observe(13n), [], 'a late arrival after the verdict is ignored');
});

test('overflowing the window declares every open hole, in order', () => {
  const t = new SeqTracker({ window: 3, graceMs: 1e9, now: () => 0 });
  t.observe(1n);
  t.observe(3n);
  t.observe(4n);
  t.observe(7n);
  assert.deepEqual(t.observe(8n), [{ fromSeq: 2n, toSeq: 2n, count: 1n }, { fromSeq: 5n, toSeq: 6n, count: 2n }]);
  assert.equal(t.expected, 9n);
});

test('told the kernel starts at 1, it reports lost first seqs; reordered first seqs are no loss', () => {
  let now = 0;
  const t = new SeqTracker({ window: 16, graceMs: 1000, now: () => now, first: 1n });
  assert.deepEqual(t.observe(3n), []); // 1 and 2: their reserves failed
  assert.deepEqual(t.observe(4n), []);
  now = 1000;
  assert.deepEqual(t.tick(), [{ fromSeq: 1n, toSeq: 2n, count: 2n }]);
  const r = new SeqTracker({ window: 16, graceMs: 1000, now: () => 0, first: 1n });
  for (const s of [2n, 1n, 3n]) assert.deepEqual(r.observe(s), []);
  assert.deepEqual(r.tick(), []);
  assert.equal(r.expected, 4n);
});
