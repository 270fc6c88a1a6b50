// SPDX-License-Identifier: Apache-2.0
// Child processes and /proc reading for the dockerd and containerd test harnesses. Nothing
// here signals a process by name: callers pass the pids they own.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** Where the harnesses look for executables, and the PATH their children get. */
export const BIN_SEARCH = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The first executable `name` in dirs, or undefined. */
export function which(name: string, dirs: readonly string[] = BIN_SEARCH): string | undefined {
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      /* next */
    }
  }
  return undefined;
}

export class HarnessError extends Error {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts);
    this.name = new.target.name;
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs a program to completion. A non-zero exit is a result, a timeout is an error. */
export function run(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new HarnessError(`${file} ${args.join(' ')} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new HarnessError(`cannot run ${file}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (signal ? `\n[killed by ${signal}]` : ''),
        code: code ?? 128,
      });
    });
    // EPIPE when the program exits without reading stdin is not our concern.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Signals one pid we own; a pid that is already gone is fine. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** SIGTERM, wait up to graceMs, then SIGKILL and wait again. Returns how it ended. */
export async function terminate(pid: number, graceMs: number): Promise<'exited' | 'killed' | 'stuck'> {
  if (!isAlive(pid)) return 'exited';
  signal(pid, 'SIGTERM');
  if (await waitGone(pid, graceMs)) return 'exited';
  signal(pid, 'SIGKILL');
  return (await waitGone(pid, 5_000)) ? 'killed' : 'stuck';
}

export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!isAlive(pid) || (await procState(pid)) === 'Z') return true;
    await sleep(50);
  }
  return !isAlive(pid);
}

/** The state letter from /proc/<pid>/stat (R, S, Z, ...); undefined once the pid is gone. */
export async function procState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

export async function allPids(): Promise<number[]> {
  const names = await readdir('/proc');
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

export async function cmdline(pid: number): Promise<string | undefined> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return raw?.split('\0').join(' ').trim();
}

/** Namespace inode link, e.g. "net:[4026531833]"; undefined if the process is gone. */
export async function nsLink(pid: number | 'self', ns: 'net' | 'uts' | 'pid' | 'ipc' | 'mnt'): Promise<string | undefined> {
  return readlink(`/proc/${pid}/ns/${ns}`).catch(() => undefined);
}

/** Last NSpid entry: the pid as the process's own pid namespace numbers it. */
export async function innermostPid(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const line = status?.split('\n').find((l) => l.startsWith('NSpid:'));
  const last = line?.trim().split(/\s+/).at(-1);
  return last === undefined ? undefined : Number(last);
}

/** /proc/<pid>/cgroup as hierarchy -> path; the v2 line ("0::") is keyed "". */
export async function procCgroups(pid: number): Promise<Map<string, string>> {
  const text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}
