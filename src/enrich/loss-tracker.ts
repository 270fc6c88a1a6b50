// SPDX-License-Identifier: Apache-2.0
// Enrich's loss accounting. Capture partitions the raw topic by node, so one partition holds
// each capture instance's whole sequence, in publish order. A hole in the sequence is
// declared lost (SEQUENCE_GAP) once `window` later seqs of that instance have been seen, or
// at flush (idle, or the end of a replay). The decision depends only on the order of records,
// so a replay of the same range reports the same losses with the same eventIds.
// Capture's own loss records (ring buffer, capture buffer) cover their ranges; a range that was
// already declared is not reported twice. When capture announces that an earlier instance ended
// (CAPTURE_RESTART, see src/capture/instance-state.ts), that instance's open holes are declared,
// and where its sequence stopped comes from what this partition held: enrich saw the topic.
import type { CaptureLoss } from '../schema/types.js';
import type { LossInfo } from './audit.js';

interface Hole { from: bigint; to: bigint; firstTime: bigint | null; lastTime: bigint }

interface Stream {
  node: string;
  instance: string;
  next: bigint;
  lastTime: bigint;
  /** seqs seen above `next` (small: events reorder across CPUs by a few) */
  ahead: Map<bigint, bigint>;
  /** seen since the oldest open hole appeared */
  sinceHole: number;
  /** ranges already reported, newest last (bounded) */
  reported: Array<[bigint, bigint]>;
}

/** Ended instances remembered, so a repeated announcement is reported once. */
const ENDED_MAX = 4096;

export class LossTracker {
  private streams = new Map<string, Stream>();
  private ended = new Set<string>();

  constructor(private readonly window = 10_000) {}

  private key(partition: number, node: string, instance: string): string {
    return `${partition}|${node}|${instance}`;
  }

  /** A raw event; returns the losses it makes certain. */
  observe(partition: number, node: string, instance: string, seq: bigint, time: bigint): LossInfo[] {
    // Capture's seqs start at 1. A forged negative one could make a gap larger than an Avro long
    // (found by test/unit/fuzz-enrich-processor.test.ts): the LOSS record would never encode.
    if (seq < 1n) return [];
    const k = this.key(partition, node, instance);
    let s = this.streams.get(k);
    if (!s) {
      this.streams.set(k, { node, instance, next: seq + 1n, lastTime: time, ahead: new Map(), sinceHole: 0, reported: [] });
      return [];
    }
    if (seq < s.next || s.ahead.has(seq)) return []; // duplicate or a late arrival already declared
    if (seq === s.next) {
      s.next++;
      s.lastTime = time;
      while (s.ahead.has(s.next)) {
        s.lastTime = s.ahead.get(s.next)!;
        s.ahead.delete(s.next);
        s.next++;
      }
      if (s.ahead.size === 0) s.sinceHole = 0;
      return [];
    }
    s.ahead.set(seq, time);
    s.sinceHole++;
    return s.sinceHole > this.window ? this.declare(s) : [];
  }

  /** Capture's loss record: true when it should be reported (not already declared as a gap). */
  captureLoss(partition: number, c: CaptureLoss): boolean {
    const s = this.streams.get(this.key(partition, c.node, c.instance));
    if (!s) return true;
    const overlaps = s.reported.some(([a, b]) => c.fromSeq <= b && c.toSeq >= a);
    // Its seqs are accounted for: treat them as seen so they are not declared again.
    for (let q = c.fromSeq; q <= c.toSeq && q - c.fromSeq < 1_000_000n; q++) {
      if (q >= s.next && !s.ahead.has(q)) s.ahead.set(q, s.lastTime);
    }
    while (s.ahead.has(s.next)) {
      s.ahead.delete(s.next);
      s.next++;
    }
    if (s.ahead.size === 0) s.sinceHole = 0;
    if (!overlaps) this.remember(s, c.fromSeq, c.toSeq);
    return !overlaps;
  }

