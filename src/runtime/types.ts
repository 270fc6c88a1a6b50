// SPDX-License-Identifier: Apache-2.0
// Types shared by cgroup parsing, the metadata resolvers and attribution.
// Keep ContainerMeta aligned with src/schema/container-meta.avsc (PodMeta there has
// non-null name/namespace/uid, hence uid '' below when a runtime does not record it).
import type { MetadataError } from '../common/errors.js';
import type { Workload } from './workload.js';

export type { Workload, WorkloadKind } from './workload.js';

/** Runtimes we have a node-file resolver for. */
export type Runtime = 'docker' | 'containerd' | 'cri-o';
export const RUNTIMES: readonly Runtime[] = ['docker', 'containerd', 'cri-o'];

/** What a cgroup path can tell about the runtime; podman and nerdctl have no resolver of their own. */
export type RuntimeHint = Runtime | 'podman' | 'nerdctl';

/** What a record's container.runtime says: nerdctl's containers are containerd's. */
export type RecordRuntime = Runtime | 'podman';

/** Where a resolver got its facts: the runtime's files, or its CRI API. */
export type MetaOrigin = 'files' | 'cri';

export type MetadataCode = MetadataError['code'];

export interface PodMeta {
  name: string;
  namespace: string;
  /** '' when the runtime's files do not carry it (containerd before 1.6.x/1.7); attribution fills it from the cgroup path. */
  uid: string;
  labels: Record<string, string>;
  /** Only the annotations the operator asked for (--pod-annotations); see pod-facts.ts. */
  annotations: Record<string, string>;
  hostNetwork: boolean;
  /** Inferred from labels and pod name (workload.ts); set by finishPodFacts, null when the names do not add up. */
  workload?: Workload | null;
  /** The pod's IP addresses, as the runtime reports them. */
  ips?: string[];
}

export interface ContainerMeta {
  id: string;
  runtime: Runtime;
  /** Kubelet's container name when the container belongs to a pod ('POD' for a sandbox), else the runtime's name. */
  name: string | null;
  image: string | null;
  hostname: string | null;
  isSandbox: boolean;
  /** The pod sandbox's container ID; for a sandbox its own ID. */
  sandboxId: string | null;
  pod: PodMeta | null;
  /** Docker: HostConfig.NetworkMode verbatim. containerd/CRI-O: 'host' when the OCI spec has no network namespace, else null. */
  networkMode: string | null;
  /** Docker: HostConfig.UTSMode verbatim ('' is kept as null). containerd/CRI-O: 'host' when the spec has no UTS namespace, else null. */
  utsMode: string | null;
  /** Creation time as the runtime recorded it (RFC 3339), when its files carry it. */
  created?: string | null;
  /** Default 'files'. A CRI-backed resolver sets 'cri'; attribution.source then says cri. */
  origin?: MetaOrigin;
  /** What finishPodFacts cut from hostile labels or annotations, and why; null/absent when nothing. */
  bounded?: string | null;
  /**
   * Why the facts are partial though the container was found (CRI failed, so they came from
   * the runtime's files and pod labels are unknown); null/absent when they are whole. Travels
   * with the version on the containers topic and ends in attribution.reason.
   */
  note?: string | null;
}

/**
 * A resolver's answer. Its identity stands for its content, and enrich relies on that: the
 * attribution decision is reused while the answer is the same object (IdentityMemo in
 * src/enrich/transcode.ts, AttributionCache, TopicResolver's one answer per stored version).
 * So a resolver returns the same object while the answer is unchanged (a cache hit, the same
 * stored version) and a new one when it changes; an answer it has handed out never changes.
 * The caches that hand answers out again freeze them (src/common/immutable.ts). A fresh but
 * equal object each time is correct, only slower: every event decides again.
 * test/unit/attribution-identity.test.ts holds these to the caches.
 */
export type ResolveResult =
  /** source: the metadata file read. warning: what could not be read (e.g. the sandbox), the result is partial. */
  | { ok: true; meta: ContainerMeta; source: string; warning?: string }
  | { ok: false; reason: string; code: MetadataCode };

export interface MetadataResolver {
  /** at: the event's time (ns since the epoch), for resolvers that keep history (point-in-time) */
  resolve(containerId: string, hint?: RuntimeHint, at?: bigint): Promise<ResolveResult>;
  /**
   * resolve()'s answer when it is at hand without I/O (a fresh cache entry), else undefined.
   * Lets the hot path skip a promise per event. Optional: callers fall back to resolve().
   */
  peek?(containerId: string, hint?: RuntimeHint, at?: bigint): ResolveResult | undefined;
}

/** Milliseconds; injectable so cache tests do not sleep. */
export type Clock = () => number;

export interface ResolverOptions {
  /** Where the node's filesystem is mounted. Default '/'. */
  hostRoot?: string;
  /** Operator path (not under hostRoot) of Docker's daemon.json. Default <hostRoot>/etc/docker/daemon.json. */
  dockerConfigPath?: string;
  /** Default 300000 (5 min). */
  cacheTtlMs?: number;
  /** Default 5000. */
  negativeTtlMs?: number;
  /** Entries per runtime cache. Default 10000. */
  cacheSize?: number;
  /** Largest metadata file read, in bytes. Default 4 MiB. */
  maxFileBytes?: number;
  /** Resolvers to use, in fallback order. Default ['docker', 'containerd', 'cri-o']. */
  runtimes?: Runtime[];
  /** containerd namespaces searched, in order. Default ['k8s.io', 'default']. */
  containerdNamespaces?: string[];
  /** Globs (`*`, `?`) of the pod annotation keys to keep. Default none: annotations can hold secrets. */
  podAnnotations?: string[];
  /** Default Date.now. */
  clock?: Clock;
}

const CONTAINER_ID_RE = /^[0-9a-f]{64}$/;

/** Exactly 64 lowercase hex characters: the only string that may become part of a metadata file path. */
export function isContainerId(s: unknown): s is string {
  return typeof s === 'string' && CONTAINER_ID_RE.test(s);
}
