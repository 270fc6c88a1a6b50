// SPDX-License-Identifier: Apache-2.0
// patches/kafkajs+2.2.4.patch's record encoder writes exactly kafkajs's bytes: the installed
// file against the one in kafkajs's npm tarball, for every record shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { pristineRequire } from '../helpers/kafkajs-pristine.js';

const require = createRequire(import.meta.url);
interface Enc { buf: Buffer; offset: number }
interface RecordArgs { offsetDelta?: number; timestampDelta?: unknown; key?: unknown; value?: unknown; headers?: Record<string, unknown> }
type RecordFn = ((a: RecordArgs) => Enc) & { podtrailPatch?: string };
const ours = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as RecordFn;
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => Enc;
const theirs = pristineRequire<RecordFn>('./src/protocol/recordBatch/record/v0/index.js');
const bytes = (e: Enc) => Buffer.from(e.buf.subarray(0, e.offset));
/** The patched fast path allocates exactly the record; kafkajs's Encoder starts at 512 bytes. */
const fastPath = (e: Enc) => e.buf.length === e.offset;

const keyOrValue = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 80 }), // multi-byte UTF-8, lone surrogates
  fc.constant(null),
  fc.constant(undefined),
);
const int = fc.oneof(fc.integer({ min: -200, max: 200 }), fc.integer({ min: -0x80000000, max: 0x7fffffff }));

test('the installed record encoder is the patched one, the tarball\'s is kafkajs\'s own', () => {
  assert.equal(ours.podtrailPatch, 'exact-size-record', 'node_modules/kafkajs is not patched: npm ci runs patch-package');
  assert.equal(theirs.podtrailPatch, undefined);
});

test('record bytes are exactly kafkajs\'s, on the fast path and off it', () => {
  fc.assert(fc.property(
    fc.record({
      key: keyOrValue,
      value: keyOrValue,
      offsetDelta: fc.option(int, { nil: undefined }),
      timestampDelta: fc.option(fc.oneof(int, fc.constant(2 ** 40), fc.constant(-(2 ** 35))), { nil: undefined }),
      headers: fc.option(fc.oneof(fc.constant({}), fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string(), { minKeys: 1, maxKeys: 3 })), { nil: undefined }),
    }, { requiredKeys: [] }),
    (args: RecordArgs) => {
      const a = ours(args);
      assert.ok(a instanceof Encoder, 'an Encoder, as RecordBatch needs');
      assert.deepEqual(bytes(a), bytes(theirs(args)));
    },
  ), { numRuns: 2000 });
});

test('the common record (Buffer value, string key, no headers, small deltas) takes the fast path; the rest kafkajs\'s code', () => {
  const args = { key: 'node-a/1234', value: Buffer.from('avro bytes'), offsetDelta: 7, timestampDelta: 0 };
  const fast = ours(args);
  assert.deepEqual(bytes(fast), bytes(theirs(args)));
  assert.ok(fastPath(fast));
  assert.ok(!fastPath(theirs(args)), 'kafkajs\'s own Encoder is not exact-size');
  assert.ok(!fastPath(ours({ ...args, headers: { h: 'v' } })), 'headers go to kafkajs\'s code');
  assert.ok(!fastPath(ours({ ...args, timestampDelta: 2 ** 40 })), 'a 64-bit delta goes to kafkajs\'s code');
  // kafkajs refuses a number value and null headers; through its code, so does the patch.
  assert.throws(() => theirs({ ...args, value: 42 }), TypeError);
  assert.throws(() => ours({ ...args, value: 42 }), TypeError);
  assert.throws(() => theirs({ ...args, headers: null as never }), TypeError);
  assert.throws(() => ours({ ...args, headers: null as never }), TypeError);
});
