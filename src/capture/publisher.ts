// SPDX-License-Identifier: Apache-2.0
// Publishes raw events to Kafka in batches (acks=all, idempotent, compressed) from a
// bounded buffer. When Kafka is slow or away the buffer fills, then new events are
// dropped and counted; once a send succeeds again a CaptureLoss record carrying the count
// and the sequence range goes out first, so no loss is silent.
import { CompressionTypes, type Message, type Producer } from 'kafkajs';
import type { Logger } from '../common/log.js';
import { kafkaCondition, type KafkaCondition } from '../kafka/conditions.js';
import { RetryEpisode, backoffMs, countProducerReset } from '../kafka/retry.js';
import type { Codec, RecordTypes } from '../schema/codec.js';
import type { CaptureLoss, ContainerMeta, DnsLookup, LossCause, RawConnectEvent } from '../schema/types.js';
import { rawKey } from './to-raw.js';
import { RawWriter } from './raw-writer.js';
import { useFastGzip } from '../kafka/kafkajs-changes.js';

export interface PublisherOptions {
  topic: string;
  /** where ContainerMeta records go (podtrail.containers.v1) */
  metaTopic?: string;
  node: string;
  instance: string;
  maxBufferedEvents: number;
  maxBufferedBytes: number;
  maxBatch: number;
  /** bytes of keys and values in one request, at most (the broker's message.max.bytes
   *  applies to a batch; counted uncompressed, so compression cannot push it over) */
  maxRequestBytes?: number;
  lingerMs: number;
  compression: 'gzip' | 'none';
  /** wall-clock ns, for loss records */
  nowNs?: () => bigint;
  /** framing other than single-object encoding (Confluent, with --schema-registry) */
  encode?: <K extends 'RawConnectEvent' | 'CaptureLoss' | 'ContainerMeta' | 'DnsLookup'>(name: K, value: RecordTypes[K]) => Buffer;
  /** called after each acknowledged produce request (metrics) */
  onSent?: (seconds: number, messages: number) => void;
  /** called after a request with raw events was acknowledged: the highest seq in it, and its time */
  onProgress?: (lastSeq: bigint, lastTime: bigint) => void;
  /**
   * A new idempotent producer (a new producer id), for when the broker refuses the current
   * one's sequence or epoch for good (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID,
   * INVALID_PRODUCER_EPOCH: a broker that lost its state, a producer id that expired).
   */
  renewProducer?: () => Promise<Pick<Producer, 'sendBatch'>>;
  /** makes the topics exist again (a cluster replaced under a running capture); and whatever else that needs */
  repairTopics?: () => Promise<void>;
  /** a condition retrying cannot clear (no permission to write the topic): the stage should stop */
  onFatal?: (c: KafkaCondition) => void;
}

export const PUBLISHER_DEFAULTS = {
  maxBufferedEvents: 200_000,
  maxBufferedBytes: 48 * 1024 * 1024,
  // kafkajs's per-partition grouping is quadratic unless patched (src/kafka/kafkajs-changes.ts);
  // linear, 2000 per request cost less per event than 500 (fewer requests, record
  // batches and gzip streams).
  maxBatch: 2000,
  // Under the broker's default message.max.bytes (1 MiB) with room for record framing.
  maxRequestBytes: 768 * 1024,
  lingerMs: 10,
  compression: 'gzip',
} as const;

/** A topic missing for this long while publishing is made again (capture owns raw and containers). */
const UNKNOWN_TOPIC_REPAIR_MS = 3000;

interface Pending { key: string; value: Buffer; seq?: bigint; time?: bigint; topic?: string; onSent?: () => void }

interface DropRange { fromSeq: bigint; toSeq: bigint; count: bigint; firstTime: bigint; lastTime: bigint }

export interface PublisherStats {
  buffered: number;
  bufferedBytes: number;
  sent: number;
  dropped: number;
  lossRecords: number;
  metaRecords: number;
  sendErrors: number;
  lastSendMs: number;
  /** DNS lookup records queued, and dropped for a full buffer */
  lookups: number;
  lookupsDropped: number;
}

export class RawPublisher {
  private queue: Pending[] = [];
  private head = 0;
  private bytes = 0;
  private drop: DropRange | undefined;
  private urgent: Pending[] = [];
  private wake: (() => void) | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly counters: PublisherStats = { buffered: 0, bufferedBytes: 0, sent: 0, dropped: 0, lossRecords: 0, metaRecords: 0, sendErrors: 0, lastSendMs: 0, lookups: 0, lookupsDropped: 0 };
  private readonly nowNs: () => bigint;
  /** resolves pending flush() calls when the buffer empties */
  private drained: Array<() => void> = [];

