// SPDX-License-Identifier: Apache-2.0
// The harness's temp dir records who owns it and which cgroups it made, so that a
// run killed mid-way (SIGKILL, Ctrl-C: no `exit` handler runs) is cleaned up by the
// next harness that starts, and never one that is still running.
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existingCgroupDirs, mountsUnder, processesOf, removeCgroups, unmountUnder } from './host-state.js';
import { run, signal, waitGone } from './proc.js';

const PREFIX = 'ptd-';

async function startTime(pid: number | 'self'): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export async function createHarnessDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  // pid plus start time: a recycled pid does not keep a dead run's dir alive.
  await writeFile(join(dir, 'owner'), `${process.pid} ${await startTime('self')}\n`);
  return dir;
}

/** Written before the cgroup exists, so a crash between the two still cleans it. */
export function recordCgroup(dir: string, rel: string): void {
  appendFileSync(join(dir, 'cgroups'), rel + '\n');
}

export async function recordedCgroups(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, 'cgroups'), 'utf8').catch(() => '');
  return [...new Set(text.split('\n').filter((l) => l.startsWith('/') && !l.includes('..')))];
}

export function sharedAncestors(owned: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const rel of owned) {
    const parts = rel.split('/').filter(Boolean);
    for (let i = parts.length - 1; i > 0; i--) out.add('/' + parts.slice(0, i).join('/'));
  }
  return [...out];
}

/**
 * Kills every process that names the dir or sits in its cgroups, removes those cgroups,
 * unmounts everything below the dir and deletes it. Returns what it could not do.
 */
export async function teardownHarnessDir(dir: string, cgroups: string[], busybox: string): Promise<string[]> {
  const problems: string[] = [];
  const strays = await processesOf(dir + '/', cgroups);
  for (const p of strays) signal(p.pid, 'SIGKILL');
  for (const p of strays) await waitGone(p.pid, 5_000);
  await removeShimSockets(dir);
  await removeNetns(dir, busybox);
  problems.push(...(await removeCgroups(cgroups, sharedAncestors(cgroups))));
  const left = await unmountUnder(dir, busybox);
  if (left.length > 0) problems.push(`still mounted: ${left.join(', ')}`);
  // Never rm -r through a mount point: it would delete what is mounted there.
  else await rm(dir, { recursive: true, force: true }).catch((e: Error) => problems.push(`rm ${dir}: ${e.message}`));
  return problems;
}

/** The network namespaces of a containerd harness (names in <dir>/netns and <dir>/podnetns), once nothing uses them. */
async function removeNetns(dir: string, busybox: string): Promise<void> {
  // Pod namespaces containerd made (RemovePodSandbox removes them; a killed run does not), then ours.
  const pods = (await readFile(join(dir, 'podnetns'), 'utf8').catch(() => '')).split('\n').filter((l) => /^\/(var\/)?run\/netns\/cni-[0-9a-f-]{36}$/.test(l));
  const name = (await readFile(join(dir, 'netns'), 'utf8').catch(() => '')).trim();
  const files = [...pods, ...(/^ptcri-[0-9a-f]{8}$/.test(name) ? [join('/run/netns', name)] : [])];
  for (const f of files) {
    // As `ip netns del` does: detach the bind mount, then remove the file.
    await run(busybox, ['umount', '-l', f], { timeoutMs: 10_000 }).catch(() => undefined);
    await unlink(f).catch(() => {});
  }
}

/**
 * A shim that exits normally removes its socket; a killed one leaves it in /run/containerd/s.
 * containerd 1.6 names it sha256(<containerd address>/<namespace>/<container id>).
 */
async function removeShimSockets(dir: string): Promise<void> {
  const address = join(dir, 'ctd/containerd.sock');
  const tasks = join(dir, 'ctd/state/io.containerd.runtime.v2.task');
  for (const ns of await readdir(tasks).catch(() => [])) {
    for (const id of await readdir(join(tasks, ns)).catch(() => [])) {
      const name = createHash('sha256').update(join(address, ns, id)).digest('hex');
      await unlink(join('/run/containerd/s', name)).catch(() => {});
    }
  }
}

async function ownerAlive(dir: string): Promise<boolean | undefined> {
  const owner = await readFile(join(dir, 'owner'), 'utf8').catch(() => undefined);
  const [pid, started] = owner?.trim().split(' ') ?? [];
  if (!pid || !started) return undefined;
  return (await startTime(Number(pid))) === started;
}

/** Tears down harness dirs whose owning process is gone. Returns the dirs it removed. */
export async function sweepStaleHarnessDirs(busybox: string): Promise<string[]> {
  const swept: string[] = [];
  let othersAlive = false;
  for (const name of await readdir(tmpdir()).catch(() => [])) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const alive = await ownerAlive(dir);
    // No owner file: not ours, or a harness that is starting right now.
    if (alive !== false) {
      othersAlive ||= alive === true;
      continue;
    }
    const problems = await teardownHarnessDir(dir, await recordedCgroups(dir), busybox);
    if (problems.length === 0) swept.push(dir);
  }
  // The crashed run could not remove the host dirs it caused. Only when no harness is
  // running and no system Docker or containerd is there to own them.
  const system = ['/run/docker.sock', '/run/docker/docker.sock', '/run/containerd/containerd.sock'];
  const systemPresent = (await Promise.all(system.map((p) => stat(p).then(() => true, () => false)))).some(Boolean);
  if (swept.length > 0 && !othersAlive && !systemPresent) await removeGlobalDirs(new Set());
  return swept;
}

// dockerd and containerd's shims create these whatever their flags say (plugin discovery
// dir; shim sockets under /run/containerd/s, a path containerd 1.6 hard-codes).
const GLOBAL_DIRS = ['/run/docker/plugins', '/run/docker', '/run/containerd/s', '/run/containerd'];

export async function globalDirsPresent(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const g of GLOBAL_DIRS) if (await stat(g).then(() => true, () => false)) out.add(g);
  return out;
}

/** Removes those of them that were absent before us, and only if empty (rmdir). */
export async function removeGlobalDirs(preexisting: Set<string>): Promise<void> {
  for (const g of GLOBAL_DIRS) if (!preexisting.has(g)) await rmdir(g).catch(() => {});
}

/** What a stopped harness must not have left behind. */
export async function leftovers(h: { tmpDir: string; ownedCgroups: Iterable<string> }): Promise<string[]> {
  const rels = [...h.ownedCgroups];
  const out: string[] = [];
  for (const p of await processesOf(h.tmpDir + '/', rels)) out.push(`process ${p.pid}: ${p.why}`);
  for (const m of await mountsUnder(h.tmpDir)) out.push(`mount ${m}`);
  for (const c of await existingCgroupDirs(rels)) out.push(`cgroup dir ${c}`);
  if ((await readdir(h.tmpDir).catch(() => undefined)) !== undefined) out.push(`dir ${h.tmpDir}`);
  return out;
}
