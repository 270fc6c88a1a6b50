// SPDX-License-Identifier: Apache-2.0
// The TS mirror of bpf/podtrail.h against the C++ compiler's offsetof/sizeof of
// the same header (exported by the addon), plus decoding and its bad forms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '../../src/common/errors.js';
import {
  CGROUP_REC,
  CONNECT_EVENT,
  PROC_REC,
  CONSTANTS,
  decodeBatch,
  decodeCgroup,
  decodeConnect,
  decodeProc,
  decodeDns,
  DNS_REC,
} from '../../src/capture/event-layout.js';
import { encodeCgroup, encodeConnect, frame } from '../helpers/event-records.js';
import { loadNativeBinding, type NativeBinding } from '../../src/capture/native.js';

function nativeOrSkip(t: { skip(msg: string): void }): NativeBinding | undefined {
  try {
    return loadNativeBinding();
  } catch (err) {
    // The addon is part of the build; in CI its absence is a failure, not a skip.
    if (process.env.CI === 'true') throw err;
    t.skip(`native addon not built: ${(err as Error).message}`);
    return undefined;
  }
}

test('connect event offsets and size match the C header', (t) => {
  const b = nativeOrSkip(t);
  if (!b) return;
  const c = b.layout().connectEvent;
  assert.deepEqual({ ...CONNECT_EVENT }, c);
});

test('cgroup record offsets and size match the C header', (t) => {
  const b = nativeOrSkip(t);
  if (!b) return;
  assert.deepEqual({ ...CGROUP_REC }, b.layout().cgroupRec);
});

test('process record offsets and size match the C header', (t) => {
  const b = nativeOrSkip(t);
  if (!b) return;
  assert.deepEqual({ ...PROC_REC }, b.layout().procRec);
});

test('constants match the C header', (t) => {
  const b = nativeOrSkip(t);
  if (!b) return;
  assert.deepEqual({ ...CONSTANTS }, b.layout().constants);
});

test('decodeConnect reads every field at its offset', () => {
  const saddr = Buffer.from([10, 0, 0, 5]);
  const daddr = Buffer.from([93, 184, 216, 34]);
  const r = decodeConnect(
    encodeConnect({
      seq: 123456n, ts_ns: 11n, done_ns: 12n, start_ns: 13n, cgroup_id: 1234n, tgid: 5113, tid: 5114, ppid: 5100,
      uid: 1000, gid: 1001, ns_pid: 7, netns: 4026532181, mntns: 4026532180, pidns: 4026532182, err: 111,
      saddr, daddr, sport: 41234, dport: 443, status: 2, cg_hier: 1, comm: 'curl', uts: 'web-7d9f', flags: 1,
    }),
  );
  assert.equal(r.seq, 123456n);
  assert.equal(r.tsNs, 11n);
  assert.equal(r.doneNs, 12n);
  assert.equal(r.startNs, 13n);
  assert.equal(r.cgroupId, 1234n);
  assert.deepEqual([r.tgid, r.tid, r.ppid, r.uid, r.gid, r.nsPid], [5113, 5114, 5100, 1000, 1001, 7]);
  assert.deepEqual([r.netns, r.mntns, r.pidns], [4026532181, 4026532180, 4026532182]);
  assert.equal(r.errno, 111);
  assert.equal(r.status, 'REFUSED');
  assert.equal(r.family, 'IPv4');
  assert.equal(r.protocol, 'TCP');
  assert.equal(r.op, 'connect');
  assert.equal(r.v4Mapped, true);
  assert.deepEqual(r.src, { addr: saddr, port: 41234 });
  assert.deepEqual(r.dst, { addr: daddr, port: 443 });
  assert.equal(r.comm, 'curl');
  assert.equal(r.utsName, 'web-7d9f');
  assert.equal(r.cgroupHier, 1);
});

test('decodeConnect gives IPv6 16-byte addresses and full-length names', () => {
  const a = Buffer.alloc(16);
  a[15] = 1;
  const r = decodeConnect(encodeConnect({ family: 10, protocol: 17, op: 2, saddr: a, daddr: a, comm: 'x'.repeat(16), uts: 'h'.repeat(65) }));
  assert.equal(r.family, 'IPv6');
  assert.equal(r.protocol, 'UDP');
  assert.equal(r.op, 'sendto');
  assert.equal(r.src.addr.length, 16);
  assert.deepEqual(r.dst.addr, a);
  assert.equal(r.comm, 'x'.repeat(16));
  assert.equal(r.utsName, 'h'.repeat(65));
});

