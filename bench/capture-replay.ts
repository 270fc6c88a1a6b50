// SPDX-License-Identifier: Apache-2.0
// The user-space path alone: kernel batches recorded from the real ring buffer are
// replayed through KernelCapture (with a native stand-in), CaptureService and either a
// sink that only encodes, or RawPublisher producing to the broker as the CLI does. The
// kernel and the connect loop are out of the picture, so this is what JS sustains.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CONNECT_EVENT, CONSTANTS } from '../src/capture/event-layout.js';
import {
  KernelCapture,
  loadNativeBinding,
  type NativeCapture,
  type NativeCaptureOptions,
  type NativeStats,
  validateCaptureOptions,
} from '../src/capture/native.js';
import { PUBLISHER_DEFAULTS, RawPublisher } from '../src/capture/publisher.js';
import { CaptureService, type RawSink } from '../src/capture/service.js';
import { moduleLogger } from '../src/common/log.js';
import type { ICustomPartitioner } from 'kafkajs';
import { createKafka, IDEMPOTENT_RETRY } from '../src/kafka/client.js';
import { codec } from '../src/schema/codec.js';
import type { RawConnectEvent } from '../src/schema/types.js';

export interface Recording {
  batches: Buffer[];
  events: number;
}

/** Batches exactly as the native poller hands them over while the connect loop runs. */
export async function recordBatches(loopBin: string, seconds: number): Promise<Recording> {
  const binding = loadNativeBinding();
  const batches: Buffer[] = [];
  const { cgroupCacheSize: _unused, ...opts } = validateCaptureOptions({});
  const native = new binding.Capture(opts);
  native.start((buf) => batches.push(Buffer.from(buf)));
  try {
    await promisify(execFile)(loopBin, [String(seconds)]);
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    const rest = native.stop();
    if (Buffer.isBuffer(rest)) batches.push(Buffer.from(rest));
  }
  let events = 0;
  for (const b of batches) forEachConnect(b, () => events++);
  return { batches, events };
}

function forEachConnect(batch: Buffer, fn: (off: number) => void): void {
  for (let off = 0; off + 8 <= batch.length; ) {
    const len = batch.readUInt32LE(off);
    if (len === 0) break;
    if (batch.readUInt32LE(off + 8) === CONSTANTS.PT_REC_CONNECT) fn(off + 8);
    off += 8 + ((len + 7) & ~7);
  }
}

class ReplayNative implements NativeCapture {
  cb: ((b: Buffer, n: number) => void) | undefined;
  constructor(_o: NativeCaptureOptions) {}
  start(cb: (b: Buffer, n: number) => void) {
    this.cb = cb;
    return { attachMode: 'replay', attempts: [], programs: [] };
  }
  stop(): void {}
  stats(): NativeStats {
    return { ringReserveFails: [], cgroupReserveFails: [], pendingFull: [], inflightFull: [], pendingStale: [], procReserveFails: [], procTableFull: [], dnsReserveFails: [], dnsMarkFails: [], lastSeq: 0n, lastProcSeq: 0n, lastDnsSeq: 0n, recursionMisses: 0n, batches: 0n, records: 0n, swept: 0n, queueFullWaits: 0n, consumeErrors: 0n, droppedAtStop: 0n, running: true };
  }
  forgetCgroup(): boolean {
    return true;
  }
}

class EncodeOnlySink implements RawSink {
  bytes = 0;
  offer(raw: RawConnectEvent): boolean {
    this.bytes += codec().encode('RawConnectEvent', raw).length;
    return true;
  }
  offerLoss(): void {}
}

export interface ReplayResult {
  events: number;
  seconds: number;
  rate: number;
  dropped: number;
  /** this process's CPU (user + system, GC helper threads included) per event, us */
  cpuUs: number;
}

/**
 * Replays rec until `total` events went through. With a publisher, the feed waits while
 * more than a batch-worth is buffered, so the rate is what the whole path keeps up with.
 */
