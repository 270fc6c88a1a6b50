// SPDX-License-Identifier: Apache-2.0
// capture's GZIP codec for kafkajs: level 1 gzip out, anything gzip in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import kafkajs from 'kafkajs';
import { useFastGzip } from '../../src/kafka/kafkajs-changes.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;

test('after useFastGzip, kafkajs gzips at level 1 and still reads any gzip', async () => {
  useFastGzip();
  useFastGzip();
  const codec = CompressionCodecs[CompressionTypes.GZIP]!() as unknown as {
    compress(e: { buffer: Buffer }): Promise<Buffer>;
    decompress(b: Buffer): Promise<Buffer>;
  };
  const data = Buffer.from('podtrail raw event '.repeat(5000));
  const out = await codec.compress({ buffer: data });
  assert.deepEqual(zlib.gunzipSync(out), data);
  assert.deepEqual(out, zlib.gzipSync(data, { level: 1 }));
  assert.deepEqual(await codec.decompress(zlib.gzipSync(data, { level: 9 })), data);
  await assert.rejects(codec.decompress(Buffer.from('not gzip')));
});
