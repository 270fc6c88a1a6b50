// SPDX-License-Identifier: Apache-2.0
// cgroup path -> runtime hint, container ID, pod UID, QoS. Pure: no filesystem.
//
// Decisions (see also test/unit/cgroup-path.test.ts):
// - The container ID comes from the LEAF component only. `/docker/<id>/not_hex` is not a
//   container (as the fixture's source expects), and nested layouts such as minikube's
//   `/docker/<node>/kubepods.slice/.../crio-<id>.scope` yield the innermost ID.
//   One exception: crun's subgroup. With the systemd driver on cgroup v2, crun moves the payload
//   into `<scope>/container` (run.oci.systemd.subgroup, default `container`), so podman's
//   `libpod-<id>.scope/container` (and CRI-O on crun's `crio-<id>.scope/container`) is that scope's
//   container. Any other child of a container's cgroup (init.scope, a systemd tree inside the
//   container) is still not the container.
// - podman (libpod) layouts, from podman's getOCICgroupPath and Falco's/StackRox's matchers:
//   systemd `<slice>/libpod-<id>.scope[/container]` (machine.slice, the rootless user.slice, a pod's
//   machine-libpod_pod_<pod>.slice); cgroupfs `/libpod_parent[/<pod>]/libpod-<id>`;
//   `--cgroups=split` (Quadlet's default) `<podman's own cgroup>/libpod-payload-<id>`, conmon in the
//   sibling `runtime`; rootless cgroup v1 `.../podman-<pid>.scope/<id>`. conmon's cgroups
//   (`libpod-conmon-<id>.scope`, `/libpod_parent/conmon`, split's `runtime`) are not the container.
//   A podman pod is not a Kubernetes pod: its slice never gives a pod UID.
// - The pod UID comes from the deepest ancestor (or the leaf) that is a kubelet pod cgroup:
//   `pod<uid>` directly under `kubepods` or `kubepods/<qos>`, `[kubelet-]kubepods[-<qos>]-pod<uid_>.slice`,
//   legacy `BestEffort|Burstable-pod<uid_>.slice`, or the slice part of `<slice>:<runtime>:<id>`.
//   A UUID anywhere else (vte-spawn scopes, ECS task IDs) is not a pod UID.
// - Malformed or hostile paths (not absolute, `.`/`..`/empty components, control characters
//   incl. NUL, over PATH_MAX/NAME_MAX) throw MetadataError(BAD_PATH). The kernel never writes
//   such a path, so it is a corrupt or forged record: attribute() turns it into UNRESOLVED.
import { MetadataError } from '../common/errors.js';
import { isContainerId, type RuntimeHint } from './types.js';

export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';
/** pod-other: in a pod but not in a container (pod-level cgroup, or a runtime monitor such as conmon). */
export type CgroupKind = 'pod-container' | 'container' | 'host' | 'pod-other';

export interface ParsedCgroup {
  kind: CgroupKind;
  runtime: RuntimeHint | undefined;
  containerId: string | undefined;
  /** Dashed canonical form; static pods' 32-hex config hash is kept as-is. */
  podUid: string | undefined;
  qos: QosClass | undefined;
  /** The leaf is a runtime's monitor process (crio-conmon-, libpod-conmon-), not a container. */
  monitor: boolean;
}

const PATH_MAX = 4096;
const NAME_MAX = 255;
const HEX64 = '[0-9a-f]{64}';
const PREFIX_RUNTIME: Record<string, RuntimeHint> = {
  docker: 'docker',
  'cri-containerd': 'containerd',
  crio: 'cri-o',
  libpod: 'podman',
  nerdctl: 'nerdctl',
};
const PREFIXES = Object.keys(PREFIX_RUNTIME).join('|');
const MONITOR_RE = new RegExp(`^(crio|libpod)-conmon-${HEX64}(?:\\.scope)?$`);
const SCOPE_RE = new RegExp(`^(${PREFIXES})-(${HEX64})(?:\\.scope)?$`);
// runc without systemd cgroups turns cgroupsPath "<slice>:<prefix>:<id>" into one directory name.
const LITERAL_RE = new RegExp(`^([^:]+\\.slice):(${PREFIXES}):(${HEX64})$`);
const BARE_RE = new RegExp(`^${HEX64}$`);
// podman --cgroups=split: the payload's own child of the cgroup podman ran in.
const PAYLOAD_RE = new RegExp(`^libpod-payload-(${HEX64})(?:\\.scope)?$`);
// crun's default run.oci.systemd.subgroup on cgroup v2.
const CRUN_SUBGROUP = 'container';
// The podman CLI's own transient scope; rootless podman on cgroup v1 nests the container's id under it.
const PODMAN_CLI_SCOPE_RE = /^podman-[0-9]+\.scope$/;
// podman's cgroupfs parent: a 64-hex child of it is a podman pod's cgroup, not a container.
const PODMAN_CGROUPFS_PARENT = 'libpod_parent';

