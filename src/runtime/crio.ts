// SPDX-License-Identifier: Apache-2.0
// CRI-O metadata from containers/storage: overlay-containers/<id>/userdata/config.json under
// /var/lib/containers/storage (persistent) and /run/containers/storage (the runtime bundle).
// A container's annotations carry io.kubernetes.pod.name/.namespace/.uid and
// io.kubernetes.container.name as plain keys; pod labels are only in the SANDBOX's
// io.kubernetes.cri-o.Labels (a JSON string), pod annotations in its io.kubernetes.cri-o.Annotations.
// Podman (libpod) uses the same storage layout; its containers are not ours (io.container.manager).
import { MetadataError } from '../common/errors.js';
import { readJsonInRoot } from './safe-fs.js';
import { isContainerId, type ContainerMeta, type MetadataResolver, type ResolveResult } from './types.js';
import {
  asRecord,
  failure,
  ociHasNamespace,
  str,
  stringMap,
  withoutKubeletKeys,
  type Json,
} from './common.js';

const STORAGE_DIRS = ['/var/lib/containers/storage/overlay-containers', '/run/containers/storage/overlay-containers'];
const K = 'io.kubernetes.cri-o.';

export interface CrioResolverOptions {
  hostRoot: string;
  maxFileBytes: number;
}

interface Userdata {
  spec: Json;
  annotations: Record<string, string>;
  path: string;
}

/** A JSON-in-a-string annotation; a broken one is reported, not fatal to the container. */
function jsonMap(a: Record<string, string>, key: string, what: string): { map: Record<string, string>; error?: string } {
  const raw = a[key];
  if (raw === undefined) return { map: {} };
  try {
    const v: unknown = JSON.parse(raw);
    if (!asRecord(v)) return { map: {}, error: `${what}: ${key} is not a JSON object` };
    return { map: stringMap(v) };
  } catch {
    return { map: {}, error: `${what}: ${key} is bad JSON` };
  }
}

/** CRI-O writes the sandbox's IPs as io.kubernetes.cri-o.IP.0, .IP.1, ... (checked in pod-facts.ts). */
function podIps(a: Record<string, string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < 16; i++) {
    const ip = a[`${K}IP.${i}`];
    if (ip === undefined) break;
    out.push(ip);
  }
  return out;
}

export class CrioResolver implements MetadataResolver {
  constructor(private readonly opts: CrioResolverOptions) {}

  async resolve(containerId: string): Promise<ResolveResult> {
    if (!isContainerId(containerId)) return { ok: false, code: 'BAD_ID', reason: 'not a 64-hex container ID' };
    try {
      const self = await this.readUserdata(containerId);
      return await this.build(containerId, self);
    } catch (err) {
      return failure(err);
    }
  }

  private async readUserdata(id: string): Promise<Userdata> {
    let found: Userdata | undefined;
    let best: MetadataError | undefined;
    for (const dir of STORAGE_DIRS) {
      const path = `${dir}/${id}/userdata/config.json`;
      try {
        const spec = asRecord(await readJsonInRoot(this.opts.hostRoot, path, { maxBytes: this.opts.maxFileBytes }));
        if (!spec) throw new MetadataError(`${path}: not a JSON object`, 'BAD_JSON');
        found = { spec, annotations: stringMap(spec.annotations), path };
        break;
      } catch (err) {
        const e = err instanceof MetadataError ? err : new MetadataError(failure(err).reason, 'IO', { cause: err });
        if (!best || (best.code === 'NOT_FOUND' && e.code !== 'NOT_FOUND')) best = e;
      }
    }
    if (!found) throw best ?? new MetadataError('no storage dir', 'NOT_FOUND');
    const manager = found.annotations['io.container.manager'];
    if (manager !== undefined && manager !== 'cri-o') {
      throw new MetadataError(`${found.path}: managed by ${manager}, not CRI-O`, 'NOT_FOUND');
    }
    const recorded = found.annotations[`${K}ContainerID`];
    if (recorded !== undefined && recorded !== id) {
      throw new MetadataError(`${found.path}: records another container ID`, 'BAD_ID');
    }
    return found;
  }

  private async build(id: string, self: Userdata): Promise<ResolveResult> {
    const a = self.annotations;
    const isSandbox = a[`${K}ContainerType`] === 'sandbox';
    const ownLabels = jsonMap(a, `${K}Labels`, self.path).map;
    const sandboxId = isContainerId(a[`${K}SandboxID`]) ? a[`${K}SandboxID`]! : isSandbox ? id : null;
    const warnings: string[] = [];
    let sandbox: Userdata | undefined;
    if (isSandbox) sandbox = self;
    else if (sandboxId) {
      try {
        sandbox = await this.readUserdata(sandboxId);
      } catch (err) {
        warnings.push(`sandbox unreadable, pod labels missing: ${failure(err).reason}`);
      }
    }
    const ownNet = ociHasNamespace(self.spec, 'network');
    const ownUts = ociHasNamespace(self.spec, 'uts');
    const meta: ContainerMeta = {
      id,
      runtime: 'cri-o',
      name: isSandbox ? 'POD' : (a['io.kubernetes.container.name'] ?? ownLabels['io.kubernetes.container.name'] ?? null),
      image: a[`${K}ImageName`] ?? a[`${K}Image`] ?? null,
      hostname: str(self.spec, 'hostname') ?? a[`${K}HostName`] ?? null,
      isSandbox,
      sandboxId,
      pod: null,
      networkMode: ownNet === false ? 'host' : null,
      utsMode: ownUts === false ? 'host' : null,
    };
    const pick = (key: string): string | undefined => a[key] ?? ownLabels[key];
    const podName = pick('io.kubernetes.pod.name');
    const podNs = pick('io.kubernetes.pod.namespace');
    if (podName && podNs) {
      let labels: Record<string, string> = {};
      let annotations: Record<string, string> = {};
      let hostNetwork = ownNet === false;
      if (sandbox) {
        const l = jsonMap(sandbox.annotations, `${K}Labels`, sandbox.path);
        const an = jsonMap(sandbox.annotations, `${K}Annotations`, sandbox.path);
        for (const e of [l.error, an.error]) if (e) warnings.push(e);
        labels = withoutKubeletKeys(l.map);
        annotations = an.map;
        const hn = sandbox.annotations[`${K}HostNetwork`];
        if (hn !== undefined) hostNetwork = hn === 'true';
      }
      meta.pod = { name: podName, namespace: podNs, uid: pick('io.kubernetes.pod.uid') ?? '', labels, annotations, hostNetwork, ips: sandbox ? podIps(sandbox.annotations) : [] };
    }
    const out: ResolveResult = { ok: true, meta, source: self.path };
    if (warnings.length > 0) out.warning = warnings.join('; ');
    return out;
  }
}