  private readonly rawWriter: RawWriter;
  /** the seqs (and their times) of raw events the current cluster acknowledged */
  private acked: { from: bigint; to: bigint; first: bigint; last: bigint } | undefined;

  /**
   * `producer` may come later, with start(): capture attaches to the kernel and buffers events
   * while a brand-new cluster is still making its topics.
   */
  constructor(
    private producer: Pick<Producer, 'sendBatch'> | undefined,
    private readonly codec: Codec,
    private readonly opts: PublisherOptions,
    private readonly log: Logger,
  ) {
    this.nowNs = opts.nowNs ?? (() => BigInt(Date.now()) * 1_000_000n);
    this.rawWriter = new RawWriter(codec);
    if (opts.compression === 'gzip') useFastGzip();
  }

  /** Enqueue one event. Returns false (and counts it) when the buffer is full. */
  offer(raw: RawConnectEvent): boolean {
    const size = this.queue.length - this.head;
    if (size >= this.opts.maxBufferedEvents || this.bytes >= this.opts.maxBufferedBytes) {
      this.recordDrop(raw.seq, raw.time);
      return false;
    }
    const value = this.opts.encode ? this.opts.encode('RawConnectEvent', raw) : this.rawWriter.encode(raw);
    this.queue.push({ key: rawKey(raw.node, raw.cgroup.id), value, seq: raw.seq, time: raw.time });
    this.bytes += value.length;
    this.kick();
    return true;
  }

  /**
   * A DNS lookup record: on the raw topic beside the connects, keyed like them (one container's
   * records stay in order). Outside the connect sequence (it has its own), so a lookup dropped
   * for a full buffer is counted, not a loss record.
   */
  offerLookup(rec: DnsLookup): boolean {
    const size = this.queue.length - this.head;
    if (size >= this.opts.maxBufferedEvents || this.bytes >= this.opts.maxBufferedBytes) {
      this.counters.lookupsDropped++;
      return false;
    }
    const value = this.opts.encode ? this.opts.encode('DnsLookup', rec) : this.codec.encode('DnsLookup', rec);
    this.queue.push({ key: rawKey(rec.node, rec.cgroup.id), value });
    this.bytes += value.length;
    this.counters.lookups++;
    this.kick();
    return true;
  }

  /**
   * A loss the capture knows of (kernel ring buffer gap; or, with `instance`, the end of an
   * earlier instance). Loss records are never dropped; onSent runs once Kafka has taken it.
   */
  offerLoss(l: { fromSeq: bigint; toSeq: bigint; count: bigint; cause: LossCause; firstTime?: bigint; lastTime?: bigint; instance?: string; eventId?: string; onSent?: () => void }): void {
    const now = this.nowNs();
    const instance = l.instance ?? this.opts.instance;
    const rec: CaptureLoss = {
      eventId: l.eventId ?? `${this.opts.node}:${instance}:loss:${l.fromSeq}-${l.toSeq}`,
      time: now, node: this.opts.node, instance,
      fromSeq: l.fromSeq, toSeq: l.toSeq, count: l.count, cause: l.cause,
      firstTime: l.firstTime ?? now, lastTime: l.lastTime ?? now,
    };
    this.urgent.push({ key: `${this.opts.node}/loss`, value: this.opts.encode ? this.opts.encode('CaptureLoss', rec) : this.codec.encode('CaptureLoss', rec), ...(l.onSent ? { onSent: l.onSent } : {}) });
    this.counters.lossRecords++;
    this.kick();
  }

  /**
   * Container metadata: sent before any raw event queued after it, in the same request when
   * they are batched together. Never dropped (one record per container version).
   */
  offerMeta(rec: ContainerMeta): void {
    if (!this.opts.metaTopic) throw new Error('offerMeta needs metaTopic');
    this.urgent.push({ key: rec.containerId, value: this.opts.encode ? this.opts.encode('ContainerMeta', rec) : this.codec.encode('ContainerMeta', rec), topic: this.opts.metaTopic });
    this.counters.metaRecords++;
    this.kick();
  }

