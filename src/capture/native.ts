// SPDX-License-Identifier: Apache-2.0
// KernelCapture: the thin wrapper over the native Capture class. It validates
// options once, decodes batches through event-layout.ts, and gives every event
// its cgroup path from a cache of the kernel's once-per-cgroup path records.
// The native class is a constructor argument, so unit tests can pass a fake.
import { ConfigError, DecodeError } from '../common/errors.js';
import { moduleLogger, type Logger } from '../common/log.js';
import { CgroupPaths } from './cgroup-paths.js';
import { checkConnect, CONSTANTS, decodeCgroup, decodeDns, decodeProc, walkBatch, type RawDnsRecord, type RawProcRecord } from './event-layout.js';
import { SeqTracker } from './seq-tracker.js';
import { cgroupIdAt, checkedConnectEventAt, hierAt } from './kernel-event.js';
import {
  CAPTURE_DEFAULTS,
  CAPTURE_LIMITS,
  defaultBpfObjectPath,
  fromNative,
  type AttachMode,
  type KernelCaptureOptions,
  type KernelConnectEvent,
  type NativeCapture,
  type NativeCaptureCtor,
  type NativeCaptureOptions,
  type NativeStartResult,
  type NativeStats,
} from './native-binding.js';

export * from './native-binding.js';

export interface CaptureStats {
  /** failed ring buffer reserves per CPU: each one is also a seq gap */
  ringReserveFailsPerCpu: bigint[];
  ringReserveFails: bigint;
  /** lost cgroup path records per CPU: their events were dropped, each a seq gap */
  cgroupReserveFailsPerCpu: bigint[];
  pendingFullPerCpu: bigint[];
  inflightFullPerCpu: bigint[];
  pendingStalePerCpu: bigint[];
  /** process records (exec, fork, exit) the ring could not take: each a gap in the process sequence */
  procReserveFails: bigint;
  /** execs and forks the kernel's process table had no room for */
  procTableFull: bigint;
  /** the last seq the kernel (or the INPROGRESS sweep) handed out */
  lastSeq: bigint;
  /** the last process-record seq the kernel handed out (a sequence of its own) */
  lastProcSeq: bigint;
  /**
   * program runs the kernel skipped because the program was already running on that CPU
   * (bpf_prog_info.recursion_misses; fentry mode, or a tracepoint interrupted by itself):
   * each may be a connect, send or process record that never got a seq, so no sequence gap
   * shows it. Reported as a loss count of its own (metric, warning), not as a gap.
   */
  recursionMisses: bigint;
  procRecords: number;
  /** process records missing from their sequence, as user space saw it */
  procSeqLost: bigint;
  /** DNS packet records the ring could not take (each a gap in the DNS sequence) */
  dnsReserveFails: bigint;
  /** DNS sockets socket-local storage had no room to mark (their answers go unseen) */
  dnsMarkFails: bigint;
  lastDnsSeq: bigint;
  dnsRecords: number;
  /** DNS records missing from their sequence, as user space saw it */
  dnsSeqLost: bigint;
  batches: bigint;
  records: bigint;
  swept: bigint;
  queueFullWaits: bigint;
  consumeErrors: bigint;
  /** read from the ring at stop() but not deliverable: JS's queue was full */
  droppedAtStop: bigint;
  delivered: number;
  decodeErrors: number;
  cgroupPathMisses: number;
  running: boolean;
  attachMode: string | undefined;
}

type Resolved = NativeCaptureOptions & { cgroupCacheSize: number };

const MODES: readonly AttachMode[] = ['auto', 'tracepoint', 'kprobe', 'fentry'];