test('decodeConnect rejects truncated, foreign and out-of-range records', () => {
  const good = encodeConnect();
  assert.throws(() => decodeConnect(good.subarray(0, 100)), (e: unknown) => e instanceof DecodeError && e.code === 'TRUNCATED');
  assert.throws(() => decodeConnect(encodeConnect({ type: 9 })), (e: unknown) => e instanceof DecodeError && e.code === 'INVALID');
  for (const bad of [{ family: 3 }, { protocol: 1 }, { status: 9 }, { op: 0 }, { op: 7 }]) {
    assert.throws(() => decodeConnect(encodeConnect(bad)), (e: unknown) => e instanceof DecodeError && e.code === 'INVALID');
  }
});

test('decodeCgroup reads the path and rejects bad lengths', () => {
  const path = '/kubepods/burstable/pod35b82523-06c1-48e7-9e61-2521a89b703b/' + 'b'.repeat(64);
  const r = decodeCgroup(encodeCgroup(2, 77n, path));
  assert.deepEqual([r.hier, r.cgroupId, r.path, r.truncated], [2, 77n, path, false]);
  const bad = encodeCgroup(0, 1n, '/x');
  bad.writeUInt32LE(CONSTANTS.PT_CGROUP_PATH_BUF + 1, CGROUP_REC.len);
  assert.throws(() => decodeCgroup(bad), (e: unknown) => e instanceof DecodeError && e.code === 'INVALID');
  assert.throws(() => decodeCgroup(encodeCgroup(0, 1n, 'relative')), DecodeError);
  assert.throws(() => decodeCgroup(Buffer.alloc(10)), (e: unknown) => e instanceof DecodeError && e.code === 'TRUNCATED');
});

test('decodeBatch walks frames, skips a bad record and stops at a broken frame', () => {
  const errs: DecodeError[] = [];
  const ok = decodeBatch(frame(encodeCgroup(0, 5n, '/a'), encodeConnect({ type: 77 }), encodeConnect({ seq: 9n })), (e) => errs.push(e));
  assert.deepEqual(ok.map((r) => r.kind), ['cgroup', 'connect']);
  assert.equal(errs.length, 1);
  const broken = frame(encodeConnect({ seq: 1n }));
  broken.writeUInt32LE(9999, 0);
  const errs2: DecodeError[] = [];
  assert.deepEqual(decodeBatch(broken, (e) => errs2.push(e)), []);
  assert.equal(errs2[0]?.code, 'TRUNCATED');
  const errs3: DecodeError[] = [];
  decodeBatch(Buffer.from([1, 2, 3]), (e) => errs3.push(e));
  assert.equal(errs3.length, 1);
});

test('decodeProc reads an exec record with its path and argv, sized as the kernel sends it', () => {
  const L = PROC_REC;
  const exe = Buffer.from('/opt/a b/\u00e9t\u00e9/bin');
  const args = Buffer.from('bin\0--flag\0x\ny\0');
  const b = Buffer.alloc(L.data + exe.length + args.length);
  b.writeUInt32LE(CONSTANTS.PT_REC_PROC, L.type);
  b[L.kind] = CONSTANTS.PT_PROC_EXEC;
  b.writeUInt16LE(CONSTANTS.PT_EXE_UPPER | CONSTANTS.PT_EXE_ARGS_TRUNCATED, L.exe_flags);
  b.writeBigUInt64LE(7n, L.seq);
  b.writeBigUInt64LE(100n, L.ts_ns);
  b.writeBigUInt64LE(100n, L.key_ns);
  b.writeBigUInt64LE(50n, L.parent_key_ns);
  b.writeBigUInt64LE(90n, L.start_ns);
  b.writeUInt32LE(4242, L.tgid);
  b.writeUInt32LE(4200, L.ppid);
  b.writeUInt32LE(1000, L.uid);
  b.writeUInt32LE(exe.length, L.exe_len);
  b.writeUInt32LE(args.length, L.args_len);
  b.writeUInt32LE(9000, L.args_full);
  b.write('bin', L.comm);
  exe.copy(b, L.data);
  args.copy(b, L.data + exe.length);
  const r = decodeProc(b);
  assert.deepEqual(r, {
    kind: 'proc', procKind: 'exec', seq: 7n, tsNs: 100n, tgid: 4242, keyNs: 100n, ppid: 4200, parentKeyNs: 50n,
    startNs: 90n, uid: 1000, comm: 'bin', exeFlags: CONSTANTS.PT_EXE_UPPER | CONSTANTS.PT_EXE_ARGS_TRUNCATED,
    exe, args, argsFull: 9000,
  });
  // Lengths that run past the record, an unknown kind, a short header: typed errors.
  assert.throws(() => decodeProc(b, 0, b.length - 1), (e: unknown) => e instanceof DecodeError && e.code === 'INVALID');
  const bad = Buffer.from(b);
  bad[L.kind] = 9;
  assert.throws(() => decodeProc(bad), (e: unknown) => e instanceof DecodeError && e.code === 'INVALID');
  const huge = Buffer.from(b);
  huge.writeUInt32LE(CONSTANTS.PT_EXE_MAX, L.exe_len);
  assert.throws(() => decodeProc(huge), (e: unknown) => e instanceof DecodeError && e.code === 'INVALID');
  assert.throws(() => decodeProc(b.subarray(0, 40)), (e: unknown) => e instanceof DecodeError && e.code === 'TRUNCATED');
});

