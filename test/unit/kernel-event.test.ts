// SPDX-License-Identifier: Apache-2.0
// KernelCapture builds events straight from the batch buffer (kernel-event.ts). They must
// say exactly what decodeConnect reads from the same bytes, and no batch, however broken,
// may throw out of it.
import '../helpers/quiet-log.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CONNECT_EVENT, CONSTANTS, decodeConnect, PROC_REC, type RawProcRecord } from '../../src/capture/event-layout.js';
import { KernelCapture, type KernelConnectEvent, type NativeCapture, type NativeStats } from '../../src/capture/native.js';
import { encodeCgroup, encodeConnect, frame } from '../helpers/event-records.js';

class Fake implements NativeCapture {
  static last: Fake;
  cb!: (b: Buffer, n: number) => void;
  forgotten: Array<[number, bigint]> = [];
  constructor() {
    Fake.last = this;
  }
  start(cb: (b: Buffer, n: number) => void) {
    this.cb = cb;
    return { attachMode: 'tracepoint', attempts: [], programs: [] };
  }
  stop() {}
  stats() {
    return {} as NativeStats;
  }
  forgetCgroup(hier: number, id: bigint) {
    this.forgotten.push([hier, id]);
    return true;
  }
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const record = fc.record({
  seq: u64, ts_ns: u64, done_ns: u64, start_ns: u64, proc_key_ns: u64, cgroup_id: fc.bigInt({ min: 0n, max: 5n }),
  tgid: u32, tid: u32, ppid: u32, uid: u32, gid: u32, ns_pid: u32, netns: u32, mntns: u32, pidns: u32,
  err: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), flags: fc.constantFrom(0, 1, 4, 5, 8, 13),
  saddr: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)),
  daddr: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)),
  sport: fc.integer({ min: 0, max: 65535 }), dport: fc.integer({ min: 0, max: 65535 }),
  family: fc.constantFrom(2, 10), protocol: fc.constantFrom(6, 17), status: fc.integer({ min: 0, max: 5 }), op: fc.integer({ min: 1, max: 4 }),
  cg_hier: fc.integer({ min: 0, max: 2 }),
  comm: fc.string({ unit: 'binary-ascii', maxLength: 16 }).map((s) => s.replace(/\0/g, '')),
  uts: fc.string({ maxLength: 20 }).map((s) => s.replace(/\0/g, '')),
});

test('events built from the buffer say what decodeConnect reads', () => {
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 20 }), (recs) => {
      const kc = new KernelCapture(Fake, { bpfObjectPath: '/x', cgroupControllers: ['memory', 'pids'] });
      const got: KernelConnectEvent[] = [];
      kc.start((evs) => got.push(...evs));
      const paths = [0, 1, 2].flatMap((h) => [0n, 1n, 2n, 3n, 4n, 5n].map((id) => encodeCgroup(h, id, `/h${h}/c${id}`)));
      const bufs = recs.map((r) => encodeConnect(r));
      Fake.last.cb(frame(...paths, ...bufs), paths.length + bufs.length);
      assert.equal(got.length, recs.length);
      got.forEach((e, i) => {
        const d = decodeConnect(bufs[i]!);
        assert.deepEqual(e, {
          seq: d.seq, bootNs: d.tsNs, doneBootNs: d.doneNs, protocol: d.protocol, family: d.family, v4Mapped: d.v4Mapped,
          op: d.op, src: d.src, dst: d.dst, status: d.status, errno: d.errno, pid: d.tgid, tid: d.tid, ppid: d.ppid,
          uid: d.uid, gid: d.gid, comm: d.comm, startBootNs: d.startNs, nsPid: d.nsPid, netns: d.netns, mntns: d.mntns,
          pidns: d.pidns, utsName: d.utsName, cgroupId: d.cgroupId, cgroupPath: `/h${d.cgroupHier}/c${d.cgroupId}`,
          cgroupController: ['', 'memory', 'pids'][d.cgroupHier], procKeyNs: d.procKeyNs, exeUnlinked: d.exeUnlinked,
        });
      });
      kc.stop();
    }),
    { numRuns: 300 },
  );
});

