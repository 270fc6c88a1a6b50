// SPDX-License-Identifier: Apache-2.0
// Kernel timestamps are CLOCK_BOOTTIME ns (bpf_ktime_get_boot_ns): they keep
// counting through suspend but know nothing of the epoch. The offset to
// CLOCK_REALTIME is measured from paired reads and refreshed now and then,
// since NTP steps and suspend move it.

export interface ClockSample {
  boottime: bigint;
  /** CLOCK_REALTIME read just before and just after boottime */
  realtimeBefore: bigint;
  realtimeAfter: bigint;
}

export interface ClockSource {
  clock(): ClockSample;
}

export interface BootClockOptions {
  /** paired reads per calibration; the tightest pair wins */
  samples?: number;
  /** recalibrate when the offset is older than this */
  recalibrateMs?: number;
  now?: () => number;
}

/** realtime - boottime, from the sample whose realtime reads were closest. */
export function measureOffset(src: ClockSource, samples = 7): bigint {
  let best: bigint | undefined;
  let bestWidth: bigint | undefined;
  for (let i = 0; i < Math.max(1, samples); i++) {
    const s = src.clock();
    const width = s.realtimeAfter - s.realtimeBefore;
    if (width < 0n) continue; // realtime stepped during the read
    if (bestWidth === undefined || width < bestWidth) {
      bestWidth = width;
      best = s.realtimeBefore + width / 2n - s.boottime;
    }
  }
  if (best === undefined) {
    const s = src.clock();
    best = s.realtimeAfter - s.boottime;
  }
  return best;
}

export function bootNsToWallNs(bootNs: bigint, offsetNs: bigint): bigint {
  return bootNs + offsetNs;
}

export class BootClock {
  private offset: bigint;
  private calibratedAt: number;
  private readonly samples: number;
  private readonly recalibrateMs: number;
  private readonly now: () => number;

  constructor(
    private readonly src: ClockSource,
    opts: BootClockOptions = {},
  ) {
    this.samples = opts.samples ?? 7;
    this.recalibrateMs = opts.recalibrateMs ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.offset = measureOffset(src, this.samples);
    this.calibratedAt = this.now();
  }

  get offsetNs(): bigint {
    return this.offset;
  }

  calibrate(): bigint {
    this.offset = measureOffset(this.src, this.samples);
    this.calibratedAt = this.now();
    return this.offset;
  }

  /** Wall-clock ns since the epoch for a kernel CLOCK_BOOTTIME timestamp. */
  toWallNs(bootNs: bigint): bigint {
    if (this.now() - this.calibratedAt >= this.recalibrateMs) this.calibrate();
    return bootNsToWallNs(bootNs, this.offset);
  }
}

/** "2026-11-30T02:27:57.612560689Z": RFC 3339 with all nine fraction digits. */
export function wallNsToIso(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const base = new Date(Number(ms)).toISOString(); // ...ss.mmmZ
  return `${base.slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}
