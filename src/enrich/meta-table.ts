// SPDX-License-Identifier: Apache-2.0
// The container metadata table, built by reading podtrail.containers.v1 from the beginning,
// so enrich can run anywhere and a replay months later sees what was true then. The join is
// point-in-time: a lookup takes the version valid at the event's time. Memory is bounded by
// a cap on containers (oldest evicted first, deleted ones before live ones).
import { randomBytes } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { DecodeError, errMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { retryKafka } from '../kafka/retry.js';
import type { Codec, Decoded } from '../schema/codec.js';
import type { ContainerMeta as MetaRecord } from '../schema/types.js';

export interface MetaTableOptions {
  topic: string;
  maxContainers: number;
  maxVersionsPerContainer: number;
}

export class MetaTable {
  private readonly byId = new Map<string, MetaRecord[]>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private readonly listeners: Array<(rec: MetaRecord) => void> = [];
  private consumer: Consumer | undefined;
  private caughtUpResolve!: () => void;
  readonly caughtUp: Promise<void> = new Promise((r) => (this.caughtUpResolve = r));
  private isCaughtUp = false;
  records = 0;
  undecodable = 0;
  evicted = 0;

  constructor(
    private readonly codec: Codec,
    private readonly opts: MetaTableOptions,
    private readonly log: Logger,
    /** reads Confluent-framed records too (--schema-registry) */
    private readonly decoder?: { decode(buf: Buffer): Decoded | Promise<Decoded> },
  ) {}

  get size(): number {
    return this.byId.size;
  }

  get ready(): boolean {
    return this.isCaughtUp;
  }

  /**
   * Calls `fn` with every record added from now on, duplicates included, before eviction:
   * indexes kept by other keys (the destination index, by pod IP) see every version.
   */
  onRecord(fn: (rec: MetaRecord) => void): void {
    this.listeners.push(fn);
  }

  add(rec: MetaRecord): void {
    this.records++;
    for (const fn of this.listeners) fn(rec);
    let versions = this.byId.get(rec.containerId);
    if (!versions) {
      versions = [];
      this.byId.set(rec.containerId, versions);
      this.evict();
    }
    // Same version delivered twice (a publisher restart, a replay of the topic): keep one.
    if (!versions.some((v) => v.time === rec.time && v.validFrom === rec.validFrom && v.deletedTime === rec.deletedTime)) {
      versions.push(rec);
      versions.sort((a, b) => (a.validFrom < b.validFrom ? -1 : a.validFrom > b.validFrom ? 1 : a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
      if (versions.length > this.opts.maxVersionsPerContainer) versions.splice(1, versions.length - this.opts.maxVersionsPerContainer);
    }
    const w = this.waiters.get(rec.containerId);
    if (w) {
      this.waiters.delete(rec.containerId);
      for (const f of w) f();
    }
  }

  private evict(): void {
    if (this.byId.size <= this.opts.maxContainers) return;
    let victim: string | undefined;
    for (const [id, v] of this.byId) {
      if (v[v.length - 1]?.deletedTime !== null) { victim = id; break; }
    }
    victim ??= this.byId.keys().next().value as string;
    this.byId.delete(victim);
    if (this.evicted++ === 0) this.log.warn({ max: this.opts.maxContainers }, 'container metadata table full: evicting the oldest entries (raise --meta-max-containers)');
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** The version valid at `at` (ns since the epoch): the last one whose validFrom <= at. */
  lookup(id: string, at?: bigint): MetaRecord | undefined {
    const versions = this.byId.get(id);
    if (!versions || versions.length === 0) return undefined;
    if (at === undefined) return versions[versions.length - 1];
    let pick = versions[0];
    for (const v of versions) {
      if (v.validFrom <= at) pick = v;
      else break;
    }
    return pick;
  }

  /** Resolves true when the container appears, false after `ms`. */
  waitFor(id: string, ms: number): Promise<boolean> {
    if (this.byId.has(id)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => { clearTimeout(t); resolve(true); };
      const t = setTimeout(() => {
        const list = this.waiters.get(id);
        const i = list?.indexOf(done) ?? -1;
        if (list && i >= 0) list.splice(i, 1);
        if (list && list.length === 0) this.waiters.delete(id);
        resolve(false);
      }, ms);
      let list = this.waiters.get(id);
      if (!list) this.waiters.set(id, (list = []));
      list.push(done);
    });
  }

  /** Consume the topic from the beginning (a throwaway group that never commits) and keep following it. */
  async start(kafka: Kafka): Promise<void> {
    const topic = this.opts.topic;
    // Right after the topic was made, its partitions can still answer NOT_LEADER or
    // UNKNOWN_TOPIC_OR_PARTITION to ListOffsets for a moment: retried, not fatal.
    const targets = await retryKafka(`read the end offsets of ${topic}`, async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        const offs = await admin.fetchTopicOffsets(topic);
        return new Map(offs.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }, this.log);
    const pending = new Set(targets.keys());
    const checkCaughtUp = () => {
      if (!this.isCaughtUp && pending.size === 0) {
        this.isCaughtUp = true;
        this.log.info({ containers: this.byId.size, records: this.records }, 'container metadata table caught up');
        this.caughtUpResolve();
      }
    };
    checkCaughtUp();
    this.consumer = kafka.consumer({ groupId: `podtrail-meta-${randomBytes(6).toString('hex')}`, readUncommitted: false, sessionTimeout: 30_000, maxWaitTimeInMs: 200 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (message.value) {
          try {
            const d = this.decoder ? await this.decoder.decode(message.value) : this.codec.decode(message.value);
            if (d.schema !== 'ContainerMeta') throw new DecodeError(`a ${d.schema} record does not belong on ${topic}`, 'INVALID');
            this.add(d.value);
          } catch (err) {
            this.undecodable++;
            if (!(err instanceof DecodeError)) throw err;
            this.log.warn({ topic, partition, offset: message.offset, error: errMessage(err) }, 'skipped undecodable container metadata record');
          }
        }
        const target = targets.get(partition);
        if (target !== undefined && BigInt(message.offset) + 1n >= target) {
          pending.delete(partition);
          checkCaughtUp();
        }
      },
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
  }
}
