// SPDX-License-Identifier: Apache-2.0
// A connect generator for fault tests: pt-client in a loop, each run in a v1 memory+pids
// cgroup of this generator's own (so capture reports its path) and a fresh network
// namespace (its listener and connects stay there). It keeps its own count of every
// connect, per run: the pid (which the raw events carry), how many, and when.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CGROUP_ROOT, repoRoot, runClient } from './ns.js';

/** Compiles pt-client to a path of this process's own: other tests may be running theirs. */
export async function buildGenerator(): Promise<string> {
  const out = join(repoRoot, '.tmp', `pt-client-fault-${process.pid}`);
  mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
  await promisify(execFile)('cc', ['-O2', '-Wall', '-o', out, join(repoRoot, 'test', 'helpers', 'pt-client.c')]);
  return out;
}

export interface GenRun {
  pid: number;
  count: number;
  /** wall-clock ns just before the run started and just after it ended */
  fromNs: bigint;
  toNs: bigint;
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export class ConnectGenerator {
  /** the cgroup path capture reports for these connects */
  readonly path: string;
  readonly runs: GenRun[] = [];
  private readonly dirs: string[];
  private loop: Promise<void> | undefined;
  private stopping = false;
  private failure: unknown;
  private waiters: Array<() => void> = [];

  constructor(private readonly bin: string, private readonly perRun = 20, private readonly pauseMs = 20) {
    this.path = `/podtrail-fault-${randomBytes(8).toString('hex')}`;
    this.dirs = ['memory', 'pids'].map((c) => join(CGROUP_ROOT, c, this.path));
    for (const d of this.dirs) mkdirSync(d);
  }

  get total(): number {
    return this.runs.reduce((n, r) => n + r.count, 0);
  }

  /** One run of n connects, awaited. */
  async once(n = this.perRun): Promise<GenRun> {
    const fromNs = nowNs();
    const r = await runClient(this.bin, 'tcp', { procs: this.dirs.map((d) => join(d, 'cgroup.procs')), unshare: true, count: n });
    const failed = r.results.filter((x) => x.err !== 0);
    if (failed.length > 0) throw new Error(`pt-client connects failed: ${JSON.stringify(failed.slice(0, 3))}`);
    const run = { pid: r.pid, count: n, fromNs, toNs: nowNs() };
    this.runs.push(run);
    for (const w of this.waiters.splice(0)) w();
    return run;
  }

  /** Runs back to back (with a short pause) until stop(). */
  start(): void {
    this.stopping = false;
    this.loop = (async () => {
      while (!this.stopping) {
        try {
          await this.once();
        } catch (err) {
          this.failure = err;
          return;
        }
        await new Promise((r) => setTimeout(r, this.pauseMs));
      }
    })();
  }

  /** Resolves once `n` more runs have finished after this call. */
  async moreRuns(n: number, timeoutMs = 30_000): Promise<void> {
    const target = this.runs.length + n;
    const deadline = Date.now() + timeoutMs;
    while (this.runs.length < target) {
      if (this.failure) throw this.failure;
      if (!this.loop) throw new Error('the generator is not running');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`generator: ${n} more runs not done in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    this.loop = undefined;
    if (this.failure) throw this.failure;
  }

  /** Removes the cgroups (the runs have exited by then); returns what could not be removed. */
  async cleanup(): Promise<string[]> {
    this.stopping = true;
    await this.loop?.catch(() => undefined);
    const failed: string[] = [];
    rmSync(this.bin, { force: true });
    for (const d of this.dirs) {
      try {
        if (existsSync(d)) rmdirSync(d);
      } catch {
        failed.push(d);
      }
    }
    return failed;
  }
}
