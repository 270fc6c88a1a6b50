// SPDX-License-Identifier: Apache-2.0
// Between the resolvers' ContainerMeta and the ContainerMeta Avro record that the
// node-side publisher puts on podtrail.containers.v1 (and enrich reads back).
import { createHash } from 'node:crypto';
import type { ContainerMeta as MetaRecord } from '../schema/types.js';
import { parseIsoNanos } from '../schema/json-form.js';
import { finishPodFacts } from './pod-facts.js';
import type { ContainerMeta, MetaOrigin, PodMeta, Runtime, WorkloadKind } from './types.js';

/** What identifies a metadata version: changes here mean a new version on the topic. */
export function metaFingerprint(m: ContainerMeta): string {
  const stable = {
    name: m.name, image: m.image, hostname: m.hostname, isSandbox: m.isSandbox, sandboxId: m.sandboxId,
    pod: m.pod ? { ...m.pod, labels: sorted(m.pod.labels), annotations: sorted(m.pod.annotations) } : null,
    networkMode: m.networkMode, utsMode: m.utsMode, origin: m.origin ?? 'files', bounded: m.bounded ?? null, note: m.note ?? null,
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
    pod: m.pod
      ? {
        name: m.pod.name, namespace: m.pod.namespace, uid: m.pod.uid, labels: { ...m.pod.labels }, annotations: { ...m.pod.annotations },
        hostNetwork: m.pod.hostNetwork, workload: m.pod.workload ? { ...m.pod.workload } : null, ips: [...(m.pod.ips ?? [])],
      }
      : null,
    networkMode: m.networkMode, utsMode: m.utsMode, cgroupPaths: t.cgroupPaths ?? [],
    origin: m.origin ?? 'files', bounded: m.bounded ?? null, note: m.note ?? null,
  };
}

const RUNTIMES: readonly Runtime[] = ['docker', 'containerd', 'cri-o'];

/**
 * A version read back from the containers topic. keepAnnotation is the reader's own
 * --pod-annotations (the node already applied its own). The reader bounds labels and
 * annotations again (pod-facts.ts): a version from an older or compromised writer cannot put
 * 10,000 labels into every audit record. The node's workload is kept; older writers carry none,
 * so it is inferred here from the labels they do carry, as the node would have. A v1 writer's
 * CRI fallback note sits at the front of bounded: it is left there, since attribution puts
 * note before bounded and so gives the same reason either way.
 */
export function fromMetaRecord(r: MetaRecord, keepAnnotation: (key: string) => boolean = () => true): ContainerMeta {
  const runtime = (RUNTIMES as readonly string[]).includes(r.runtime) ? (r.runtime as Runtime) : 'docker';
  let pod: PodMeta | null = null;
  if (r.pod) {
    pod = {
      name: r.pod.name, namespace: r.pod.namespace, uid: r.pod.uid, labels: { ...r.pod.labels }, annotations: { ...r.pod.annotations },
      hostNetwork: r.pod.hostNetwork, ips: [...(r.pod.ips ?? [])],
    };
  }
  const origin: MetaOrigin = r.origin === 'cri' ? 'cri' : 'files';
  const meta = finishPodFacts({
    id: r.containerId, runtime, name: r.name, image: r.image, hostname: r.hostname, isSandbox: r.isSandbox, sandboxId: r.sandboxId,
    pod, networkMode: r.networkMode, utsMode: r.utsMode, origin, bounded: r.bounded ?? null, note: r.note ?? null,
  }, keepAnnotation);
  const stored = r.pod?.workload;
  if (meta.pod && stored) meta.pod.workload = { kind: stored.kind as WorkloadKind, name: stored.name };
  return meta;
}
