// SPDX-License-Identifier: Apache-2.0
// Kubernetes-shaped pods on a plain dockerd, built the way kubelet's dockershim
// (and cri-dockerd after it) built them: a sandbox container holding the pod's
// namespaces and labels, app containers joining it, kubelet's io.kubernetes.*
// labels, annotations as `annotation.<key>` labels, cgroupfs parent
// /kubepods[/<qos>]/pod<uid>. See fixtures/runtime-metadata/docker for the
// reference files and their sources.
import { createHash, randomUUID } from 'node:crypto';
import type { Dockerd } from './dockerd.js';
import { HarnessError } from './proc.js';

export type Qos = 'guaranteed' | 'burstable' | 'besteffort';

export interface PodSpec {
  name: string;
  namespace: string;
  uid?: string;
  qos: Qos;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  hostNetwork?: boolean;
  /**
   * 'dockershim' (default): sandbox NetworkMode host, app containers
   * NetworkMode container:<sandbox> + UTSMode host, exactly as kubelet did.
   * 'host-flags': every container gets --network host --uts host.
   */
  hostNetworkStyle?: 'dockershim' | 'host-flags';
  containers: { name: string; cmd: string[] }[];
}

export interface PodContainer {
  name: string;
  id: string;
  pid: number;
}

export interface Pod {
  uid: string;
  name: string;
  namespace: string;
  qos: Qos;
  hostNetwork: boolean;
  sandboxId: string;
  sandboxPid: number;
  /** /kubepods/<qos>/pod<uid>, or /kubepods/pod<uid> for guaranteed */
  cgroupParent: string;
  /** pod labels and annotations as put on the sandbox (annotations without the prefix) */
  labels: Record<string, string>;
  annotations: Record<string, string>;
  containers: PodContainer[];
  /** the v1 (memory) cgroup path the kernel reports for the container's processes */
  cgroupPath(containerId: string): string;
  container(name: string): PodContainer;
}

export interface PlainContainer {
  name: string;
  id: string;
  pid: number;
  cgroupPath: string;
}

// kubelet's own label keys (pkg/kubelet/types/labels.go, dockershim docker_service.go).
export const K8S = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
  dockerType: 'io.kubernetes.docker.type',
  sandboxId: 'io.kubernetes.sandbox.id',
  logPath: 'io.kubernetes.container.logpath',
} as const;

const SLEEP_FOREVER = ['sleep', '2147483647'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// kubelet UIDs are UUIDs; static pods use a 32-hex hash. Never a path separator.
const POD_UID = /^[0-9a-fA-F][0-9a-fA-F-]{7,63}$/;
const QOS: readonly Qos[] = ['guaranteed', 'burstable', 'besteffort'];

export function cgroupParentFor(qos: Qos, uid: string): string {
  return qos === 'guaranteed' ? `/kubepods/pod${uid}` : `/kubepods/${qos}/pod${uid}`;
}

function checkMap(what: string, m: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(m ?? {})) {
    if (!k || /[=\s]/.test(k)) throw new HarnessError(`${what} key ${JSON.stringify(k)} is empty or has '=' or whitespace`);
    if (typeof v !== 'string' || /[\n\r]/.test(v)) throw new HarnessError(`${what} ${k}: value must be a one-line string`);
    if (k.startsWith('io.kubernetes.')) throw new HarnessError(`${what} key ${k}: io.kubernetes.* keys are kubelet's own`);
  }
}

