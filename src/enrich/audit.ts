// SPDX-License-Identifier: Apache-2.0
// Building AuditRecords: a raw event plus its attribution, or a LOSS record.
import type { AuditDnsLookup, AuditRecord, CaptureLoss, DnsLookup, RawConnectEvent } from '../schema/types.js';
import type { Attribution } from './attribute.js';
import { lossText } from '../schema/loss-text.js';

export function auditFromRaw(raw: RawConnectEvent, a: Attribution, sourceOverride?: string): AuditRecord {
  return {
    eventId: raw.eventId, seq: raw.seq, instance: raw.instance, time: raw.time, node: raw.node,
    protocol: raw.protocol, family: raw.family, src: raw.src, dst: raw.dst, result: raw.result,
    process: raw.process, netns: raw.netns, mntns: raw.mntns, pidns: raw.pidns, utsName: raw.utsName,
    cgroup: raw.cgroup, encryptedDns: raw.encryptedDns,
    ...attributed(a, sourceOverride),
    loss: null,
  };
}

/** A DNS lookup attributed exactly as a connect would be. */
export function auditFromLookup(l: DnsLookup, a: Attribution): AuditDnsLookup {
  return { ...l, ...attributed(a) };
}

function attributed(a: Attribution, sourceOverride?: string): Pick<AuditRecord, 'container' | 'pod' | 'attribution'> {
  return {
    container: a.container
      ? { id: a.container.id, runtime: a.container.runtime, name: a.container.name, image: a.container.image }
      : null,
    pod: a.pod
      ? {
        name: a.pod.name, namespace: a.pod.namespace, uid: a.pod.uid, labels: a.pod.labels, hostNetwork: a.pod.hostNetwork,
        workload: a.pod.workload, annotations: a.pod.annotations, ips: a.pod.ips,
      }
      : null,
    attribution: { status: a.status, source: sourceOverride ?? a.source, reason: a.reason },
  };
}

export interface LossInfo {
  node: string;
  instance: string;
  fromSeq: bigint;
  toSeq: bigint;
  count: bigint;
  cause: CaptureLoss['cause'];
  time: bigint;
  firstTime: bigint | null;
  lastTime: bigint | null;
  eventId: string;
}

export function lossAudit(l: LossInfo): AuditRecord {
  return {
    eventId: l.eventId, seq: l.fromSeq, instance: l.instance, time: l.time, node: l.node,
    protocol: null, family: null, src: null, dst: null, result: null, process: null,
    netns: null, mntns: null, pidns: null, utsName: null, cgroup: null, encryptedDns: false, container: null, pod: null,
    attribution: {
      status: 'LOSS',
      source: l.cause === 'SEQUENCE_GAP' ? 'enrich' : 'capture',
      reason: `${lossText(l, `missed on ${l.node}`)} (${l.cause})`,
    },
    loss: { instance: l.instance, fromSeq: l.fromSeq, toSeq: l.toSeq, count: l.count, cause: l.cause, firstTime: l.firstTime, lastTime: l.lastTime },
  };
}

export function lossFromCapture(c: CaptureLoss): AuditRecord {
  const rec = lossAudit({ ...c, firstTime: c.firstTime, lastTime: c.lastTime });
  if (c.cause === 'CLUSTER_REPLACED') {
    rec.attribution.reason = `${lossText(c, `from ${c.node} went to a Kafka cluster that was since replaced (another cluster id) and are not in this one`)} (CLUSTER_REPLACED)`;
  }
  return rec;
}
