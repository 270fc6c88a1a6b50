// SPDX-License-Identifier: Apache-2.0
// The real `podtrail capture` CLI as a child process: started, watched through its
// JSON log lines on stderr, sampled through /proc, and stopped with a signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmdirSync } from 'node:fs';
import type { CgroupFixture } from './ns.js';
import { REPO_ROOT, spawnCli } from './cli.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface CaptureExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** the "capture stopped" log line, when it was printed */
  final: LogLine | undefined;
  logs: LogLine[];
  stderr: string;
  stdout: string;
}

/** VmHWM (peak resident set) of a live process, in KiB; undefined once it is gone. */
export function vmHwmKiB(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export class CaptureProc {
  readonly logs: LogLine[] = [];
  stderr = '';
  stdout = '';
  instance = '';
  attachMode = '';
  /** highest VmHWM seen by sample() */
  peakKiB = 0;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<() => void> = [];
  private gone = false;

  private constructor(readonly child: ChildProcess) {
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        try {
          this.logs.push(JSON.parse(l) as LogLine);
        } catch {
          // not a log line (a native warning, say): kept in stderr only
        }
      }
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.gone = true;
        this.notify();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * Starts `podtrail capture ARGS` at log level info; resolves once it reports "capture
   * started". bin: another checkout's bin/podtrail.js (the bench compares builds).
   */
  static async start(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; bin?: string } = {}): Promise<CaptureProc> {
    const env = { PODTRAIL_LOG_LEVEL: 'info', ...opts.env };
    const child = opts.bin
      ? spawn(process.execPath, [opts.bin, 'capture', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawnCli(['capture', ...args], env);
    const p = new CaptureProc(child);
    try {
      const started = await p.waitLog((l) => l.msg === 'capture started', opts.timeoutMs ?? 60_000);
      p.instance = String(started.instance);
      p.attachMode = String(started.attachMode);
    } catch (err) {
      await p.kill();
      throw err;
    }
    return p;
  }

  /** The first log line matching pred, waiting for it up to timeoutMs. */
  async waitLog(pred: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs.find(pred);
      if (hit) return hit;
      if (this.gone) throw new Error(`podtrail capture exited before the expected log line:\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`podtrail capture: expected log line not seen in ${timeoutMs} ms:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Samples VmHWM now; returns it in KiB (0 once the process is gone). */
  sample(): number {
    const k = this.gone ? undefined : vmHwmKiB(this.pid);
    if (k !== undefined && k > this.peakKiB) this.peakKiB = k;
    return k ?? 0;
  }

  /** Sends sig and waits for the exit; SIGKILL after timeoutMs (the result then shows it). */
  async stop(sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<CaptureExit> {
    this.sample();
    if (!this.gone) this.child.kill(sig);
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const { code, signal } = await this.exited;
    clearTimeout(t);
    return {
      code,
      signal,
      final: this.logs.find((l) => l.msg === 'capture stopped'),
      logs: this.logs,
      stderr: this.stderr,
      stdout: this.stdout,
    };
  }

  /** For cleanup paths: ends the process whatever state it is in. */
  async kill(): Promise<void> {
    if (this.gone) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** CgroupFixture.cleanup, retrying for a second: a cgroup can stay busy briefly after its last task exits. */
export async function cleanupCgroups(cg: CgroupFixture): Promise<string[]> {
  let left = cg.cleanup();
  for (let i = 0; i < 10 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = left.filter((d) => {
      try {
        rmdirSync(d);
        return false;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code !== 'ENOENT';
      }
    });
  }
  return left;
}
