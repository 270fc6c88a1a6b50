// SPDX-License-Identifier: Apache-2.0
// Sample records for codec and pipeline tests.
import type { AuditDnsLookup, AuditRecord, DnsLookup, RawConnectEvent } from '../../src/schema/types.js';
import { BARE_ENDPOINT } from '../../src/schema/endpoint.js';

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
    src: { ...BARE_ENDPOINT, addr: Buffer.from([10, 0, 0, 5]), port: 41234 },
    dst: { ...BARE_ENDPOINT, addr: Buffer.from([93, 184, 216, 34]), port: 443 },
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
    encryptedDns: false,
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

/** A DNS lookup as capture publishes it: curl in web-7d9f asked for example.com and got a CNAME and an A. */
export function sampleLookup(over: Partial<DnsLookup> = {}): DnsLookup {
  const r = sampleRaw();
  return {
    eventId: 'node-a:7f3c2d:dns:123450', seq: 123450n, instance: r.instance, time: r.time - 5_000_000n, node: r.node,
    protocol: 'UDP', family: 'IPv4',
    src: { ...BARE_ENDPOINT, addr: Buffer.from([10, 0, 0, 5]), port: 51000 },
    dst: { ...BARE_ENDPOINT, addr: Buffer.from([10, 96, 0, 10]), port: 53 },
    process: r.process, netns: r.netns, mntns: r.mntns, pidns: r.pidns, utsName: r.utsName, cgroup: r.cgroup,
    query: 'www.example.com', qtype: 1, rcode: 0,
    answers: [{ name: 'www.example.com', type: 5, data: 'edge.example.net', ttl: 300 }, { name: 'edge.example.net', type: 1, data: '93.184.216.34', ttl: 60 }],
    truncated: false, trust: 'resolver', count: 1n, firstTime: null, lastTime: null, dedupWindowMs: 60_000,
    ...over,
  };
}

/** The same lookup, attributed as enrich publishes it. */
export function sampleAuditLookup(over: Partial<AuditDnsLookup> = {}): AuditDnsLookup {
  const a = sampleAudit();
  return { ...sampleLookup(), container: a.container, pod: a.pod, attribution: a.attribution, ...over };
}

/** dst.name as capture joins it for sampleRaw's connect. */
export const SAMPLE_NAME = {
  name: 'www.example.com', cnames: ['edge.example.net'], answeredAt: 1_796_005_677_607_560_689n, ttl: 60, server: '10.96.0.10', trust: 'resolver' as const,
};
