// SPDX-License-Identifier: Apache-2.0
// Kernel event (decoded from bpf/podtrail.h) -> RawConnectEvent. Identity stays raw:
// names, containers and pods are enrich's job.
import type { RawConnectEvent } from '../schema/types.js';
import type { KernelConnectEvent } from './native.js';
import { flagsOf, unknownIdentity, type ProcIdentity } from './proc-identity.js';
import { BARE_ENDPOINT } from '../schema/endpoint.js';
import type { DstName } from './dns-capture.js';

/** What DNS capture adds to a connect: the destination's name and the encrypted-DNS flag. */
export interface ConnectDns {
  name: DstName | null;
  encryptedDns: boolean;
}

export interface RawContext {
  node: string;
  instance: string;
  /** kernel CLOCK_BOOTTIME ns -> wall-clock ns since the epoch */
  toWallNs(bootNs: bigint): bigint;
}

export function eventId(node: string, instance: string, seq: bigint): string {
  return `${node}:${instance}:${seq}`;
}

/** id: the process's identity from the process table (identityOf); without it, exe and the rest are unknown. */
/** dns: the destination's name, when DNS capture is on. */
export function toRawEvent(e: KernelConnectEvent, ctx: RawContext, id: ProcIdentity = unknownIdentity(e.procKeyNs), dns?: ConnectDns): RawConnectEvent {
  return {
    eventId: eventId(ctx.node, ctx.instance, e.seq),
    seq: e.seq,
    instance: ctx.instance,
    time: ctx.toWallNs(e.bootNs),
    node: ctx.node,
    protocol: e.protocol,
    family: e.family,
    src: { ...BARE_ENDPOINT, addr: e.src.addr, port: e.src.port },
    dst: { ...BARE_ENDPOINT, addr: e.dst.addr, port: e.dst.port, name: dns?.name ?? null },
    result: { status: e.status, errno: e.errno },
    process: {
      pid: e.pid, tid: e.tid, ppid: e.ppid, uid: BigInt(e.uid), gid: BigInt(e.gid), comm: e.comm,
      startTime: e.startBootNs, nsPid: e.nsPid,
      key: id.key, exe: id.exe, args: id.args, argsTruncated: id.argsTruncated, parent: id.parent, ancestry: id.ancestry,
      exeFlags: flagsOf(id, e.exeUnlinked),
    },
    netns: BigInt(e.netns),
    mntns: BigInt(e.mntns),
    pidns: BigInt(e.pidns),
    utsName: e.utsName,
    cgroup: { id: e.cgroupId, path: e.cgroupPath },
    encryptedDns: dns?.encryptedDns ?? false,
  };
}

/** Kafka key: `<node>/<cgroupId>`, so one container's events stay in order on one partition. */
export function rawKey(node: string, cgroupId: bigint): string {
  return `${node}/${cgroupId}`;
}
