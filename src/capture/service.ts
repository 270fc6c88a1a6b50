// SPDX-License-Identifier: Apache-2.0
// Wires the kernel capture to a sink: the Kafka publisher, or stdout (--stdout). Converts
// kernel time to wall-clock time, stamps each event with node, instance and eventId, and
// turns sequence gaps the kernel left (failed ring-buffer reserves) into loss records.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../common/log.js';
import type { DnsLookup, RawConnectEvent } from '../schema/types.js';
import { BootClock } from './clock.js';
import type { KernelCapture, KernelConnectEvent, NativeBinding } from './native.js';
import { SeqTracker, type SeqGap } from './seq-tracker.js';
import { toRawEvent } from './to-raw.js';
import { LRUCache } from 'lru-cache';
import { planLookup } from '../runtime/cgroup-path.js';
import type { RuntimeHint } from '../runtime/types.js';
import type { MetadataPublisher } from './metadata-publisher.js';
import { ProcessTable, type ProcessTableOptions } from './process-table.js';
import { identityOf } from './proc-identity.js';
import { DnsCapture, type DnsCaptureOptions } from './dns-capture.js';
import { toRawLookup } from './to-lookup.js';

export interface RawSink {
  /** false when the event was dropped (and counted) */
  offer(raw: RawConnectEvent): boolean;
  offerLoss(l: SeqGap & { cause: 'KERNEL_RING_BUFFER' }): void;
  /** a DNS lookup record (DNS capture on); sinks without it drop lookups */
  offerLookup?(l: DnsLookup): void;
}

export interface CaptureServiceOptions {
  node: string;
  /** resolve and publish container metadata before a container's first raw event */
  metadata?: MetadataPublisher;
  /** how long a raw event may wait for its container's metadata (ms) */
  metadataWaitMs?: number;
  /** events held at most while waiting for metadata; beyond this they go out at once */
  maxHeld?: number;
  /** default: 8 random hex digits per start, since the kernel sequence restarts too */
  instance?: string;
  gapGraceMs?: number;
  /**
   * Executable, argv, parent and ancestry on every event, from a process table the kernel's
   * exec, fork and exit records keep and /proc seeds (default on). Off, the records carry
   * only what the connect record holds (the process key and DELETED among them).
   */
  processIdentity?: boolean;
  processTable?: ProcessTableOptions;
  /** where /proc is read to seed the table (default /proc) */
  procRoot?: string;
  /** names for connects and lookup records, from the kernel's DNS packets (KernelCapture with dns on) */
  dns?: Partial<DnsCaptureOptions>;
}

export function newInstanceId(): string {
  return randomBytes(4).toString('hex');
}

export class CaptureService {
  readonly instance: string;
  private readonly clock: BootClock;
  private readonly seq = new SeqTracker({ window: 65_536, graceMs: 2_000, first: 1n });
  private timer: NodeJS.Timeout | undefined;
  events = 0;
  kernelGaps = 0n;
  /** raw events waiting, in order, for their container's metadata to be offered */
  private held: Array<{ raw: RawConnectEvent; wait: Promise<void> | undefined }> = [];
  private draining = false;
  /** undefined when processIdentity is off */
  readonly processes: ProcessTable | undefined;
  /** undefined when DNS capture is off */
  readonly dns: DnsCapture | undefined;
  private lastDnsSweep = 0;
  private readonly lookups = new LRUCache<string, { containerId: string; hint: RuntimeHint | undefined } | false>({ max: 65_536 });

  constructor(
    private readonly kernel: KernelCapture,
    binding: Pick<NativeBinding, 'clock'>,
    private readonly sink: RawSink,
    private readonly opts: CaptureServiceOptions,
    private readonly log: Logger,
  ) {
    this.instance = opts.instance ?? newInstanceId();
    this.clock = new BootClock(binding);
    this.processes = opts.processIdentity === false ? undefined : new ProcessTable(opts.processTable);
    this.dns = opts.dns ? new DnsCapture((ns) => this.clock.toWallNs(ns), opts.dns) : undefined;
  }

