// SPDX-License-Identifier: Apache-2.0
// Container metadata from a runtime's CRI socket: the only place containerd keeps pod labels
// that a node agent can read (they live in its locked bolt database otherwise).
// - ListContainers filtered by ID: sandbox ID, container name, image, state, creation time.
//   Nothing listed: the ID may be a sandbox (pause) container, asked with PodSandboxStatus.
// - PodSandboxStatus: pod name, namespace, uid, labels, annotations, network mode (NODE is
//   hostNetwork) and IPs. Cached per sandbox: CRI fixes labels when the sandbox is created,
//   so an answer stays true until the sandbox goes (forget() is called on deletion).
// - The answer goes through finishPodFacts (pod-facts.ts) like every runtime's: annotations
//   filtered by --pod-annotations, labels bounded (what is cut is named in meta.bounded, which
//   reaches attribution.reason), IPs checked, workload inferred. origin is 'cri'.
// - Answers are NOT_FOUND only when the runtime says it does not know the ID; an unreachable
//   or broken runtime is IO with the reason, so the caller falls back to files and says why.
import { LRUCache } from 'lru-cache';
import { CriError, errMessage } from '../../common/errors.js';
import { isoNanos } from '../../schema/json-form.js';
import { withoutKubeletKeys } from '../common.js';
import { isContainerId, type ContainerMeta, type MetadataResolver, type ResolveResult, type Runtime } from '../types.js';
import { finishPodFacts } from '../pod-facts.js';
import type { CriClient } from './client.js';
import type { CriContainer, CriSandboxStatus } from './types.js';

export const CRI_RESOLVER_DEFAULTS = {
  sandboxTtlMs: 300_000,
  sandboxCacheSize: 10_000,
} as const;

export interface CriResolverOptions {
  /** the runtime to report when Version names one we do not know (from the socket's default path) */
  defaultRuntime?: Runtime;
  sandboxTtlMs?: number;
  sandboxCacheSize?: number;
  /** --pod-annotations: which pod annotations to keep (default none) */
  keepAnnotation?: (key: string) => boolean;
  clock?: () => number;
}


/** Version's runtime_name -> our runtime names (cri-dockerd answers "docker"). */
export function runtimeFromName(name: string): Runtime | undefined {
  const n = name.toLowerCase();
  if (n === 'containerd') return 'containerd';
  if (n === 'cri-o' || n === 'crio') return 'cri-o';
  if (n === 'docker') return 'docker';
  return undefined;
}

const IMAGE_ID_RE = /^(sha256:)?[0-9a-f]{64}$/;

function failure(err: unknown): Extract<ResolveResult, { ok: false }> {
  if (err instanceof CriError) {
    return { ok: false, code: err.code === 'NOT_FOUND' ? 'NOT_FOUND' : err.code === 'TOO_LARGE' ? 'TOO_LARGE' : 'IO', reason: err.message };
  }
  return { ok: false, code: 'IO', reason: `CRI: unexpected: ${errMessage(err)}` };
}

export class CriResolver implements MetadataResolver {
  private readonly sandboxes: LRUCache<string, { status: CriSandboxStatus; expires: number }>;
  private readonly inflight = new Map<string, Promise<CriSandboxStatus>>();
  private runtime: Promise<Runtime> | undefined;
  private readonly clock: () => number;
  private readonly ttlMs: number;

  constructor(readonly client: CriClient, private readonly opts: CriResolverOptions = {}) {
    this.clock = opts.clock ?? Date.now;
    this.ttlMs = opts.sandboxTtlMs ?? CRI_RESOLVER_DEFAULTS.sandboxTtlMs;
    this.sandboxes = new LRUCache({ max: opts.sandboxCacheSize ?? CRI_RESOLVER_DEFAULTS.sandboxCacheSize });
  }

  /** Which runtime answers on this socket (Version, asked once; asked again after a failure). */
  runtimeName(): Promise<Runtime> {
    this.runtime ??= this.client.version().then(
      (v) => runtimeFromName(v.runtimeName) ?? this.opts.defaultRuntime ?? 'containerd',
      (err: unknown) => {
        this.runtime = undefined;
        throw err;
      },
    );
    return this.runtime;
  }

  /** Drops a sandbox's cached status (it was deleted, or may have changed). */
  forget(sandboxId?: string): void {
    if (sandboxId === undefined) this.sandboxes.clear();
    else this.sandboxes.delete(sandboxId);
  }

