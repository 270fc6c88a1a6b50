// SPDX-License-Identifier: Apache-2.0
// The arms of the capture bench: the loopback connect loop alone, with `podtrail capture`
// publishing to the broker, and with bpftrace printing connect events. Each arm runs the
// same loop for the same time; only what watches it changes.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CaptureProc } from '../test/helpers/capture-proc.js';

export interface LoopResult {
  connects: number;
  fails: number;
  seconds: number;
  cpuSeconds: number;
  rate: number;
}

export interface ArmResult {
  arm: string;
  loop: LoopResult;
  /** podtrail only */
  capture?: {
    events: number;
    sent: number;
    dropped: number;
    ringReserveFails: number;
    kernelGaps: number;
    vmHwmKiB: number;
    cpuSeconds: number;
    exitCode: number | null;
  };
  /** bpftrace only: lines it printed */
  printed?: number;
}

/** Compiles bench/connect-loop.c into .tmp/; returns the binary. */
export async function buildLoop(root: string): Promise<string> {
  const out = join(root, '.tmp', 'connect-loop');
  mkdirSync(join(root, '.tmp'), { recursive: true });
  await promisify(execFile)('cc', ['-O2', '-Wall', '-o', out, join(root, 'bench', 'connect-loop.c')]);
  return out;
}

export async function runLoop(bin: string, seconds: number): Promise<LoopResult> {
  const { stdout } = await promisify(execFile)(bin, [String(seconds)], { timeout: (seconds + 30) * 1000 });
  const r = JSON.parse(stdout) as LoopResult;
  if (r.fails > 0) throw new Error(`connect loop: ${r.fails} connects failed`);
  return r;
}

/** utime + stime of a live process, in seconds. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime: fields 14 and 15, in clock ticks (USER_HZ 100)
}

/** Children alive right now, so a bench that gives up can end them (by pid, not by name). */
const live = new Set<{ kill(sig?: NodeJS.Signals): boolean }>();
export function killLiveChildren(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}

export async function baselineArm(bin: string, seconds: number): Promise<ArmResult> {
  return { arm: 'baseline', loop: await runLoop(bin, seconds) };
}

/** cliBin: another checkout's bin/podtrail.js, to compare builds side by side. */
export async function podtrailArm(bin: string, seconds: number, brokers: string, topic: string, cliBin?: string, arm = 'podtrail', extra: string[] = [], nodeOptions = ''): Promise<ArmResult> {
  // Another checkout uses its own addon and BPF object: unset what this process may point at.
  const env: NodeJS.ProcessEnv = cliBin ? { PODTRAIL_NATIVE_ADDON: undefined, PODTRAIL_BPF_OBJECT: undefined } : {};
  if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
  const cap = await CaptureProc.start(['--brokers', brokers, '--raw-topic', topic, '--node', 'bench', ...extra], { ...(cliBin ? { bin: cliBin } : {}), env });
  live.add(cap.child);
  try {
    // Let startup work (JIT, first metadata fetch) settle before measuring.
    await new Promise((r) => setTimeout(r, 1000));
    const cpu0 = cpuSecondsOf(cap.pid);
    const timer = setInterval(() => cap.sample(), 200);
    const loop = await runLoop(bin, seconds);
    clearInterval(timer);
    cap.sample();
    const cpu1 = cpuSecondsOf(cap.pid);
    const exit = await cap.stop('SIGTERM');
    const f = exit.final;
    if (!f) throw new Error(`podtrail capture printed no final stats (exit ${exit.code}):\n${exit.stderr.slice(-3000)}`);
    return {
      arm,
      loop,
      capture: {
        events: Number(f.events),
        sent: Number(f.sent),
        dropped: Number(f.dropped),
        ringReserveFails: Number(f.ringReserveFails),
        kernelGaps: Number(f.kernelGaps),
        vmHwmKiB: cap.peakKiB,
        cpuSeconds: cpu1 - cpu0,
        exitCode: exit.code,
      },
    };
  } finally {
    await cap.kill();
    live.delete(cap.child);
  }
}

/** Roughly what podtrail reports, printed per connect() by bpftrace. */
export const BPFTRACE_PROGRAM =
  'tracepoint:syscalls:sys_enter_connect { printf("%d %d %d %s %d %s %d\\n", pid, tid, uid, comm, cgroup, ' +
  'ntop(((struct sockaddr_in *)args->uservaddr)->sin_addr.s_addr), args->fd); }';

export async function bpftraceArm(bin: string, seconds: number): Promise<ArmResult> {
  const bt = spawn('bpftrace', ['-e', BPFTRACE_PROGRAM], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(bt);
  let printed = 0;
  let err = '';
  let attached!: () => void;
  const ready = new Promise<void>((resolve) => (attached = resolve));
  bt.stdout.on('data', (d: Buffer) => {
    for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) printed++;
    if (d.includes('Attaching')) attached();
  });
  bt.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => bt.on('close', (code) => resolve(code)));
  try {
    const t = setTimeout(() => bt.kill('SIGKILL'), 60_000);
    await Promise.race([ready, exited.then(() => Promise.reject(new Error(`bpftrace exited before attaching: ${err}`)))]);
    clearTimeout(t);
    await new Promise((r) => setTimeout(r, 1000));
    const before = printed;
    const loop = await runLoop(bin, seconds);
    return { arm: 'bpftrace', loop, printed: printed - before };
  } finally {
    bt.kill('SIGINT');
    const t = setTimeout(() => bt.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
    live.delete(bt);
  }
}

export async function hasBpftrace(): Promise<boolean> {
  try {
    await promisify(execFile)('bpftrace', ['--version']);
    return true;
  } catch {
    return false;
  }
}