export function validatePodSpec(spec: PodSpec): void {
  if (!spec || typeof spec !== 'object') throw new HarnessError('pod spec must be an object');
  if (typeof spec.name !== 'string' || spec.name.length > 63 || !DNS_SUBDOMAIN.test(spec.name)) {
    throw new HarnessError(`pod name ${JSON.stringify(spec.name)} is not a DNS subdomain of at most 63 chars`);
  }
  if (typeof spec.namespace !== 'string' || !DNS_LABEL.test(spec.namespace)) {
    throw new HarnessError(`namespace ${JSON.stringify(spec.namespace)} is not a DNS label`);
  }
  if (spec.uid !== undefined && (typeof spec.uid !== 'string' || !POD_UID.test(spec.uid))) {
    throw new HarnessError(`pod uid ${JSON.stringify(spec.uid)} is not a UUID or hex hash`);
  }
  if (!QOS.includes(spec.qos)) throw new HarnessError(`qos ${JSON.stringify(spec.qos)} is not one of ${QOS.join(', ')}`);
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) throw new HarnessError('a pod needs at least one container');
  const seen = new Set<string>();
  for (const c of spec.containers) {
    if (typeof c?.name !== 'string' || !DNS_LABEL.test(c.name) || c.name === 'POD') {
      throw new HarnessError(`container name ${JSON.stringify(c?.name)} is not a DNS label (or is the reserved POD)`);
    }
    if (seen.has(c.name)) throw new HarnessError(`container name ${c.name} repeated`);
    seen.add(c.name);
    if (!Array.isArray(c.cmd) || c.cmd.length === 0 || !c.cmd.every((a) => typeof a === 'string')) {
      throw new HarnessError(`container ${c.name}: cmd must be a non-empty string array`);
    }
  }
  checkMap('label', spec.labels);
  checkMap('annotation', spec.annotations);
}

function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

