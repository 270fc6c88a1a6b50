// SPDX-License-Identifier: Apache-2.0
// Turns raw-topic messages into audit-topic and DLQ messages. No Kafka here, so the
// consumer-group stage, replay and the benchmark share it. Nothing is ever lost: a record
// that cannot be decoded goes to the DLQ with the error in its headers; one that cannot
// be attributed goes out UNRESOLVED with the reason.
import PQueue from 'p-queue';
import { DecodeError, errMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Codec, Decoded } from '../schema/codec.js';
import type { AuditDnsLookup, AuditRecord, CaptureLoss, DnsLookup, RawConnectEvent } from '../schema/types.js';
import { AttributionCache, type PathPlan } from './attribution-cache.js';
import type { Attribution } from './attribute.js';
import { AuditTranscoder, TranscodedAudit, type RawFields } from './transcode.js';
import { auditFromLookup, auditFromRaw, lossAudit, lossFromCapture } from './audit.js';
import type { DestinationJoin } from './dst-join.js';
import { LossTracker } from './loss-tracker.js';
import type { MetadataResolver, ResolveResult } from '../runtime/types.js';

export interface InMessage {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp?: string;
}

export type OutMessage =
  | { kind: 'audit'; key: Buffer | string | null; value: Buffer; record: AuditRecord | AuditDnsLookup }
  | { kind: 'dlq'; key: Buffer | null; value: Buffer | null; headers: Record<string, string>; error: string };

/** Records processed between two pauses for I/O (processBatch). */
export const PROCESS_SLICE = 1024;

/** Metadata lookups in flight (`podtrail enrich --concurrency`). */
export const DEFAULT_CONCURRENCY = 64;

export interface ProcessorOptions {
  concurrency: number;
  /** later seqs seen before a hole in a capture instance's sequence is declared lost */
  gapWindow?: number;
  /** reads Confluent-framed records too (--schema-registry) */
  confluent?: { decode(buf: Buffer): Decoded | Promise<Decoded> };
  /** how audit records are framed (default: single-object encoding) */
  encodeAudit?: (rec: AuditRecord) => Buffer;
  /** how attributed DNS lookups are framed (default: single-object encoding) */
  encodeLookup?: (rec: AuditDnsLookup) => Buffer;
  /** dst.pod, dst.service and dst.scope from the containers topic; none when not given */
  destinations?: DestinationJoin;
  /** source topic, for DLQ headers */
  topic: string;
}

export const DLQ_HEADERS = {
  error: 'podtrail-error',
  code: 'podtrail-error-code',
  topic: 'podtrail-source-topic',
  partition: 'podtrail-source-partition',
  offset: 'podtrail-source-offset',
  stage: 'podtrail-stage',
} as const;

export interface ProcessorStats {
  in: number;
  audit: number;
  dlq: number;
  byStatus: Record<string, number>;
  /** "<status>|<source>" -> count, for the resolution-outcome metric */
  byOutcome: Record<string, number>;
}

export class EnrichProcessor {
  private readonly queue: PQueue;
  readonly stats: ProcessorStats = { in: 0, audit: 0, dlq: 0, byStatus: {}, byOutcome: {} };

  constructor(
    private readonly codec: Codec,
    private readonly resolver: MetadataResolver,
    private readonly opts: ProcessorOptions,
    private readonly log: Logger,
  ) {
    this.queue = new PQueue({ concurrency: opts.concurrency });
    this.losses = new LossTracker(opts.gapWindow ?? 4096);
    // Single-object framing only: a custom audit encoder (Confluent framing) takes the general path.
    const fast = opts.encodeAudit ? undefined : AuditTranscoder.create(codec);
    this.fast = fast && (!opts.destinations || fast.joinsDst) ? fast : undefined;
    if (!this.fast && !opts.encodeAudit) log.warn('schemas do not line up for the transcoding fast path; decoding every record');
    this.dst = opts.destinations;
  }

  private readonly fast: AuditTranscoder | undefined;
  private readonly dst: DestinationJoin | undefined;

  private readonly losses: LossTracker;
  private readonly attribution = new AttributionCache();

