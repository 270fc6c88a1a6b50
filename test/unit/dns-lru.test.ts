// SPDX-License-Identifier: Apache-2.0
// The O(1) LRU under the DNS tables: against a reference model (an array in recency order)
// for any sequence of operations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Lru } from '../../src/capture/dns/lru.js';

type Op = { op: 'get' | 'peek' | 'delete' | 'set'; k: number } | { op: 'shift' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constantFrom('get' as const, 'peek' as const, 'delete' as const, 'set' as const), k: fc.nat(6) }),
  fc.constant({ op: 'shift' as const }),
);

test('behaves as a recency-ordered list for any operations', () => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
    const lru = new Lru<number, string>();
    let model: Array<[number, string]> = [];
    let n = 0;
    for (const o of ops) {
      if (o.op === 'shift') {
        assert.deepEqual(lru.shift(), model.shift());
        continue;
      }
      const i = model.findIndex(([k]) => k === o.k);
      if (o.op === 'get') {
        assert.equal(lru.get(o.k), i >= 0 ? model[i]![1] : undefined);
        if (i >= 0) model.push(model.splice(i, 1)[0]!);
      } else if (o.op === 'peek') {
        assert.equal(lru.peek(o.k), i >= 0 ? model[i]![1] : undefined);
      } else if (o.op === 'delete') {
        assert.equal(lru.delete(o.k), i >= 0);
        if (i >= 0) model.splice(i, 1);
      } else {
        const v = `v${n++}`;
        lru.set(o.k, v);
        if (i >= 0) model.splice(i, 1);
        model.push([o.k, v]);
      }
      assert.equal(lru.size, model.length);
      assert.deepEqual(lru.oldest(), model[0]);
      assert.deepEqual([...lru.entries()], model);
    }
    // Deleting the entry being visited is allowed.
    for (const [k] of lru.entries()) lru.delete(k);
    assert.equal(lru.size, 0);
    model = [];
    assert.deepEqual(lru.oldest(), undefined);
  }), { numRuns: 300 });
});
