// SPDX-License-Identifier: Apache-2.0
// TypeScript mirror of bpf/podtrail.h: byte offsets and decoders of the records
// the BPF object sends. Keep aligned with bpf/podtrail.h; test/unit/event-layout
// compares every offset here with the C++ compiler's offsetof of that header.
import { DecodeError } from '../common/errors.js';
import type { SocketEnd } from './dns/events.js';

export const CONNECT_EVENT = {
  SIZE: 232,
  type: 0,
  flags: 4,
  seq: 8,
  ts_ns: 16,
  done_ns: 24,
  start_ns: 32,
  cgroup_id: 40,
  tgid: 48,
  tid: 52,
  ppid: 56,
  uid: 60,
  gid: 64,
  ns_pid: 68,
  netns: 72,
  mntns: 76,
  pidns: 80,
  err: 84,
  saddr: 88,
  daddr: 104,
  sport: 120,
  dport: 122,
  family: 124,
  protocol: 125,
  status: 126,
  op: 127,
  cg_hier: 128,
  comm: 136,
  uts: 152,
  proc_key_ns: 224,
} as const;

/** PT_REC_PROC: a fixed header, then exe_len bytes of path and args_len of argv. */
export const PROC_REC = {
  SIZE: 8288,
  type: 0,
  kind: 4,
  exe_flags: 6,
  seq: 8,
  ts_ns: 16,
  key_ns: 24,
  parent_key_ns: 32,
  start_ns: 40,
  tgid: 48,
  ppid: 52,
  uid: 56,
  exe_len: 64,
  args_len: 68,
  args_full: 72,
  comm: 80,
  data: 96,
} as const;

export const CGROUP_REC = {
  SIZE: 4376,
  type: 0,
  hier: 4,
  flags: 6,
  cgroup_id: 8,
  len: 16,
  depth: 20,
  path: 24,
} as const;

/** PT_REC_DNS: a fixed header, then cap_len bytes of DNS payload (UDP) or TCP segment payload. */
export const DNS_REC = {
  SIZE: 4232,
  type: 0,
  dir: 4,
  protocol: 5,
  family: 6,
  seq: 8,
  ts_ns: 16,
  sock_cookie: 24,
  cgroup_id: 32,
  netns_cookie: 40,
  proc_key_ns: 48,
  tgid: 56,
  cg_hier: 60,
  tcp_seq: 64,
  wire_len: 68,
  cap_len: 72,
  laddr: 80,
  raddr: 96,
  lport: 112,
  rport: 114,
  comm: 120,
  data: 136,
} as const;

export const CONSTANTS = {
  PT_REC_CONNECT: 1,
  PT_REC_CGROUP: 2,
  PT_REC_PROC: 3,
  PT_PROC_EXEC: 1,
  PT_PROC_FORK: 2,
  PT_PROC_EXIT: 3,
  PT_EXE_MAX: 4096,
  PT_ARGS_MAX: 4096,
  PT_EXE_FILELESS: 1,
  PT_EXE_MEMFD: 2,
  PT_EXE_UPPER: 4,
  PT_EXE_PATH_TRUNCATED: 8,
  PT_EXE_UNREACHABLE: 16,
  PT_EXE_ARGS_TRUNCATED: 32,
  PT_F_EXE_UNLINKED: 8,
  PT_COMM_LEN: 16,
  PT_UTS_LEN: 65,
  PT_CGROUP_PATH_BUF: 4352,
  PT_F_V4MAPPED: 1,
  PT_F_SWEPT: 4,
  PT_CGF_TRUNCATED: 1,
  /** TCP attempts the kernel side can hold while they wait for their outcome */
  PT_PEND_SLOTS: 16384,
  PT_ST_OK: 0,
  PT_ST_INPROGRESS: 1,
  PT_ST_REFUSED: 2,
  PT_ST_TIMEOUT: 3,
  PT_ST_UNREACHABLE: 4,
  PT_ST_ERROR: 5,
  PT_OP_CONNECT: 1,
  PT_OP_SENDTO: 2,
  PT_OP_SENDMSG: 3,
  PT_OP_SENDMMSG: 4,
  PT_REC_DNS: 4,
  PT_DNS_MAX: 4096,
  PT_DNS_PORTS: 8,
  PT_DNS_QUERY: 1,
  PT_DNS_ANSWER: 2,
} as const;