  /**
   * The cluster was replaced (a new cluster id): what the old one acknowledged is not in the new
   * one. Says so with one CLUSTER_REPLACED loss record for that range, the first thing the new
   * cluster gets; what was not acknowledged yet goes to the new cluster as usual.
   */
  clusterReplaced(): void {
    const a = this.acked;
    this.acked = undefined;
    if (!a) return;
    this.log.error({ fromSeq: String(a.from), toSeq: String(a.to) }, 'raw events the replaced cluster had acknowledged are not in the new one: publishing a CLUSTER_REPLACED loss record for them');
    this.offerLoss({ fromSeq: a.from, toSeq: a.to, count: a.to - a.from + 1n, cause: 'CLUSTER_REPLACED', firstTime: a.first, lastTime: a.last, eventId: `${this.opts.node}:${this.opts.instance}:cluster-replaced:${a.from}-${a.to}` });
  }

  private recordDrop(seq: bigint, time: bigint): void {
    this.counters.dropped++;
    const d = this.drop;
    if (!d) {
      this.drop = { fromSeq: seq, toSeq: seq, count: 1n, firstTime: time, lastTime: time };
      // An error, not a warning: from here on connections go unrecorded (counted, never silent).
      this.log.error({ buffered: this.queue.length - this.head, bytes: this.bytes, maxEvents: this.opts.maxBufferedEvents, maxBytes: this.opts.maxBufferedBytes, firstDroppedSeq: String(seq) },
        'capture buffer full: dropping events (a loss record will follow)');
      return;
    }
    if (seq < d.fromSeq) d.fromSeq = seq;
    if (seq > d.toSeq) d.toSeq = seq;
    d.count++;
    if (time < d.firstTime) d.firstTime = time;
    if (time > d.lastTime) d.lastTime = time;
  }

  private kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** How many urgent records (loss, metadata) lead the next request: maxBatch and maxRequestBytes. */
  private urgentCount(): number {
    return fitCount(this.urgent, 0, Math.min(this.opts.maxBatch, this.urgent.length), 0, this.opts.maxRequestBytes ?? Infinity, 0);
  }

  /** How many queued events go with the urgent ones: maxBatch and maxRequestBytes, and at least one. */
  private takeCount(urgent: Pending[]): number {
    const limit = this.opts.maxRequestBytes ?? Infinity;
    let bytes = 0;
    for (const u of urgent) bytes += u.value.length + u.key.length;
    if (bytes > limit) return 0;
    const most = Math.min(this.opts.maxBatch - urgent.length, this.queue.length - this.head);
    return fitCount(this.queue, this.head, most, bytes, limit, urgent.length);
  }