  /**
   * A capture instance ended (announced by its successor on the same node). Returns its open
   * holes, a gap between what this partition held and what capture last knew was acknowledged,
   * and the end itself (count unknown, so 0), in that order; nothing for a repeated announcement.
   */
  instanceEnded(partition: number, c: CaptureLoss): LossInfo[] {
    const k = this.key(partition, c.node, c.instance);
    if (this.ended.has(k)) return [];
    this.ended.add(k);
    if (this.ended.size > ENDED_MAX) this.ended.delete(this.ended.values().next().value as string);
    const s = this.streams.get(k);
    const out: LossInfo[] = [];
    // Seqs start at 1; toSeq = from - 1 must stay a long whatever a forged record says.
    let from = c.fromSeq < 1n ? 1n : c.fromSeq;
    let firstTime: bigint = c.firstTime;
    if (s) {
      if (s.ahead.size > 0) out.push(...this.declare(s));
      // Capture wrote these seqs as acknowledged (or reported), yet none reached this partition.
      if (s.next < from) {
        const f = s.next;
        const t = from - 1n;
        out.push({ node: s.node, instance: s.instance, fromSeq: f, toSeq: t, count: t - f + 1n, cause: 'SEQUENCE_GAP', time: c.time,
          firstTime: s.lastTime, lastTime: c.firstTime, eventId: `${s.node}:${s.instance}:gap:${f}-${t}` });
      }
      if (s.next > from) from = s.next;
      firstTime = s.lastTime > firstTime ? s.lastTime : firstTime;
      this.streams.delete(k);
    }
    out.push({ node: c.node, instance: c.instance, fromSeq: from, toSeq: from - 1n, count: 0n, cause: 'CAPTURE_RESTART', time: c.time,
      firstTime, lastTime: c.lastTime, eventId: c.eventId });
    return out;
  }

  /** Declare every open hole (idle timeout, end of a replay, shutdown). */
  flush(): LossInfo[] {
    const out: LossInfo[] = [];
    for (const s of this.streams.values()) if (s.ahead.size > 0) out.push(...this.declare(s));
    return out;
  }

  /** Forget the streams of partitions not in `keep` (revoked in a rebalance). */
  keepPartitions(keep: Set<number>): void {
    const gone = (k: string) => !keep.has(Number(k.slice(0, k.indexOf('|'))));
    for (const k of [...this.streams.keys()]) if (gone(k)) this.streams.delete(k);
    for (const k of [...this.ended]) if (gone(k)) this.ended.delete(k);
  }

  private declare(s: Stream): LossInfo[] {
    const holes: Hole[] = [];
    const seqs = [...s.ahead.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let expect = s.next;
    let before: bigint | null = s.lastTime;
    for (const q of seqs) {
      const t = s.ahead.get(q)!;
      if (q > expect) holes.push({ from: expect, to: q - 1n, firstTime: before, lastTime: t });
      expect = q + 1n;
      before = t;
    }
    s.next = expect;
    s.lastTime = before ?? s.lastTime;
    s.ahead.clear();
    s.sinceHole = 0;
    return holes.map((h) => {
      this.remember(s, h.from, h.to);
      return {
        node: s.node, instance: s.instance, fromSeq: h.from, toSeq: h.to, count: h.to - h.from + 1n, cause: 'SEQUENCE_GAP' as const,
        time: h.lastTime, firstTime: h.firstTime, lastTime: h.lastTime, eventId: `${s.node}:${s.instance}:gap:${h.from}-${h.to}`,
      };
    });
  }

  private remember(s: Stream, from: bigint, to: bigint): void {
    s.reported.push([from, to]);
    if (s.reported.length > 256) s.reported.shift();
  }

  /** A copy of the state, to roll back to when a transaction fails. */
  checkpoint(): { streams: Map<string, Stream>; ended: Set<string> } {
    const copy = new Map<string, Stream>();
    for (const [k, s] of this.streams) copy.set(k, { ...s, ahead: new Map(s.ahead), reported: [...s.reported] });
    return { streams: copy, ended: new Set(this.ended) };
  }

  rollback(cp: { streams: Map<string, Stream>; ended: Set<string> }): void {
    this.streams = cp.streams;
    this.ended = cp.ended;
  }
}
