// SPDX-License-Identifier: Apache-2.0
// A private containerd (Debian's, with its CRI plugin) for end-to-end tests, driven through CRI
// the way kubelet drives it. See containerd-harness.md.
//
// Layout under one temp dir T (short: unix socket paths are limited):
//   T/ctd/containerd.sock, T/ctd/root, T/ctd/state   containerd's own (teardown is rm -rf)
//   T/containerd.toml, T/runc (runc --root), T/opt
//   T/cni/net.d (one bridge + host-local conflist), T/cni/ipam (host-local's data)
//   T/logs/<pod>/...                                  container logs
//   T/root                                            an empty host root, for enrich
//   T/netns                                           the network namespace containerd runs in
// containerd runs inside a network namespace the test makes (nsenter --net), so the CNI
// bridge, every pod address and every hostNetwork pod live there and nowhere else.
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { delimiter, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { isStaticElf } from './busybox-image.js';
import { CTR_IMAGE, buildContainerdImage } from './containerd-image.js';
import { containerdToml } from './daemon-config.js';
import { createHarnessDir, globalDirsPresent, leftovers, recordCgroup, removeGlobalDirs, sweepStaleHarnessDirs, teardownHarnessDir } from './harness-dir.js';
import { mountsUnder } from './host-state.js';
import { repoRoot } from './ns.js';
import { BIN_SEARCH, HarnessError, isAlive, run, sleep, terminate, which } from './proc.js';

export { HarnessError } from './proc.js';

export type Qos = 'guaranteed' | 'burstable' | 'besteffort';
type Obj = Record<string, unknown>;

export interface PodSpec {
  name: string;
  namespace: string;
  qos: Qos;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  hostNetwork?: boolean;
  containers: Array<{ name: string; cmd: string[] }>;
}

export interface CriPod {
  name: string;
  namespace: string;
  uid: string;
  qos: Qos;
  hostNetwork: boolean;
  sandboxId: string;
  cgroupParent: string;
  /** the sandbox's network namespace file (own-netns pods), removed by RemovePodSandbox */
  netnsPath: string | undefined;
  /** the pod's IP as CRI reports it ('' for hostNetwork pods) */
  ip: string;
  containers: Map<string, string>;
  container(name: string): string;
  cgroupPath(containerId: string): string;
}

export interface Containerd {
  socket: string;
  tmpDir: string;
  hostRoot: string;
  pid: number;
  /** name of the network namespace containerd runs in (under /run/netns) */
  netns: string;
  image: string;
  imageId: string;
  version: { runtimeName: string; runtimeVersion: string };
  /** a unary CRI call (RuntimeService or ImageService), as kubelet makes it */
  call(method: string, req: Obj, timeoutMs?: number): Promise<Obj>;
  runPod(spec: PodSpec): Promise<CriPod>;
  /**
   * Another app container in a running pod. sandboxLabels: the pod labels kubelet would resend
   * after a `kubectl label` (containerd keeps the ones the sandbox was created with).
   */
  addContainer(pod: CriPod, c: { name: string; cmd: string[] }, sandboxLabels?: Record<string, string>): Promise<string>;
  /** ExecSync in the container: its process joins the container's cgroups and namespaces */
  exec(containerId: string, cmd: string[], timeoutSec?: number): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /** kubelet's order: stop and remove the containers, then the sandbox */
  deletePod(pod: CriPod): Promise<void>;
  logTail(lines?: number): string;
  /** idempotent; throws listing anything it could not remove */
  stop(): Promise<void>;
}

export interface Prerequisites {
  ok: boolean;
  missing: string[];
  bins: Partial<Record<'containerd' | 'shim' | 'runc' | 'ctr' | 'busybox' | 'nsenter' | 'ip' | 'cniBridge' | 'cniHostLocal' | 'cniLoopback', string>>;
}

export const CNI_BIN_DIR = process.env.PODTRAIL_CNI_BIN_DIR ?? '/usr/lib/cni';

export async function checkPrerequisites(): Promise<Prerequisites> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (containerd needs uid 0)');
  const bins: Prerequisites['bins'] = {
    containerd: which('containerd'),
    shim: which('containerd-shim-runc-v2'),
    runc: which('runc'),
    ctr: which('ctr'),
    busybox: process.env.PODTRAIL_BUSYBOX ?? which('busybox'),
    nsenter: which('nsenter'),
    ip: which('ip'),
    cniBridge: which('bridge', [CNI_BIN_DIR]),
    cniHostLocal: which('host-local', [CNI_BIN_DIR]),
    cniLoopback: which('loopback', [CNI_BIN_DIR]),
  };
  const pkg: Record<string, string> = {
    containerd: 'containerd', shim: 'containerd', ctr: 'containerd', runc: 'runc', busybox: 'busybox-static', nsenter: 'util-linux', ip: 'iproute2',
    cniBridge: 'containernetworking-plugins', cniHostLocal: 'containernetworking-plugins', cniLoopback: 'containernetworking-plugins',
  };
  for (const [k, v] of Object.entries(bins)) if (!v) missing.push(`${k} (apt-get install -y ${pkg[k]})`);
  if (bins.busybox && !(await isStaticElf(bins.busybox).catch(() => false))) missing.push(`static busybox (${bins.busybox}: apt-get install -y busybox-static)`);
  return { ok: missing.length === 0, missing, bins };
}

