// SPDX-License-Identifier: Apache-2.0
// containerd (CRI plugin) metadata from the running task's OCI bundle:
// /run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/config.json (v1 shim: runtime.v1.linux).
//
// What files alone give: pod name/namespace (io.kubernetes.cri.sandbox-name/-namespace), pod UID
// (sandbox-uid from containerd 1.6.x/1.7 on, else parsed from linux.cgroupsPath), container name,
// image name, sandbox ID, hostname, host network/UTS (from the spec's namespaces), and the pod
// annotations the runtime is configured to pass through (pod_annotations).
// What it cannot give: pod LABELS. CRI keeps them only in containerd's bolt database
// (io.containerd.metadata.v1.bolt/meta.db), which we do not parse; pod.labels is {}, and meta.note
// (which reaches attribution.reason) says they are unknown, not empty: without them the workload
// cannot be inferred either (pod-facts.ts leaves it null). The bundle also disappears when the
// task exits, so an exited container is NOT_FOUND.
import { ConfigError, MetadataError } from '../common/errors.js';
import { readJsonInRoot } from './safe-fs.js';
import { isContainerId, type ContainerMeta, type MetadataResolver, type ResolveResult } from './types.js';
import {
  asRecord,
  failure,
  firstFound,
  ociHasNamespace,
  podUidFromCgroupsPath,
  str,
  stringMap,
  type Json,
} from './common.js';

export const DEFAULT_CONTAINERD_NAMESPACES = ['k8s.io', 'default'];
// k3s runs its own containerd with its state under /run/k3s/containerd (its CRI socket is there too).
const STATE_DIRS = ['/run/containerd/io.containerd.runtime.v2.task', '/run/containerd/io.containerd.runtime.v1.linux', '/run/k3s/containerd/io.containerd.runtime.v2.task'];
const CRI = 'io.kubernetes.cri.';
export const CONTAINERD_LABELS_UNKNOWN = 'pod labels and workload unknown: containerd gives pod labels only through its CRI socket';
// containerd's own namespace rule (namespaces/validate.go), so a namespace never injects path syntax.
const NAMESPACE_RE = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

export interface ContainerdResolverOptions {
  hostRoot: string;
  maxFileBytes: number;
  namespaces?: string[];
}

interface Bundle {
  spec: Json;
  annotations: Record<string, string>;
  path: string;
}

export class ContainerdResolver implements MetadataResolver {
  private readonly locations: string[];

  constructor(private readonly opts: ContainerdResolverOptions) {
    const namespaces = opts.namespaces ?? DEFAULT_CONTAINERD_NAMESPACES;
    for (const ns of namespaces) {
      if (!NAMESPACE_RE.test(ns) || ns.length > 76) throw new ConfigError(`invalid containerd namespace: ${JSON.stringify(ns)}`);
    }
    this.locations = namespaces.flatMap((ns) => STATE_DIRS.map((d) => `${d}/${ns}`));
  }

  async resolve(containerId: string): Promise<ResolveResult> {
    if (!isContainerId(containerId)) return { ok: false, code: 'BAD_ID', reason: 'not a 64-hex container ID' };
    // The sandbox is searched in the namespace dir where its container was found.
    return firstFound(this.locations, async (dir) => this.resolveIn(dir, containerId));
  }

  private async readBundle(dir: string, id: string): Promise<Bundle> {
    const path = `${dir}/${id}/config.json`;
    const spec = asRecord(await readJsonInRoot(this.opts.hostRoot, path, { maxBytes: this.opts.maxFileBytes }));
    if (!spec) throw new MetadataError(`${path}: not a JSON object`, 'BAD_JSON');
    return { spec, annotations: stringMap(spec.annotations), path };
  }

  private async resolveIn(dir: string, id: string): Promise<ResolveResult> {
    const self = await this.readBundle(dir, id);
    const a = self.annotations;
    const isSandbox = a[`${CRI}container-type`] === 'sandbox';
    const sandboxId = isContainerId(a[`${CRI}sandbox-id`]) ? a[`${CRI}sandbox-id`]! : isSandbox ? id : null;
    let sandbox: Bundle | undefined;
    let warning: string | undefined;
    if (isSandbox) sandbox = self;
    else if (sandboxId) {
      try {
        sandbox = await this.readBundle(dir, sandboxId);
      } catch (err) {
        warning = `sandbox unreadable: ${failure(err).reason}`;
      }
    }
    const ownNet = ociHasNamespace(self.spec, 'network');
    const ownUts = ociHasNamespace(self.spec, 'uts');
    const meta: ContainerMeta = {
      id,
      runtime: 'containerd',
      name: a[`${CRI}container-name`] ?? (isSandbox ? 'POD' : null),
      image: a[`${CRI}image-name`] ?? null,
      hostname: str(self.spec, 'hostname') ?? str(sandbox?.spec, 'hostname') ?? envHostname(self.spec),
      isSandbox,
      sandboxId,
      pod: null,
      networkMode: ownNet === false ? 'host' : null,
      utsMode: ownUts === false ? 'host' : null,
    };
    const podName = a[`${CRI}sandbox-name`];
    const podNs = a[`${CRI}sandbox-namespace`];
    if (podName && podNs) {
      const sbNet = ociHasNamespace(sandbox?.spec, 'network');
      meta.pod = {
        name: podName,
        namespace: podNs,
        uid: a[`${CRI}sandbox-uid`] ?? sandbox?.annotations[`${CRI}sandbox-uid`] ?? podUidFromCgroupsPath(self.spec) ?? '',
        labels: {},
        annotations: sandbox ? podAnnotations(sandbox.annotations) : {},
        hostNetwork: (sbNet ?? ownNet) === false,
      };
      meta.note = CONTAINERD_LABELS_UNKNOWN;
    }
    return warning ? { ok: true, meta, source: self.path, warning } : { ok: true, meta, source: self.path };
  }
}

/** Sandbox annotations other than CRI's own are the pod annotations containerd passed through. */
function podAnnotations(a: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(a).filter(([k]) => !k.startsWith(CRI)));
}

function envHostname(spec: Json): string | null {
  const env = asRecord(spec.process)?.env;
  if (!Array.isArray(env)) return null;
  for (const e of env) {
    if (typeof e === 'string' && e.startsWith('HOSTNAME=') && e.length > 9) return e.slice(9);
  }
  return null;
}