async function dockerRun(d: Dockerd, args: string[]): Promise<string> {
  const r = await d.docker(['run', '-d', ...args]);
  const id = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.code !== 0 || !/^[0-9a-f]{64}$/.test(id)) {
    throw new HarnessError(`docker run ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  }
  return id;
}

/** Host pids of running containers; a container that is not running is an error. */
export async function containerPids(d: Dockerd, ids: string[]): Promise<Map<string, number>> {
  const r = await d.docker(['inspect', '-f', '{{.Id}} {{.State.Pid}} {{.State.Running}} {{.State.ExitCode}}', ...ids]);
  if (r.code !== 0) throw new HarnessError(`docker inspect failed: ${r.stderr.trim()}`);
  const out = new Map<string, number>();
  for (const line of r.stdout.trim().split('\n')) {
    const [id, pid, running, exit] = line.split(' ');
    if (running !== 'true' || !id) {
      const logs = id ? (await d.docker(['logs', '--tail', '20', id])).stderr : '';
      throw new HarnessError(`container ${id} is not running (exit ${exit}): ${logs.trim()}`);
    }
    out.set(id, Number(pid));
  }
  return out;
}

export async function createPod(d: Dockerd, spec: PodSpec): Promise<Pod> {
  validatePodSpec(spec);
  const uid = spec.uid ?? randomUUID();
  const hostNetwork = spec.hostNetwork === true;
  const hostFlags = hostNetwork && spec.hostNetworkStyle === 'host-flags';
  const cgroupParent = cgroupParentFor(spec.qos, uid);
  d.trackCgroup(cgroupParent);
  const podIds = { [K8S.podName]: spec.name, [K8S.podNamespace]: spec.namespace, [K8S.podUid]: uid };
  const podKey = `${spec.name}_${spec.namespace}_${uid}_0`;

  // kubelet stamps these on every pod it admits; real sandboxes carry them.
  const annotations = { 'kubernetes.io/config.seen': new Date().toISOString(), 'kubernetes.io/config.source': 'api', ...spec.annotations };
  const labels = { ...spec.labels };
  const sandboxLabels = {
    ...labels,
    ...Object.fromEntries(Object.entries(annotations).map(([k, v]) => [`annotation.${k}`, v])),
    ...podIds,
    [K8S.dockerType]: 'podsandbox',
    [K8S.containerName]: 'POD',
  };
  const sandboxNet = hostNetwork ? ['--network', 'host', ...(hostFlags ? ['--uts', 'host'] : [])] : ['--network', 'none', '--hostname', spec.name];
  const sandboxId = await dockerRun(d, [
    '--name', `k8s_POD_${podKey}`,
    '--cgroup-parent', cgroupParent,
    ...sandboxNet,
    '--ipc', 'shareable',
    ...labelArgs(sandboxLabels),
    d.image,
    ...SLEEP_FOREVER,
  ]);

  const ids: { name: string; id: string }[] = [];
  for (const c of spec.containers) {
    const hash = createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 8);
    const appLabels = {
      'annotation.io.kubernetes.container.hash': hash,
      'annotation.io.kubernetes.container.restartCount': '0',
      'annotation.io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
      'annotation.io.kubernetes.container.terminationMessagePolicy': 'File',
      'annotation.io.kubernetes.pod.terminationGracePeriod': '30',
      [K8S.containerName]: c.name,
      [K8S.logPath]: `/var/log/pods/${spec.namespace}_${spec.name}_${uid}/${c.name}/0.log`,
      ...podIds,
      [K8S.dockerType]: 'container',
      [K8S.sandboxId]: sandboxId,
    };
    const net = hostFlags
      ? ['--network', 'host', '--uts', 'host']
      : ['--network', `container:${sandboxId}`, ...(hostNetwork ? ['--uts', 'host'] : [])];
    const id = await dockerRun(d, [
      '--name', `k8s_${c.name}_${podKey}`,
      '--cgroup-parent', cgroupParent,
      ...net,
      '--ipc', `container:${sandboxId}`,
      ...labelArgs(appLabels),
      d.image,
      ...c.cmd,
    ]);
    ids.push({ name: c.name, id });
  }

  const pids = await containerPids(d, [sandboxId, ...ids.map((c) => c.id)]);
  const containers = ids.map((c) => ({ ...c, pid: pids.get(c.id)! }));
  const own = new Set([sandboxId, ...ids.map((c) => c.id)]);
  return {
    uid,
    name: spec.name,
    namespace: spec.namespace,
    qos: spec.qos,
    hostNetwork,
    sandboxId,
    sandboxPid: pids.get(sandboxId)!,
    cgroupParent,
    labels,
    annotations,
    containers,
    cgroupPath(containerId: string) {
      if (!own.has(containerId)) throw new HarnessError(`container ${containerId} is not in pod ${spec.name}`);
      return `${cgroupParent}/${containerId}`;
    },
    container(name: string) {
      const c = containers.find((x) => x.name === name);
      if (!c) throw new HarnessError(`pod ${spec.name} has no container ${name}`);
      return c;
    },
  };
}

/** A container no pod owns: no io.kubernetes labels, Docker's default cgroup /docker/<id>. */
export async function createPlainContainer(d: Dockerd, name: string, cmd: string[]): Promise<PlainContainer> {
  if (typeof name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,127}$/.test(name)) {
    throw new HarnessError(`container name ${JSON.stringify(name)} is not a valid Docker name`);
  }
  if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((a) => typeof a === 'string')) {
    throw new HarnessError('cmd must be a non-empty string array');
  }
  // --network none still gives the container its own netns with loopback up. create,
  // then start: the cgroup /docker/<id> is recorded before it exists.
  const c = await d.docker(['create', '--name', name, '--network', 'none', d.image, ...cmd]);
  const id = c.stdout.trim().split('\n').at(-1) ?? '';
  if (c.code !== 0 || !/^[0-9a-f]{64}$/.test(id)) throw new HarnessError(`docker create ${name} failed: ${c.stderr.trim()}`);
  d.trackCgroup(`/docker/${id}`);
  const s = await d.docker(['start', id]);
  if (s.code !== 0) throw new HarnessError(`docker start ${name} failed: ${s.stderr.trim()}`);
  const pid = (await containerPids(d, [id])).get(id)!;
  return { name, id, pid, cgroupPath: `/docker/${id}` };
}
