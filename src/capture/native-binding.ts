// SPDX-License-Identifier: Apache-2.0
// The native addon's surface as TypeScript types, its loading, and its errors.
// KernelCapture (native.ts) is the wrapper to use.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelError } from '../common/errors.js';
import type { ClockSample } from './clock.js';
import { type ConnectOp, type ConnectStatus } from './event-layout.js';


export type AttachMode = 'auto' | 'tracepoint' | 'kprobe' | 'fentry';

export interface KernelConnectEvent {
  seq: bigint;
  /** CLOCK_BOOTTIME ns of the connect/send syscall */
  bootNs: bigint;
  /** CLOCK_BOOTTIME ns when the outcome was known (or the INPROGRESS sweep ran) */
  doneBootNs: bigint;
  protocol: 'TCP' | 'UDP';
  /** v4-mapped IPv6 connects are reported as IPv4 with 4-byte addresses and v4Mapped */
  family: 'IPv4' | 'IPv6';
  v4Mapped: boolean;
  op: ConnectOp;
  src: { addr: Buffer; port: number };
  dst: { addr: Buffer; port: number };
  status: ConnectStatus;
  errno: number;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  comm: string;
  startBootNs: bigint;
  nsPid: number;
  netns: number;
  mntns: number;
  pidns: number;
  utsName: string;
  cgroupId: bigint;
  cgroupPath: string;
  /** '' when the path is the cgroup v2 one, else the v1 controller it came from */
  cgroupController: string;
  /** with pid, the process key: CLOCK_BOOTTIME of its last exec, or of its start when capture saw no exec */
  procKeyNs: bigint;
  /** the executable had no link left at the connect: deleted after exec, or fileless */
  exeUnlinked: boolean;
}

export interface KernelCaptureOptions {
  attach?: AttachMode;
  ringBufferBytes?: number;
  cgroupControllers?: string[];
  excludeLoopback?: boolean;
  udpDedupMs?: number;
  pendingTimeoutMs?: number;
  bpfObjectPath?: string;
  maxBatch?: number;
  /** the reader polls this often and is woken early only when the ring is a quarter full; 0: wake per event */
  flushIntervalMs?: number;
  /** user-space cgroup path cache; keep well above the kernel's 8192 */
  cgroupCacheSize?: number;
  /** DNS answers from the kernel (cgroup programs at the host's cgroup v2 root; needs CAP_NET_ADMIN) */
  dns?: boolean;
  /** destination ports whose sockets are DNS sockets (at most 8) */
  dnsPorts?: number[];
  /** payload bytes copied per DNS packet (512 holds any answer without EDNS) */
  dnsCopyMax?: number;
  /** the host's cgroup v2 root; '' finds it (the unified mount, not a cgroup namespace's root) */
  dnsCgroupRoot?: string;
}

export interface AttachAttempt {
  mode: string;
  ok: boolean;
  errno: number;
  code: string;
  message: string;
}

export interface NativeStartResult {
  attachMode: string;
  attempts: AttachAttempt[];
  programs: string[];
}

export interface NativeStats {
  ringReserveFails: bigint[];
  cgroupReserveFails: bigint[];
  pendingFull: bigint[];
  inflightFull: bigint[];
  pendingStale: bigint[];
  procReserveFails: bigint[];
  procTableFull: bigint[];
  dnsReserveFails: bigint[];
  dnsMarkFails: bigint[];
  lastSeq: bigint;
  lastProcSeq: bigint;
  lastDnsSeq: bigint;
  /** bpf_prog_info.recursion_misses summed over the loaded programs */
  recursionMisses: bigint;
  batches: bigint;
  records: bigint;
  swept: bigint;
  queueFullWaits: bigint;
  consumeErrors: bigint;
  droppedAtStop: bigint;
  running: boolean;
}

export interface NativeCaptureOptions {
  bpfObjectPath: string;
  attach: AttachMode;
  ringBufferBytes: number;
  cgroupControllers: string[];
  excludeLoopback: boolean;
  udpDedupMs: number;
  pendingTimeoutMs: number;
  maxBatch: number;
  flushIntervalMs: number;
  dns: boolean;
  dnsPorts: number[];
  dnsCopyMax: number;
  dnsCgroupRoot: string;
}

export interface NativeCapture {
  start(onBatch: (batch: Buffer, count: number) => void): NativeStartResult;
  /**
   * Detaches, drains the ring, reports attempts still pending as INPROGRESS, and
   * returns every record not yet handed to onBatch (batch framing), in order.
   * No onBatch call happens after it.
   */
  stop(): Buffer | undefined | void;
  stats(): NativeStats;
  forgetCgroup(hier: number, cgroupId: bigint): boolean;
}

export type NativeCaptureCtor = new (opts: NativeCaptureOptions) => NativeCapture;

export interface ProbeMode {
  mode: 'fentry' | 'kprobe' | 'tracepoint';
  ok: boolean;
  errno: number;
  code: string;
  message: string;
}

