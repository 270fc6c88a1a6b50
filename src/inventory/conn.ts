// SPDX-License-Identifier: Apache-2.0
// The few facts of an audit record that the inventory keeps, read once per record. Fields that
// later issues add to the record (process.exe from process identity; dst.name, dst.pod,
// dst.service, dst.scope from destinations) are read when a record has them, so the inventory
// lights them up without a change here; records without them fall back to comm and the IP.
import { formatAddr } from '../schema/addr.js';
import type { AuditRecord } from '../schema/types.js';

export interface WorkloadRef { namespace: string | null; kind: string; name: string }

/** What issue 15 puts on `dst`, in the shape its text gives; absent on today's records. */
export interface DstExtra {
  name?: string | { name?: string | null; query?: string | null; cnames?: string[] | null } | null;
  pod?: { name?: string | null; namespace?: string | null; workload?: { kind: string; name: string } | null; labels?: Record<string, string> | null } | null;
  service?: { name?: string | null; namespace?: string | null } | null;
  scope?: string | null;
}

export interface Conn {
  time: bigint;
  node: string;
  workload: WorkloadRef;
  podUid: string | null;
  podName: string | null;
  labels: Record<string, string>;
  hostNetwork: boolean;
  podIps: readonly string[];
  image: string | null;
  srcIp: string | null;
  dstIp: string;
  dstPort: number;
  protocol: string;
  ok: boolean;
  status: string;
  /** process.exe when the record has it, else comm */
  exe: string;
  dst: DstExtra;
}

const FAILED = new Set(['REFUSED', 'TIMEOUT', 'UNREACHABLE', 'ERROR']);

/** The workload a record belongs to; pseudo-kinds for what no pod owns. */
export function workloadOf(r: AuditRecord): WorkloadRef {
  const p = r.pod;
  switch (r.attribution.status) {
    case 'POD':
      if (p?.workload) return { namespace: p.namespace ?? null, kind: p.workload.kind, name: p.workload.name };
      // The controller's labels did not add up (docs/reference/records.md, pod.workload): the pod stands alone.
      return { namespace: p?.namespace ?? null, kind: 'Pod', name: p?.name ?? p?.uid ?? '(unknown pod)' };
    case 'CONTAINER':
      return { namespace: null, kind: 'Container', name: r.container?.name ?? r.container?.id ?? '(unknown container)' };
    case 'HOST':
      return { namespace: null, kind: 'Host', name: r.node };
    default:
      return { namespace: p?.namespace ?? null, kind: 'Unresolved', name: p?.uid ?? r.container?.id ?? r.cgroup?.path ?? '(unknown)' };
  }
}

/** The connection facts of a record, or undefined for a LOSS record (no connection). */
export function connOf(r: AuditRecord): Conn | undefined {
  if (r.attribution.status === 'LOSS' || !r.dst) return undefined;
  const proc = r.process as (AuditRecord['process'] & { exe?: string | null }) | null;
  const status = r.result?.status ?? 'ERROR';
  return {
    time: r.time,
    node: r.node,
    workload: workloadOf(r),
    podUid: r.pod?.uid ?? null,
    podName: r.pod?.name ?? null,
    labels: r.pod?.labels ?? {},
    hostNetwork: r.pod?.hostNetwork ?? false,
    podIps: r.pod?.ips ?? [],
    image: r.container?.image ?? null,
    srcIp: r.src ? formatAddr(r.src.addr) : null,
    dstIp: formatAddr(r.dst.addr),
    dstPort: r.dst.port,
    protocol: r.protocol ?? 'TCP',
    ok: !FAILED.has(status),
    status,
    exe: proc?.exe || proc?.comm || '(unknown)',
    dst: r.dst as DstExtra,
  };
}
