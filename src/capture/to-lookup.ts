// SPDX-License-Identifier: Apache-2.0
// A lookup from DNS capture -> the DnsLookup raw record. Identity as a connect carries it, as
// far as the socket's mark holds it: the process (pid and key, the rest from the process
// table), the cgroup; the namespaces' inodes and the UTS name are not on the mark (0 and '').
import type { DnsLookup } from '../schema/types.js';
import { BARE_ENDPOINT } from '../schema/endpoint.js';
import type { CapturedLookup } from './dns-capture.js';
import { flagsOf, unknownIdentity, type ProcIdentity } from './proc-identity.js';
import type { RawContext } from './to-raw.js';

export function lookupEventId(node: string, instance: string, seq: bigint): string {
  return `${node}:${instance}:dns:${seq}`;
}

/** dedupWindowMs: capture's folding window, carried so a reader knows what count means. */
export function toRawLookup(l: CapturedLookup, ctx: Omit<RawContext, 'toWallNs'>, dedupWindowMs: number, id: ProcIdentity = unknownIdentity(l.procKeyNs)): DnsLookup {
  const pid = l.owner.tgid;
  const folded = l.repeats > 0;
  return {
    eventId: lookupEventId(ctx.node, ctx.instance, l.seq),
    seq: l.seq,
    instance: ctx.instance,
    time: l.time,
    node: ctx.node,
    protocol: l.transport === 'tcp' ? 'TCP' : 'UDP',
    family: l.family,
    src: { ...BARE_ENDPOINT, addr: l.local.addr, port: l.local.port },
    dst: { ...BARE_ENDPOINT, addr: l.remote.addr, port: l.remote.port },
    process: {
      pid, tid: pid, ppid: id.parent?.pid ?? 0, uid: 0n, gid: 0n, comm: l.comm, startTime: 0n, nsPid: 0,
      key: id.key, exe: id.exe, args: id.args, argsTruncated: id.argsTruncated, parent: id.parent, ancestry: id.ancestry,
      exeFlags: flagsOf(id, false),
    },
    netns: 0n,
    mntns: 0n,
    pidns: 0n,
    utsName: '',
    cgroup: { id: l.cgroupId, path: l.cgroupPath },
    query: l.qname,
    qtype: l.qtype,
    rcode: l.rcode,
    answers: l.records.slice(0, 64),
    truncated: l.cut,
    trust: l.trust,
    count: BigInt(1 + l.repeats),
    firstTime: folded ? l.firstRepeat : null,
    lastTime: folded ? l.lastRepeat : null,
    dedupWindowMs,
  };
}
