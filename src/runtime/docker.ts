// SPDX-License-Identifier: Apache-2.0
// Docker (dockershim / cri-dockerd) metadata from the data root, the seed's way: no API calls.
// <data-root>/containers/<id>/config.v2.json (labels, name, image, hostname) and hostconfig.json
// (NetworkMode, UTSMode). Pod labels live only on the sandbox, found via io.kubernetes.sandbox.id.
import { MetadataError } from '../common/errors.js';
import { parseJson, readFileBounded, readJsonInRoot } from './safe-fs.js';
import { isContainerId, type Clock, type ContainerMeta, type MetadataResolver, type ResolveResult } from './types.js';
import { asRecord, failure, str, stringMap, withoutKubeletKeys, type Json } from './common.js';

export const DEFAULT_DOCKER_DATA_ROOT = '/var/lib/docker';
const DAEMON_JSON = '/etc/docker/daemon.json';
const ANNOTATION_PREFIX = 'annotation.';

export interface DockerResolverOptions {
  hostRoot: string;
  /** Operator path of daemon.json, read as is (not under hostRoot); it must exist. */
  dockerConfigPath?: string;
  maxFileBytes: number;
  /** How long the data root read from daemon.json is reused; a failure to read it, configNegativeTtlMs. */
  configTtlMs: number;
  configNegativeTtlMs: number;
  clock: Clock;
}

interface DockerFiles {
  config: Json;
  host: Json;
  path: string;
}