test('DNS record offsets and size match the C header', (t) => {
  const b = nativeOrSkip(t);
  if (!b) return;
  assert.deepEqual({ ...DNS_REC }, b.layout().dnsRec);
});

/** A PT_REC_DNS record as the kernel sends it: the header, then cap bytes of payload. */
function encodeDnsRec(o: { dir?: number; proto?: number; fam?: number; cap?: number; wire?: number; payload?: Buffer } = {}): Buffer {
  const L = DNS_REC;
  const payload = o.payload ?? Buffer.from('abcd');
  const b = Buffer.alloc(L.data + payload.length);
  b.writeUInt32LE(CONSTANTS.PT_REC_DNS, L.type);
  b[L.dir] = o.dir ?? CONSTANTS.PT_DNS_ANSWER;
  b[L.protocol] = o.proto ?? 17;
  b[L.family] = o.fam ?? 2;
  b.writeBigUInt64LE(77n, L.seq);
  b.writeBigUInt64LE(5n, L.ts_ns);
  b.writeBigUInt64LE(0xc00c1en, L.sock_cookie);
  b.writeBigUInt64LE(4242n, L.cgroup_id);
  b.writeBigUInt64LE(99n, L.netns_cookie);
  b.writeBigUInt64LE(123n, L.proc_key_ns);
  b.writeUInt32LE(3100, L.tgid);
  b.writeUInt32LE(0xdeadbeef, L.tcp_seq);
  b.writeUInt32LE(o.wire ?? payload.length, L.wire_len);
  b.writeUInt32LE(o.cap ?? payload.length, L.cap_len);
  Buffer.from([10, 0, 0, 7]).copy(b, L.laddr);
  Buffer.from([10, 96, 0, 10]).copy(b, L.raddr);
  b.writeUInt16LE(40000, L.lport);
  b.writeUInt16LE(53, L.rport);
  b.write('python3', L.comm);
  payload.copy(b, L.data);
  return b;
}

test('decodeDns reads every field at its offset; the payload is a copy', () => {
  const buf = encodeDnsRec({ wire: 600 });
  const r = decodeDns(buf);
  assert.deepEqual({ ...r, payload: r.payload.toString() }, {
    kind: 'dns', direction: 'answer', seq: 77n, tsNs: 5n, sockCookie: 0xc00c1en, cgroupId: 4242n, cgroupHier: 0, netnsCookie: 99n,
    procKeyNs: 123n, tgid: 3100, comm: 'python3', transport: 'udp', family: 'IPv4',
    local: { addr: Buffer.from([10, 0, 0, 7]), port: 40000 }, remote: { addr: Buffer.from([10, 96, 0, 10]), port: 53 },
    tcpSeq: 0xdeadbeef, wireLength: 600, payload: 'abcd',
  });
  buf[DNS_REC.data] = 0x7a;
  assert.equal(r.payload.toString(), 'abcd');
});

test('decodeDns: bad forms are DecodeErrors', () => {
  const bad: Array<[string, Buffer]> = [
    ['header cut', encodeDnsRec().subarray(0, DNS_REC.data - 1)],
    ['payload past the record', encodeDnsRec({ cap: 5 })],
    ['cap over wire length', encodeDnsRec({ wire: 2 })],
    ['empty payload', encodeDnsRec({ cap: 0, wire: 0 })],
    ['cap over PT_DNS_MAX', encodeDnsRec({ cap: CONSTANTS.PT_DNS_MAX + 1, wire: 70000 })],
    ['unknown direction', encodeDnsRec({ dir: 3 })],
    ['unknown protocol', encodeDnsRec({ proto: 1 })],
    ['unknown family', encodeDnsRec({ fam: 7 })],
  ];
  for (const [what, b] of bad) assert.throws(() => decodeDns(b), DecodeError, what);
  const frames = Buffer.concat([frame(encodeDnsRec({ fam: 7 })), frame(encodeDnsRec())]);
  const errs: DecodeError[] = [];
  const recs = decodeBatch(frames, (e) => errs.push(e));
  assert.equal(errs.length, 1);
  assert.deepEqual(recs.map((x) => x.kind), ['dns']);
});