test('garbage batches are counted, never thrown', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), (bytes, cut) => {
      const kc = new KernelCapture(Fake, { bpfObjectPath: '/x' });
      kc.start(() => {});
      const good = frame(encodeCgroup(0, 1n, '/'), encodeConnect({ cgroup_id: 1n }));
      // Random bytes alone, and a good batch cut short or with its tail overwritten.
      Fake.last.cb(Buffer.from(bytes), 0);
      const cutAt = cut % (good.length + 1);
      Fake.last.cb(good.subarray(0, cutAt), 0);
      const mangled = Buffer.from(good);
      Buffer.from(bytes).copy(mangled, Math.min(cutAt, mangled.length));
      Fake.last.cb(mangled, 0);
      // A frame claiming a short connect record must not read past it.
      const short = Buffer.alloc(16);
      short.writeUInt32LE(8, 0);
      short.writeUInt32LE(1, 8);
      Fake.last.cb(short, 1);
      assert.ok(kc.stats().decodeErrors >= 1);
      kc.stop();
    }),
    { numRuns: 500 },
  );
  assert.equal(CONNECT_EVENT.SIZE, 232);
});

test('stop() delivers what the native side hands back, in order, before it returns', () => {
  class Draining extends Fake {
    override stop() {
      return frame(encodeConnect({ seq: 3n, cgroup_id: 1n }), encodeConnect({ seq: 4n, cgroup_id: 1n, status: 1 }));
    }
  }
  const kc = new KernelCapture(Draining, { bpfObjectPath: '/x' });
  const seqs: bigint[] = [];
  kc.start((evs) => seqs.push(...evs.map((e) => e.seq)));
  Fake.last.cb(frame(encodeCgroup(0, 1n, '/'), encodeConnect({ seq: 1n, cgroup_id: 1n }), encodeConnect({ seq: 2n, cgroup_id: 1n })), 3);
  kc.stop();
  assert.deepEqual(seqs, [1n, 2n, 3n, 4n]);
  kc.stop();
  assert.deepEqual(seqs, [1n, 2n, 3n, 4n], 'a second stop delivers nothing');
  assert.equal(kc.stats().delivered, 4);
});

function procRecord(kind: number, seq: bigint, tgid: number, exe = '', args = ''): Buffer {
  const L = PROC_REC;
  const e = Buffer.from(exe);
  const a = Buffer.from(args);
  const b = Buffer.alloc(L.data + e.length + a.length);
  b.writeUInt32LE(CONSTANTS.PT_REC_PROC, L.type);
  b[L.kind] = kind;
  b.writeBigUInt64LE(seq, L.seq);
  b.writeUInt32LE(tgid, L.tgid);
  b.writeUInt32LE(e.length, L.exe_len);
  b.writeUInt32LE(a.length, L.args_len);
  e.copy(b, L.data);
  a.copy(b, L.data + e.length);
  return b;
}

test('process records reach onProc before the connects of their batch; a hole in their sequence is counted', () => {
  const kc = new KernelCapture(Fake, { bpfObjectPath: '/x' });
  const order: string[] = [];
  const procs: RawProcRecord[] = [];
  kc.start((evs) => order.push(...evs.map((e) => `connect ${e.seq}`)), (ps) => {
    procs.push(...ps);
    order.push(...ps.map((p) => `${p.procKind} ${p.tgid}`));
  });
  Fake.last.cb(frame(encodeCgroup(0, 1n, '/'), encodeConnect({ seq: 1n, cgroup_id: 1n }), procRecord(1, 1n, 10, '/bin/x', 'x\0-v\0'),
    encodeConnect({ seq: 2n, cgroup_id: 1n }), procRecord(2, 2n, 11)), 5);
  // Process seq 3 never arrives: the kernel could not reserve it.
  Fake.last.cb(frame(procRecord(3, 4n, 10)), 1);
  assert.deepEqual(order, ['exec 10', 'fork 11', 'connect 1', 'connect 2', 'exit 10']);
  assert.equal(procs[0]!.exe.toString(), '/bin/x');
  assert.equal(procs[0]!.args.toString(), 'x\0-v\0');
  kc.stop();
  const s = kc.stats();
  assert.equal(s.procRecords, 3);
  assert.equal(s.procSeqLost, 1n);
  assert.equal(s.decodeErrors, 0);
});