/** The data root a daemon.json names: `data-root`, else the deprecated `graph`, else the default. */
export function dataRootFromDaemonJson(doc: unknown, what: string): string {
  const rec = asRecord(doc);
  if (!rec) throw new MetadataError(`${what}: not a JSON object`, 'BAD_JSON');
  for (const key of ['data-root', 'graph']) {
    const v = rec[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new MetadataError(`${what}: "${key}" is not a string`, 'BAD_JSON');
    if (!v.startsWith('/') || v.includes('\0')) {
      throw new MetadataError(`${what}: "${key}" is not an absolute path`, 'BAD_PATH');
    }
    return v;
  }
  return DEFAULT_DOCKER_DATA_ROOT;
}

export class DockerResolver implements MetadataResolver {
  private dataRoot: { expires: number; value: Promise<string> } | undefined;

  constructor(private readonly opts: DockerResolverOptions) {}

  async resolve(containerId: string): Promise<ResolveResult> {
    try {
      if (!isContainerId(containerId)) throw new MetadataError('not a 64-hex container ID', 'BAD_ID');
      const root = await this.getDataRoot();
      return await this.resolveIn(root, containerId);
    } catch (err) {
      return failure(err);
    }
  }

  /** Re-read after configTtlMs, so a dockerd restarted with a new data root is followed. */
  getDataRoot(): Promise<string> {
    const now = this.opts.clock();
    if (!this.dataRoot || now >= this.dataRoot.expires) {
      const entry = { expires: now + this.opts.configTtlMs, value: this.readDataRoot() };
      // A broken daemon.json is retried soon: the operator is likely fixing it.
      entry.value.catch(() => {
        entry.expires = Math.min(entry.expires, this.opts.clock() + this.opts.configNegativeTtlMs);
      });
      this.dataRoot = entry;
    }
    return this.dataRoot.value;
  }

  private async readDataRoot(): Promise<string> {
    const { hostRoot, dockerConfigPath, maxFileBytes } = this.opts;
    if (dockerConfigPath !== undefined) {
      const buf = await readFileBounded(dockerConfigPath, { maxBytes: maxFileBytes });
      return dataRootFromDaemonJson(parseJson(buf, dockerConfigPath), dockerConfigPath);
    }
    let doc: unknown;
    try {
      doc = await readJsonInRoot(hostRoot, DAEMON_JSON, { maxBytes: maxFileBytes });
    } catch (err) {
      if (err instanceof MetadataError && err.code === 'NOT_FOUND') return DEFAULT_DOCKER_DATA_ROOT;
      throw err;
    }
    return dataRootFromDaemonJson(doc, DAEMON_JSON);
  }

  private async readContainer(dataRoot: string, id: string): Promise<DockerFiles> {
    const dir = `${dataRoot}/containers/${id}`;
    const read = async (name: string): Promise<Json> => {
      const doc = asRecord(await readJsonInRoot(this.opts.hostRoot, `${dir}/${name}`, { maxBytes: this.opts.maxFileBytes }));
      if (!doc) throw new MetadataError(`${dir}/${name}: not a JSON object`, 'BAD_JSON');
      return doc;
    };
    const config = await read('config.v2.json');
    const recorded = config.ID;
    if (recorded !== undefined && recorded !== id) {
      throw new MetadataError(`${dir}/config.v2.json: records another container ID`, 'BAD_ID');
    }
    return { config, host: await read('hostconfig.json'), path: `${dir}/config.v2.json` };
  }

  private async resolveIn(dataRoot: string, id: string): Promise<ResolveResult> {
    const self = await this.readContainer(dataRoot, id);
    const cfg = asRecord(self.config.Config);
    const labels = stringMap(cfg?.Labels);
    const networkMode = str(self.host, 'NetworkMode');
    const utsMode = str(self.host, 'UTSMode');
    const isSandbox = labels['io.kubernetes.docker.type'] === 'podsandbox';
    const podName = labels['io.kubernetes.pod.name'];
    const podNs = labels['io.kubernetes.pod.namespace'];
    const rawName = str(self.config, 'Name');
    const meta: ContainerMeta = {
      id,
      runtime: 'docker',
      name: labels['io.kubernetes.container.name'] ?? (rawName ? rawName.replace(/^\//, '') : null),
      image: str(cfg, 'Image'),
      hostname: str(cfg, 'Hostname'),
      isSandbox,
      sandboxId: null,
      pod: null,
      networkMode,
      utsMode,
      created: str(self.config, 'Created'),
    };
    if (!podName || !podNs) return { ok: true, meta, source: self.path };

    let warning: string | undefined;
    let sandbox: { labels: Record<string, string>; networkMode: string | null } | undefined;
    if (isSandbox) {
      meta.sandboxId = id;
      sandbox = { labels, networkMode };
    } else {
      meta.sandboxId = sandboxIdOf(labels, networkMode);
      if (meta.sandboxId) {
        try {
          const sb = await this.readContainer(dataRoot, meta.sandboxId);
          const sbLabels = stringMap(asRecord(sb.config.Config)?.Labels);
          if (sbLabels['io.kubernetes.pod.uid'] !== labels['io.kubernetes.pod.uid']) {
            warning = 'sandbox belongs to another pod; pod labels not taken';
          } else {
            sandbox = { labels: sbLabels, networkMode: str(sb.host, 'NetworkMode') };
          }
        } catch (err) {
          warning = `sandbox unreadable, pod labels missing: ${failure(err).reason}`;
        }
      } else {
        warning = 'no sandbox ID, pod labels missing';
      }
    }
    const podLabels: Record<string, string> = {};
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(withoutKubeletKeys(sandbox?.labels ?? {}))) {
      if (k.startsWith(ANNOTATION_PREFIX)) Object.defineProperty(annotations, k.slice(ANNOTATION_PREFIX.length), dataProp(v));
      else Object.defineProperty(podLabels, k, dataProp(v));
    }
    meta.pod = {
      name: podName,
      namespace: podNs,
      uid: labels['io.kubernetes.pod.uid'] ?? '',
      labels: podLabels,
      annotations,
      // cri-dockerd gives the sandbox NetworkMode host, and app containers UTSMode host, exactly for hostNetwork pods.
      hostNetwork: sandbox?.networkMode === 'host' || networkMode === 'host' || utsMode === 'host',
    };
    return warning ? { ok: true, meta, source: self.path, warning } : { ok: true, meta, source: self.path };
  }
}

function dataProp(value: string): PropertyDescriptor {
  return { value, enumerable: true, writable: true, configurable: true };
}

/** io.kubernetes.sandbox.id, else the container the app joined the network of ("container:<id>"). */
function sandboxIdOf(labels: Record<string, string>, networkMode: string | null): string | null {
  const fromLabel = labels['io.kubernetes.sandbox.id'];
  if (isContainerId(fromLabel)) return fromLabel;
  const joined = networkMode?.startsWith('container:') ? networkMode.slice('container:'.length) : undefined;
  return isContainerId(joined) ? joined : null;
}