  start(producer?: Pick<Producer, 'sendBatch'>): void {
    if (producer) this.producer = producer;
    if (!this.producer) throw new Error('RawPublisher.start needs a producer');
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const episode = new RetryEpisode('publish raw events', this.log);
    let attempt = 0;
    let episodeStart: number | undefined;
    let fatalSaid = false;
    let retry: { urgent: number; n: number } | undefined;
    while (this.running || this.pendingCount() > 0) {
      if (this.pendingCount() === 0) {
        for (const d of this.drained.splice(0)) d();
        if (!this.running) break;
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      if (!retry && this.opts.lingerMs > 0 && this.urgent.length === 0 && this.queue.length - this.head < this.opts.maxBatch && this.running) {
        await new Promise((r) => setTimeout(r, this.opts.lingerMs));
      }
      // A failed request goes again unchanged. The idempotent producer numbers records from the
      // last acknowledged request on; a request the broker wrote but could not acknowledge (it
      // died in between) is recognised as a duplicate only when it comes again as it was: a
      // regrouped one is out of order, and refused for ever (found by the broker-kill fault test).
      const urgentTaken = this.urgent.slice(0, retry ? retry.urgent : this.urgentCount());
      const n = retry ? retry.n : this.takeCount(urgentTaken);
      const batch = this.queue.slice(this.head, this.head + n);
      const byTopic = new Map<string, Message[]>();
      for (const p of [...urgentTaken, ...batch]) {
        const t = p.topic ?? this.opts.topic;
        let list = byTopic.get(t);
        if (!list) byTopic.set(t, (list = []));
        list.push({ key: p.key, value: p.value });
      }
      const messages = urgentTaken.length + batch.length;
      const t0 = Date.now();
      try {
        await this.producer!.sendBatch({
          acks: -1,
          compression: this.opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
          topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })),
        });
      } catch (err) {
        this.counters.sendErrors++;
        const c = kafkaCondition(err);
        episode.failed(c, { batch: messages });
        retry = { urgent: urgentTaken.length, n };
        if (c.kind === 'fatal') {
          if (!fatalSaid) this.opts.onFatal?.(c);
          fatalSaid = true;
        }
        await new Promise((r) => setTimeout(r, backoffMs(attempt++)));
        await this.recover(c, episodeStart ??= Date.now());
        continue;
      }
      episode.succeeded();
      episodeStart = undefined;
      attempt = 0;
      fatalSaid = false;
      retry = undefined;
      this.counters.lastSendMs = Date.now() - t0;
      this.opts.onSent?.(this.counters.lastSendMs / 1000, messages);
      this.urgent.splice(0, urgentTaken.length);
      for (const u of urgentTaken) u.onSent?.();
      this.head += n;
      let top: Pending | undefined;
      let low: Pending | undefined;
      for (const p of batch) {
        if (p.seq === undefined) continue;
        if (top === undefined || p.seq > top.seq!) top = p;
        if (low === undefined || p.seq < low.seq!) low = p;
      }
      if (top && low) {
        const a = this.acked;
        const keepFrom = a !== undefined && a.from < low.seq!;
        const keepTo = a !== undefined && a.to > top.seq!;
        this.acked = { from: keepFrom ? a.from : low.seq!, first: keepFrom ? a.first : low.time ?? 0n, to: keepTo ? a.to : top.seq!, last: keepTo ? a.last : top.time ?? 0n };
        this.opts.onProgress?.(top.seq!, top.time ?? 0n);
      }
      for (const p of batch) this.bytes -= p.value.length;
      // Raw connects only: lookups (no seq) have their own counter.
      for (const p of batch) if (p.seq !== undefined) this.counters.sent++;
      // Sent entries still hold their encoded bytes: drop them soon (amortized O(1): the
      // copy is never longer than what was dropped), not after 65536 of them.
      if (this.head >= 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      // Kafka took a batch, so it is back: say what was dropped while it was not.
      if (this.drop) {
        const d = this.drop;
        this.drop = undefined;
        this.log.warn({ count: Number(d.count), fromSeq: String(d.fromSeq), toSeq: String(d.toSeq) }, 'publishing loss record for events dropped while the buffer was full');
        this.offerLoss({ ...d, cause: 'CAPTURE_BUFFER' });
      }
    }
  }

  /**
   * After a failed request: a producer whose sequence or epoch the broker refuses for good is
   * replaced, and the same request goes again under the new producer id (the refused request was
   * not written: the broker checks the sequence before it appends). A topic still unknown a few
   * seconds on, or a replaced producer, may mean the cluster itself was replaced: the topics are
   * made again. Failures here are logged and left to the next round.
   */
  private async recover(c: KafkaCondition, since: number): Promise<void> {
    try {
      if (c.kind === 'reset' && this.opts.renewProducer) {
        this.log.warn({ condition: c.type }, `the broker refuses this producer for good (${c.type}): starting a new idempotent producer; the unacknowledged request goes again under it`);
        this.producer = await this.opts.renewProducer();
        countProducerReset('capture raw producer');
      }
      if ((c.kind === 'reset' || (c.type === 'UNKNOWN_TOPIC_OR_PARTITION' && Date.now() - since > UNKNOWN_TOPIC_REPAIR_MS)) && this.opts.repairTopics) {
        await this.opts.repairTopics();
      }
    } catch (err) {
      this.log.debug({ err }, 'producer or topic repair failed; the next retry tries again');
    }
  }

  private pendingCount(): number {
    return this.urgent.length + this.queue.length - this.head;
  }

  /** Resolves when everything buffered so far has been sent (or rejects at the timeout). */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.pendingCount() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.drained.push(() => { clearTimeout(t); resolve(true); });
      this.kick();
    });
  }

  /** Flush, then stop. Returns how many events could not be sent (logged as lost). */
  async stop(flushTimeoutMs = 10_000): Promise<number> {
    const ok = this.running ? await this.flush(flushTimeoutMs) : this.pendingCount() === 0;
    this.running = false;
    this.kick();
    const unsent = this.pendingCount();
    if (!ok || unsent > 0) {
      this.log.error({ unsent, dropped: this.counters.dropped }, 'stopping with unsent raw events: they are lost');
      return unsent;
    }
    await this.loop;
    return 0;
  }

  stats(): PublisherStats {
    return { ...this.counters, buffered: this.queue.length - this.head, bufferedBytes: this.bytes };
  }
}

/**
 * How many of items[from, from + most) fit in a request that already holds `taken`
 * events of `bytes` bytes (key + value, uncompressed): the request never passes
 * `limit`, except that an empty one takes its first event whatever its size.
 */
function fitCount(items: readonly Pending[], from: number, most: number, bytes: number, limit: number, taken: number): number {
  let n = 0;
  while (n < most) {
    const p = items[from + n]!;
    bytes += p.value.length + p.key.length;
    if (bytes > limit && n + taken > 0) break;
    n++;
  }
  return n;
}