export interface ReplayTuning {
  maxBatch?: number;
  lingerMs?: number;
  compression?: 'gzip' | 'none';
  /** 'default': kafkajs's murmur2 over each event's key instead of the CLI's partitioner */
  partitioner?: 'cli' | 'default';
}

export async function replay(rec: Recording, total: number, brokers?: string[], topic?: string, tune: ReplayTuning = {}): Promise<ReplayResult> {
  if (rec.events === 0) throw new Error('replay: the recording holds no connect events');
  const log = moduleLogger('bench.replay');
  let fake!: ReplayNative;
  const kc = new KernelCapture(class extends ReplayNative {
    constructor(o: NativeCaptureOptions) {
      super(o);
      fake = this;
    }
  });
  const binding = loadNativeBinding();
  let publisher: RawPublisher | undefined;
  let disconnect = async () => {};
  let sink: RawSink = new EncodeOnlySink();
  if (brokers && topic) {
    const kafka = createKafka({ brokers, clientId: 'podtrail-bench', ssl: false });
    const admin = kafka.admin();
    await admin.connect();
    // As `podtrail capture` creates it (6 partitions); the producer never auto-creates.
    await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 1 }], waitForLeaders: true }).finally(() => admin.disconnect());
    const partitioner = tune.partitioner === 'default' ? {} : await nodePartitioner(topic, 'bench');
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: IDEMPOTENT_RETRY, ...partitioner });
    await producer.connect();
    disconnect = () => producer.disconnect();
    publisher = new RawPublisher(producer, codec(), {
      topic, node: 'bench', instance: 'replay',
      maxBufferedEvents: PUBLISHER_DEFAULTS.maxBufferedEvents, maxBufferedBytes: PUBLISHER_DEFAULTS.maxBufferedBytes,
      maxBatch: tune.maxBatch ?? PUBLISHER_DEFAULTS.maxBatch, lingerMs: tune.lingerMs ?? PUBLISHER_DEFAULTS.lingerMs,
      compression: tune.compression ?? PUBLISHER_DEFAULTS.compression,
    }, log);
    publisher.start();
    sink = publisher;
  }
  const svc = new CaptureService(kc, binding, sink, { node: 'bench', instance: 'replay' }, log);
  svc.start();
  let seq = 0n;
  let fed = 0;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  while (fed < total) {
    for (const b of rec.batches) {
      const copy = Buffer.from(b);
      let n = 0;
      forEachConnect(copy, (off) => {
        copy.writeBigUInt64LE(++seq, off + CONNECT_EVENT.seq);
        n++;
      });
      fake.cb!(copy, n);
      fed += n;
      if (fed >= total) break;
      // Let the producer's I/O run; hold the feed while a full batch or more waits.
      const since = Date.now();
      do {
        await new Promise((r) => setImmediate(r));
        if (Date.now() - since > 60_000) throw new Error('replay: the publisher made no progress for 60 s');
      } while (publisher && publisher.stats().buffered > (tune.maxBatch ?? PUBLISHER_DEFAULTS.maxBatch) * 2);
    }
  }
  if (publisher && !(await publisher.flush(120_000))) throw new Error('replay: the publisher did not drain in 120 s');
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  svc.stop();
  const dropped = publisher?.stats().dropped ?? 0;
  await publisher?.stop(10_000);
  await disconnect();
  return { events: fed, seconds, rate: fed / seconds, dropped, cpuUs: (cpu.user + cpu.system) / fed };
}

/** The CLI's raw-topic partitioner when this tree has one (it is newer than this bench). */
async function nodePartitioner(topic: string, node: string): Promise<{ createPartitioner?: ICustomPartitioner }> {
  try {
    const m = (await import(String(new URL('../src/kafka/partitioner.js', import.meta.url)))) as {
      nodePartitioner?: (t: string, n: string) => ICustomPartitioner;
    };
    return m.nodePartitioner ? { createPartitioner: m.nodePartitioner(topic, node) } : {};
  } catch {
    return {};
  }
}
