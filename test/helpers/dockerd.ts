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
import { openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { TEST_IMAGE, buildBusyboxTar, isStaticElf } from './busybox-image.js';
import { writeDaemonConfigs } from './daemon-config.js';
import {
  createHarnessDir,
  globalDirsPresent,
  leftovers,
  recordCgroup,
  removeGlobalDirs,
  sweepStaleHarnessDirs,
  teardownHarnessDir,
} from './harness-dir.js';
import { BIN_SEARCH, HarnessError, type RunResult, isAlive, run, signal, sleep, terminate, which } from './proc.js';

export { HarnessError, type RunResult } from './proc.js';
export { leftovers } from './harness-dir.js';

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
  /** cgroup paths the harness owns (pod dirs, /docker/<id>), removed at stop */
  ownedCgroups: ReadonlySet<string>;
  /** records a cgroup path as ours before the container that creates it is started */
  trackCgroup(rel: string): void;
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
    docker: process.env.PODTRAIL_DOCKER_CLI ?? which('docker', ['/usr/bin', ...BIN_SEARCH]),
    busybox: process.env.PODTRAIL_BUSYBOX ?? which('busybox'),
  };
  for (const [k, v] of Object.entries(bins)) if (!v) missing.push(`${k} (apt-get install -y docker.io busybox-static)`);
  if (bins.busybox) {
    const isStatic = await isStaticElf(bins.busybox).catch(() => undefined);
    if (isStatic === undefined) missing.push(`busybox (cannot read ${bins.busybox})`);
    else if (!isStatic) missing.push(`static busybox (${bins.busybox} is dynamic: apt-get install -y busybox-static)`);
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

function spawnDaemon(file: string, args: string[], logPath: string, home: string): number {
  const fd = openSync(logPath, 'a');
  try {
    // Daemons must not inherit our DOCKER_* or containerd settings, nor write to ~.
    const env = { PATH: [...new Set(BIN_SEARCH)].join(delimiter), HOME: home, LANG: 'C' };
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
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new HarnessError(`bad dataRootName ${JSON.stringify(name)}`);
  }
  await sweepStaleHarnessDirs(bins.busybox);

  const tmpDir = await createHarnessDir();
  const hostRoot = join(tmpDir, 'root');
  const dataRoot = join(hostRoot, 'var/lib', name);
  const execRoot = join(tmpDir, 'exec');
  const runDir = join(tmpDir, 'run');
  const ctdDir = join(tmpDir, 'ctd');
  const socket = join(runDir, 'docker.sock');
  const containerdSocket = join(ctdDir, 'containerd.sock');
  // sun_path is 108 bytes; containerd also serves <socket>.ttrpc.
  if (containerdSocket.length + 6 > 100 || socket.length > 100) {
    await rm(tmpDir, { recursive: true, force: true });
    throw new HarnessError(`temp dir ${tmpDir} is too long for unix sockets; set TMPDIR to a short path`);
  }
  for (const dir of [dataRoot, join(hostRoot, 'etc/docker'), execRoot, runDir, ctdDir, join(tmpDir, 'dockerd'), join(tmpDir, 'opt'), join(tmpDir, 'cli')]) {
    await mkdir(dir, { recursive: true });
  }
  const cfg = await writeDaemonConfigs({ tmpDir, hostRoot, dataRootName: name, containerdDir: ctdDir, containerdSocket });

  const preexisting = await globalDirsPresent();

  const cliEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: tmpDir, DOCKER_CONFIG: join(tmpDir, 'cli') };
  const cliArgs = (args: string[]) => ['--host', `unix://${socket}`, ...args];
  const docker = (args: string[], o: DockerCmdOptions = {}) =>
    run(bins.docker, cliArgs(args), { env: cliEnv, timeoutMs: o.timeoutMs ?? 120_000, input: o.input });

  let containerdPid = 0;
  let dockerdPid = 0;
  let stopped = false;
  const ownedCgroups = new Set<string>();
  const onExit = () => {
    // A test that forgot stop(): at least do not leave the daemons running. The next
    // startDockerd sweeps the rest (sweepStaleHarnessDirs).
    if (dockerdPid) signal(dockerdPid, 'SIGKILL');
    if (containerdPid) signal(containerdPid, 'SIGKILL');
  };
  process.on('exit', onExit);

  const d: Dockerd = {
    socket,
    dataRoot,
    hostRoot,
    daemonJsonPath: cfg.daemonJsonPath,
    dockerdConfigPath: cfg.dockerdConfigPath,
    execRoot,
    containerdSocket,
    tmpDir,
    dockerdPid: 0,
    containerdPid: 0,
    image: TEST_IMAGE,
    ownedCgroups,
    trackCgroup(rel: string) {
      if (!/^(\/[A-Za-z0-9._-]+)+$/.test(rel) || rel.split('/').includes('..')) throw new HarnessError(`bad cgroup path ${rel}`);
      recordCgroup(tmpDir, rel);
      ownedCgroups.add(rel);
    },
    docker,
    spawnDocker: (args) => spawn(bins.docker, cliArgs(args), { env: cliEnv, stdio: 'pipe' }),
    logTail: (n = 30) =>
      `--- dockerd.log\n${tail(join(tmpDir, 'dockerd.log'), n)}\n--- containerd.log\n${tail(join(tmpDir, 'containerd.log'), n)}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      const problems: string[] = [];
      if (dockerdPid && isAlive(dockerdPid)) {
        const fail = (e: Error) => ({ code: 1, stdout: '', stderr: e.message });
        const ps = await docker(['ps', '-aq', '--no-trunc'], { timeoutMs: 30_000 }).catch(fail);
        const ids = ps.stdout.split('\n').filter(Boolean);
        if (ids.length > 0) {
          const rmr = await docker(['rm', '-f', '-v', ...ids], { timeoutMs: 60_000 }).catch(fail);
          if (rmr.code !== 0) problems.push(`docker rm: ${rmr.stderr.trim()}`);
        }
      }
      if (dockerdPid && (await terminate(dockerdPid, 15_000)) === 'stuck') problems.push(`dockerd ${dockerdPid} survived SIGKILL`);
      if (containerdPid && (await terminate(containerdPid, 10_000)) === 'stuck') problems.push(`containerd ${containerdPid} survived SIGKILL`);
      process.off('exit', onExit);
      problems.push(...(await teardownHarnessDir(tmpDir, [...ownedCgroups], bins.busybox)));
      await removeGlobalDirs(preexisting);
      problems.push(...(await leftovers({ tmpDir, ownedCgroups })));
      if (problems.length > 0) throw new HarnessError(`docker harness cleanup incomplete:\n  ${[...new Set(problems)].join('\n  ')}`);
    },
  };

  try {
    containerdPid = spawnDaemon(bins.containerd, ['--config', cfg.containerdConfigPath], join(tmpDir, 'containerd.log'), tmpDir);
    d.containerdPid = containerdPid;
    await waitFor('containerd', 15_000, () => stat(containerdSocket).then(() => true, () => false), () => isAlive(containerdPid));
    dockerdPid = spawnDaemon(
      bins.dockerd,
      [
        '--config-file', cfg.dockerdConfigPath,
        '--containerd', containerdSocket,
        '--host', `unix://${socket}`,
        '--exec-root', execRoot,
        '--pidfile', join(runDir, 'dockerd.pid'),
        // Never a default bridge; never touch the host's firewall or forwarding sysctls.
        '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--ip-forward=false',
        '--userland-proxy=false',
      ],
      join(tmpDir, 'dockerd.log'),
      tmpDir,
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