function int(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new ConfigError(`${name} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
  }
  return v;
}

export function validateCaptureOptions(o: KernelCaptureOptions = {}): Resolved {
  const d = CAPTURE_DEFAULTS;
  const L = CAPTURE_LIMITS;
  const attach = o.attach ?? d.attach;
  if (!MODES.includes(attach)) throw new ConfigError(`attach must be one of ${MODES.join(', ')}, got ${String(attach)}`);
  const ring = int('ringBufferBytes', o.ringBufferBytes ?? d.ringBufferBytes, L.ringBufferBytes.min, L.ringBufferBytes.max);
  if ((ring & (ring - 1)) !== 0) throw new ConfigError(`ringBufferBytes must be a power of two, got ${ring}`);
  const ctrls = o.cgroupControllers ?? d.cgroupControllers;
  if (!Array.isArray(ctrls) || ctrls.length > L.cgroupControllers.max || !ctrls.every((c) => typeof c === 'string' && /^[a-z][a-z0-9_]{0,31}$/.test(c))) {
    throw new ConfigError('cgroupControllers must be at most 4 controller names such as "memory"');
  }
  const excl = o.excludeLoopback ?? d.excludeLoopback;
  if (typeof excl !== 'boolean') throw new ConfigError('excludeLoopback must be a boolean');
  const dns = o.dns ?? d.dns;
  if (typeof dns !== 'boolean') throw new ConfigError('dns must be a boolean');
  const ports = o.dnsPorts ?? d.dnsPorts;
  if (!Array.isArray(ports) || ports.length < L.dnsPorts.min || ports.length > L.dnsPorts.max
    || !ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) {
    throw new ConfigError(`dnsPorts must be ${L.dnsPorts.min} to ${L.dnsPorts.max} ports in [1, 65535], got ${JSON.stringify(ports)}`);
  }
  const root = o.dnsCgroupRoot ?? d.dnsCgroupRoot;
  if (typeof root !== 'string' || (root !== '' && !root.startsWith('/'))) throw new ConfigError('dnsCgroupRoot must be an absolute path or empty');
  const obj = o.bpfObjectPath ?? defaultBpfObjectPath();
  if (typeof obj !== 'string' || obj === '') throw new ConfigError('bpfObjectPath must be a non-empty path');
  return {
    attach,
    ringBufferBytes: ring,
    cgroupControllers: [...ctrls],
    excludeLoopback: excl,
    udpDedupMs: int('udpDedupMs', o.udpDedupMs ?? d.udpDedupMs, L.udpDedupMs.min, L.udpDedupMs.max),
    pendingTimeoutMs: int('pendingTimeoutMs', o.pendingTimeoutMs ?? d.pendingTimeoutMs, L.pendingTimeoutMs.min, L.pendingTimeoutMs.max),
    maxBatch: int('maxBatch', o.maxBatch ?? d.maxBatch, L.maxBatch.min, L.maxBatch.max),
    flushIntervalMs: int('flushIntervalMs', o.flushIntervalMs ?? d.flushIntervalMs, L.flushIntervalMs.min, L.flushIntervalMs.max),
    bpfObjectPath: obj,
    cgroupCacheSize: int('cgroupCacheSize', o.cgroupCacheSize ?? d.cgroupCacheSize, L.cgroupCacheSize.min, L.cgroupCacheSize.max),
    dns,
    dnsPorts: [...ports],
    dnsCopyMax: int('dnsCopyMax', o.dnsCopyMax ?? d.dnsCopyMax, L.dnsCopyMax.min, L.dnsCopyMax.max),
    dnsCgroupRoot: root,
  };
}

/** A DNS packet record with its socket owner's cgroup path ('' when unknown). */
export type DnsRecordWithPath = RawDnsRecord & { cgroupPath: string };

export class KernelCapture {
  private readonly opts: Resolved;
  private native: NativeCapture | undefined;
  private started: NativeStartResult | undefined;
  private readonly paths: CgroupPaths;
  private delivered = 0;
  private decodeErrors = 0;
  private pathMisses = 0;
  private onBatch: ((events: KernelConnectEvent[]) => void) | undefined;
  private onProc: ((recs: RawProcRecord[]) => void) | undefined;
  private procRecords = 0;
  private procSeqLost = 0n;
  /** The process sequence restarts at 1 with every load, as the connect one does. */
  private procSeq = new SeqTracker({ window: 65_536, graceMs: 2_000, first: 1n });
  private onDns: ((recs: DnsRecordWithPath[]) => void) | undefined;
  private dnsRecords = 0;
  private dnsSeqLost = 0n;
  /** DNS records are numbered apart from connects (bpf/podtrail.h says why), from 1 as well. */
  private dnsSeq = new SeqTracker({ window: 65_536, graceMs: 2_000, first: 1n });

  /**
   * `log`: the stage's logger, passed in (as kafkajs passes its logger to each component) rather
   * than made when this module loads, which was before main.ts applied --log-level.
   */
  constructor(
    private readonly nativeCtor: NativeCaptureCtor,
    opts: KernelCaptureOptions = {},
    private readonly log: Logger = moduleLogger('capture.native'),
  ) {
    this.opts = validateCaptureOptions(opts);
    // The kernel must not think we still hold a path we dropped: make it resend.
    this.paths = new CgroupPaths(this.opts.cgroupCacheSize, (hier, id) => this.native?.forgetCgroup(hier, id));
  }

  get options(): Readonly<Resolved> {
    return this.opts;
  }

  /**
   * Loads and attaches the BPF programs and starts the poll thread. onBatch gets
   * events in ring order, the last of them from inside stop(). onProc gets the
   * batch's process records (exec, fork, exit) first, in ring order, so a process
   * table it keeps knows an exec before the connects that follow it.
   */
  start(onBatch: (events: KernelConnectEvent[]) => void, onProc?: (recs: RawProcRecord[]) => void, onDns?: (recs: DnsRecordWithPath[]) => void): NativeStartResult {
    if (this.native) throw new ConfigError('KernelCapture already started');
    const { cgroupCacheSize: _unused, ...nativeOpts } = this.opts;
    let n: NativeCapture;
    let r: NativeStartResult;
    try {
      n = new this.nativeCtor(nativeOpts);
      r = n.start((buf) => this.onNativeBatch(buf, onBatch));
    } catch (err) {
      throw fromNative(err);
    }
    this.native = n;
    this.started = r;
    this.onBatch = onBatch;
    this.onProc = onProc;
    this.onDns = onDns;
    this.log.info(
      { attachMode: r.attachMode, attempts: r.attempts.map((a) => ({ mode: a.mode, ok: a.ok, code: a.code, errno: a.errno })) },
      'kernel capture attached',
    );
    for (const a of r.attempts) if (!a.ok) this.log.info({ mode: a.mode, reason: a.message }, 'attach mode unavailable');
    return r;
  }

  /**
   * Detaches everything and joins the poll thread. Events still in flight (in the
   * ring, not yet handed over, or TCP attempts without an outcome, as INPROGRESS)
   * reach onBatch before this returns; none after. Calling it again does nothing.
   */
  stop(): void {
    const n = this.native;
    if (!n) return;
    let rest: Buffer | undefined | void;
    try {
      rest = n.stop();
    } catch (err) {
      throw fromNative(err);
    } finally {
      this.lastNative = n;
      this.native = undefined;
    }
    const onBatch = this.onBatch;
    this.onBatch = undefined;
    if (Buffer.isBuffer(rest) && rest.length > 0 && onBatch) this.onNativeBatch(rest, onBatch);
    this.countProcGaps(this.procSeq.flush());
    this.countDnsGaps(this.dnsSeq.flush());
    this.onProc = undefined;
    this.onDns = undefined;
  }

  private countDnsGaps(gaps: Array<{ fromSeq: bigint; toSeq: bigint; count: bigint }>): void {
    for (const g of gaps) {
      this.dnsSeqLost += g.count;
      this.log.warn({ fromSeq: String(g.fromSeq), toSeq: String(g.toSeq), count: String(g.count) },
        'DNS packets lost in the kernel (ring buffer full): connects that follow may lack their names');
    }
  }

  private countProcGaps(gaps: Array<{ fromSeq: bigint; toSeq: bigint; count: bigint }>): void {
    for (const g of gaps) {
      this.procSeqLost += g.count;
      this.log.warn({ fromSeq: String(g.fromSeq), toSeq: String(g.toSeq), count: String(g.count) },
        'process records lost in the kernel (ring buffer full): those processes show no executable or arguments');
    }
  }

  private lastNative: NativeCapture | undefined;
  private skippedSeen = 0n;

  /**
   * Warns when the kernel skipped program runs since the last call (recursion_misses): the
   * one loss the sequence cannot show, since a skipped run takes no seq. Returns the total.
   */
  checkSkippedRuns(): bigint {
    const n = this.stats().recursionMisses;
    if (n > this.skippedSeen) {
      this.log.warn({ skippedRuns: String(n - this.skippedSeen), total: String(n) },
        'the kernel skipped capture program runs (recursion on a CPU): connects or process records may be missing without a sequence gap');
      this.skippedSeen = n;
    }
    return n;
  }

  stats(): CaptureStats {
    const n = this.native ?? this.lastNative;
    const s: NativeStats | undefined = n?.stats();
    const sum = (a: bigint[] = []) => a.reduce((x, y) => x + y, 0n);
    return {
      ringReserveFailsPerCpu: s?.ringReserveFails ?? [],
      ringReserveFails: sum(s?.ringReserveFails),
      cgroupReserveFailsPerCpu: s?.cgroupReserveFails ?? [],
      pendingFullPerCpu: s?.pendingFull ?? [],
      inflightFullPerCpu: s?.inflightFull ?? [],
      pendingStalePerCpu: s?.pendingStale ?? [],
      procReserveFails: sum(s?.procReserveFails),
      procTableFull: sum(s?.procTableFull),
      lastSeq: s?.lastSeq ?? 0n,
      lastProcSeq: s?.lastProcSeq ?? 0n,
      recursionMisses: s?.recursionMisses ?? 0n,
      procRecords: this.procRecords,
      procSeqLost: this.procSeqLost,
      dnsReserveFails: sum(s?.dnsReserveFails),
      dnsMarkFails: sum(s?.dnsMarkFails),
      lastDnsSeq: s?.lastDnsSeq ?? 0n,
      dnsRecords: this.dnsRecords,
      dnsSeqLost: this.dnsSeqLost,
      batches: s?.batches ?? 0n,
      records: s?.records ?? 0n,
      swept: s?.swept ?? 0n,
      queueFullWaits: s?.queueFullWaits ?? 0n,
      consumeErrors: s?.consumeErrors ?? 0n,
      droppedAtStop: s?.droppedAtStop ?? 0n,
      delivered: this.delivered,
      decodeErrors: this.decodeErrors,
      cgroupPathMisses: this.pathMisses,
      running: this.native !== undefined,
      attachMode: this.started?.attachMode,
    };
  }

  private onNativeBatch(buf: Buffer, onBatch: (events: KernelConnectEvent[]) => void): void {
    const events: KernelConnectEvent[] = [];
    const procs: RawProcRecord[] = [];
    const dns: DnsRecordWithPath[] = [];
    const bad = (err: DecodeError) => {
      this.decodeErrors++;
      this.log.warn({ err }, 'undecodable record from the kernel');
    };
    walkBatch(buf, (off, len) => {
      try {
        const type = len >= 4 ? buf.readUInt32LE(off) : -1;
        if (type === CONSTANTS.PT_REC_CONNECT) events.push(this.eventAt(buf, off, len));
        else if (type === CONSTANTS.PT_REC_CGROUP) {
          const r = decodeCgroup(buf, off, len);
          this.paths.set(r.hier, r.cgroupId, r.path);
          if (r.truncated) this.log.warn({ cgroupId: String(r.cgroupId) }, 'cgroup path deeper than the kernel walks; top levels cut');
        } else if (type === CONSTANTS.PT_REC_PROC) {
          const p = decodeProc(buf, off, len);
          this.procRecords++;
          this.countProcGaps(this.procSeq.observe(p.seq));
          procs.push(p);
        } else if (type === CONSTANTS.PT_REC_DNS) {
          const d = decodeDns(buf, off, len);
          this.dnsRecords++;
          this.countDnsGaps(this.dnsSeq.observe(d.seq));
          dns.push({ ...d, cgroupPath: this.pathOf(d.cgroupHier, d.cgroupId) });
        } else throw new DecodeError(`unknown record type ${type}`, 'INVALID');
      } catch (err) {
        if (err instanceof DecodeError) bad(err);
        else throw err;
      }
    }, bad);
    this.countProcGaps(this.procSeq.tick());
    this.countDnsGaps(this.dnsSeq.tick());
    if (procs.length > 0 && this.onProc) {
      try {
        this.onProc(procs);
      } catch (err) {
        this.log.error({ err }, 'onProc handler threw');
      }
    }
    // Before the batch's connects: a connect's name comes from answers received before it
    // (the name table checks the times, so order within a batch does not matter beyond this).
    if (dns.length > 0 && this.onDns) {
      try {
        this.onDns(dns);
      } catch (err) {
        this.log.error({ err }, 'onDns handler threw');
      }
    }
    if (events.length === 0) return;
    this.delivered += events.length;
    try {
      onBatch(events);
    } catch (err) {
      this.log.error({ err }, 'onBatch handler threw');
    }
  }

  private eventAt(buf: Buffer, off: number, len: number): KernelConnectEvent {
    checkConnect(buf, off, len);
    const hier = hierAt(buf, off);
    return checkedConnectEventAt(buf, off, this.pathOf(hier, cgroupIdAt(buf, off)), hier === 0 ? '' : (this.opts.cgroupControllers[hier - 1] ?? `#${hier}`));
  }

  private pathOf(hier: number, id: bigint): string {
    const path = this.paths.get(hier, id);
    if (path !== undefined) return path;
    // Only after a cache eviction raced an event in flight (or a DNS mark whose path record
    // was lost); the kernel resends next time.
    this.pathMisses++;
    this.native?.forgetCgroup(hier, id);
    return '';
  }
}
