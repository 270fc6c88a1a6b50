// SPDX-License-Identifier: Apache-2.0
// The attribution decision, pure: cgroup path + resolver result (+ UTS/netns hints) -> status.
// Keep the output aligned with AuditRecord's container/pod/attribution (src/schema/audit-record.avsc).
//
// Decisions:
// - POD needs metadata naming the pod. A UTS-derived pod name is a guess (kubelet may set
//   spec.hostname, and truncates names to 63 characters), so it stays UNRESOLVED with source 'uts'.
// - The UTS hint is used only when the cgroup path names a pod (a pod UID), the UTS name is a
//   valid DNS label different from the node's hostname, and the process is not known to be in
//   the host's UTS or network namespace (hostNetwork pods report the node's name, the seed's trap).
// - A sandbox (pause) container's own connection is POD: the pod owns it, and hiding it would hide
//   something unusual. reason says 'sandbox (pause) container' so it stands out.
// - Metadata without a pod identity for a container the cgroup path puts in a pod is UNRESOLVED
//   (container filled from metadata, pod.uid from the path): neither POD nor CONTAINER is known true.
// - A bad cgroup path (BAD_PATH) is UNRESOLVED with source null and no container or pod.
import { tryParseCgroupPath, type ParsedCgroup } from '../runtime/cgroup-path.js';
import type { ContainerMeta, RecordRuntime, ResolveResult, Runtime, RuntimeHint, Workload } from '../runtime/types.js';

export type AttributionStatus = 'POD' | 'CONTAINER' | 'HOST' | 'UNRESOLVED';
/** cri: the facts came from the runtime's CRI API; a runtime name: from its files. */
export type AttributionSource = Runtime | 'cri' | 'uts' | 'cgroup' | null;

export interface AttributedContainer {
  id: string;
  runtime: RecordRuntime | null;
  name: string | null;
  image: string | null;
}

export interface AttributedPod {
  name: string | null;
  namespace: string | null;
  uid: string | null;
  labels: Record<string, string>;
  hostNetwork: boolean;
  workload: Workload | null;
  annotations: Record<string, string>;
  ips: string[];
}

/** nerdctl runs on containerd: a record names the runtime, not the client. */
function recordRuntime(h: RuntimeHint | undefined): RecordRuntime | null {
  if (h === undefined) return null;
  return h === 'nerdctl' ? 'containerd' : h;
}

function sourceOf(meta: ContainerMeta): AttributionSource {
  return meta.origin === 'cri' ? 'cri' : meta.runtime;
}

export interface Attribution {
  status: AttributionStatus;
  source: AttributionSource;
  reason: string | null;
  container: AttributedContainer | null;
  pod: AttributedPod | null;
}

/** Namespace inodes as the raw event carries them. */
type NsId = number | bigint;

export interface AttributeInput {
  cgroupPath: string;
  /** The task's UTS nodename. */
  utsName?: string | null;
  netns?: NsId | null;
  /** The task's UTS namespace inode, when capture sends it. */
  utsNs?: NsId | null;
  node: { hostname: string; netns?: NsId | null; utsNs?: NsId | null };
  /** The resolver's answer for the path's container ID; absent when nothing was looked up. */
  resolved?: ResolveResult | null;
  /** parseCgroupPath(cgroupPath), if the caller already has it. */
  parsed?: ParsedCgroup;
}

// A pod name as a UTS nodename can carry it: one DNS-1123 label-ish string, at most 63 characters.
const UTS_POD_NAME_RE = /^[a-z0-9](?:[-a-z0-9.]{0,61}[a-z0-9])?$/;

function sameNs(a: NsId | null | undefined, b: NsId | null | undefined): boolean | undefined {
  const ok = (v: NsId | null | undefined): v is NsId => typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v));
  if (!ok(a) || !ok(b)) return undefined;
  return BigInt(a) === BigInt(b);
}

function utsPodName(input: AttributeInput): string | null {
  const uts = input.utsName;
  if (!uts || !UTS_POD_NAME_RE.test(uts)) return null;
  if (uts === input.node.hostname.toLowerCase()) return null;
  if (sameNs(input.utsNs, input.node.utsNs) === true) return null;
  if (sameNs(input.netns, input.node.netns) === true) return null;
  return uts;
}

function unresolved(input: AttributeInput, parsed: ParsedCgroup, reason: string, container: AttributedContainer | null, source: AttributionSource): Attribution {
  let pod: AttributedPod | null = null;
  if (parsed.podUid !== undefined) {
    const utsName = utsPodName(input);
    pod = {
      name: utsName, namespace: null, uid: parsed.podUid, labels: {}, hostNetwork: sameNs(input.netns, input.node.netns) === true,
      workload: null, annotations: {}, ips: [],
    };
    if (utsName !== null) {
      source = 'uts';
      reason = `${reason}; pod name from UTS hint`;
    }
  }
  return { status: 'UNRESOLVED', source, reason, container, pod };
}

export function attribute(input: AttributeInput): Attribution {
  let parsed = input.parsed;
  if (!parsed) {
    const r = tryParseCgroupPath(input.cgroupPath);
    if (!r.ok) return { status: 'UNRESOLVED', source: null, reason: `BAD_PATH: ${r.error.message}`, container: null, pod: null };
    parsed = r.value;
  }
  if (parsed.kind === 'host') return { status: 'HOST', source: 'cgroup', reason: null, container: null, pod: null };
  if (parsed.containerId === undefined) {
    const why = parsed.monitor ? 'runtime monitor (conmon) in the pod cgroup, not a container' : 'pod-level cgroup, no container';
    return unresolved(input, parsed, why, null, 'cgroup');
  }

  const id = parsed.containerId;
  const fromPath: AttributedContainer = { id, runtime: recordRuntime(parsed.runtime), name: null, image: null };
  const res = input.resolved;
  if (!res) return unresolved(input, parsed, 'metadata not looked up', fromPath, 'cgroup');
  if (!res.ok) return unresolved(input, parsed, `${res.code}: ${res.reason}`, fromPath, 'cgroup');
  const meta = res.meta;
  if (meta.id !== id) return unresolved(input, parsed, 'metadata is for another container', fromPath, 'cgroup');

  const container: AttributedContainer = { id, runtime: meta.runtime, name: meta.name, image: meta.image };
  const source = sourceOf(meta);
  if (!meta.pod) {
    if (parsed.podUid !== undefined) {
      return unresolved(input, parsed, 'container metadata names no pod, the cgroup path does', container, source);
    }
    return { status: 'CONTAINER', source, reason: null, container, pod: null };
  }

  const notes: string[] = [];
  if (meta.isSandbox) notes.push('sandbox (pause) container');
  if (parsed.podUid !== undefined && meta.pod.uid !== '' && meta.pod.uid !== parsed.podUid) {
    notes.push('pod UID in metadata differs from the cgroup path');
  }
  if (meta.note) notes.push(meta.note);
  if (meta.bounded) notes.push(meta.bounded);
  return {
    status: 'POD',
    source,
    reason: notes.length > 0 ? notes.join('; ') : null,
    container,
    pod: {
      name: meta.pod.name,
      namespace: meta.pod.namespace,
      uid: meta.pod.uid !== '' ? meta.pod.uid : (parsed.podUid ?? null),
      labels: meta.pod.labels,
      hostNetwork: meta.pod.hostNetwork || sameNs(input.netns, input.node.netns) === true,
      workload: meta.pod.workload ?? null,
      annotations: meta.pod.annotations,
      ips: meta.pod.ips ?? [],
    },
  };
}
