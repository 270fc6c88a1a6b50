// SPDX-License-Identifier: Apache-2.0
// KernelCapture with a fake native class: options, errors, path cache, stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/common/errors.js';
import {
  KernelCapture,
  KernelCaptureError,
  type KernelConnectEvent,
  type NativeCapture,
  type NativeCaptureOptions,
  type NativeStats,
} from '../../src/capture/native.js';
import { encodeCgroup, encodeConnect, frame } from '../helpers/event-records.js';

class FakeNative implements NativeCapture {
  static last: FakeNative | undefined;
  static failStart: Error | undefined;
  onBatch: ((b: Buffer, n: number) => void) | undefined;
  forgotten: Array<[number, bigint]> = [];
  stops = 0;
  constructor(readonly opts: NativeCaptureOptions) {
    FakeNative.last = this;
  }
  start(cb: (b: Buffer, n: number) => void) {
    if (FakeNative.failStart) throw FakeNative.failStart;
    this.onBatch = cb;
    return { attachMode: 'tracepoint', attempts: [{ mode: 'tracepoint', ok: true, errno: 0, code: '', message: '' }], programs: [] };
  }
  stop() {
    this.stops++;
  }
  stats(): NativeStats {
    return {
      ringReserveFails: [1n, 2n], cgroupReserveFails: [0n, 0n], pendingFull: [0n, 0n], inflightFull: [0n, 0n],
      pendingStale: [0n, 0n], procReserveFails: [0n, 0n], procTableFull: [0n, 0n], dnsReserveFails: [0n, 0n], dnsMarkFails: [0n, 0n], lastSeq: 42n, lastProcSeq: 0n, lastDnsSeq: 0n, recursionMisses: 0n, batches: 1n, records: 2n, swept: 0n, queueFullWaits: 0n, consumeErrors: 0n, droppedAtStop: 0n,
      running: this.stops === 0,
    };
  }
  forgetCgroup(hier: number, id: bigint) {
    this.forgotten.push([hier, id]);
    return true;
  }
}

const base = { bpfObjectPath: '/nonexistent/podtrail.bpf.o' };

test('bad options are ConfigErrors at construction', () => {
  const bad = [
    { attach: 'uprobe' },
    { ringBufferBytes: 5000 },
    { ringBufferBytes: 1024 },
    { ringBufferBytes: 8192 },
    { udpDedupMs: -1 },
    { pendingTimeoutMs: 0 },
    { pendingTimeoutMs: 1.5 },
    { maxBatch: 0 },
    { flushIntervalMs: 1001 },
    { cgroupControllers: ['memory', 'pids', 'cpu', 'io', 'rdma'] },
    { cgroupControllers: ['../x'] },
    { excludeLoopback: 'yes' },
    { bpfObjectPath: '' },
    { dns: 'on' },
    { dnsPorts: [] },
    { dnsPorts: [53, 5353, 1, 2, 3, 4, 5, 6, 7] },
    { dnsPorts: [0] },
    { dnsPorts: [65536] },
    { dnsPorts: ['53'] },
    { dnsCopyMax: 511 },
    { dnsCopyMax: 4097 },
    { dnsCgroupRoot: 'relative/path' },
  ];
  for (const b of bad) {
    assert.throws(() => new KernelCapture(FakeNative, { ...base, ...(b as object) }), ConfigError, JSON.stringify(b));
  }
});

test('defaults reach the native class', () => {
  const kc = new KernelCapture(FakeNative, base);
  kc.start(() => {});
  assert.deepEqual(FakeNative.last?.opts, {
    attach: 'auto', ringBufferBytes: 4 << 20, cgroupControllers: ['memory', 'pids'], excludeLoopback: false,
    udpDedupMs: 60000, pendingTimeoutMs: 5000, maxBatch: 512, flushIntervalMs: 20, bpfObjectPath: base.bpfObjectPath,
    dns: false, dnsPorts: [53], dnsCopyMax: 1232, dnsCgroupRoot: '',
  });
  kc.stop();
});

test('events carry the path of their cgroup record; a miss asks the kernel to resend', () => {
  const kc = new KernelCapture(FakeNative, { ...base, cgroupControllers: ['memory', 'pids'] });
  const got: KernelConnectEvent[] = [];
  kc.start((evs) => got.push(...evs));
  const fake = FakeNative.last!;
  fake.onBatch!(frame(encodeCgroup(2, 7n, '/kubepods/pod1/abc'), encodeConnect({ seq: 1n, cgroup_id: 7n, cg_hier: 2, tgid: 10 })), 2);
  // Same id in another hierarchy is another cgroup.
  fake.onBatch!(frame(encodeConnect({ seq: 2n, cgroup_id: 7n, cg_hier: 0 })), 1);
  assert.equal(got.length, 2);
  assert.equal(got[0]!.cgroupPath, '/kubepods/pod1/abc');
  assert.equal(got[0]!.cgroupController, 'pids');
  assert.equal(got[0]!.pid, 10);
  assert.equal(got[1]!.cgroupPath, '');
  assert.deepEqual(fake.forgotten, [[0, 7n]]);
  assert.equal(kc.stats().cgroupPathMisses, 1);
  kc.stop();
});

test('evicting a path makes the kernel forget it too', () => {
  const kc = new KernelCapture(FakeNative, { ...base, cgroupCacheSize: 16 });
  kc.start(() => {});
  const fake = FakeNative.last!;
  const recs = Array.from({ length: 17 }, (_, i) => encodeCgroup(0, BigInt(i + 1), `/c${i}`));
  fake.onBatch!(frame(...recs), recs.length);
  assert.deepEqual(fake.forgotten, [[0, 1n]]);
  kc.stop();
});

test('undecodable records are counted, the rest delivered; a throwing handler does not break capture', () => {
  const kc = new KernelCapture(FakeNative, base);
  let calls = 0;
  kc.start(() => {
    calls++;
    throw new Error('handler bug');
  });
  const fake = FakeNative.last!;
  fake.onBatch!(frame(encodeCgroup(0, 1n, '/'), encodeConnect({ status: 99 }), encodeConnect({ cgroup_id: 1n })), 3);
  assert.equal(calls, 1);
  assert.equal(kc.stats().decodeErrors, 1);
  assert.equal(kc.stats().delivered, 1);
  kc.stop();
});

test('native errors become KernelCaptureError with code, errno and mode', () => {
  const e = Object.assign(new Error('attach kprobe/__sys_connect (mode kprobe) failed'), { code: 'ATTACH_FAILED', errno: 2, mode: 'kprobe' });
  FakeNative.failStart = e;
  try {
    const kc = new KernelCapture(FakeNative, { ...base, attach: 'kprobe' });
    assert.throws(() => kc.start(() => {}), (err: unknown) => {
      assert.ok(err instanceof KernelCaptureError);
      assert.deepEqual([err.code, err.errno, err.mode, err.cause], ['ATTACH_FAILED', 2, 'kprobe', e]);
      return true;
    });
    assert.equal(kc.stats().running, false);
  } finally {
    FakeNative.failStart = undefined;
  }
});

test('stop twice is harmless and stats survive stop', () => {
  const kc = new KernelCapture(FakeNative, base);
  kc.start(() => {});
  assert.throws(() => kc.start(() => {}), ConfigError);
  kc.stop();
  kc.stop();
  assert.equal(FakeNative.last!.stops, 1);
  const s = kc.stats();
  assert.equal(s.running, false);
  assert.equal(s.ringReserveFails, 3n);
  assert.equal(s.lastSeq, 42n);
});
