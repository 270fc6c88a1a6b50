// SPDX-License-Identifier: Apache-2.0
// Export over syslog. Offsets are committed only after the messages were written to the
// socket; while the server is away the batch waits (heartbeating, so the group keeps the
// partition) and is written once it is back: nothing is lost, though a batch cut by a
// dying connection is sent again from its start (at-least-once). Undecodable records are
// reported by the stage and skipped here.
import type { Logger } from '../common/log.js';
import { syslogMessage, type Facility } from './syslog-message.js';
import { SyslogError, SyslogSender } from './syslog-sender.js';
import type { BatchContext, Sink } from './stage.js';
import { nextOffset } from './stage.js';

export interface SyslogSinkOptions {
  facility: Facility;
  appName?: string;
  /** messages per write+commit step: bounds what a broken connection makes us resend */
  chunk?: number;
  retryMs?: number;
}

export class SyslogSink implements Sink {
  readonly stats = { skipped: 0, tooLarge: 0, retries: 0 };

  constructor(private readonly sender: SyslogSender, private readonly opts: SyslogSinkOptions, private readonly log: Logger) {}

  async start(): Promise<void> {
    // Connecting starts now; a server that is down only delays the first batch.
    await this.sender.ready(0);
  }

  async deliver(ctx: BatchContext): Promise<void> {
    this.stats.skipped += ctx.bad.length;
    const chunk = this.opts.chunk ?? 500;
    const msgs = ctx.items.map((i) => ({
      offset: i.offset,
      buf: syslogMessage({
        facility: this.opts.facility, severity: i.rendered.severity, timeNs: i.rendered.timeNs, hostname: i.rendered.node,
        appName: this.opts.appName ?? 'podtrail', msgId: i.rendered.msgId, msg: i.rendered.text,
      }),
    }));
    for (let i = 0; i < msgs.length; i += chunk) {
      const part = msgs.slice(i, i + chunk);
      if (!(await this.writeWithRetry(ctx, part.map((m) => m.buf)))) return;
      const last = part[part.length - 1]!.offset;
      await ctx.commit(nextOffset(last));
      ctx.resolve(last);
    }
    // Offsets past the last good record (bad ones at the end, or a batch of only bad ones).
    if (msgs[msgs.length - 1]?.offset !== ctx.lastOffset && ctx.live()) {
      await ctx.commit(nextOffset(ctx.lastOffset));
      ctx.resolve(ctx.lastOffset);
    }
  }

  /** false when the stage stops or loses the partition while waiting: commit nothing more. */
  private async writeWithRetry(ctx: BatchContext, bufs: Buffer[]): Promise<boolean> {
    for (;;) {
      if (!ctx.live()) return false;
      if (!(await this.sender.ready(this.opts.retryMs ?? 1000))) {
        await ctx.heartbeat();
        continue;
      }
      try {
        await this.sender.write(bufs);
        return true;
      } catch (err) {
        if (err instanceof SyslogError && err.code === 'TOO_LARGE') {
          // Only UDP refuses a size; send one by one and skip what cannot go.
          if (bufs.length === 1) throw err;
          return this.writeEachSkippingTooLarge(ctx, bufs);
        }
        if (!(err instanceof SyslogError) || !err.retriable) throw err;
        this.stats.retries++;
        this.log.warn({ err }, 'syslog write failed; waiting for the server');
        await new Promise((r) => setTimeout(r, this.opts.retryMs ?? 1000));
        await ctx.heartbeat();
      }
    }
  }

  private async writeEachSkippingTooLarge(ctx: BatchContext, bufs: Buffer[]): Promise<boolean> {
    for (const b of bufs) {
      try {
        if (!(await this.writeWithRetry(ctx, [b]))) return false;
      } catch (err) {
        if (!(err instanceof SyslogError) || err.code !== 'TOO_LARGE') throw err;
        this.stats.tooLarge++;
        this.log.warn({ bytes: b.length }, 'skipped a record too large for a UDP datagram');
      }
    }
    return true;
  }

  async stop(): Promise<void> {
    await this.sender.close();
  }
}