  /**
   * Process a partition's batch; output order follows input order, with any LOSS record
   * placed before the record that revealed it. An input may have no output (a capture loss
   * record already reported as a gap).
   */
  async processBatch(partition: number, messages: InMessage[]): Promise<OutMessage[]> {
    const slots = new Array<OutMessage | OutMessage[] | null>(messages.length).fill(null);
    const jobs: Array<Promise<void>> = [];
    for (let i = 0; i < messages.length; i++) {
      // The stage commits the previous batch while this one is processed, on this thread: without
      // a pause its next broker request waits for the whole batch (tens of ms per 4 MiB fetch).
      if (i % PROCESS_SLICE === PROCESS_SLICE - 1) await new Promise<void>((r) => setImmediate(r));
      const m = messages[i] as InMessage;
      if (this.fast && m.value && !(this.opts.confluent && m.value[0] === 0x00)) {
        const f = this.fast.read(m.value);
        if (f) {
          this.transcode(partition, m, f, (o) => { slots[i] = o; }, jobs);
          continue;
        }
      }
      const r = this.prepare(partition, m, this.opts.confluent && m.value?.[0] === 0x00 ? await this.preDecode(m) : undefined);
      if ('done' in r) {
        slots[i] = r.done;
        continue;
      }
      if ('lookup' in r) {
        this.lookupRecord(partition, r.lookup, m, (o) => { slots[i] = o; }, jobs);
        continue;
      }
      const losses = this.losses.observe(partition, r.raw.node, r.raw.instance, r.raw.seq, r.raw.time);
      const lossOuts = losses.map((l) => this.auditOut(lossAudit(l), Buffer.from(`${l.node}/loss`)));
      // Cached metadata: no promise, no queue slot. The queue bounds lookups that do I/O.
      const now = this.enrichSync(r.raw);
      if (now !== undefined) {
        const o = this.auditOut(now, m.key);
        slots[i] = lossOuts.length ? [...lossOuts, o] : o;
        continue;
      }
      jobs.push(this.queue.add(async () => {
        const o = await this.finish(r.raw, m);
        slots[i] = lossOuts.length ? [...lossOuts, o] : o;
      }) as Promise<void>);
    }
    await Promise.all(jobs);
    const out: OutMessage[] = [];
    for (const x of slots) {
      if (x === null) continue;
      if (Array.isArray(x)) out.push(...x);
      else out.push(x);
    }
    this.stats.in += messages.length;
    // Counted per attribution object first: most events of a batch share a few decisions.
    const counts = new Map<{ status: string; source: string | null }, number>();
    for (const o of out) {
      if (o.kind === 'audit') {
        const att = o instanceof TranscodedAudit ? o.attribution : o.record.attribution;
        counts.set(att, (counts.get(att) ?? 0) + 1);
      } else this.stats.dlq++;
    }
    for (const [att, n] of counts) {
      this.stats.audit += n;
      this.stats.byStatus[att.status] = (this.stats.byStatus[att.status] ?? 0) + n;
      const k = `${att.status}|${att.source ?? ''}`;
      this.stats.byOutcome[k] = (this.stats.byOutcome[k] ?? 0) + n;
    }
    return out;
  }

  /** The fast path for a clean raw record of the current schema (transcode.ts): same result, no objects. */
  private transcode(partition: number, m: InMessage, f: RawFields, put: (o: OutMessage | OutMessage[]) => void, jobs: Array<Promise<void>>): void {
    const lost = this.losses.observe(partition, f.node, f.instance, f.seq, f.time);
    const lossOuts = lost.length ? lost.map((l) => this.auditOut(lossAudit(l), Buffer.from(`${l.node}/loss`))) : undefined;
    const done = (resolved: ResolveResult | null): void => {
      // The events of one container share f.memo: the last decision is usually this one.
      const memo = f.memo;
      let a = memo.a;
      if (a === undefined || memo.resolved !== resolved || memo.node !== f.node) {
        a = this.attribution.attribute(f, plan, resolved);
        memo.a = a;
        memo.resolved = resolved;
        memo.node = f.node;
      }
      const dst = this.dst ? this.fast!.joinDst(m.value!, f, this.dst) : undefined;
      const o = new TranscodedAudit(m.key, this.fast!.write(m.value!, f, a, dst), a, this.codec);
      put(lossOuts ? [...lossOuts, o] : o);
    };
    const plan = (f.memo.plan ??= this.attribution.plan(f.cgroupPath));
    const look = plan.lookup;
    if (!look) return done(null);
    const hit = this.resolver.peek?.(look.containerId, look.hint, f.time);
    if (hit !== undefined) return done(hit);
    jobs.push(this.queue.add(async () => done(await this.lookup(plan, f.time))) as Promise<void>);
  }

