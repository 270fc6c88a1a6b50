// SPDX-License-Identifier: Apache-2.0
// fast-check arbitraries for audit records of every attribution status, for the SIEM mappers.
import fc from 'fast-check';
import type { AuditRecord, ResultStatus } from '../../src/schema/types.js';
import { sampleAudit } from './records.js';
import { argsList, bytesText, exeFlagNames } from '../../src/capture/proc-text.js';
import type { Process } from '../../src/schema/types.js';
import { BARE_ENDPOINT } from '../../src/schema/endpoint.js';

/** Bytes a process may choose: mostly path-like, sometimes anything, sometimes long. */
const hostileBytes = (max: number) => fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 60 }).map((s) => Buffer.from(s, 'utf8')),
  fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
  fc.uint8Array({ minLength: max - 200, maxLength: max }).map((a) => Buffer.from(a)),
);

/** Process identity as capture renders it (src/capture/proc-text.ts) from hostile bytes. */
export const identityArb: fc.Arbitrary<Pick<Process, 'key' | 'exe' | 'args' | 'argsTruncated' | 'parent' | 'ancestry' | 'exeFlags'>> = fc
  .record({
    key: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
    exe: fc.option(hostileBytes(4095), { nil: null }),
    args: hostileBytes(4096),
    cut: fc.boolean(),
    ancestry: fc.array(fc.record({ pid: fc.integer({ min: 0, max: 4194304 }), comm: fc.string({ maxLength: 15 }), exe: fc.option(hostileBytes(4095), { nil: null }) }), { maxLength: 8 }),
    flags: fc.integer({ min: 0, max: 63 }),
    unlinked: fc.boolean(),
  })
  .map((g) => {
    const { args, truncated } = argsList(g.args, g.cut);
    const ancestry = g.ancestry.map((a) => ({ pid: a.pid, comm: bytesText(Buffer.from(a.comm)), exe: a.exe && a.exe.length ? bytesText(a.exe) : null }));
    return {
      key: g.key, exe: g.exe && g.exe.length ? bytesText(g.exe) : null, args, argsTruncated: truncated,
      parent: ancestry[0] ?? null, ancestry, exeFlags: exeFlagNames(g.flags, g.unlinked),
    };
  });

const STATUSES: ResultStatus[] = ['OK', 'INPROGRESS', 'REFUSED', 'TIMEOUT', 'UNREACHABLE', 'ERROR'];
const text = fc.string({ minLength: 1, maxLength: 40 });
const u64 = fc.bigInt({ min: 0n, max: (1n << 63n) - 1n });

export const auditArb: fc.Arbitrary<AuditRecord> = fc
  .record({
    v6: fc.boolean(),
    src: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    dst: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    sport: fc.integer({ min: 0, max: 65535 }),
    dport: fc.integer({ min: 0, max: 65535 }),
    udp: fc.boolean(),
    status: fc.constantFrom(...STATUSES),
    errno: fc.integer({ min: 0, max: 200 }),
    pid: fc.integer({ min: 1, max: 4194304 }),
    ppid: fc.integer({ min: 0, max: 4194304 }),
    nsPid: fc.integer({ min: 0, max: 4194304 }),
    uid: fc.bigInt({ min: 0n, max: 4294967295n }),
    comm: text,
    time: fc.bigInt({ min: 0n, max: 4_000_000_000_000_000_000n }),
    seq: u64,
    kind: fc.constantFrom('POD', 'CONTAINER', 'HOST', 'UNRESOLVED', 'LOSS', 'STATIC_POD'),
    labels: fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 30 }), { maxKeys: 4 }),
    annotations: fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 30 }), { maxKeys: 2 }),
    workload: fc.option(fc.record({ kind: fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod'), name: fc.string({ minLength: 1, maxLength: 40 }) })),
    ips: fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { maxLength: 2 }),
    image: fc.constantFrom('nginx:1.27', 'registry.local:5000/team/app@sha256:' + 'ab'.repeat(32), 'busybox', `sha256:${'cd'.repeat(32)}`, 'repo/app:v1@sha256:' + 'ef'.repeat(32)),
    name: text,
    count: fc.bigInt({ min: 1n, max: 1n << 40n }),
    identity: identityArb,
  })
  .map((g) => {
    const base = sampleAudit();
    const rec: AuditRecord = {
      ...base,
      seq: g.seq,
      time: g.time,
      protocol: g.udp ? 'UDP' : 'TCP',
      family: g.v6 ? 'IPv6' : 'IPv4',
      src: { ...BARE_ENDPOINT, addr: Buffer.from(g.v6 ? g.src : g.src.subarray(0, 4)), port: g.sport },
      dst: { ...BARE_ENDPOINT, addr: Buffer.from(g.v6 ? g.dst : g.dst.subarray(0, 4)), port: g.dport },
      result: { status: g.status, errno: g.status === 'OK' ? 0 : g.errno },
      process: { ...base.process!, pid: g.pid, tid: g.pid, ppid: g.ppid, nsPid: g.nsPid, uid: g.uid, comm: g.comm, ...g.identity },
      container: { ...base.container!, image: g.image, name: g.name },
      pod: { ...base.pod!, labels: g.labels, name: g.name, annotations: g.annotations, workload: g.workload, ips: g.ips },
    };
    switch (g.kind) {
      case 'STATIC_POD': return { ...rec, pod: { ...rec.pod!, uid: '6db2f5a1b7a6e1a0f04b3ef3d2a2a1c5' } };
      case 'CONTAINER': return { ...rec, pod: null, attribution: { status: 'CONTAINER', source: 'docker', reason: null } };
      case 'HOST': return { ...rec, pod: null, container: null, attribution: { status: 'HOST', source: 'cgroup', reason: null } };
      case 'UNRESOLVED': return { ...rec, container: { id: rec.container!.id, runtime: null, name: null, image: null }, pod: { name: null, namespace: null, uid: base.pod!.uid, labels: {}, hostNetwork: false, workload: null, annotations: {}, ips: [] }, attribution: { status: 'UNRESOLVED', source: 'cgroup', reason: 'no metadata' } };
      case 'LOSS': return lossRecord({ count: g.count, time: g.time });
      default: return rec;
    }
  });

/** restart: a CAPTURE_RESTART loss, whose count is unknown (0, with an empty seq range). */
export function lossRecord(over: { count?: bigint; time?: bigint; restart?: boolean } = {}): AuditRecord {
  const time = over.time ?? 1_796_005_677_612_560_689n;
  const count = over.restart ? 0n : over.count ?? 17n;
  return {
    eventId: 'node-a:7f3c2d:loss:100', seq: 100n, instance: '7f3c2d', time, node: 'node-a',
    protocol: null, family: null, src: null, dst: null, result: null, process: null,
    netns: null, mntns: null, pidns: null, utsName: null, cgroup: null, encryptedDns: false, container: null, pod: null,
    attribution: { status: 'LOSS', source: 'capture', reason: 'KERNEL_RING_BUFFER' },
    loss: { instance: '7f3c2d', fromSeq: 100n, toSeq: 100n + count - 1n, count, cause: over.restart ? 'CAPTURE_RESTART' : 'KERNEL_RING_BUFFER', firstTime: time - 5_000_000n, lastTime: time },
  };
}
