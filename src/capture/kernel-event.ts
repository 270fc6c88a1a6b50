// SPDX-License-Identifier: Apache-2.0
// One connect record of a native batch -> KernelConnectEvent, read straight from the
// buffer by offset (event-layout.ts). This runs per event on capture's hot path, so it
// builds the one object it returns and nothing else. Keep aligned with bpf/podtrail.h.
import { checkConnect, CONNECT_EVENT as L, CONSTANTS, cstring, opAt, statusAt } from './event-layout.js';
import type { KernelConnectEvent } from './native-binding.js';

const AF_INET = 2;

/** Throws DecodeError (from checkConnect) when the record is malformed. */
export function connectEventAt(buf: Buffer, off: number, len: number, cgroupPath: string, cgroupController: string): KernelConnectEvent {
  checkConnect(buf, off, len);
  return checkedConnectEventAt(buf, off, cgroupPath, cgroupController);
}

/** The same for a record checkConnect has passed. */
export function checkedConnectEventAt(buf: Buffer, off: number, cgroupPath: string, cgroupController: string): KernelConnectEvent {
  const v4 = buf[off + L.family] === AF_INET;
  const alen = v4 ? 4 : 16;
  const flags = buf.readUInt32LE(off + L.flags);
  return {
    seq: buf.readBigUInt64LE(off + L.seq),
    bootNs: buf.readBigUInt64LE(off + L.ts_ns),
    doneBootNs: buf.readBigUInt64LE(off + L.done_ns),
    protocol: buf[off + L.protocol] === 6 ? 'TCP' : 'UDP',
    family: v4 ? 'IPv4' : 'IPv6',
    v4Mapped: (flags & CONSTANTS.PT_F_V4MAPPED) !== 0,
    op: opAt(buf, off),
    // Views, not copies: each native batch is a fresh Buffer that no one reuses.
    src: { addr: buf.subarray(off + L.saddr, off + L.saddr + alen), port: buf.readUInt16LE(off + L.sport) },
    dst: { addr: buf.subarray(off + L.daddr, off + L.daddr + alen), port: buf.readUInt16LE(off + L.dport) },
    status: statusAt(buf, off),
    errno: buf.readInt32LE(off + L.err),
    pid: buf.readUInt32LE(off + L.tgid),
    tid: buf.readUInt32LE(off + L.tid),
    ppid: buf.readUInt32LE(off + L.ppid),
    uid: buf.readUInt32LE(off + L.uid),
    gid: buf.readUInt32LE(off + L.gid),
    comm: cstring(buf, off + L.comm, CONSTANTS.PT_COMM_LEN),
    startBootNs: buf.readBigUInt64LE(off + L.start_ns),
    nsPid: buf.readUInt32LE(off + L.ns_pid),
    netns: buf.readUInt32LE(off + L.netns),
    mntns: buf.readUInt32LE(off + L.mntns),
    pidns: buf.readUInt32LE(off + L.pidns),
    utsName: cstring(buf, off + L.uts, CONSTANTS.PT_UTS_LEN),
    cgroupId: buf.readBigUInt64LE(off + L.cgroup_id),
    cgroupPath,
    cgroupController,
    procKeyNs: buf.readBigUInt64LE(off + L.proc_key_ns),
    exeUnlinked: (flags & CONSTANTS.PT_F_EXE_UNLINKED) !== 0,
  };
}

/** Of a record checkConnect has passed. */
export const hierAt = (buf: Buffer, off: number): number => buf.readUInt16LE(off + L.cg_hier);
export const cgroupIdAt = (buf: Buffer, off: number): bigint => buf.readBigUInt64LE(off + L.cgroup_id);