  /** The resolver's answer; a resolver that throws (they should not) still lets the record out. */
  private async lookup(plan: PathPlan, at: bigint): Promise<ResolveResult | null> {
    if (!plan.lookup) return null;
    try {
      return await this.resolver.resolve(plan.lookup.containerId, plan.lookup.hint, at);
    } catch (err) {
      this.log.error({ err }, 'metadata resolver threw; attributing without metadata');
      return { ok: false, reason: `resolver error: ${errMessage(err)}`, code: 'IO' };
    }
  }

  /** Declare every open sequence hole now (end of a replay, shutdown). */
  flushLosses(): OutMessage[] {
    return this.losses.flush().map((l) => this.auditOut(lossAudit(l), Buffer.from(`${l.node}/loss`)));
  }

  /** Loss-tracking state, to restore when a transaction fails and its batch comes again. */
  checkpoint(): ReturnType<LossTracker['checkpoint']> {
    return this.losses.checkpoint();
  }

  rollback(cp: ReturnType<LossTracker['checkpoint']>): void {
    this.losses.rollback(cp);
  }

  keepPartitions(partitions: Set<number>): void {
    this.losses.keepPartitions(partitions);
  }

  /**
   * A DNS lookup, attributed like a connect, its server joined like a destination. Its seq is
   * capture's DNS sequence, not the connects' (most DNS records, queries and folded repeats,
   * never become a raw record, so that sequence has holes by design): it stays out of the
   * connect loss accounting. DNS records the kernel could not deliver are capture's
   * podtrail_capture_dns_kernel_drops_total.
   */
  private lookupRecord(_partition: number, l: DnsLookup, m: InMessage, put: (o: OutMessage | OutMessage[]) => void, jobs: Array<Promise<void>>): void {
    const emit = (a: Attribution) => {
      const rec = auditFromLookup(l, a);
      if (this.dst) rec.dst = this.dst.endpoint(l.dst, l.time);
      const value = this.opts.encodeLookup ? this.opts.encodeLookup(rec) : this.codec.encode('AuditDnsLookup', rec);
      put({ kind: 'audit', key: m.key, value, record: rec });
    };
    const id = identity(l);
    const plan = this.attribution.plan(l.cgroup.path);
    if (!plan.lookup) return emit(this.attribution.attribute(id, plan, null));
    const hit = this.resolver.peek?.(plan.lookup.containerId, plan.lookup.hint, l.time);
    if (hit !== undefined) return emit(this.attribution.attribute(id, plan, hit));
    jobs.push(this.queue.add(async () => emit(this.attribution.attribute(id, plan, await this.lookup(plan, l.time)))) as Promise<void>);
  }

  private auditOut(rec: AuditRecord, key: Buffer | string | null): OutMessage {
    return { kind: 'audit', key, value: this.encode(rec), record: rec };
  }

  private encode(rec: AuditRecord): Buffer {
    return this.opts.encodeAudit ? this.opts.encodeAudit(rec) : this.codec.encode('AuditRecord', rec);
  }

  /** Confluent-framed records may need the registry (async); ours never do. */
  private async preDecode(m: InMessage): Promise<Decoded | DecodeError | undefined> {
    if (!this.opts.confluent || !m.value || m.value[0] !== 0x00) return undefined;
    try {
      return await this.opts.confluent.decode(m.value);
    } catch (err) {
      if (err instanceof DecodeError) return err;
      throw err; // a registry that does not answer: retry the batch, never DLQ good data
    }
  }

