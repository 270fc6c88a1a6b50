// SPDX-License-Identifier: Apache-2.0
// What a private dockerd leaves on the host (mounts, cgroup directories,
// processes) and how to remove exactly that and nothing else.
import { readFile, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { allPids, cmdline, procCgroups, procState, run, signal, waitGone } from './proc.js';

interface MountEntry {
  root: string;
  mountPoint: string;
  fsType: string;
}

// mountinfo escapes space, tab, newline and backslash as octal.
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export async function mounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    out.push({ root: unescapeMount(f[3] ?? ''), mountPoint: unescapeMount(f[4] ?? ''), fsType: post.split(' ')[0] ?? '' });
  }
  return out;
}

export async function mountsUnder(dir: string): Promise<string[]> {
  return (await mounts()).map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(dir + '/'));
}

/** Lazily unmounts everything at or below dir, deepest first, until nothing is left. */
export async function unmountUnder(dir: string, busybox: string): Promise<string[]> {
  for (let pass = 0; pass < 5; pass++) {
    const left = (await mountsUnder(dir)).sort((a, b) => b.length - a.length);
    if (left.length === 0) return [];
    // busybox umount does not create libmount's /run/mount, util-linux umount does.
    for (const m of left) await run(busybox, ['umount', '-l', m], { timeoutMs: 10_000 });
  }
  return mountsUnder(dir);
}

/** Mount points of every cgroup hierarchy (v1 controllers, name=systemd, v2). */
export async function cgroupHierarchies(): Promise<string[]> {
  return (await mounts())
    .filter((m) => (m.fsType === 'cgroup' || m.fsType === 'cgroup2') && m.root === '/')
    .map((m) => m.mountPoint);
}

async function subdirs(dir: string): Promise<string[]> {
  const ents = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return ents.filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
}

async function pidsIn(dir: string): Promise<number[]> {
  const own = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  const pids = own.split('\n').filter(Boolean).map(Number);
  for (const sub of await subdirs(dir)) pids.push(...(await pidsIn(sub)));
  return pids;
}

async function rmdirTree(dir: string): Promise<void> {
  for (const sub of await subdirs(dir)) await rmdirTree(sub);
  await rmdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}

/**
 * Removes cgroups the harness owns: each `owned` path (e.g. /kubepods/burstable/pod<uid>,
 * /docker/<id>) with everything below it, in every hierarchy, killing any process still
 * inside. Then each ancestor in `shared` only if it is empty: another harness, or a real
 * node, may be using /kubepods or /docker.
 */
export async function removeCgroups(owned: Iterable<string>, shared: Iterable<string>): Promise<string[]> {
  const problems: string[] = [];
  const hierarchies = await cgroupHierarchies();
  for (const rel of owned) {
    for (const h of hierarchies) {
      const dir = join(h, rel);
      const pids = await pidsIn(dir);
      for (const pid of pids) signal(pid, 'SIGKILL');
      for (const pid of pids) await waitGone(pid, 5_000);
      // A cgroup stays busy for a moment after its last task is reaped.
      for (let i = 0; ; i++) {
        try {
          await rmdirTree(dir);
          break;
        } catch (e) {
          if (i >= 20) {
            problems.push(`cgroup ${dir}: ${(e as Error).message}`);
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }
  const ancestors = [...new Set(shared)].sort((a, b) => b.length - a.length);
  for (const rel of ancestors) {
    for (const h of hierarchies) {
      await rmdir(join(h, rel)).catch(() => {});
    }
  }
  return problems;
}

export async function existingCgroupDirs(rels: Iterable<string>): Promise<string[]> {
  const out: string[] = [];
  const hierarchies = await cgroupHierarchies();
  for (const rel of rels) {
    for (const h of hierarchies) {
      const dir = join(h, rel);
      if ((await readdir(dir).catch(() => undefined)) !== undefined) out.push(dir);
    }
  }
  return out;
}

/** Pids whose command line names `marker` (our temp dir) or that sit in one of `cgroupRels`. */
export async function processesOf(marker: string, cgroupRels: string[]): Promise<{ pid: number; why: string }[]> {
  const out: { pid: number; why: string }[] = [];
  for (const pid of await allPids()) {
    if (pid === process.pid) continue;
    // A zombie holds nothing but its pid; whoever inherited it (init) reaps it.
    if ((await procState(pid)) === 'Z') continue;
    const cl = await cmdline(pid);
    if (cl?.includes(marker)) {
      out.push({ pid, why: cl });
      continue;
    }
    if (cgroupRels.length === 0) continue;
    const cg = await procCgroups(pid).catch(() => undefined);
    if (!cg) continue;
    for (const path of cg.values()) {
      if (cgroupRels.some((rel) => path === rel || path.startsWith(rel + '/'))) {
        out.push({ pid, why: `in cgroup ${path}: ${cl ?? '?'}` });
        break;
      }
    }
  }
  return out;
}