const DASHED_UID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const UNDERSCORED_UID = '[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}';
const HASH_UID = '[0-9a-f]{32}';
const CGROUPFS_POD_RE = new RegExp(`^pod(${DASHED_UID}|${HASH_UID})$`);
const SYSTEMD_POD_RE = new RegExp(
  `^(?:kubelet-)?kubepods(?:-(besteffort|burstable))?-pod(${UNDERSCORED_UID}|${HASH_UID})\\.slice$`,
);
const LEGACY_POD_RE = new RegExp(`^(BestEffort|Burstable)-pod(${UNDERSCORED_UID}|${HASH_UID})\\.slice$`);
const QOS_DIRS = new Set(['besteffort', 'burstable']);

interface PodMatch {
  uid: string;
  qos: QosClass;
}

function badPath(why: string): MetadataError {
  return new MetadataError(`bad cgroup path: ${why}`, 'BAD_PATH');
}

/** Splits and validates; throws MetadataError(BAD_PATH). Returns [] for '/'. */
export function cgroupComponents(path: unknown): string[] {
  if (typeof path !== 'string') throw badPath('not a string');
  if (path.length === 0) throw badPath('empty');
  if (path.length > PATH_MAX) throw badPath(`longer than ${PATH_MAX}`);
  if (path[0] !== '/') throw badPath('not absolute');
  if (/[\u0000-\u001f\u007f]/.test(path)) throw badPath('control character');
  if (path === '/') return [];
  const parts = path.slice(1).split('/');
  for (const p of parts) {
    if (p === '') throw badPath('empty component');
    if (p === '.' || p === '..') throw badPath(`'${p}' component`);
    if (Buffer.byteLength(p) > NAME_MAX) throw badPath(`component longer than ${NAME_MAX} bytes`);
  }
  return parts;
}

function podFromSlice(name: string): PodMatch | undefined {
  const m = SYSTEMD_POD_RE.exec(name) ?? LEGACY_POD_RE.exec(name);
  if (!m) return undefined;
  const uid = m[2]!.replaceAll('_', '-');
  const qos = m[1] ? (m[1].toLowerCase() as QosClass) : 'guaranteed';
  return { uid, qos };
}

/** A pod cgroup at parts[i], judged with its ancestors for context. */
function podAt(parts: readonly string[], i: number): PodMatch | undefined {
  const name = parts[i]!;
  const slice = podFromSlice(name);
  if (slice) return slice;
  const m = CGROUPFS_POD_RE.exec(name);
  if (!m) return undefined;
  const parent = parts[i - 1];
  if (parent === 'kubepods') return { uid: m[1]!, qos: 'guaranteed' };
  if (parent !== undefined && QOS_DIRS.has(parent) && parts[i - 2] === 'kubepods') {
    return { uid: m[1]!, qos: parent as QosClass };
  }
  return undefined;
}

function deepestPod(parts: readonly string[], end: number): PodMatch | undefined {
  for (let i = end; i >= 0; i--) {
    const p = podAt(parts, i);
    if (p) return p;
  }
  return undefined;
}