export type ConnectStatus = 'OK' | 'INPROGRESS' | 'REFUSED' | 'TIMEOUT' | 'UNREACHABLE' | 'ERROR';
export type ConnectOp = 'connect' | 'sendto' | 'sendmsg' | 'sendmmsg';

const STATUS: readonly ConnectStatus[] = ['OK', 'INPROGRESS', 'REFUSED', 'TIMEOUT', 'UNREACHABLE', 'ERROR'];
const OPS: readonly (ConnectOp | undefined)[] = [undefined, 'connect', 'sendto', 'sendmsg', 'sendmmsg'];
const AF_INET = 2;
const AF_INET6 = 10;

export interface RawConnectRecord {
  kind: 'connect';
  seq: bigint;
  tsNs: bigint;
  doneNs: bigint;
  startNs: bigint;
  cgroupId: bigint;
  cgroupHier: number;
  tgid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  nsPid: number;
  netns: number;
  mntns: number;
  pidns: number;
  errno: number;
  family: 'IPv4' | 'IPv6';
  protocol: 'TCP' | 'UDP';
  status: ConnectStatus;
  op: ConnectOp;
  v4Mapped: boolean;
  swept: boolean;
  src: { addr: Buffer; port: number };
  dst: { addr: Buffer; port: number };
  comm: string;
  utsName: string;
  /** with tgid, the process key: exec time, or start time when capture saw no exec */
  procKeyNs: bigint;
  /** the executable had no link left at the connect (deleted, or fileless) */
  exeUnlinked: boolean;
}

export interface RawCgroupRecord {
  kind: 'cgroup';
  hier: number;
  cgroupId: bigint;
  path: string;
  depth: number;
  truncated: boolean;
}

export type ProcKind = 'exec' | 'fork' | 'exit';
const PROC_KINDS: readonly (ProcKind | undefined)[] = [undefined, 'exec', 'fork', 'exit'];

/**
 * A process record. exe and args stay bytes: they are untrusted (any byte but NUL in
 * a path, anything at all in argv), and how they are shown is the output's business.
 */
export interface RawProcRecord {
  kind: 'proc';
  procKind: ProcKind;
  seq: bigint;
  tsNs: bigint;
  tgid: number;
  /** with tgid, the process key the connects of this image carry */
  keyNs: bigint;
  ppid: number;
  parentKeyNs: bigint;
  startNs: bigint;
  uid: number;
  comm: string;
  /** enum pt_exe_flags */
  exeFlags: number;
  /** exec only: the path as the process sees it */
  exe: Buffer;
  /** exec only: argv as the kernel holds it, NUL-separated, cut at PT_ARGS_MAX */
  args: Buffer;
  /** argv's whole length in bytes */
  argsFull: number;
}

/**
 * A DNS packet of a marked socket. The payload is untrusted bytes from the network (or from
 * the pod itself): it is parsed in src/capture/dns/parse.ts, never here.
 */
export interface RawDnsRecord {
  kind: 'dns';
  direction: 'query' | 'answer';
  seq: bigint;
  tsNs: bigint;
  sockCookie: bigint;
  cgroupId: bigint;
  cgroupHier: number;
  netnsCookie: bigint;
  /** with tgid, the process key of the socket's last marker (connect or sendmsg to a DNS port) */
  procKeyNs: bigint;
  tgid: number;
  comm: string;
  transport: 'udp' | 'tcp';
  family: 'IPv4' | 'IPv6';
  local: SocketEnd;
  remote: SocketEnd;
  /** TCP only: the segment's sequence number */
  tcpSeq: number;
  /** the payload's length on the wire; more than payload.length when the copy was cut */
  wireLength: number;
  payload: Buffer;
}

export type RawRecord = RawConnectRecord | RawCgroupRecord | RawProcRecord | RawDnsRecord;

/**
 * Throws DecodeError unless buf[off, off+len) is a well-formed connect record;
 * callers then read its fields by offset (KernelCapture builds events this way).
 */