export interface KernelProbe {
  kernelRelease: string;
  btf: boolean;
  tracefs: { mountedBefore: boolean; path: string };
  privileges: { euid: number; capSysAdmin: boolean; capBpf: boolean; capPerfmon: boolean; capNetAdmin: boolean; enough: boolean };
  cgroup: { kind: 'v1' | 'v2' | 'hybrid' | 'none'; v2Mount: string; v1Mounts: string[] };
  modes: ProbeMode[];
}

export interface NativeLayout {
  connectEvent: Record<string, number>;
  cgroupRec: Record<string, number>;
  procRec: Record<string, number>;
  dnsRec: Record<string, number>;
  constants: Record<string, number>;
}

export interface NativeBinding {
  Capture: NativeCaptureCtor;
  probe(bpfObjectPath: string): KernelProbe;
  clock(): ClockSample;
  layout(): NativeLayout;
}

/** A native failure: code is NOT_PRIVILEGED, NO_BTF, NO_TRACEFS, LOAD_FAILED, ATTACH_FAILED, ... */
export class KernelCaptureError extends KernelError {
  constructor(
    message: string,
    readonly code: string,
    errno: number | undefined,
    readonly mode: string | undefined,
    opts: { cause?: unknown } = {},
  ) {
    super(message, errno, opts);
  }
}

export function fromNative(err: unknown): KernelCaptureError {
  const e = err as { message?: string; code?: unknown; errno?: unknown; mode?: unknown };
  return new KernelCaptureError(
    String(e?.message ?? err),
    typeof e?.code === 'string' ? e.code : 'NATIVE',
    typeof e?.errno === 'number' ? e.errno : undefined,
    typeof e?.mode === 'string' ? e.mode : undefined,
    { cause: err },
  );
}

/** The repository root: the nearest ancestor holding native/binding.gyp. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'native', 'binding.gyp'))) return dir;
    dir = dirname(dir);
  }
  throw new KernelCaptureError('cannot find the podtrail repository root (native/binding.gyp)', 'NO_ADDON', undefined, undefined);
}

export function defaultBpfObjectPath(): string {
  return process.env.PODTRAIL_BPF_OBJECT ?? join(repoRoot(), 'bpf', '.output', 'podtrail.bpf.o');
}

let binding: NativeBinding | undefined;

export function loadNativeBinding(path?: string): NativeBinding {
  if (binding && !path) return binding;
  const file = path ?? process.env.PODTRAIL_NATIVE_ADDON ?? join(repoRoot(), 'native', 'build', 'Release', 'podtrail.node');
  try {
    const b = createRequire(import.meta.url)(file) as NativeBinding;
    if (!path) binding = b;
    return b;
  } catch (err) {
    throw new KernelCaptureError(`cannot load the native addon ${file} (run npm run build:native)`, 'NO_ADDON', undefined, undefined, { cause: err });
  }
}

export function probeKernel(b: NativeBinding = loadNativeBinding(), bpfObjectPath = defaultBpfObjectPath()): KernelProbe {
  try {
    return b.probe(bpfObjectPath);
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * The one owner of capture's defaults and ranges: validateCaptureOptions (native.ts) checks
 * against these once, the CLI takes its bounds from them, and the addon only reads the
 * validated, typed fields (native/src/addon.cc has no defaults and no ranges of its own).
 */
export const CAPTURE_LIMITS = {
  // 16 KiB: a ring must hold at least one 4.4 KiB cgroup path record. Power of two (the kernel's rule).
  ringBufferBytes: { min: 16384, max: 1 << 30 },
  udpDedupMs: { min: 0, max: 86_400_000 },
  pendingTimeoutMs: { min: 1, max: 3_600_000 },
  maxBatch: { min: 1, max: 65_536 },
  flushIntervalMs: { min: 0, max: 1000 },
  cgroupCacheSize: { min: 16, max: 1 << 22 },
  /** PT_MAX_CONTROLLERS in bpf/podtrail.h */
  cgroupControllers: { min: 0, max: 4 },
  /** PT_DNS_PORTS in bpf/podtrail.h */
  dnsPorts: { min: 1, max: 8 },
  /** 512: every answer without EDNS fits; PT_DNS_MAX bounds the kernel's copy */
  dnsCopyMax: { min: 512, max: 4096 },
} as const;

export const CAPTURE_DEFAULTS = {
  attach: 'auto' as AttachMode,
  // 4 MiB hold ~17k events, half a second at the ~33k connects/s one client reaches here
  // (zero drops in bench/README.md), far more at a busy node's usual rate. The consumer
  // maps the data twice, so each MiB here is two of capture's RSS.
  ringBufferBytes: 4 << 20,
  cgroupControllers: ['memory', 'pids'],
  excludeLoopback: false,
  udpDedupMs: 60_000,
  pendingTimeoutMs: 5_000,
  maxBatch: 512,
  flushIntervalMs: 20,
  cgroupCacheSize: 65_536,
  dns: false,
  dnsPorts: [53],
  // 1232: the EDNS size DNS Flag Day 2020 set for resolvers, so an answer that fits one
  // unfragmented packet is copied whole; TCP segments are reassembled in user space.
  dnsCopyMax: 1232,
  dnsCgroupRoot: '',
};
