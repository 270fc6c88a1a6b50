// SPDX-License-Identifier: Apache-2.0
// Wires the kernel capture to a sink: the Kafka publisher, or stdout (--stdout). Converts
// kernel time to wall-clock time, stamps each event with node, instance and eventId, and
// turns sequence gaps the kernel left (failed ring-buffer reserves) into loss records.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../common/log.js';
import type { RawConnectEvent } from '../schema/types.js';
import { BootClock } from './clock.js';
import type { KernelCapture, KernelConnectEvent, NativeBinding } from './native.js';
import { SeqTracker, type SeqGap } from './seq-tracker.js';
import { toRawEvent } from './to-raw.js';

export interface RawSink {
  /** false when the event was dropped (and counted) */
  offer(raw: RawConnectEvent): boolean;
  offerLoss(l: SeqGap & { cause: 'KERNEL_RING_BUFFER' }): void;
}

export interface CaptureServiceOptions {
  node: string;
  /** default: 8 random hex digits per start, since the kernel sequence restarts too */
  instance?: string;
  gapGraceMs?: number;
}

export function newInstanceId(): string {
  return randomBytes(4).toString('hex');
}

export class CaptureService {
  readonly instance: string;
  private readonly clock: BootClock;
  private readonly seq = new SeqTracker({ window: 65_536, graceMs: 2_000 });
  private timer: NodeJS.Timeout | undefined;
  events = 0;
  kernelGaps = 0n;

  constructor(
    private readonly kernel: KernelCapture,
    binding: Pick<NativeBinding, 'clock'>,
    private readonly sink: RawSink,
    private readonly opts: CaptureServiceOptions,
    private readonly log: Logger,
  ) {
    this.instance = opts.instance ?? newInstanceId();
    this.clock = new BootClock(binding);
  }

  start(): { attachMode: string } {
    const ctx = { node: this.opts.node, instance: this.instance, toWallNs: (ns: bigint) => this.clock.toWallNs(ns) };
    const r = this.kernel.start((events: KernelConnectEvent[]) => {
      for (const e of events) {
        this.events++;
        this.sink.offer(toRawEvent(e, ctx));
        this.report(this.seq.observe(e.seq));
      }
    });
    this.timer = setInterval(() => this.report(this.seq.tick()), 500);
    this.timer.unref();
    this.log.info({ node: this.opts.node, instance: this.instance, attachMode: r.attachMode }, 'capture started');
    return r;
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
  }
}
