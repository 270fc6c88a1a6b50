// SPDX-License-Identifier: Apache-2.0
// kafkajs's read_committed filter (src/consumer/filterAbortedMessages.js) when a fetch starts
// inside two aborted transactions of two producers, as when two enrich replicas write one audit
// partition: the broker lists both before the fetch's first record. kafkajs 2.2.4 marked one
// aborted transaction per record, so the first record, the second producer's, was let through
// although aborted. The patch marks every transaction begun by the record's offset. The same
// fetch goes through kafkajs's own file from its npm tarball, to show the test sees the bug.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pristineKafkajsDir } from '../helpers/kafkajs-pristine.js';

const require = createRequire(import.meta.url);
type Filter = (a: { messages: Msg[]; abortedTransactions: Array<{ producerId: string; firstOffset: string }> }) => Msg[];
interface Msg { offset: string; key: Buffer | null; value: string; batchContext: { producerId: string; inTransaction: boolean } }

const ABORT = Buffer.from([0, 0, 0, 0]);
const rec = (offset: number, producerId: string, value: string): Msg => ({ offset: String(offset), key: Buffer.from('k'), value, batchContext: { producerId, inTransaction: true } });
const abortMarker = (offset: number, producerId: string): Msg => ({ offset: String(offset), key: ABORT, value: 'ABORT', batchContext: { producerId, inTransaction: true } });

/**
 * Producer 1's transaction began at 100 and producer 2's at 120, both aborted later; the fetch
 * starts at 150 with a record of producer 2. Producer 3 commits a record in between.
 */
function fetchFrom150(filter: Filter): string[] {
  const messages = [
    rec(150, '2', 'aborted-2a'),
    rec(151, '1', 'aborted-1a'),
    { ...rec(152, '3', 'committed-3'), batchContext: { producerId: '3', inTransaction: false } },
    rec(153, '2', 'aborted-2b'),
    abortMarker(154, '1'),
    abortMarker(155, '2'),
    rec(156, '1', 'after-1'),
  ];
  const abortedTransactions = [{ producerId: '1', firstOffset: '100' }, { producerId: '2', firstOffset: '120' }];
  return filter({ messages, abortedTransactions }).filter((m) => !m.key?.equals(ABORT)).map((m) => m.value);
}

test('patched: a fetch starting inside two aborted transactions shows neither', () => {
  const filter = require('kafkajs/src/consumer/filterAbortedMessages.js') as Filter;
  assert.deepEqual(fetchFrom150(filter), ['committed-3', 'after-1']);
});

test("kafkajs's own filter lets the first record of the second aborted transaction through", () => {
  const pristine = require(path.join(pristineKafkajsDir(), 'src/consumer/filterAbortedMessages.js')) as Filter;
  assert.deepEqual(fetchFrom150(pristine), ['aborted-2a', 'committed-3', 'after-1'], 'the bug the patch fixes is what this fetch shows');
});