export function checkConnect(buf: Buffer, off: number, len: number): void {
  const L = CONNECT_EVENT;
  if (len < L.SIZE || off + L.SIZE > buf.length) {
    throw new DecodeError(`connect record needs ${L.SIZE} bytes, has ${Math.min(len, buf.length - off)}`, 'TRUNCATED');
  }
  if (buf.readUInt32LE(off + L.type) !== CONSTANTS.PT_REC_CONNECT) {
    throw new DecodeError('not a connect record', 'INVALID');
  }
  const fam = buf[off + L.family];
  const proto = buf[off + L.protocol];
  if ((fam !== AF_INET && fam !== AF_INET6) || (proto !== 6 && proto !== 17) || !STATUS[buf[off + L.status] ?? 255] || !OPS[buf[off + L.op] ?? 0]) {
    throw new DecodeError(`connect record with bad family/protocol/status/op ${fam}/${proto}/${buf[off + L.status]}/${buf[off + L.op]}`, 'INVALID');
  }
}

export const statusAt = (buf: Buffer, off: number): ConnectStatus => STATUS[buf[off + CONNECT_EVENT.status]!]!;
export const opAt = (buf: Buffer, off: number): ConnectOp => OPS[buf[off + CONNECT_EVENT.op]!]!;

/** A NUL-terminated string of at most max bytes at start. */
export function cstring(buf: Buffer, start: number, max: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end < 0 || end > start + max ? start + max : end);
}

export function decodeConnect(buf: Buffer, off = 0, len: number = CONNECT_EVENT.SIZE): RawConnectRecord {
  const L = CONNECT_EVENT;
  checkConnect(buf, off, len);
  const fam = buf[off + L.family];
  const proto = buf[off + L.protocol];
  const status = statusAt(buf, off);
  const op = opAt(buf, off);
  const alen = fam === AF_INET ? 4 : 16;
  const flags = buf.readUInt32LE(off + L.flags);
  return {
    kind: 'connect',
    seq: buf.readBigUInt64LE(off + L.seq),
    tsNs: buf.readBigUInt64LE(off + L.ts_ns),
    doneNs: buf.readBigUInt64LE(off + L.done_ns),
    startNs: buf.readBigUInt64LE(off + L.start_ns),
    cgroupId: buf.readBigUInt64LE(off + L.cgroup_id),
    cgroupHier: buf.readUInt16LE(off + L.cg_hier),
    tgid: buf.readUInt32LE(off + L.tgid),
    tid: buf.readUInt32LE(off + L.tid),
    ppid: buf.readUInt32LE(off + L.ppid),
    uid: buf.readUInt32LE(off + L.uid),
    gid: buf.readUInt32LE(off + L.gid),
    nsPid: buf.readUInt32LE(off + L.ns_pid),
    netns: buf.readUInt32LE(off + L.netns),
    mntns: buf.readUInt32LE(off + L.mntns),
    pidns: buf.readUInt32LE(off + L.pidns),
    errno: buf.readInt32LE(off + L.err),
    family: fam === AF_INET ? 'IPv4' : 'IPv6',
    protocol: proto === 6 ? 'TCP' : 'UDP',
    status,
    op,
    v4Mapped: (flags & CONSTANTS.PT_F_V4MAPPED) !== 0,
    swept: (flags & CONSTANTS.PT_F_SWEPT) !== 0,
    // Views, not copies: each native batch is a fresh Buffer that no one reuses.
    src: { addr: buf.subarray(off + L.saddr, off + L.saddr + alen), port: buf.readUInt16LE(off + L.sport) },
    dst: { addr: buf.subarray(off + L.daddr, off + L.daddr + alen), port: buf.readUInt16LE(off + L.dport) },
    comm: cstring(buf, off + L.comm, CONSTANTS.PT_COMM_LEN),
    utsName: cstring(buf, off + L.uts, CONSTANTS.PT_UTS_LEN),
    procKeyNs: buf.readBigUInt64LE(off + L.proc_key_ns),
    exeUnlinked: (flags & CONSTANTS.PT_F_EXE_UNLINKED) !== 0,
  };
}

