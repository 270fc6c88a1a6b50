// SPDX-License-Identifier: Apache-2.0
// Sample records for codec and pipeline tests.
import type { AuditRecord, RawConnectEvent } from '../../src/schema/types.js';

export function sampleRaw(over: Partial<RawConnectEvent> = {}): RawConnectEvent {
  const seq = over.seq ?? 123456n;
  return {
    eventId: `node-a:7f3c2d:${seq}`,
    seq,
    instance: '7f3c2d',
    time: 1_796_005_677_612_560_689n,
    node: 'node-a',
    protocol: 'TCP',
    family: 'IPv4',
    src: { addr: Buffer.from([10, 0, 0, 5]), port: 41234 },
    dst: { addr: Buffer.from([93, 184, 216, 34]), port: 443 },
    result: { status: 'OK', errno: 0 },
    process: { pid: 5113, tid: 5113, ppid: 5100, uid: 0n, gid: 0n, comm: 'curl', startTime: 987654321n, nsPid: 1,
      key: 0n, exe: null, args: [], argsTruncated: false, parent: null, ancestry: [], exeFlags: [],
    },
    netns: 4026532181n,
    mntns: 4026532179n,
    pidns: 4026532180n,
    utsName: 'web-7d9f',
    cgroup: {
      id: 1234n,
      path: '/kubepods/burstable/pod35b82523-06c1-48e7-9e61-2521a89b703b/b5fa49123b796b99fe605af0f8d019f3b3a8cb445b529b892e0d3788682469af',
    },
    ...over,
  };
}

export function sampleAudit(over: Partial<AuditRecord> = {}): AuditRecord {
  const r = sampleRaw();
  return {
    ...r,
    container: { id: 'b5fa49123b796b99fe605af0f8d019f3b3a8cb445b529b892e0d3788682469af', runtime: 'docker', name: 'app', image: 'nginx:1.27' },
    pod: {
      name: 'web-7d9f', namespace: 'shop', uid: '35b82523-06c1-48e7-9e61-2521a89b703b', labels: { app: 'web' }, hostNetwork: false,
      workload: { kind: 'Pod', name: 'web-7d9f' }, annotations: {}, ips: [],
    },
    attribution: { status: 'POD', source: 'docker', reason: null },
    loss: null,
    ...over,
  };
}

/** avsc decodes records as class instances; strip prototypes so deepEqual compares values. */
export function plain<T>(v: T): T {
  if (Buffer.isBuffer(v) || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(plain) as T;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = plain(x);
  return out as T;
}
