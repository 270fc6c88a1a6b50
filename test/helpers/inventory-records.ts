// SPDX-License-Identifier: Apache-2.0
// Audit records for the inventory and advice tests: a pod of a workload connecting somewhere.
import { parseAddr } from '../../src/schema/addr.js';
import type { AuditRecord } from '../../src/schema/types.js';
import { sampleAudit } from './records.js';
import { BARE_ENDPOINT } from '../../src/schema/endpoint.js';

export const T0 = 1_796_005_677_000_000_000n;
export const SEC = 1_000_000_000n;
let seq = 0n;

export interface Src { ns?: string; kind?: string; wl?: string; pod?: string; labels?: Record<string, string>; ips?: string[]; hostNetwork?: boolean; node?: string; image?: string }

/** An audit record from a pod of `src` to dst:port at T0 + t seconds. */
export function rec(src: Src, dst: string, port: number, opts: { t?: bigint; status?: 'OK' | 'REFUSED' | 'TIMEOUT'; comm?: string; proto?: 'TCP' | 'UDP'; dstExtra?: object } = {}): AuditRecord {
  seq++;
  const base = sampleAudit({ seq, eventId: `node-a:i:${seq}` });
  const podName = src.pod ?? `${src.wl ?? 'web'}-7d9f8b6c5d-x2k4q`;
  return {
    ...base,
    time: T0 + (opts.t ?? 0n) * SEC,
    node: src.node ?? 'node-a',
    protocol: opts.proto ?? 'TCP',
    dst: { ...BARE_ENDPOINT, addr: parseAddr(dst), port, ...(opts.dstExtra ?? {}) },
    result: { status: opts.status ?? 'OK', errno: opts.status === 'REFUSED' ? 111 : 0 },
    process: { ...base.process!, comm: opts.comm ?? 'curl' },
    container: { ...base.container!, image: src.image ?? 'nginx:1.27' },
    pod: {
      ...base.pod!, name: podName, uid: `uid-${podName}`, namespace: src.ns ?? 'shop',
      labels: src.labels ?? { app: src.wl ?? 'web', 'pod-template-hash': '7d9f8b6c5d' },
      workload: { kind: src.kind ?? 'Deployment', name: src.wl ?? 'web' }, ips: src.ips ?? [], hostNetwork: src.hostNetwork ?? false,
    },
  };
}

export function hostRec(node: string, srcIp: string, dst: string, port: number): AuditRecord {
  const r = rec({}, dst, port);
  return { ...r, node, src: { ...BARE_ENDPOINT, addr: parseAddr(srcIp), port: 40000 }, pod: null, container: null, attribution: { status: 'HOST', source: null, reason: null } };
}

export function lossRec(count: bigint): AuditRecord {
  return {
    ...sampleAudit({ seq: ++seq, eventId: `node-a:i:loss${seq}` }),
    protocol: null, family: null, src: null, dst: null, result: null, process: null, netns: null, mntns: null, pidns: null,
    utsName: null, cgroup: null, container: null, pod: null,
    attribution: { status: 'LOSS', source: 'capture', reason: 'ring buffer full' },
    loss: { instance: 'i', fromSeq: 1n, toSeq: count, count, cause: 'KERNEL_RING_BUFFER', firstTime: T0, lastTime: T0 },
  };
}

