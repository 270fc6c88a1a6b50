// SPDX-License-Identifier: Apache-2.0
// A private Docker engine for end-to-end tests: its own containerd, socket, exec
// root, data root and pidfile, no bridge, no iptables, no forwarding. It never
// talks to a dockerd or containerd that is already running on the machine.
//
// Layout under one temp dir T (short, because unix socket paths are limited):
//   T/root                       hostRoot: what enrich sees as the node's "/"
//   T/root/etc/docker/daemon.json  {"data-root": "/var/lib/<name>"}  (node view)
//   T/root/var/lib/<name>        the real data root (dockerd gets its absolute path)
//   T/dockerd/daemon.json        dockerd's --config-file: the same settings with
//                                absolute paths, as a daemon.json on a host with
//                                hostRoot "/" would hold them
//   T/exec, T/run/docker.sock, T/run/dockerd.pid, T/ctd (containerd), T/*.log
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { accessSync, constants, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { TEST_IMAGE, buildBusyboxTar, isStaticElf } from './busybox-image.js';
import { existingCgroupDirs, mountsUnder, processesOf, removeCgroups, unmountUnder } from './host-state.js';
import { HarnessError, type RunResult, isAlive, run, signal, sleep, terminate } from './proc.js';

export { HarnessError, type RunResult } from './proc.js';

export interface DockerCmdOptions {
  input?: string;
  timeoutMs?: number;
}

export interface Dockerd {
  /** unix socket path of this dockerd (no unix:// prefix) */
  socket: string;
  /** absolute path of the data root dockerd uses: <hostRoot>/var/lib/<dataRootName> */
  dataRoot: string;
  /** directory laid out like the node's "/" for enrich's --host-root */
  hostRoot: string;
  /** <hostRoot>/etc/docker/daemon.json; its data-root is relative to hostRoot */
  daemonJsonPath: string;
  /** the file given to dockerd --config-file; its data-root is absolute */
  dockerdConfigPath: string;
  execRoot: string;
  containerdSocket: string;
  tmpDir: string;
  dockerdPid: number;
  containerdPid: number;
  image: string;
  /** cgroup paths the harness owns (pod dirs, /docker/<id>); pods.ts adds to it */
  ownedCgroups: Set<string>;
  /** runs the docker CLI against this daemon only; a non-zero exit is returned, not thrown */
  docker(args: string[], opts?: DockerCmdOptions): Promise<RunResult>;
  /** starts the docker CLI against this daemon with piped stdio, for interactive use */
  spawnDocker(args: string[]): ChildProcessWithoutNullStreams;
  /** last lines of dockerd's and containerd's logs, for failure messages */
  logTail(lines?: number): string;
  /** idempotent; throws listing anything it could not remove */
  stop(): Promise<void>;
}

export interface StartOptions {
  dataRootName?: string;
  startTimeoutMs?: number;
}

export interface Prerequisites {
  ok: boolean;
  missing: string[];
  bins: Partial<Record<'dockerd' | 'containerd' | 'shim' | 'runc' | 'docker' | 'busybox', string>>;
}

const SEARCH = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function which(name: string, prefer: string[] = []): string | undefined {
  for (const dir of [...prefer, ...SEARCH]) {
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

/** What this machine lacks for the harness; the caller decides fail (CI) or skip. */
export async function checkPrerequisites(): Promise<Prerequisites> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (dockerd needs uid 0)');
  const bins: Prerequisites['bins'] = {
    dockerd: which('dockerd'),
    containerd: which('containerd'),
    shim: which('containerd-shim-runc-v2'),
    runc: which('runc'),
    // The CLI shipped with docker.io matches the daemon's API; a newer one on PATH also works.
    docker: process.env.PODTRAIL_DOCKER_CLI ?? which('docker', ['/usr/bin']),
    busybox: process.env.PODTRAIL_BUSYBOX ?? which('busybox'),
  };
  for (const [k, v] of Object.entries(bins)) if (!v) missing.push(`${k} (apt-get install -y docker.io busybox-static)`);
  if (bins.busybox && !(await isStaticElf(bins.busybox).catch(() => false))) {
    missing.push(`static busybox (${bins.busybox} is dynamic: apt-get install -y busybox-static)`);
  }
  return { ok: missing.length === 0, missing, bins };
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${path})`;
  }
}

async function waitFor(what: string, ms: number, check: () => Promise<boolean>, alive: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    if (!alive()) throw new HarnessError(`${what}: process exited`);
    await sleep(100);
  }
  throw new HarnessError(`${what}: not ready after ${ms} ms`);
}

function spawnDaemon(file: string, args: string[], logPath: string): number {
  const fd = openSync(logPath, 'a');
  try {
    // Daemons must not inherit our DOCKER_* or containerd settings.
    const env = { PATH: [...new Set(SEARCH)].join(delimiter), HOME: '/root', LANG: 'C' };
    const child = spawn(file, args, { stdio: ['ignore', fd, fd], env, detached: false });
    if (child.pid === undefined) throw new HarnessError(`cannot spawn ${file}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export async function startDockerd(opts: StartOptions = {}): Promise<Dockerd> {
  const pre = await checkPrerequisites();
  if (!pre.ok) throw new HarnessError(`docker harness prerequisites missing: ${pre.missing.join(', ')}`);
  const bins = pre.bins as Required<Prerequisites['bins']>;
  const name = opts.dataRootName ?? 'podtrail-docker';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new HarnessError(`bad dataRootName ${JSON.stringify(name)}`);

  const tmpDir = await mkdtemp(join(tmpdir(), 'ptd-'));
  const hostRoot = join(tmpDir, 'root');
  const dataRoot = join(hostRoot, 'var/lib', name);
  const execRoot = join(tmpDir, 'exec');
  const runDir = join(tmpDir, 'run');
  const ctdDir = join(tmpDir, 'ctd');
  const socket = join(runDir, 'docker.sock');
  const containerdSocket = join(ctdDir, 'containerd.sock');
  const daemonJsonPath = join(hostRoot, 'etc/docker/daemon.json');
  const dockerdConfigPath = join(tmpDir, 'dockerd/daemon.json');
  // sun_path is 108 bytes; containerd also serves <socket>.ttrpc.
  if (containerdSocket.length + 6 > 100 || socket.length > 100) {
    await rm(tmpDir, { recursive: true, force: true });
    throw new HarnessError(`temp dir ${tmpDir} is too long for unix sockets; set TMPDIR to a short path`);
  }
  for (const d of [dataRoot, join(hostRoot, 'etc/docker'), execRoot, runDir, ctdDir, join(tmpDir, 'dockerd'), join(tmpDir, 'opt'), join(tmpDir, 'cli')]) {
    await mkdir(d, { recursive: true });
  }

  // One settings object, written in two views that differ only in the root prefix.
  const settings = (root: string) => ({
    'data-root': join(root, 'var/lib', name),
    'exec-opts': ['native.cgroupdriver=cgroupfs'],
    'storage-driver': 'overlay2',
    'log-driver': 'json-file',
  });
  await writeFile(daemonJsonPath, JSON.stringify(settings('/'), null, 2) + '\n');
  // deprecated-key-path: dockerd 20.10 otherwise writes /etc/docker/key.json on the host.
  await writeFile(dockerdConfigPath, JSON.stringify({ ...settings(hostRoot), 'deprecated-key-path': join(tmpDir, 'key.json') }, null, 2) + '\n');
  // Our own containerd instead of dockerd's managed one: dockerd would silently use a
  // system containerd at /run/containerd/containerd.sock if one appeared, and its managed
  // config leaves the opt plugin writing /opt/containerd.
  await writeFile(
    join(tmpDir, 'containerd.toml'),
    [
      'version = 2',
      `root = ${JSON.stringify(join(ctdDir, 'root'))}`,
      `state = ${JSON.stringify(join(ctdDir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
      '[grpc]',
      `  address = ${JSON.stringify(containerdSocket)}`,
      '[ttrpc]',
      '  address = ""',
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(join(tmpDir, 'opt'))}`,
      '',
    ].join('\n'),
  );

  // Host directories dockerd/containerd create whatever their flags say; we remove them
  // at stop only if they were not there before us (and are empty by then).
  const globalDirs = ['/run/docker/plugins', '/run/docker', '/run/containerd/s', '/run/containerd'];
  const preexisting = new Set<string>();
  for (const g of globalDirs) if (await stat(g).then(() => true, () => false)) preexisting.add(g);

  const cliEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: tmpDir, DOCKER_CONFIG: join(tmpDir, 'cli') };
  const docker = (args: string[], o: DockerCmdOptions = {}) =>
    run(bins.docker, ['--host', `unix://${socket}`, ...args], { env: cliEnv, timeoutMs: o.timeoutMs ?? 120_000, input: o.input });

  let containerdPid = 0;
  let dockerdPid = 0;
  let stopped = false;
  const onExit = () => {
    // Last resort if a test forgot stop(): do not leave daemons running.
    if (dockerdPid) signal(dockerdPid, 'SIGKILL');
    if (containerdPid) signal(containerdPid, 'SIGKILL');
  };
  process.on('exit', onExit);

  const d: Dockerd = {
    socket,
    dataRoot,
    hostRoot,
    daemonJsonPath,
    dockerdConfigPath,
    execRoot,
    containerdSocket,
    tmpDir,
    dockerdPid: 0,
    containerdPid: 0,
    image: TEST_IMAGE,
    ownedCgroups: new Set(),
    docker,
    spawnDocker: (args) => spawn(bins.docker, ['--host', `unix://${socket}`, ...args], { env: cliEnv, stdio: 'pipe' }),
    logTail: (n = 30) =>
      `--- dockerd.log\n${tail(join(tmpDir, 'dockerd.log'), n)}\n--- containerd.log\n${tail(join(tmpDir, 'containerd.log'), n)}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      const problems: string[] = [];
      if (dockerdPid && isAlive(dockerdPid)) {
        const ps = await docker(['ps', '-aq', '--no-trunc'], { timeoutMs: 30_000 }).catch((e: Error) => ({ code: 1, stdout: '', stderr: e.message }));
        const ids = ps.stdout.split('\n').filter(Boolean);
        if (ids.length > 0) {
          const rm = await docker(['rm', '-f', '-v', ...ids], { timeoutMs: 60_000 }).catch((e: Error) => ({ code: 1, stdout: '', stderr: e.message }));
          if (rm.code !== 0) problems.push(`docker rm: ${rm.stderr.trim()}`);
        }
      }
      if (dockerdPid && (await terminate(dockerdPid, 15_000)) === 'stuck') problems.push(`dockerd ${dockerdPid} survived SIGKILL`);
      if (containerdPid && (await terminate(containerdPid, 10_000)) === 'stuck') problems.push(`containerd ${containerdPid} survived SIGKILL`);
      process.off('exit', onExit);
      // Shims (their command line names our containerd socket) and container processes
      // outlive containerd when rm did not get to them.
      const strays = await processesOf(tmpDir + '/', [...d.ownedCgroups]);
      for (const p of strays) signal(p.pid, 'SIGKILL');
      problems.push(...(await removeCgroups(d.ownedCgroups, sharedAncestors(d.ownedCgroups))));
      const mountsLeft = await unmountUnder(tmpDir, bins.busybox);
      if (mountsLeft.length > 0) problems.push(`still mounted: ${mountsLeft.join(', ')}`);
      // Never rm -r through a mount: it would delete the mounted content.
      else await rm(tmpDir, { recursive: true, force: true }).catch((e: Error) => problems.push(`rm ${tmpDir}: ${e.message}`));
      for (const g of globalDirs) if (!preexisting.has(g)) await rmdir(g).catch(() => {});
      const left = await leftovers({ tmpDir, ownedCgroups: d.ownedCgroups });
      problems.push(...left);
      if (problems.length > 0) throw new HarnessError(`docker harness cleanup incomplete:\n  ${[...new Set(problems)].join('\n  ')}`);
    },
  };

  try {
    containerdPid = spawnDaemon(bins.containerd, ['--config', join(tmpDir, 'containerd.toml')], join(tmpDir, 'containerd.log'));
    d.containerdPid = containerdPid;
    await waitFor('containerd', 15_000, () => stat(containerdSocket).then(() => true, () => false), () => isAlive(containerdPid));
    dockerdPid = spawnDaemon(
      bins.dockerd,
      [
        '--config-file', dockerdConfigPath,
        '--containerd', containerdSocket,
        '--host', `unix://${socket}`,
        '--exec-root', execRoot,
        '--pidfile', join(runDir, 'dockerd.pid'),
        // Never a default bridge, never touch the host's firewall or forwarding sysctls.
        '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--ip-forward=false',
        '--userland-proxy=false',
      ],
      join(tmpDir, 'dockerd.log'),
    );
    d.dockerdPid = dockerdPid;
    await waitFor(
      'dockerd',
      opts.startTimeoutMs ?? 30_000,
      async () => (await docker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 5_000 }).catch(() => ({ code: 1 }))).code === 0,
      () => isAlive(dockerdPid),
    );
    const tar = await buildBusyboxTar(bins.busybox, join(tmpDir, 'image'));
    const imp = await docker(['import', '--change', 'ENV PATH=/bin', '--change', 'CMD ["sh"]', tar, TEST_IMAGE]);
    if (imp.code !== 0) throw new HarnessError(`docker import failed: ${imp.stderr.trim()}`);
    await rm(join(tmpDir, 'image'), { recursive: true, force: true });
  } catch (e) {
    const logs = d.logTail(40);
    await d.stop().catch(() => {});
    throw new HarnessError(`startDockerd failed: ${(e as Error).message}\n${logs}`, { cause: e });
  }
  return d;
}

function sharedAncestors(owned: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const rel of owned) {
    const parts = rel.split('/').filter(Boolean);
    for (let i = parts.length - 1; i > 0; i--) out.add('/' + parts.slice(0, i).join('/'));
  }
  return [...out];
}

/**
 * What a stopped harness must not have left: processes naming its temp dir or inside its
 * cgroups, mounts under its temp dir, its cgroup directories, the temp dir itself.
 */
export async function leftovers(h: { tmpDir: string; ownedCgroups: Iterable<string> }): Promise<string[]> {
  const rels = [...h.ownedCgroups];
  const out: string[] = [];
  for (const p of await processesOf(h.tmpDir + '/', rels)) out.push(`process ${p.pid}: ${p.why}`);
  for (const m of await mountsUnder(h.tmpDir)) out.push(`mount ${m}`);
  for (const c of await existingCgroupDirs(rels)) out.push(`cgroup dir ${c}`);
  if (await stat(h.tmpDir).then(() => true, () => false)) out.push(`dir ${h.tmpDir}`);
  return out;
}
