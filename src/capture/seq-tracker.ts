// SPDX-License-Identifier: Apache-2.0
// Finds gaps in the kernel's sequence numbers. The kernel assigns seq before the ring
// buffer reserve, so a failed reserve leaves a hole; events from different CPUs can
// arrive slightly out of order, so a hole is only declared lost once it has been open
// longer than `graceMs` or more than `window` later events have arrived.

export interface SeqGap { fromSeq: bigint; toSeq: bigint; count: bigint }

export class SeqTracker {
  private next: bigint | undefined;
  /** seqs seen above `next`, waiting for the hole below them to fill */
  private ahead = new Set<bigint>();
  private holeSince = 0;

  constructor(
    private readonly opts: { window: number; graceMs: number; now?: () => number; first?: bigint } = { window: 8192, graceMs: 2000 },
  ) {
    // The kernel's counter starts at 1 with every load: a tracker that knows it also sees a
    // hole at the very start (the first events' reserves failed), which one that starts at
    // the first seq it is shown cannot.
    this.next = opts.first;
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** Record one seq; returns gaps that are now certain. */
  observe(seq: bigint): SeqGap[] {
    if (this.next === undefined) {
      this.next = seq + 1n;
      return [];
    }
    if (seq < this.next) return []; // late arrival of an already-declared gap, or a duplicate
    if (seq === this.next) {
      this.next++;
      while (this.ahead.delete(this.next)) this.next++;
      if (this.ahead.size === 0) this.holeSince = 0;
      else this.holeSince = this.now();
      return [];
    }
    if (this.ahead.size === 0) this.holeSince = this.now();
    this.ahead.add(seq);
    return this.ahead.size > this.opts.window ? this.flush() : [];
  }

  /** Call periodically: declares holes older than graceMs. */
  tick(): SeqGap[] {
    if (this.ahead.size > 0 && this.now() - this.holeSince >= this.opts.graceMs) return this.flush();
    return [];
  }

  /** Declare every open hole lost (on timeout, overflow, or shutdown). */
  flush(): SeqGap[] {
    if (this.next === undefined || this.ahead.size === 0) return [];
    const gaps: SeqGap[] = [];
    const sorted = [...this.ahead].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let expect = this.next;
    for (const s of sorted) {
      if (s > expect) gaps.push({ fromSeq: expect, toSeq: s - 1n, count: s - expect });
      expect = s + 1n;
    }
    this.next = expect;
    this.ahead.clear();
    this.holeSince = 0;
    return gaps;
  }

  get expected(): bigint | undefined {
    return this.next;
  }
}