let kubeletProto: { rt: grpc.ServiceClientConstructor; img: grpc.ServiceClientConstructor } | undefined;
function protoCtors(): NonNullable<typeof kubeletProto> {
  if (!kubeletProto) {
    const def = loadSync(join(repoRoot, 'test/helpers/cri-kubelet.proto'), { keepCase: true, longs: String, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor; ImageService: grpc.ServiceClientConstructor } } };
    kubeletProto = { rt: pkg.runtime.v1.RuntimeService, img: pkg.runtime.v1.ImageService };
  }
  return kubeletProto;
}

/** The kubelet-side proto (more fields than podtrail's), for fake runtimes too. */
export function kubeletProtoPath(): string {
  return join(repoRoot, 'test/helpers/cri-kubelet.proto');
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${path})`;
  }
}

function configToml(t: { tmpDir: string; socket: string }): string {
  const q = JSON.stringify;
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return containerdToml({ root: join(t.tmpDir, 'ctd/root'), state: join(t.tmpDir, 'ctd/state'), socket: t.socket, optDir: join(t.tmpDir, 'opt'), cri: true, extra: [
    `[${cri}]`,
    `  sandbox_image = ${q(CTR_IMAGE)}`,
    // The bounding set here lacks CAP_SYS_RESOURCE: the sandbox's default -998 would fail.
    '  restrict_oom_score_adj = true',
    '  disable_apparmor = true',
    // A port of 0: parallel instances never fight over 10010 (and it is in our netns anyway).
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    // PID 1 is not systemd here: cgroupfs paths, as kubelet's cgroupfs driver gives.
    '  SystemdCgroup = false',
    `  Root = ${q(join(t.tmpDir, 'runc'))}`,
    `[${cri}.cni]`,
    `  bin_dir = ${q(CNI_BIN_DIR)}`,
    `  conf_dir = ${q(join(t.tmpDir, 'cni/net.d'))}`,
  ] });
}

function conflist(tmpDir: string, subnet: string): string {
  return JSON.stringify({
    cniVersion: '0.4.0',
    name: 'podtrail-test',
    plugins: [{
      type: 'bridge', bridge: 'ptcni0', isGateway: false, ipMasq: false, hairpinMode: false,
      ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: join(tmpDir, 'cni/ipam') },
    }],
  }, null, 2);
}

export async function startContainerd(opts: { startTimeoutMs?: number } = {}): Promise<Containerd> {
  const pre = await checkPrerequisites();
  if (!pre.ok) throw new HarnessError(`containerd harness prerequisites missing: ${pre.missing.join(', ')}`);
  const bins = pre.bins as Required<Prerequisites['bins']>;
  await sweepStaleHarnessDirs(bins.busybox);
  const tmpDir = await createHarnessDir();
  const socket = join(tmpDir, 'ctd/containerd.sock');
  if (socket.length + 7 > 100) {
    await rm(tmpDir, { recursive: true, force: true });
    throw new HarnessError(`temp dir ${tmpDir} is too long for unix sockets; set TMPDIR to a short path`);
  }
  const hostRoot = join(tmpDir, 'root');
  for (const d of ['ctd', 'runc', 'opt', 'cni/net.d', 'cni/ipam', 'logs', 'root', 'image']) await mkdir(join(tmpDir, d), { recursive: true });
  const netns = `ptcri-${randomBytes(4).toString('hex')}`;
  // Written before the namespace exists: a sweep of a crashed run finds it (harness-dir.ts).
  await writeFile(join(tmpDir, 'netns'), `${netns}\n`);
  await writeFile(join(tmpDir, 'containerd.toml'), configToml({ tmpDir, socket }));
  // A /24 of 10.231.0.0/16 per instance; it exists only inside our namespace anyway.
  await writeFile(join(tmpDir, 'cni/net.d/10-podtrail.conflist'), conflist(tmpDir, `10.231.${randomBytes(1)[0]}.0/24`));

  const preexisting = await globalDirsPresent();
  const ownedCgroups = new Set<string>();
  const pods = new Map<string, CriPod>();
  const configs = new Map<string, { sandboxConfig: Obj; nsOpts: Obj; kubeletLabels: Record<string, string> }>();
  let pid = 0;
  let stopped = false;
  let rt: grpc.Client & Record<string, unknown>;
  let img: grpc.Client & Record<string, unknown>;
  const onExit = (): void => {
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  };
  process.on('exit', onExit);

  const call = (method: string, req: Obj, timeoutMs = 60_000): Promise<Obj> => {
    const client = method === 'ImageStatus' ? img : rt;
    const fn = client[method] as (r: Obj, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res?: Obj) => void) => void;
    return new Promise((resolve, reject) => {
      fn.call(client, req, { deadline: Date.now() + timeoutMs }, (e, res) => (e ? reject(new HarnessError(`CRI ${method}: ${e.message}`, { cause: e })) : resolve(res ?? {})));
    });
  };

  const h: Containerd = {
    socket, tmpDir, hostRoot, pid: 0, netns, image: CTR_IMAGE, imageId: '', version: { runtimeName: '', runtimeVersion: '' },
    call,
    async runPod(spec) {
      const uid = randomUUID();
      const cgroupParent = spec.qos === 'guaranteed' ? `/kubepods/pod${uid}` : `/kubepods/${spec.qos}/pod${uid}`;
      recordCgroup(tmpDir, cgroupParent);
      ownedCgroups.add(cgroupParent);
      const hostNetwork = spec.hostNetwork === true;
      const nsOpts = { network: hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' };
      const logDir = join(tmpDir, 'logs', `${spec.namespace}_${spec.name}_${uid}`);
      await mkdir(logDir, { recursive: true });
      const kubeletLabels = { 'io.kubernetes.pod.name': spec.name, 'io.kubernetes.pod.namespace': spec.namespace, 'io.kubernetes.pod.uid': uid };
      const sandboxConfig = {
        metadata: { name: spec.name, uid, namespace: spec.namespace, attempt: 0 },
        // kubelet sets a hostname only for pods with their own network namespace.
        hostname: hostNetwork ? '' : spec.name,
        log_directory: logDir,
        labels: { ...spec.labels, ...kubeletLabels },
        annotations: { ...spec.annotations, 'kubernetes.io/config.seen': new Date().toISOString(), 'kubernetes.io/config.source': 'api' },
        linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: nsOpts } },
      };
      const sb = await call('RunPodSandbox', { config: sandboxConfig });
      const sandboxId = String(sb.pod_sandbox_id);
      const status = await call('PodSandboxStatus', { pod_sandbox_id: sandboxId, verbose: true });
      const netnsPath = netnsOf(status);
      // Recorded for a sweep of a run killed before stop(): the file is a bind mount that outlives containerd.
      if (netnsPath) appendFileSync(join(tmpDir, 'podnetns'), `${netnsPath}\n`);
      const ip = String(((status.status as Obj | undefined)?.network as Obj | undefined)?.ip ?? '');
      const containers = new Map<string, string>();
      const pod: CriPod = {
        name: spec.name, namespace: spec.namespace, uid, qos: spec.qos, hostNetwork, sandboxId, cgroupParent, netnsPath, ip, containers,
        container(name) {
          const id = containers.get(name);
          if (!id) throw new HarnessError(`pod ${spec.name} has no container ${name}`);
          return id;
        },
        cgroupPath: (id) => `${cgroupParent}/${id}`,
      };
      pods.set(sandboxId, pod);
      configs.set(sandboxId, { sandboxConfig, nsOpts, kubeletLabels });
      for (const c of spec.containers) await h.addContainer(pod, c);
      return pod;
    },
    async addContainer(pod, c, sandboxLabels) {
      const cfg = configs.get(pod.sandboxId);
      if (!cfg) throw new HarnessError(`pod ${pod.name} is not running`);
      const { nsOpts, kubeletLabels } = cfg;
      const sandboxConfig = sandboxLabels ? { ...cfg.sandboxConfig, labels: { ...sandboxLabels, ...kubeletLabels } } : cfg.sandboxConfig;
      {
        const created = await call('CreateContainer', {
          pod_sandbox_id: pod.sandboxId,
          config: {
            metadata: { name: c.name, attempt: 0 },
            // kubelet creates by image ID and keeps the name the user wrote beside it.
            image: { image: h.imageId, user_specified_image: CTR_IMAGE },
            command: c.cmd,
            labels: { 'io.kubernetes.container.name': c.name, ...kubeletLabels },
            annotations: { 'io.kubernetes.container.hash': '1', 'io.kubernetes.container.restartCount': '0' },
            log_path: `${c.name}/0.log`,
            linux: { security_context: { namespace_options: nsOpts } },
          },
          // Resent whole, as kubelet does: containerd 1.6 takes the cgroup parent from here.
          sandbox_config: sandboxConfig,
        });
        const id = String(created.container_id);
        pod.containers.set(c.name, id);
        await call('StartContainer', { container_id: id });
        return id;
      }
    },
    async exec(containerId, cmd, timeoutSec = 10) {
      const r = await call('ExecSync', { container_id: containerId, cmd, timeout: timeoutSec }, (timeoutSec + 10) * 1000);
      const text = (b: unknown): string => (Buffer.isBuffer(b) ? b.toString('utf8') : '');
      return { stdout: text(r.stdout), stderr: text(r.stderr), exitCode: Number(r.exit_code ?? 0) };
    },
    async deletePod(pod) {
      for (const id of pod.containers.values()) {
        await call('StopContainer', { container_id: id, timeout: 0 });
        await call('RemoveContainer', { container_id: id });
      }
      await call('StopPodSandbox', { pod_sandbox_id: pod.sandboxId });
      await call('RemovePodSandbox', { pod_sandbox_id: pod.sandboxId });
      pods.delete(pod.sandboxId);
      configs.delete(pod.sandboxId);
    },
    logTail: (n = 30) => `--- containerd.log\n${tail(join(tmpDir, 'containerd.log'), n)}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      const problems: string[] = [];
      const netnsFiles = [...pods.values()].map((p) => p.netnsPath).filter((p): p is string => p !== undefined);
      if (pid && isAlive(pid) && rt) {
        try {
          const list = await call('ListPodSandbox', {}, 20_000);
          const items = Array.isArray(list.items) ? (list.items as Obj[]) : [];
          const cs = await call('ListContainers', {}, 20_000);
          for (const c of Array.isArray(cs.containers) ? (cs.containers as Obj[]) : []) {
            await call('StopContainer', { container_id: c.id, timeout: 0 }, 30_000).catch((e: Error) => problems.push(e.message));
            await call('RemoveContainer', { container_id: c.id }, 30_000).catch((e: Error) => problems.push(e.message));
          }
          for (const s of items) {
            await call('StopPodSandbox', { pod_sandbox_id: s.id }, 30_000).catch((e: Error) => problems.push(e.message));
            await call('RemovePodSandbox', { pod_sandbox_id: s.id }, 30_000).catch((e: Error) => problems.push(e.message));
          }
        } catch (e) {
          problems.push(`listing pods: ${(e as Error).message}`);
        }
      }
      rt?.close();
      img?.close();
      if (pid && (await terminate(pid, 10_000)) === 'stuck') problems.push(`containerd ${pid} survived SIGKILL`);
      process.off('exit', onExit);
      problems.push(...(await teardownHarnessDir(tmpDir, [...ownedCgroups], bins.busybox)));
      const del = await run(bins.ip, ['netns', 'del', netns]);
      if (del.code !== 0 && !/No such file|not found|Cannot remove/i.test(del.stderr)) problems.push(`ip netns del ${netns}: ${del.stderr.trim()}`);
      await removeGlobalDirs(preexisting);
      problems.push(...(await leftovers({ tmpDir, ownedCgroups })));
      if (await stat(join('/run/netns', netns)).then(() => true, () => false)) problems.push(`network namespace ${netns}`);
      for (const f of netnsFiles) {
        if (await stat(f).then(() => true, () => false)) problems.push(`pod network namespace ${f}`);
        if ((await mountsUnder(f)).length > 0) problems.push(`mount ${f}`);
      }
      if (problems.length > 0) throw new HarnessError(`containerd harness cleanup incomplete:\n  ${[...new Set(problems)].join('\n  ')}`);
    },
  };

  try {
    const add = await run(bins.ip, ['netns', 'add', netns]);
    if (add.code !== 0) throw new HarnessError(`ip netns add ${netns}: ${add.stderr.trim()}`);
    const lo = await run(bins.ip, ['-n', netns, 'link', 'set', 'lo', 'up']);
    if (lo.code !== 0) throw new HarnessError(`ip -n ${netns} link set lo up: ${lo.stderr.trim()}`);
    const fd = openSync(join(tmpDir, 'containerd.log'), 'a');
    try {
      // nsenter --net, not `ip netns exec`: the latter remounts /sys and runc then finds no cgroup mounts.
      const env = { PATH: [...new Set(BIN_SEARCH)].join(delimiter), HOME: tmpDir, LANG: 'C' };
      const child = spawn(bins.nsenter, [`--net=/run/netns/${netns}`, bins.containerd, '--config', join(tmpDir, 'containerd.toml')], { stdio: ['ignore', fd, fd], env });
      if (child.pid === undefined) throw new HarnessError('cannot spawn containerd');
      child.unref();
      pid = child.pid;
      h.pid = pid;
    } finally {
      closeSync(fd);
    }
    const { rt: Rt, img: Img } = protoCtors();
    rt = new Rt(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as typeof rt;
    img = new Img(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as typeof img;
    const end = Date.now() + (opts.startTimeoutMs ?? 30_000);
    for (;;) {
      const v = await call('Version', { version: 'v1' }, 2_000).catch(() => undefined);
      if (v) {
        h.version = { runtimeName: String(v.runtime_name), runtimeVersion: String(v.runtime_version) };
        break;
      }
      if (!isAlive(pid)) throw new HarnessError('containerd exited');
      if (Date.now() > end) throw new HarnessError('containerd: CRI not ready in time');
      await sleep(100);
    }
    const tar = await buildContainerdImage(bins.busybox, join(tmpDir, 'image'));
    const imp = await run(bins.ctr, ['--address', socket, '--namespace', 'k8s.io', 'images', 'import', '--snapshotter', 'overlayfs', tar], { timeoutMs: 120_000 });
    if (imp.code !== 0) throw new HarnessError(`ctr images import: ${imp.stderr.trim()}`);
    await rm(join(tmpDir, 'image'), { recursive: true, force: true });
    // The CRI plugin learns of the import asynchronously.
    for (;;) {
      const st = await call('ImageStatus', { image: { image: CTR_IMAGE } }, 5_000);
      const id = (st.image as Obj | null)?.id;
      if (typeof id === 'string' && id !== '') {
        h.imageId = id;
        break;
      }
      if (Date.now() > end) throw new HarnessError('containerd: imported image not seen by CRI in time');
      await sleep(100);
    }
  } catch (e) {
    const logs = h.logTail(40);
    await h.stop().catch(() => {});
    throw new HarnessError(`startContainerd failed: ${(e as Error).message}\n${logs}`, { cause: e });
  }
  return h;
}

/** The sandbox's network namespace file, from PodSandboxStatus's verbose info (containerd 1.6: runtimeSpec). */
function netnsOf(status: Obj): string | undefined {
  const info = (status.info as Record<string, string> | undefined)?.info;
  if (!info) return undefined;
  try {
    const spec = (JSON.parse(info) as { runtimeSpec?: { linux?: { namespaces?: Array<{ type: string; path?: string }> } } }).runtimeSpec;
    return spec?.linux?.namespaces?.find((n) => n.type === 'network')?.path || undefined;
  } catch {
    return undefined;
  }
}

/** Pod netns files containerd left (it mounts them under /run/netns as cni-<uuid>). */
export async function podNetnsFiles(): Promise<string[]> {
  return (await readdir('/run/netns').catch(() => [])).filter((n) => n.startsWith('cni-')).map((n) => join('/run/netns', n));
}