/** Runtime of a bare 64-hex leaf, from its well-known parents. kubepods' cgroupfs form is shared by docker and containerd, so no hint there. */
function bareRuntime(parts: readonly string[], leafIdx: number): RuntimeHint | undefined {
  const parent = parts[leafIdx - 1];
  if (parent === 'docker' || parts.includes('docker.service')) return 'docker';
  if (parent === 'k8s.io') return 'containerd';
  if (parent !== undefined && PODMAN_CLI_SCOPE_RE.test(parent)) return 'podman';
  return undefined;
}

/** Index of the component that names the container: the leaf, or its parent scope when the leaf is crun's subgroup. */
function containerIndex(parts: readonly string[]): number {
  const last = parts.length - 1;
  if (last < 1 || parts[last] !== CRUN_SUBGROUP) return last;
  const parent = parts[last - 1]!;
  if (!parent.endsWith('.scope')) return last;
  return SCOPE_RE.test(parent) || PAYLOAD_RE.test(parent) ? last - 1 : last;
}

/**
 * Parses the path of a task's cgroup (as in /proc/<pid>/cgroup after the second ':').
 * Throws MetadataError with code BAD_PATH for malformed or hostile input.
 */
export function parseCgroupPath(path: string): ParsedCgroup {
  const parts = cgroupComponents(path);
  const out: ParsedCgroup = {
    kind: 'host',
    runtime: undefined,
    containerId: undefined,
    podUid: undefined,
    qos: undefined,
    monitor: false,
  };
  if (parts.length === 0) return out;
  const last = containerIndex(parts);
  const leaf = parts[last]!;
  let pod: PodMatch | undefined;

  const mon = MONITOR_RE.exec(leaf);
  const scope = mon ? null : SCOPE_RE.exec(leaf);
  const payload = mon || scope ? null : PAYLOAD_RE.exec(leaf);
  const literal = mon || scope || payload ? null : LITERAL_RE.exec(leaf);
  if (mon) {
    out.monitor = true;
    out.runtime = PREFIX_RUNTIME[mon[1] === 'crio' ? 'crio' : 'libpod'];
    pod = deepestPod(parts, last - 1);
  } else if (scope) {
    out.runtime = PREFIX_RUNTIME[scope[1]!];
    out.containerId = scope[2];
    pod = deepestPod(parts, last - 1);
  } else if (payload) {
    out.runtime = 'podman';
    out.containerId = payload[1];
    pod = deepestPod(parts, last - 1);
  } else if (literal) {
    out.runtime = PREFIX_RUNTIME[literal[2]!];
    out.containerId = literal[3];
    pod = podFromSlice(literal[1]!) ?? deepestPod(parts, last - 1);
  } else if (BARE_RE.test(leaf) && parts[last - 1] === PODMAN_CGROUPFS_PARENT) {
    // A podman pod's cgroup: no container, and (as for every host-kind path) no runtime hint.
  } else if (BARE_RE.test(leaf)) {
    out.runtime = bareRuntime(parts, last);
    out.containerId = leaf;
    pod = deepestPod(parts, last - 1);
  } else {
    pod = deepestPod(parts, last);
  }

  if (out.containerId !== undefined && !isContainerId(out.containerId)) out.containerId = undefined;
  if (pod) {
    out.podUid = pod.uid;
    out.qos = pod.qos;
  }
  if (out.containerId) out.kind = pod ? 'pod-container' : 'container';
  else out.kind = pod ? 'pod-other' : 'host';
  return out;
}

/** Like parseCgroupPath, but never throws: a bad path comes back as { error }. */
export function tryParseCgroupPath(path: string): { ok: true; value: ParsedCgroup } | { ok: false; error: MetadataError } {
  try {
    return { ok: true, value: parseCgroupPath(path) };
  } catch (err) {
    if (err instanceof MetadataError) return { ok: false, error: err };
    return { ok: false, error: new MetadataError('bad cgroup path', 'BAD_PATH', { cause: err }) };
  }
}

/** What a node or consumer should look up for this path: null for host, pod-level or bad paths. */
export function planLookup(cgroupPath: string): { containerId: string; hint: RuntimeHint | undefined } | null {
  const p = tryParseCgroupPath(cgroupPath);
  if (!p.ok || p.value.containerId === undefined) return null;
  return { containerId: p.value.containerId, hint: p.value.runtime };
}
