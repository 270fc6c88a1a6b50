// SPDX-License-Identifier: Apache-2.0
// Figures and files of bench/sustained.ts: per-second CSV (stage CPU and RSS, rates, latency
// percentiles), window totals (CPU per 1k events/s), and the PNG drawn by sustained-plot.py.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { Sample } from './sustained-sampler.js';
import type { Generator } from './sustained-world.js';

export const STAGES = ['capture', 'enrich', 'broker'] as const;

/** Nearest-rank percentile of an ascending array. */
export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface StageFigures { cpuMeanPct: number; rssMeanMiB: number; rssMaxMiB: number; cpuPctPer1k: number; usPerEvent: number }

export interface WindowFigures { seconds: number; rawEvents: number; rawRate: number; hostBusyMeanPct: number; stages: Record<string, StageFigures | undefined> }

/** Totals over the generators' run [0, duration]: the samples nearest its ends. */
export function windowFigures(samples: Sample[], duration: number): WindowFigures {
  const inWin = samples.filter((s) => s.t >= 0 && s.t <= duration + 0.5 && Number.isFinite(s.rawEnd));
  const a = inWin[0];
  const b = inWin[inWin.length - 1];
  if (!a || !b || b.t <= a.t) throw new Error(`too few samples in the window (${inWin.length})`);
  const seconds = b.t - a.t;
  const rawEvents = b.rawEnd - a.rawEnd;
  const rawRate = rawEvents / seconds;
  const stages: WindowFigures['stages'] = {};
  for (const st of STAGES) {
    const pa = a.procs[st];
    const pb = b.procs[st];
    const all = inWin.map((s) => s.procs[st]).filter((x) => x !== undefined);
    if (!pa || !pb || all.length === 0) continue;
    const cpuSec = pb.cpuSeconds - pa.cpuSeconds;
    stages[st] = {
      cpuMeanPct: (cpuSec / seconds) * 100,
      rssMeanMiB: all.reduce((n, x) => n + x.rssMiB, 0) / all.length,
      rssMaxMiB: Math.max(...all.map((x) => x.rssMiB)),
      // % of one core that 1000 events/s cost this stage
      cpuPctPer1k: rawEvents > 0 ? ((cpuSec / seconds) * 100) / (rawRate / 1000) : NaN,
      usPerEvent: rawEvents > 0 ? (cpuSec / rawEvents) * 1e6 : NaN,
    };
  }
  const hostBusyMeanPct = inWin.reduce((n, s) => n + s.hostBusyPct, 0) / inWin.length;
  return { seconds, rawEvents, rawRate, hostBusyMeanPct, stages };
}

const f = (n: number | undefined, d = 1) => (n === undefined || !Number.isFinite(n) ? '' : n.toFixed(d));

/** One row per sample second. */
export function timeseriesCsv(samples: Sample[], gens: Generator[], auditPerSecond: Map<number, number>, latencies: Array<[number, number]>): string {
  const latBySec = new Map<number, number[]>();
  for (const [s, ms] of latencies) {
    const l = latBySec.get(s);
    if (l) l.push(ms);
    else latBySec.set(s, [ms]);
  }
  for (const l of latBySec.values()) l.sort((x, y) => x - y);
  const genDone = new Map<number, number>();
  for (const g of gens) {
    let prev = 0;
    for (const p of g.progress) {
      const sec = Math.round(p.t);
      genDone.set(sec, (genDone.get(sec) ?? 0) + p.done - prev);
      prev = p.done;
    }
  }
  const cols = ['t_s', ...STAGES.flatMap((s) => [`${s}_cpu_pct`, `${s}_rss_mib`]), 'host_busy_pct', 'gen_connects_per_s', 'raw_events_per_s', 'audit_records_per_s', 'latency_p50_ms', 'latency_p99_ms'];
  const rows = [cols.join(',')];
  let prev: Sample | undefined;
  for (const s of samples) {
    const sec = Math.round(s.t);
    const rawRate = prev && Number.isFinite(prev.rawEnd) && Number.isFinite(s.rawEnd) ? (s.rawEnd - prev.rawEnd) / (s.t - prev.t) : NaN;
    const lat = latBySec.get(sec - 1) ?? [];
    rows.push([
      f(s.t, 2),
      ...STAGES.flatMap((st) => [f(s.procs[st]?.cpuPct), f(s.procs[st]?.rssMiB)]),
      f(s.hostBusyPct),
      String(genDone.get(sec) ?? 0),
      f(rawRate),
      String(auditPerSecond.get(sec - 1) ?? 0),
      f(pct(lat, 50), 2),
      f(pct(lat, 99), 2),
    ].join(','));
    prev = s;
  }
  return `${rows.join('\n')}\n`;
}

/** Draws the PNG with python3 + matplotlib; returns a note saying what happened. */
export async function plot(root: string, csv: string, png: string, title: string): Promise<string> {
  const py = process.env.PODTRAIL_PLOT_PYTHON ?? join(root, '.tmp', 'plot-venv', 'bin', 'python');
  if (!existsSync(py)) {
    return `no plot: ${py} missing (python3 -m venv .tmp/plot-venv && .tmp/plot-venv/bin/pip install matplotlib, or set PODTRAIL_PLOT_PYTHON)`;
  }
  try {
    await promisify(execFile)(py, [join(root, 'bench', 'sustained-plot.py'), csv, png, title], { timeout: 120_000 });
    return `plot: ${relative(root, png)}`;
  } catch (err) {
    return `no plot: ${(err as Error).message}`;
  }
}

export function writeText(path: string, text: string): void {
  writeFileSync(path, text);
}
