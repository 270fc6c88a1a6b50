// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fc from 'fast-check';
import { kafkajsRecord, makeRecordEncoder, recordPatched, type RecordArgs } from '../../src/kafka/kafkajs-record.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const require = createRequire(import.meta.url);
const Encoder = require('kafkajs/src/protocol/encoder.js') as { prototype: { buf: Buffer; offset: number } };

const theirs = kafkajsRecord();
let fellBack = 0;
const ours = makeRecordEncoder(Encoder, (a) => {
  fellBack++;
  return theirs(a);
});
const bytes = (e: { buf: Buffer; offset: number }) => Buffer.from(e.buf.subarray(0, e.offset));

const keyOrValue = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 80 }), // multi-byte UTF-8, lone surrogates
  fc.constant(null),
  fc.constant(undefined),
);
const int = fc.oneof(fc.integer({ min: -200, max: 200 }), fc.integer({ min: -0x80000000, max: 0x7fffffff }));

test('record bytes are exactly kafkajs\'s, with and without its fallback', () => {
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
      assert.ok(a instanceof (Encoder as unknown as new () => object), 'an Encoder, as RecordBatch needs');
      assert.deepEqual(bytes(a), bytes(theirs(args)));
    },
  ), { numRuns: 2000 });
});

test('the common record (Buffer value, string key, no headers, small deltas) takes the fast path', () => {
  fellBack = 0;
  const args = { key: 'node-a/1234', value: Buffer.from('avro bytes'), offsetDelta: 7, timestampDelta: 0 };
  assert.deepEqual(bytes(ours(args)), bytes(theirs(args)));
  assert.equal(fellBack, 0);
  ours({ ...args, headers: { h: 'v' } });
  ours({ ...args, timestampDelta: 2 ** 40 });
  // kafkajs refuses a number value; through the fallback, so do we.
  assert.throws(() => theirs({ ...args, value: 42 }), TypeError);
  assert.throws(() => ours({ ...args, value: 42 }), TypeError);
  assert.equal(fellBack, 3, 'headers, a 64-bit delta and a number value go to kafkajs\'s encoder');
  assert.throws(() => ours({ ...args, headers: null as unknown as Record<string, unknown> }), TypeError, 'null headers fail as in kafkajs');
});

test('installed before kafkajs loads, kafkajs\'s produce request gets it; through bin/podtrail.js\'s first import too', () => {
  const viaGrouping = spawnSync(process.execPath, ['--input-type=module', '-e', `
    const g = await import(${JSON.stringify(path.join(root, 'dist/src/kafka/kafkajs-grouping.js'))});
    await import('kafkajs');
    const r = await import(${JSON.stringify(path.join(root, 'dist/src/kafka/kafkajs-record.js'))});
    const { createRequire } = await import('node:module');
    const req = createRequire(${JSON.stringify(path.join(root, 'package.json'))});
    const used = req('kafkajs/src/protocol/requests/produce/v3/request.js');
    process.stdout.write(String(r.recordPatched() && typeof used === 'function'));`], { cwd: root, encoding: 'utf8' });
  assert.equal(viaGrouping.status, 0, viaGrouping.stderr);
  assert.equal(viaGrouping.stdout, 'true');
  const late = spawnSync(process.execPath, ['--input-type=module', '-e', `
    const { createRequire } = await import('node:module');
    createRequire(${JSON.stringify(path.join(root, 'package.json'))})('kafkajs/src/protocol/recordBatch/record/v0/index.js');
    const r = await import(${JSON.stringify(path.join(root, 'dist/src/kafka/kafkajs-record.js'))});
    process.stdout.write(String(r.recordPatched()));`], { cwd: root, encoding: 'utf8' });
  assert.equal(late.status, 0, late.stderr);
  assert.equal(late.stdout, 'false', 'loaded after kafkajs\'s own encoder it must leave kafkajs alone');
  assert.equal(recordPatched(), true, 'this test process imported it before kafkajs');
});
