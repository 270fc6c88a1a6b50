// SPDX-License-Identifier: Apache-2.0
// Records every filesystem read the code under test makes through node:fs (promise and sync
// APIs) while armed, and checks it against a root: each opened file descriptor is resolved
// by the kernel (/proc/self/fd/N) and must lie under the root; each lookup by path must be
// the root itself or one name inside a directory descriptor under the root
// (`/proc/self/fd/N/<name>`, safe-fs's way of doing openat). Anything else is a violation.
// In-process and per module instance: fuzz workers install their own.
import fs, { realpathSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';

const PATH_FNS = ['open', 'lstat', 'stat', 'readlink', 'readFile', 'opendir', 'readdir', 'access', 'realpath'] as const;
const SYNC_FNS = ['openSync', 'lstatSync', 'statSync', 'readlinkSync', 'readFileSync', 'opendirSync', 'readdirSync', 'accessSync', 'existsSync'] as const;

export interface OpenWatch {
  /** starts checking against root */
  arm(root: string): void;
  /** stops checking; returns the violations seen since arm() */
  disarm(): string[];
  /** calls checked since arm() */
  readonly checked: number;
  readonly opened: number;
}

let installed: OpenWatch | undefined;

export function watchFsReads(): OpenWatch {
  if (installed) return installed;
  const readlink = fs.readlinkSync.bind(fs);
  let root: string | undefined;
  let violations: string[] = [];
  let checked = 0;
  let opened = 0;
  const inside = (p: string): boolean => root !== undefined && (p === root || p.startsWith(`${root}/`));
  const fdPath = (fd: number): string => {
    try { return readlink(`/proc/self/fd/${fd}`); } catch { return `(fd ${fd} gone)`; }
  };

  const checkPath = (fn: string, arg: unknown): void => {
    if (root === undefined || typeof arg === 'number') return;
    checked++;
    const s = arg instanceof URL ? arg.pathname : String(arg);
    const m = /^\/proc\/self\/fd\/(\d+)\/(.*)$/.exec(s);
    if (m) {
      const dir = fdPath(Number(m[1]));
      const name = m[2]!;
      if (!inside(dir) || name === '' || name === '..' || name.includes('/')) violations.push(`${fn}(${s}): directory ${dir}, name ${JSON.stringify(name)}`);
      return;
    }
    const abs = path.resolve(s);
    if (abs !== root) violations.push(`${fn}(${s}): a path lookup outside the root's descriptors`);
  };
  const checkFd = (fn: string, fd: number | undefined): void => {
    if (root === undefined || fd === undefined) return;
    opened++;
    const target = fdPath(fd);
    if (!inside(target)) violations.push(`${fn}: opened ${target}`);
  };

  const p = fs.promises as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const name of PATH_FNS) {
    const orig = p[name]!.bind(fs.promises);
    p[name] = async (...a: unknown[]) => {
      checkPath(`fs.promises.${name}`, a[0]);
      const r = await orig(...a);
      if (name === 'open') checkFd('fs.promises.open', (r as { fd?: number }).fd);
      return r;
    };
  }
  const f = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of SYNC_FNS) {
    const orig = f[name]!.bind(fs);
    f[name] = (...a: unknown[]) => {
      checkPath(`fs.${name}`, a[0]);
      const r = orig(...a);
      if (name === 'openSync') checkFd('fs.openSync', r as number);
      return r;
    };
  }
  // Named imports of node:fs elsewhere (`import { readFileSync }`) see the wrappers too.
  syncBuiltinESMExports();
  installed = {
    arm(r: string) {
      root = realpathSync(r);
      violations = [];
      checked = 0;
      opened = 0;
    },
    disarm() {
      root = undefined;
      return violations;
    },
    get checked() { return checked; },
    get opened() { return opened; },
  };
  return installed;
}

/** Proves the watch sees reads in this thread: an outside read while armed must be reported. */
export async function assertWatchWorks(watch: OpenWatch, root: string): Promise<void> {
  watch.arm(root);
  await fs.promises.readFile('/proc/self/status').catch(() => undefined);
  const seen = watch.disarm();
  if (seen.length === 0) throw new Error('open-watch saw no violation for a read outside the root: the checks would be blind');
}