  /** A capture instance's end: its open holes, then one LOSS whose count nobody knows. */
  private instanceEnded(partition: number, c: CaptureLoss): OutMessage[] {
    return this.losses.instanceEnded(partition, c).map((l) => {
      const rec = lossAudit(l);
      if (l.cause === 'CAPTURE_RESTART') {
        rec.attribution.reason = `capture instance ${l.instance} on ${l.node} ended: its connections from seq ${l.fromSeq} on, and those made until the next instance attached, were not recorded (how many is unknown)`;
      }
      return this.auditOut(rec, Buffer.from(`${l.node}/loss`));
    });
  }

  private prepare(partition: number, m: InMessage, pre?: Decoded | DecodeError): { done: OutMessage | OutMessage[] | null } | { raw: RawConnectEvent } | { lookup: DnsLookup } {
    if (pre instanceof DecodeError) return { done: this.dlq(partition, m, pre.code, pre.message) };
    if (!m.value || m.value.length === 0) return { done: this.dlq(partition, m, 'EMPTY', 'empty message value') };
    let d;
    try {
      d = pre ?? this.codec.decode(m.value);
    } catch (err) {
      if (err instanceof DecodeError) return { done: this.dlq(partition, m, err.code, err.message) };
      return { done: this.dlq(partition, m, 'INVALID', `decode failed: ${errMessage(err)}`) };
    }
    switch (d.schema) {
      case 'RawConnectEvent':
        return { raw: d.value };
      case 'DnsLookup':
        return { lookup: d.value };
      case 'CaptureLoss': {
        if (d.value.cause === 'CAPTURE_RESTART') return { done: this.instanceEnded(partition, d.value) };
        // Already reported as a sequence gap: once is enough.
        if (!this.losses.captureLoss(partition, d.value)) return { done: null };
        return { done: this.auditOut(lossFromCapture(d.value), m.key) };
      }
      default:
        return { done: this.dlq(partition, m, 'UNEXPECTED_SCHEMA', `a ${d.schema} record does not belong on the raw topic`) };
    }
  }

  private async finish(raw: RawConnectEvent, m: InMessage): Promise<OutMessage> {
    const rec = await this.enrich(raw);
    return { kind: 'audit', key: m.key, value: this.encode(rec), record: rec };
  }

  /** One raw event to its audit record; never throws for bad metadata. */
  async enrich(raw: RawConnectEvent): Promise<AuditRecord> {
    const plan = this.attribution.plan(raw.cgroup.path);
    return this.joined(auditFromRaw(raw, this.attribution.attribute(identity(raw), plan, await this.lookup(plan, raw.time))), raw);
  }

  /** The audit record with its destination joined, when the join is on. */
  private joined(rec: AuditRecord, raw: RawConnectEvent): AuditRecord {
    if (this.dst) rec.dst = this.dst.endpoint(raw.dst, raw.time);
    return rec;
  }

  /** enrich() when the resolver can answer from its cache right now, else undefined. */
  private enrichSync(raw: RawConnectEvent): AuditRecord | undefined {
    const plan = this.attribution.plan(raw.cgroup.path);
    let resolved: ResolveResult | null = null;
    if (plan.lookup) {
      if (!this.resolver.peek) return undefined;
      const r = this.resolver.peek(plan.lookup.containerId, plan.lookup.hint, raw.time);
      if (r === undefined) return undefined;
      resolved = r;
    }
    return this.joined(auditFromRaw(raw, this.attribution.attribute(identity(raw), plan, resolved)), raw);
  }

  private dlq(partition: number, m: InMessage, code: string, error: string): OutMessage {
    return {
      kind: 'dlq', key: m.key, value: m.value, error,
      headers: {
        [DLQ_HEADERS.error]: error,
        [DLQ_HEADERS.code]: code,
        [DLQ_HEADERS.topic]: this.opts.topic,
        [DLQ_HEADERS.partition]: String(partition),
        [DLQ_HEADERS.offset]: m.offset,
        [DLQ_HEADERS.stage]: 'enrich',
      },
    };
  }
}

const identity = (raw: RawConnectEvent | DnsLookup) => ({ cgroupPath: raw.cgroup.path, utsName: raw.utsName, netns: raw.netns, node: raw.node });