  start(): { attachMode: string } {
    const ctx = { node: this.opts.node, instance: this.instance, toWallNs: (ns: bigint) => this.clock.toWallNs(ns) };
    const table = this.processes;
    const dns = this.dns;
    // The kernel hands over a batch's process records and DNS packets before its connects, so
    // an exec is in the table, and an answer in the name table, before the connects after them.
    const r = this.kernel.start((events: KernelConnectEvent[]) => {
      for (const e of events) {
        this.events++;
        const id = table ? identityOf(table, e.pid, e.procKeyNs) : undefined;
        this.emit(toRawEvent(e, ctx, id, dns?.forConnect(e, ctx.toWallNs(e.bootNs))));
        this.report(this.seq.observe(e.seq));
      }
    }, table ? (recs) => { for (const p of recs) table.apply(p); } : undefined,
    dns ? (recs) => {
      for (const l of dns.onRecords(recs)) {
        const id = table ? identityOf(table, l.owner.tgid, l.procKeyNs) : undefined;
        this.sink.offerLookup?.(toRawLookup(l, ctx, dns.opts.dedupMs, id));
      }
    } : undefined);
    if (table) {
      // After attach, so that no exec falls between the scan and the probes.
      const seeded = table.seedFromProc(this.opts.procRoot);
      this.log.info({ processes: seeded }, 'process table seeded from /proc');
    }
    let ticks = 0;
    this.timer = setInterval(() => {
      this.report(this.seq.tick());
      // Every 5 s: ~one syscall per program, too many for every tick.
      if (++ticks % 10 === 0) this.kernel.checkSkippedRuns?.();
      // Expired names and stale queries: every 10 s is plenty for tables bounded by size anyway.
      if (dns && Date.now() - this.lastDnsSweep >= 10_000) {
        this.lastDnsSweep = Date.now();
        dns.sweep(BigInt(Date.now()) * 1_000_000n);
      }
    }, 500);
    this.timer.unref();
    this.log.info({ node: this.opts.node, instance: this.instance, attachMode: r.attachMode }, 'capture started');
    return r;
  }

  private emit(raw: RawConnectEvent): void {
    const meta = this.opts.metadata;
    let wait: Promise<void> | undefined;
    if (meta) {
      let plan = this.lookups.get(raw.cgroup.path);
      if (plan === undefined) {
        plan = planLookup(raw.cgroup.path) ?? false;
        this.lookups.set(raw.cgroup.path, plan);
      }
      if (plan && !meta.isKnown(plan.containerId)) {
        const ms = this.opts.metadataWaitMs ?? 1000;
        wait = Promise.race([meta.ensure(plan.containerId, plan.hint, raw.cgroup.path), new Promise<void>((r) => setTimeout(r, ms).unref())]);
      }
    }
    if (!wait && this.held.length === 0) {
      this.sink.offer(raw);
      return;
    }
    if (this.held.length >= (this.opts.maxHeld ?? 50_000)) {
      // Never grow without bound: release in order, metadata or not (enrich waits for it).
      for (const h of this.held.splice(0)) this.sink.offer(h.raw);
      this.sink.offer(raw);
      return;
    }
    this.held.push({ raw, wait });
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.held.length > 0) {
        const head = this.held[0]!;
        if (head.wait) await head.wait;
        this.held.shift();
        this.sink.offer(head.raw);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Events still held for metadata; stop() releases them. */
  get heldCount(): number {
    return this.held.length;
  }

  private report(gaps: SeqGap[]): void {
    for (const g of gaps) {
      this.kernelGaps += g.count;
      this.log.warn({ fromSeq: String(g.fromSeq), toSeq: String(g.toSeq), count: Number(g.count) }, 'kernel dropped events (ring buffer full)');
      this.sink.offerLoss({ ...g, cause: 'KERNEL_RING_BUFFER' });
    }
  }

  /** Stops the kernel side; events already queued are delivered before this returns. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.kernel.stop();
    this.report(this.seq.flush());
    this.kernel.checkSkippedRuns?.();
  }

  /** After stop(): wait for held events to be released to the sink. */
  async drained(): Promise<void> {
    while (this.held.length > 0 || this.draining) await new Promise((r) => setTimeout(r, 10));
  }
}
