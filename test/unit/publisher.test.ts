// SPDX-License-Identifier: Apache-2.0
// The publisher's buffering and loss accounting, with a fake producer (pure logic).
// The real-broker path is exercised by the capture integration tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { ProducerBatch, RecordMetadata } from 'kafkajs';
import { RawPublisher } from '../../src/capture/publisher.js';
import { Codec } from '../../src/schema/codec.js';
import { sampleLookup, sampleRaw } from '../helpers/records.js';

const codec = new Codec();
const log = pino({ level: 'silent' });

class FakeProducer {
  sent: Array<{ topic: string; acks?: number; messages: Array<{ key?: unknown; value: unknown }> }> = [];
  down = false;
  private waiters: Array<() => void> = [];
  async sendBatch(b: ProducerBatch): Promise<RecordMetadata[]> {
    while (this.down) await new Promise<void>((res) => this.waiters.push(res));
    for (const tm of b.topicMessages ?? []) this.sent.push({ topic: tm.topic, acks: b.acks, messages: tm.messages });
    return [];
  }
  up(): void {
    this.down = false;
    for (const w of this.waiters.splice(0)) w();
  }
  decoded() {
    return this.sent.flatMap((r) => r.messages.map((m) => codec.decode(m.value as Buffer)));
  }
}

const opts = { topic: 'raw', node: 'node-a', instance: 'abcd1234', maxBufferedEvents: 5, maxBufferedBytes: 1 << 20, maxBatch: 3, lingerMs: 0, compression: 'none' as const };

test('events go out in order, keyed <node>/<cgroupId>, in batches', async () => {
  const p = new FakeProducer();
  const pub = new RawPublisher(p, codec, opts, log);
  pub.start();
  for (let i = 1n; i <= 4n; i++) assert.equal(pub.offer(sampleRaw({ seq: i })), true);
  assert.equal(await pub.stop(5000), 0);
  const seqs = p.decoded().map((d) => (d.value as { seq: bigint }).seq);
  assert.deepEqual(seqs, [1n, 2n, 3n, 4n]);
  assert.equal(p.sent[0]!.messages[0]!.key, 'node-a/1234');
  assert.equal(p.sent[0]!.acks, -1);
  assert.ok(p.sent.every((r) => r.messages.length <= 3));
});

test('a full buffer drops and counts; once Kafka is back a CaptureLoss with the range goes first', async () => {
  const p = new FakeProducer();
  p.down = true;
  const pub = new RawPublisher(p, codec, opts, log);
  pub.start();
  const accepted: boolean[] = [];
  for (let i = 1n; i <= 12n; i++) accepted.push(pub.offer(sampleRaw({ seq: i, time: 1_000n + i })));
  // The first batch (3) is in flight and still counted as buffered: 5 fit, 7 dropped.
  assert.equal(accepted.filter(Boolean).length, 5);
  assert.equal(pub.stats().dropped, 7);
  p.up();
  assert.equal(await pub.stop(5000), 0);
  const out = p.decoded();
  const loss = out.filter((d) => d.schema === 'CaptureLoss');
  assert.equal(loss.length, 1);
  const l = loss[0]!.value as { fromSeq: bigint; toSeq: bigint; count: bigint; cause: string; firstTime: bigint; lastTime: bigint; eventId: string };
  assert.equal(l.fromSeq, 6n);
  assert.equal(l.toSeq, 12n);
  assert.equal(l.count, 7n);
  assert.equal(l.cause, 'CAPTURE_BUFFER');
  assert.equal(l.firstTime, 1_006n);
  assert.equal(l.lastTime, 1_012n);
  assert.equal(l.eventId, 'node-a:abcd1234:loss:6-12');
  const raws = out.filter((d) => d.schema === 'RawConnectEvent').map((d) => (d.value as { seq: bigint }).seq);
  assert.deepEqual(raws, [1n, 2n, 3n, 4n, 5n]);
});

test('stop with Kafka still down reports what is unsent', async () => {
  const p = new FakeProducer();
  p.down = true;
  const pub = new RawPublisher(p, codec, opts, log);
  pub.start();
  pub.offer(sampleRaw({ seq: 1n }));
  assert.equal(await pub.stop(200), 1);
  p.up();
});

test('requests stay under maxRequestBytes (the broker refuses bigger batches for ever), each event once, in order', async () => {
  const p = new FakeProducer();
  const one = codec.encode('RawConnectEvent', sampleRaw({ seq: 1n })).length + 'node-a/1234'.length;
  const pub = new RawPublisher(p, codec, { ...opts, maxBufferedEvents: 100, maxBatch: 50, maxRequestBytes: one * 4 + 1 }, log);
  for (let i = 1n; i <= 10n; i++) assert.equal(pub.offer(sampleRaw({ seq: i })), true);
  pub.start();
  assert.equal(await pub.stop(5000), 0);
  assert.deepEqual(p.decoded().map((d) => (d.value as { seq: bigint }).seq), Array.from({ length: 10 }, (_, i) => BigInt(i + 1)));
  assert.deepEqual(p.sent.map((r) => r.messages.length), [4, 4, 2]);
  for (const r of p.sent) assert.ok(r.messages.reduce((n, m) => n + (m.value as Buffer).length + String(m.key).length, 0) <= one * 4 + 1);
});

test('an event bigger than maxRequestBytes still goes, alone', async () => {
  const p = new FakeProducer();
  const pub = new RawPublisher(p, codec, { ...opts, maxRequestBytes: 10 }, log);
  for (let i = 1n; i <= 3n; i++) pub.offer(sampleRaw({ seq: i }));
  pub.start();
  assert.equal(await pub.stop(5000), 0);
  assert.deepEqual(p.sent.map((r) => r.messages.length), [1, 1, 1]);
});

test('DNS lookups go on the raw topic among the events, keyed like them, outside the connect sequence', async () => {
  const p = new FakeProducer();
  const progress: bigint[] = [];
  const pub = new RawPublisher(p, codec, { ...opts, onProgress: (seq) => progress.push(seq) }, log);
  pub.start();
  assert.equal(pub.offer(sampleRaw({ seq: 1n })), true);
  assert.equal(pub.offerLookup(sampleLookup({ seq: 900n })), true);
  assert.equal(pub.offer(sampleRaw({ seq: 2n })), true);
  assert.equal(await pub.stop(5000), 0);
  const out = p.decoded().map((d) => [d.schema, (d.value as { seq: bigint }).seq]);
  assert.deepEqual(out, [['RawConnectEvent', 1n], ['DnsLookup', 900n], ['RawConnectEvent', 2n]]);
  assert.deepEqual(p.sent.flatMap((r) => r.messages.map((m) => m.key)), ['node-a/1234', `node-a/${sampleLookup().cgroup.id}`, 'node-a/1234']);
  const st = pub.stats();
  // sent and onProgress count connects only: a lookup's seq is the DNS sequence's.
  assert.deepEqual([st.sent, st.lookups, st.lookupsDropped], [2, 1, 0]);
  assert.ok(progress.every((x) => x <= 2n));
});

test('a full buffer drops lookups and counts them apart', async () => {
  const p = new FakeProducer();
  p.down = true;
  const pub = new RawPublisher(p, codec, opts, log);
  pub.start();
  const ok: boolean[] = [];
  for (let i = 1n; i <= 9n; i++) ok.push(pub.offerLookup(sampleLookup({ seq: i })));
  assert.equal(ok.filter(Boolean).length, 5);
  assert.deepEqual([pub.stats().lookupsDropped, pub.stats().dropped], [4, 0]);
  p.up();
  assert.equal(await pub.stop(5000), 0);
});