/** The kernel sends only the used part of data[]: the record is data + exe_len + args_len long. */
export function decodeProc(buf: Buffer, off = 0, len = buf.length - off): RawProcRecord {
  const L = PROC_REC;
  if (len < L.data || off + L.data > buf.length) {
    throw new DecodeError(`process record needs at least ${L.data} bytes, has ${Math.min(len, buf.length - off)}`, 'TRUNCATED');
  }
  if (buf.readUInt32LE(off + L.type) !== CONSTANTS.PT_REC_PROC) throw new DecodeError('not a process record', 'INVALID');
  const procKind = PROC_KINDS[buf[off + L.kind]!];
  if (!procKind) throw new DecodeError(`process record of unknown kind ${buf[off + L.kind]}`, 'INVALID');
  const exeLen = buf.readUInt32LE(off + L.exe_len);
  const argsLen = buf.readUInt32LE(off + L.args_len);
  if (exeLen >= CONSTANTS.PT_EXE_MAX || argsLen > CONSTANTS.PT_ARGS_MAX || L.data + exeLen + argsLen > len || off + L.data + exeLen + argsLen > buf.length) {
    throw new DecodeError(`process record lengths ${exeLen}+${argsLen} exceed the record`, 'INVALID');
  }
  const d = off + L.data;
  return {
    kind: 'proc',
    procKind,
    seq: buf.readBigUInt64LE(off + L.seq),
    tsNs: buf.readBigUInt64LE(off + L.ts_ns),
    tgid: buf.readUInt32LE(off + L.tgid),
    keyNs: buf.readBigUInt64LE(off + L.key_ns),
    ppid: buf.readUInt32LE(off + L.ppid),
    parentKeyNs: buf.readBigUInt64LE(off + L.parent_key_ns),
    startNs: buf.readBigUInt64LE(off + L.start_ns),
    uid: buf.readUInt32LE(off + L.uid),
    comm: cstring(buf, off + L.comm, CONSTANTS.PT_COMM_LEN),
    exeFlags: buf.readUInt16LE(off + L.exe_flags),
    // Copies: a process record outlives its batch in the process table.
    exe: Buffer.from(buf.subarray(d, d + exeLen)),
    args: Buffer.from(buf.subarray(d + exeLen, d + exeLen + argsLen)),
    argsFull: buf.readUInt32LE(off + L.args_full),
  };
}

const DNS_DIRS: readonly ('query' | 'answer' | undefined)[] = [undefined, 'query', 'answer'];

/** The kernel sends only the used part of data[]: the record is data + cap_len long. */
export function decodeDns(buf: Buffer, off = 0, len = buf.length - off): RawDnsRecord {
  const L = DNS_REC;
  if (len < L.data || off + L.data > buf.length) {
    throw new DecodeError(`DNS record needs at least ${L.data} bytes, has ${Math.min(len, buf.length - off)}`, 'TRUNCATED');
  }
  if (buf.readUInt32LE(off + L.type) !== CONSTANTS.PT_REC_DNS) throw new DecodeError('not a DNS record', 'INVALID');
  const direction = DNS_DIRS[buf[off + L.dir]!];
  const proto = buf[off + L.protocol];
  const fam = buf[off + L.family];
  if (!direction || (proto !== 6 && proto !== 17) || (fam !== AF_INET && fam !== AF_INET6)) {
    throw new DecodeError(`DNS record with bad direction/protocol/family ${buf[off + L.dir]}/${proto}/${fam}`, 'INVALID');
  }
  const capLen = buf.readUInt32LE(off + L.cap_len);
  const wireLen = buf.readUInt32LE(off + L.wire_len);
  if (capLen === 0 || capLen > CONSTANTS.PT_DNS_MAX || capLen > wireLen || L.data + capLen > len || off + L.data + capLen > buf.length) {
    throw new DecodeError(`DNS record payload length ${capLen} (wire ${wireLen}) exceeds the record`, 'INVALID');
  }
  const alen = fam === AF_INET ? 4 : 16;
  const d = off + L.data;
  return {
    kind: 'dns',
    direction,
    seq: buf.readBigUInt64LE(off + L.seq),
    tsNs: buf.readBigUInt64LE(off + L.ts_ns),
    sockCookie: buf.readBigUInt64LE(off + L.sock_cookie),
    cgroupId: buf.readBigUInt64LE(off + L.cgroup_id),
    cgroupHier: buf.readUInt16LE(off + L.cg_hier),
    netnsCookie: buf.readBigUInt64LE(off + L.netns_cookie),
    procKeyNs: buf.readBigUInt64LE(off + L.proc_key_ns),
    tgid: buf.readUInt32LE(off + L.tgid),
    comm: cstring(buf, off + L.comm, CONSTANTS.PT_COMM_LEN),
    transport: proto === 6 ? 'tcp' : 'udp',
    family: fam === AF_INET ? 'IPv4' : 'IPv6',
    // Copies: a DNS payload may wait in TCP reassembly past its batch.
    local: { addr: Buffer.from(buf.subarray(off + L.laddr, off + L.laddr + alen)), port: buf.readUInt16LE(off + L.lport) },
    remote: { addr: Buffer.from(buf.subarray(off + L.raddr, off + L.raddr + alen)), port: buf.readUInt16LE(off + L.rport) },
    tcpSeq: buf.readUInt32LE(off + L.tcp_seq),
    wireLength: wireLen,
    payload: Buffer.from(buf.subarray(d, d + capLen)),
  };
}

