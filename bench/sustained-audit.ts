// SPDX-License-Identifier: Apache-2.0
// The reading end of bench/sustained.ts: a read_committed consumer of the audit topic that
// takes the wall clock as each batch arrives, before decoding it, and keeps, per generator
// cgroup path, how many records came, how many twice (same eventId), their attribution, and
// the latency from the connect's kernel time (the record's `time`) to that arrival.
import { randomBytes } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { Codec } from '../src/schema/codec.js';
import type { AuditRecord } from '../src/schema/types.js';

export interface PathAccount {
  records: number;
  duplicates: number;
  statuses: Map<string, number>;
  results: Map<string, number>;
}

export class AuditReader {
  /** per generator cgroup path */
  readonly byPath = new Map<string, PathAccount>();
  readonly losses: AuditRecord[] = [];
  /** latency samples: [arrival second since origin, ms] */
  readonly latencies: Array<[number, number]> = [];
  /** connect -> enrich's produce call (the audit message's CreateTime, ms resolution), ms */
  readonly toProduce: number[] = [];
  /** every audit record read, by arrival second since origin */
  readonly perSecond = new Map<number, number>();
  otherRecords = 0;
  total = 0;
  private readonly seen = new Set<string>();
  private readonly codec = new Codec();
  private consumer: Consumer | undefined;
  private readonly groupId = `bench-sustained-read-${randomBytes(4).toString('hex')}`;

  /** t0: wall-clock ms arrival seconds count from (setOrigin moves it once the start is known). */
  constructor(private readonly kafka: Kafka, private readonly topic: string, paths: string[], private t0: number) {
    for (const p of paths) this.byPath.set(p, { records: 0, duplicates: 0, statuses: new Map(), results: new Map() });
  }

  /** Re-counts what arrived so far (warm-up: other processes' records only) from a new origin. */
  setOrigin(t0: number): void {
    const shift = (sec: number) => Math.floor((sec * 1000 + this.t0 - t0) / 1000);
    const old = [...this.perSecond];
    this.perSecond.clear();
    for (const [sec, n] of old) this.perSecond.set(shift(sec), (this.perSecond.get(shift(sec)) ?? 0) + n);
    for (const l of this.latencies) l[0] = shift(l[0]);
    this.t0 = t0;
  }

  async start(): Promise<void> {
    this.consumer = this.kafka.consumer({ groupId: this.groupId, readUncommitted: false, sessionTimeout: 30_000, maxWaitTimeInMs: 500 });
    const joined = new Promise<void>((r) => this.consumer!.on(this.consumer!.events.GROUP_JOIN, () => r()));
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        // performance.timeOrigin + now(): the wall clock in ms with sub-ms resolution.
        const arrivalMs = performance.timeOrigin + performance.now();
        const sec = Math.floor((arrivalMs - this.t0) / 1000);
        this.perSecond.set(sec, (this.perSecond.get(sec) ?? 0) + batch.messages.length);
        for (const m of batch.messages) this.take(m.value!, arrivalMs, sec, Number(m.timestamp));
      },
    });
    // Joining takes seconds; the generators must not start before this reader reads.
    await joined;
  }

  private take(value: Buffer, arrivalMs: number, sec: number, createMs: number): void {
    this.total++;
    let r: AuditRecord;
    try {
      r = this.codec.decodeAs('AuditRecord', value);
    } catch {
      this.otherRecords++;
      return;
    }
    if (r.attribution.status === 'LOSS') {
      this.losses.push(r);
      return;
    }
    const acc = r.cgroup ? this.byPath.get(r.cgroup.path) : undefined;
    if (!acc) {
      this.otherRecords++;
      return;
    }
    if (this.seen.has(r.eventId)) {
      acc.duplicates++;
      return;
    }
    this.seen.add(r.eventId);
    acc.records++;
    acc.statuses.set(r.attribution.status, (acc.statuses.get(r.attribution.status) ?? 0) + 1);
    const res = r.result?.status ?? 'none';
    acc.results.set(res, (acc.results.get(res) ?? 0) + 1);
    const connectMs = Number(r.time / 1000n) / 1000;
    this.latencies.push([sec, arrivalMs - connectMs]);
    this.toProduce.push(createMs - connectMs);
  }

  /** generator records read so far */
  matched(): number {
    let n = 0;
    for (const a of this.byPath.values()) n += a.records;
    return n;
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    const admin = this.kafka.admin();
    await admin.connect().then(() => admin.deleteGroups([this.groupId])).catch(() => undefined).finally(() => admin.disconnect());
  }
}
