// SPDX-License-Identifier: Apache-2.0
// Between the resolvers' ContainerMeta and the ContainerMeta Avro record that the
// node-side publisher puts on podtrail.containers.v1 (and enrich reads back).
import { createHash } from 'node:crypto';
import type { ContainerMeta as MetaRecord } from '../schema/types.js';
import { parseIsoNanos } from '../schema/json-form.js';
import type { ContainerMeta, Runtime } from './types.js';

/** What identifies a metadata version: changes here mean a new version on the topic. */
export function metaFingerprint(m: ContainerMeta): string {
  const stable = {
    name: m.name, image: m.image, hostname: m.hostname, isSandbox: m.isSandbox, sandboxId: m.sandboxId,
    pod: m.pod ? { ...m.pod, labels: sorted(m.pod.labels), annotations: sorted(m.pod.annotations) } : null,
    networkMode: m.networkMode, utsMode: m.utsMode,
  };
  return createHash('sha256').update(JSON.stringify(stable)).digest('hex').slice(0, 32);
}

function sorted(o: Record<string, string>): Array<[string, string]> {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function createdNs(m: ContainerMeta): bigint | null {
  if (!m.created) return null;
  try {
    const ns = parseIsoNanos(m.created);
    return ns > 0n ? ns : null;
  } catch {
    return null;
  }
}

export function toMetaRecord(
  m: ContainerMeta,
  t: { node: string; time: bigint; firstSeen: bigint; validFrom: bigint; deletedTime?: bigint | null; cgroupPaths?: string[] },
): MetaRecord {
  return {
    containerId: m.id, node: t.node, runtime: m.runtime, time: t.time, firstSeen: t.firstSeen, validFrom: t.validFrom,
    deletedTime: t.deletedTime ?? null, name: m.name, image: m.image, hostname: m.hostname, isSandbox: m.isSandbox,
    sandboxId: m.sandboxId,
    pod: m.pod ? { name: m.pod.name, namespace: m.pod.namespace, uid: m.pod.uid, labels: { ...m.pod.labels }, annotations: { ...m.pod.annotations }, hostNetwork: m.pod.hostNetwork } : null,
    networkMode: m.networkMode, utsMode: m.utsMode, cgroupPaths: t.cgroupPaths ?? [],
  };
}

const RUNTIMES: readonly Runtime[] = ['docker', 'containerd', 'cri-o'];

export function fromMetaRecord(r: MetaRecord): ContainerMeta {
  const runtime = (RUNTIMES as readonly string[]).includes(r.runtime) ? (r.runtime as Runtime) : 'docker';
  return {
    id: r.containerId, runtime, name: r.name, image: r.image, hostname: r.hostname, isSandbox: r.isSandbox, sandboxId: r.sandboxId,
    pod: r.pod ? { name: r.pod.name, namespace: r.pod.namespace, uid: r.pod.uid, labels: { ...r.pod.labels }, annotations: { ...r.pod.annotations }, hostNetwork: r.pod.hostNetwork } : null,
    networkMode: r.networkMode, utsMode: r.utsMode,
  };
}