export function decodeCgroup(buf: Buffer, off = 0, len = buf.length - off): RawCgroupRecord {
  const L = CGROUP_REC;
  if (len < L.path || off + L.path > buf.length) {
    throw new DecodeError(`cgroup record needs at least ${L.path} bytes`, 'TRUNCATED');
  }
  if (buf.readUInt32LE(off + L.type) !== CONSTANTS.PT_REC_CGROUP) throw new DecodeError('not a cgroup record', 'INVALID');
  const plen = buf.readUInt32LE(off + L.len);
  if (plen > CONSTANTS.PT_CGROUP_PATH_BUF || L.path + plen > len || off + L.path + plen > buf.length) {
    throw new DecodeError(`cgroup path length ${plen} exceeds its record`, 'INVALID');
  }
  const path = buf.toString('utf8', off + L.path, off + L.path + plen);
  if (!path.startsWith('/')) throw new DecodeError('cgroup path does not start with /', 'INVALID');
  return {
    kind: 'cgroup',
    hier: buf.readUInt16LE(off + L.hier),
    cgroupId: buf.readBigUInt64LE(off + L.cgroup_id),
    path,
    depth: buf.readUInt32LE(off + L.depth),
    truncated: (buf.readUInt16LE(off + L.flags) & CONSTANTS.PT_CGF_TRUNCATED) !== 0,
  };
}

/** One record of a native batch: [u32 length][u32 0][bytes padded to 8]. */
export function decodeRecord(buf: Buffer, off: number, len: number): RawRecord {
  if (len < 4 || off + len > buf.length) throw new DecodeError('record runs past its batch', 'TRUNCATED');
  const type = buf.readUInt32LE(off);
  if (type === CONSTANTS.PT_REC_CONNECT) return decodeConnect(buf, off, len);
  if (type === CONSTANTS.PT_REC_CGROUP) return decodeCgroup(buf, off, len);
  if (type === CONSTANTS.PT_REC_PROC) return decodeProc(buf, off, len);
  if (type === CONSTANTS.PT_REC_DNS) return decodeDns(buf, off, len);
  throw new DecodeError(`unknown record type ${type}`, 'INVALID');
}

/**
 * Walks a native batch frame by frame, handing each record's offset and length to
 * onRecord. A bad frame ends the walk (what follows cannot be found).
 */
export function walkBatch(buf: Buffer, onRecord: (off: number, len: number) => void, onError: (err: DecodeError) => void): void {
  let off = 0;
  while (off < buf.length) {
    if (off + 8 > buf.length) {
      onError(new DecodeError(`batch ends inside a frame header at ${off}`, 'TRUNCATED'));
      return;
    }
    const len = buf.readUInt32LE(off);
    const start = off + 8;
    if (len === 0 || start + len > buf.length) {
      onError(new DecodeError(`frame of ${len} bytes at ${off} exceeds the batch`, 'TRUNCATED'));
      return;
    }
    onRecord(start, len);
    off = start + ((len + 7) & ~7);
  }
}

/**
 * Decodes a native batch. A bad record is handed to onError and skipped; a bad
 * frame ends the walk (what follows cannot be found).
 */
export function decodeBatch(buf: Buffer, onError: (err: DecodeError) => void): RawRecord[] {
  const out: RawRecord[] = [];
  walkBatch(buf, (off, len) => {
    try {
      out.push(decodeRecord(buf, off, len));
    } catch (err) {
      if (err instanceof DecodeError) onError(err);
      else throw err;
    }
  }, onError);
  return out;
}