  sandboxStatus(id: string): Promise<CriSandboxStatus> {
    const e = this.sandboxes.get(id);
    if (e && this.clock() < e.expires) return Promise.resolve(e.status);
    let p = this.inflight.get(id);
    if (!p) {
      p = this.client.podSandboxStatus(id).then((status) => {
        if (status.id !== '' && status.id !== id) throw new CriError(`CRI PodSandboxStatus on ${this.client.socket}: answer is for another sandbox`, 'PROTOCOL');
        this.sandboxes.set(id, { status, expires: this.clock() + this.ttlMs });
        return status;
      }).finally(() => this.inflight.delete(id));
      this.inflight.set(id, p);
    }
    return p;
  }

  async resolve(containerId: string): Promise<ResolveResult> {
    if (!isContainerId(containerId)) return { ok: false, code: 'BAD_ID', reason: 'not a 64-hex container ID' };
    try {
      const runtime = await this.runtimeName();
      const listed = (await this.client.listContainers({ id: containerId })).filter((c) => c.id === containerId);
      if (listed.length === 0) return await this.resolveSandbox(containerId, runtime);
      return await this.resolveContainer(listed[0]!, runtime);
    } catch (err) {
      return failure(err);
    }
  }

  private async resolveSandbox(id: string, runtime: Runtime): Promise<ResolveResult> {
    let status: CriSandboxStatus;
    try {
      status = await this.sandboxStatus(id);
    } catch (err) {
      if (err instanceof CriError && err.code === 'NOT_FOUND') {
        return { ok: false, code: 'NOT_FOUND', reason: `CRI on ${this.client.socket}: no container or sandbox ${id}` };
      }
      throw err;
    }
    const meta = this.base(id, runtime, 'POD', null, status.createdAtNs);
    meta.isSandbox = true;
    meta.sandboxId = id;
    return this.withPod(meta, status);
  }

  private async resolveContainer(c: CriContainer, runtime: Runtime): Promise<ResolveResult> {
    let image = c.image;
    const warnings: string[] = [];
    if (IMAGE_ID_RE.test(image)) {
      // kubelet creates containers by image ID; ContainerStatus names the image. Without it the ID stays, and the warning says why.
      try {
        image = (await this.client.containerImage(c.id)) || image;
      } catch (err) {
        warnings.push(`image name unknown (${failure(err).reason})`);
      }
    }
    const meta = this.base(c.id, runtime, c.name || null, image || c.imageRef || null, c.createdAtNs);
    if (!isContainerId(c.podSandboxId)) {
      // A CRI container always has a sandbox; without one this is not a pod we can name.
      return { ok: true, meta: this.finish(meta), source: `cri:${this.client.socket}`, warning: ['CRI container has no valid pod_sandbox_id', ...warnings].join('; ') };
    }
    meta.sandboxId = c.podSandboxId;
    let status: CriSandboxStatus;
    try {
      status = await this.sandboxStatus(c.podSandboxId);
    } catch (err) {
      // The container is known without its pod: say what is missing, keep what we have.
      warnings.push(`pod sandbox unreadable: ${failure(err).reason}`);
      return { ok: true, meta: this.finish(meta), source: `cri:${this.client.socket}`, warning: warnings.join('; ') };
    }
    const out = this.withPod(meta, status);
    if (out.ok && warnings.length > 0) out.warning = [...warnings, out.warning].filter(Boolean).join('; ');
    return out;
  }

  private base(id: string, runtime: Runtime, name: string | null, image: string | null, createdAtNs: bigint): ContainerMeta {
    return {
      id, runtime, name, image, hostname: null, isSandbox: false, sandboxId: null, pod: null,
      networkMode: null, utsMode: null, created: createdAtNs > 0n ? isoNanos(createdAtNs) : null, origin: 'cri',
    };
  }

  private finish(meta: ContainerMeta): ContainerMeta {
    return finishPodFacts(meta, this.opts.keepAnnotation ?? (() => false));
  }

  private withPod(meta: ContainerMeta, s: CriSandboxStatus): ResolveResult {
    const source = `cri:${this.client.socket}`;
    if (s.name === '' || s.namespace === '') {
      return { ok: true, meta: this.finish(meta), source, warning: 'CRI sandbox has no pod name or namespace' };
    }
    const hostNetwork = s.networkMode === 'NODE';
    meta.pod = { name: s.name, namespace: s.namespace, uid: s.uid, labels: withoutKubeletKeys(s.labels), annotations: s.annotations, hostNetwork, ips: s.ips };
    if (hostNetwork) {
      meta.networkMode = 'host';
      meta.utsMode = 'host';
    }
    const out: ResolveResult = { ok: true, meta: this.finish(meta), source };
    // A mode this subset does not name (a newer runtime's) is not taken for hostNetwork, but said.
    if (typeof s.networkMode === 'number') out.warning = `CRI sandbox network mode ${s.networkMode} unknown; hostNetwork taken as false`;
    return out;
  }
}
