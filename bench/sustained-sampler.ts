// SPDX-License-Identifier: Apache-2.0
// Once a second: CPU and RSS of each watched process from /proc/<pid>/stat and status, the
// whole machine's busy share from /proc/stat (the machine is shared: this says how contended
// a second was), and the raw topic's end offset (every event capture published). Also finds
// a local broker's pid from its listening port, so any broker on this machine can be watched.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Admin } from 'kafkajs';

// USER_HZ: utime/stime in /proc/<pid>/stat are in these ticks; 100 on every Linux we run.
const TICKS = 100;

export interface ProcSample { rssMiB: number; cpuPct: number; cpuSeconds: number }

export interface Sample {
  /** seconds since the generators started (negative during warm-up) */
  t: number;
  procs: Record<string, ProcSample | undefined>;
  /** all processes on the machine, in % of one core (up to 100 x cores) */
  hostBusyPct: number;
  rawEnd: number;
}

function procStat(pid: number): { cpuTicks: number; rssKiB: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces or parentheses: fields start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuTicks: Number(f[11]) + Number(f[12]), rssKiB: rss ? Number(rss[1]) : 0 };
  } catch {
    return undefined;
  }
}

function hostTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** The pid holding a LISTEN socket on this TCP port, or undefined (a remote broker, say). */
export function pidListeningOn(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && parseInt(f[1]?.split(':')[1] ?? '', 16) === port && f[9]) inodes.add(`socket:[${f[9]}]`);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return Number(pid);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}

export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private last = new Map<string, { ticks: number; at: number }>();
  private lastHost = hostTicks();
  private busy = false;

  /** t0: wall-clock ms the generators start at; samples before it get negative t. */
  constructor(private readonly pids: Record<string, number | undefined>, private readonly admin: Admin, private readonly rawTopic: string, private readonly t0: number) {}

  start(): void {
    this.prime();
    this.timer = setInterval(() => void this.tick(), 1000);
  }

  private prime(): void {
    const now = performance.now();
    for (const [name, pid] of Object.entries(this.pids)) {
      const s = pid === undefined ? undefined : procStat(pid);
      if (s) this.last.set(name, { ticks: s.cpuTicks, at: now });
    }
    this.lastHost = hostTicks();
  }

  private async rawEnd(): Promise<number> {
    const offs = await this.admin.fetchTopicOffsets(this.rawTopic);
    return offs.reduce((n, p) => n + Number(p.high), 0);
  }

  private async tick(): Promise<void> {
    if (this.busy) return; // a slow offsets request must not pile up samples
    this.busy = true;
    try {
      const now = performance.now();
      const procs: Sample['procs'] = {};
      for (const [name, pid] of Object.entries(this.pids)) {
        const s = pid === undefined ? undefined : procStat(pid);
        const prev = this.last.get(name);
        if (!s) continue;
        const dt = prev ? (now - prev.at) / 1000 : 1;
        const cpuPct = prev ? ((s.cpuTicks - prev.ticks) / TICKS / dt) * 100 : 0;
        procs[name] = { rssMiB: s.rssKiB / 1024, cpuPct, cpuSeconds: s.cpuTicks / TICKS };
        this.last.set(name, { ticks: s.cpuTicks, at: now });
      }
      const h = hostTicks();
      const hostBusyPct = ((h.busy - this.lastHost.busy) / Math.max(1, h.total - this.lastHost.total)) * 100 * cpus().length;
      this.lastHost = h;
      const rawEnd = await this.rawEnd().catch(() => NaN);
      this.samples.push({ t: (Date.now() - this.t0) / 1000, procs, hostBusyPct, rawEnd });
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
