// SPDX-License-Identifier: Apache-2.0
// The publisher retries a failed request unchanged, even when more events arrived meanwhile:
// an idempotent producer's request that the broker wrote but could not acknowledge is only
// recognised as a duplicate when it comes again as it was (the broker-kill fault test found a
// regrouped retry refused as out of order for ever). Also: onProgress and a loss record's onSent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { ProducerBatch, RecordMetadata } from 'kafkajs';
import { RawPublisher } from '../../src/capture/publisher.js';
import { Codec } from '../../src/schema/codec.js';
import { sampleRaw } from '../helpers/records.js';

const codec = new Codec();
const log = pino({ level: 'silent' });
const opts = { topic: 'raw', node: 'node-a', instance: 'abcd1234', maxBufferedEvents: 100, maxBufferedBytes: 1 << 20, maxBatch: 50, lingerMs: 0, compression: 'none' as const };

/** Fails the first `failures` requests (after they "reached" the broker), then takes everything. */
class FlakyProducer {
  readonly requests: bigint[][] = [];
  onRequest: () => void = () => undefined;
  constructor(private failures: number) {}
  async sendBatch(b: ProducerBatch): Promise<RecordMetadata[]> {
    const seqs = (b.topicMessages ?? []).flatMap((tm) => tm.messages.map((m) => {
      const d = codec.decode(m.value as Buffer);
      return d.schema === 'RawConnectEvent' ? d.value.seq : -1n;
    }));
    this.requests.push(seqs);
    this.onRequest();
    await new Promise((r) => setImmediate(r));
    if (this.failures-- > 0) throw new Error('connection closed');
    return [];
  }
}

test('a failed request is retried with exactly the same records, whatever arrived since', async () => {
  const p = new FlakyProducer(2);
  const progress: Array<[bigint, bigint]> = [];
  const pub = new RawPublisher(p, codec, { ...opts, onProgress: (s, t) => progress.push([s, t]) }, log);
  let next = 1n;
  for (; next <= 3n; next++) pub.offer(sampleRaw({ seq: next, time: 100n + next }));
  // More events (and a loss record) arrive while the first request is failing and retried.
  p.onRequest = () => {
    if (next > 9n) return;
    for (const end = next + 3n; next < end; next++) pub.offer(sampleRaw({ seq: next, time: 100n + next }));
    pub.offerLoss({ fromSeq: 100n, toSeq: 100n, count: 1n, cause: 'KERNEL_RING_BUFFER' });
  };
  pub.start();
  assert.equal(await pub.stop(5000), 0);
  assert.deepEqual(p.requests[0], [1n, 2n, 3n]);
  assert.deepEqual(p.requests[1], [1n, 2n, 3n], 'the first retry is the same request');
  assert.deepEqual(p.requests[2], [1n, 2n, 3n], 'and so is the second');
  const after = p.requests.slice(3).flat();
  assert.deepEqual(after.filter((s) => s > 0n), [4n, 5n, 6n, 7n, 8n, 9n], 'the rest follows once, in order');
  assert.equal(after.filter((s) => s === -1n).length, 2, 'both loss records, each sent once');
  assert.deepEqual(progress[0], [3n, 103n], 'onProgress reports the highest acknowledged seq and its time');
  assert.deepEqual(progress.at(-1), [9n, 109n]);
  assert.equal(pub.stats().sendErrors, 2);
});

test("a loss record's onSent runs once Kafka has taken it, not before", async () => {
  const p = new FlakyProducer(1);
  const pub = new RawPublisher(p, codec, opts, log);
  let sent = 0;
  let sentWhenFirstFailed = -1;
  p.onRequest = () => { if (sentWhenFirstFailed < 0) sentWhenFirstFailed = sent; };
  pub.offerLoss({ fromSeq: 5n, toSeq: 4n, count: 0n, cause: 'CAPTURE_RESTART', instance: 'old1', eventId: 'node-a:old1:end', onSent: () => sent++ });
  pub.start();
  assert.equal(await pub.stop(5000), 0);
  assert.equal(sentWhenFirstFailed, 0);
  assert.equal(sent, 1);
  assert.equal(p.requests.length, 2);
});
