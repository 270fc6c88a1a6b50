// SPDX-License-Identifier: Apache-2.0
// The kafkajs patch's OffsetFetch v7 (require_stable, KIP-447), byte by byte against the
// protocol's layout: the request asks for stable offsets, and the answer decodes, including the
// UNSTABLE_OFFSET_COMMIT a broker gives while a transaction's offsets are pending, which must
// come out as a retriable error. (test/integration/kafka-cluster.test.ts sees it on a cluster.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { kafkaCondition } from '../../src/kafka/conditions.js';

const require = createRequire(import.meta.url);
const { protocol, versions } = require('kafkajs/src/protocol/requests/offsetFetch/index.js') as { protocol: (o: { version: number }) => any; versions: string[] };

const uvarint = (n: number) => { const b: number[] = []; do { let x = n & 0x7f; n >>>= 7; if (n) x |= 0x80; b.push(x); } while (n); return Buffer.from(b); };
const cstr = (s: string) => Buffer.concat([uvarint(Buffer.byteLength(s) + 1), Buffer.from(s)]);
const i16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const i64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigInt64BE(n); return b; };
const TAGS = Buffer.from([0]);

test('kafkajs offers OffsetFetch v7, and its request asks for stable offsets in the flexible layout', async () => {
  assert.ok(versions.includes('7'));
  const { request } = protocol({ version: 7 })({ groupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 0 }, { partition: 5 }] }] });
  assert.equal(request.apiVersion, 7);
  const bytes: Buffer = (await request.encode()).buffer;
  const want = Buffer.concat([
    TAGS, // the request header v2's tagged fields
    cstr('g'), uvarint(2), cstr('t'), uvarint(3), i32(0), i32(5), TAGS,
    Buffer.from([1]), // require_stable
    TAGS,
  ]);
  assert.deepEqual(bytes, want);
});

const answer = (errorCode: number, offset: bigint, metadata: string | null) => Buffer.concat([
  TAGS, // response header v1
  i32(0), uvarint(2), cstr('t'), uvarint(2),
  i32(3), i64(offset), i32(-1), metadata === null ? uvarint(0) : cstr(metadata), i16(errorCode), TAGS,
  TAGS, i16(0), TAGS,
]);

test('a v7 answer decodes to what the older versions gave', async () => {
  const { response } = protocol({ version: 7 })({ groupId: 'g', topics: [] });
  const data = await response.decode(answer(0, 42n, null));
  assert.deepEqual(await response.parse(data), { throttleTime: 0, clientSideThrottleTime: 0, errorCode: 0, responses: [{ topic: 't', partitions: [{ partition: 3, offset: '42', metadata: null, errorCode: 0 }] }] });
  assert.equal((await response.decode(answer(0, -1n, 'm'))).responses[0].partitions[0].metadata, 'm');
});

test('UNSTABLE_OFFSET_COMMIT (a transaction still pending) is thrown, and it is a condition to retry', async () => {
  const { response } = protocol({ version: 7 })({ groupId: 'g', topics: [] });
  const data = await response.decode(answer(88, 10n, null));
  await assert.rejects(response.parse(data), (e: unknown) => kafkaCondition(e).type === 'UNSTABLE_OFFSET_COMMIT' && kafkaCondition(e).kind === 'retry');
});

test('a truncated v7 answer fails to decode rather than returning garbage', async () => {
  const { response } = protocol({ version: 7 })({ groupId: 'g', topics: [] });
  const full = answer(0, 42n, null);
  await assert.rejects(async () => response.parse(await response.decode(full.subarray(0, full.length - 6))));
});
