// SPDX-License-Identifier: Apache-2.0
// Fresh cgroups (v1 kubepods-shaped paths and v2 ones) and the pt-client that
// joins them, optionally in new network and UTS namespaces, and connects on
// loopback. Everything made here is removed by cleanup().
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
/** repository root, from dist/test/helpers or test/helpers */
export const repoRoot = resolve(here, existsSync(join(here, '..', '..', 'package.json')) ? '../..' : '../../..');

export const CGROUP_ROOT = '/sys/fs/cgroup';
export const CGROUP_V2 = join(CGROUP_ROOT, 'unified');

/** Compiles test/helpers/pt-client.c into .tmp/; returns the binary path. */
export async function buildClient(): Promise<string> {
  const src = join(repoRoot, 'test', 'helpers', 'pt-client.c');
  const out = join(repoRoot, '.tmp', 'pt-client');
  mkdirSync(dirname(out), { recursive: true });
  await promisify(execFile)('cc', ['-O2', '-Wall', '-o', out, src]);
  return out;
}

export interface CgroupDir {
  /** path as the kernel reports it, relative to the hierarchy root */
  path: string;
  /** absolute directory of each hierarchy it was created in */
  dirs: string[];
  /** cgroup.procs files to write the client into */
  procs: string[];
  /** kernfs id per hierarchy dir (the directory inode) */
  ids: bigint[];
}

export class CgroupFixture {
  private readonly made: string[] = [];

  /** /kubepods/<qos>/pod<uuid>/<64 hex> in each of the given v1 controllers. */
  podCgroupV1(controllers: string[] = ['memory', 'pids'], qos = 'burstable'): CgroupDir {
    const path = `/kubepods/${qos}/pod${randomUUID()}/${randomBytes(32).toString('hex')}`;
    return this.make(path, controllers.map((c) => join(CGROUP_ROOT, c)));
  }

  /** A fresh cgroup in the v2 (unified) hierarchy. */
  cgroupV2(leaf = `podtrail-test-${randomBytes(4).toString('hex')}`): CgroupDir {
    return this.make(`/${leaf}/${randomBytes(32).toString('hex')}`, [CGROUP_V2]);
  }

  private make(path: string, roots: string[]): CgroupDir {
    const dirs = roots.map((r) => join(r, path));
    for (const root of roots) {
      let cur = root;
      for (const part of path.split('/').filter(Boolean)) {
        cur = join(cur, part);
        if (!existsSync(cur)) {
          mkdirSync(cur);
          this.made.push(cur);
        }
      }
    }
    return {
      path,
      dirs,
      procs: dirs.map((d) => join(d, 'cgroup.procs')),
      ids: dirs.map((d) => BigInt(statSync(d, { bigint: true }).ino)),
    };
  }

  /**
   * Removes what it made, deepest first. The clients must have exited. A shared ancestor it made
   * (/kubepods/burstable) that another harness has since put its own cgroups under (a containerd
   * or docker test, a capture of another session) stays, and is not reported: it is not ours.
   */
  cleanup(): string[] {
    const failed: string[] = [];
    for (const d of [...this.made].reverse()) {
      try {
        rmdirSync(d);
      } catch {
        const foreign = (() => {
          try {
            return readdirSync(d, { withFileTypes: true }).some((e) => e.isDirectory() && !this.made.includes(join(d, e.name)));
          } catch {
            return false;
          }
        })();
        if (!foreign) failed.push(d);
      }
    }
    this.made.length = 0;
    return failed;
  }
}

export interface ClientResult {
  pid: number;
  netns: number;
  uts: string;
  results: Array<{ saddr: string; sport: number; dport: number; err: number }>;
}

export interface ClientOptions {
  procs?: string[];
  /** new network + UTS namespaces, lo up */
  unshare?: boolean;
  hostname?: string;
  family?: '4' | '6' | 'mapped';
  count?: number;
  waitMs?: number;
  /** a shell command run inside the new namespaces before the mode (routes, sysctls) */
  setup?: string;
}

export function runClient(bin: string, mode: string, o: ClientOptions = {}): Promise<ClientResult> {
  const args: string[] = [];
  for (const p of o.procs ?? []) args.push('--procs', p);
  if (o.unshare) args.push('--unshare');
  if (o.hostname) args.push('--hostname', o.hostname);
  if (o.family) args.push('--family', o.family);
  if (o.count !== undefined) args.push('--count', String(o.count));
  if (o.waitMs !== undefined) args.push('--wait-ms', String(o.waitMs));
  if (o.setup) args.push('--setup', o.setup);
  args.push(mode);
  return new Promise((resolveP, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`pt-client ${args.join(' ')} exited ${code}: ${err}`));
      try {
        resolveP(JSON.parse(out) as ClientResult);
      } catch (e) {
        reject(new Error(`pt-client printed no JSON: ${out} ${err}`, { cause: e }));
      }
    });
  });
}
