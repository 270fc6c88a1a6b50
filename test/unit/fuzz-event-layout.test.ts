// SPDX-License-Identifier: Apache-2.0
// Property tests of the kernel event decoder (decodeBatch, decodeRecord, decodeConnect,
// decodeCgroup): any bytes give records or DecodeErrors handed to onError, never a throw;
// a well-framed batch yields exactly one record or one error per frame; valid records
// round-trip. In a worker with a deadline (test/helpers/fuzz.ts).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../src/common/errors.js';
import {
  CGROUP_REC, CONNECT_EVENT, CONSTANTS, decodeBatch, decodeCgroup, decodeConnect, decodeProc, decodeRecord, type RawRecord,
} from '../../src/capture/event-layout.js';
import { encodeCgroup, encodeConnect, frame } from '../helpers/event-records.js';
import { fuzzSuite, timed } from '../helpers/fuzz.js';

const CALL_MS = 500;
const STATUS = ['OK', 'INPROGRESS', 'REFUSED', 'TIMEOUT', 'UNREACHABLE', 'ERROR'];
const OPS = ['connect', 'sendto', 'sendmsg', 'sendmmsg'];

function typedOnly(err: unknown): void {
  if (err instanceof DecodeError && (err.code === 'TRUNCATED' || err.code === 'INVALID')) return;
  throw new Error(`not a typed DecodeError: ${err instanceof Error ? err.stack : String(err)}`);
}

function wellFormed(r: RawRecord): void {
  if (r.kind === 'cgroup') {
    assert.ok(r.path.startsWith('/'));
    assert.ok(Buffer.byteLength(r.path) <= CONSTANTS.PT_CGROUP_PATH_BUF);
    return;
  }
  if (r.kind === 'proc') {
    assert.ok(['exec', 'fork', 'exit'].includes(r.procKind));
    assert.ok(r.exe.length < CONSTANTS.PT_EXE_MAX && r.args.length <= CONSTANTS.PT_ARGS_MAX);
    return;
  }
  if (r.kind === 'dns') {
    assert.ok(r.payload.length >= 1 && r.payload.length <= CONSTANTS.PT_DNS_MAX && r.payload.length <= r.wireLength);
    assert.equal(r.local.addr.length, r.family === 'IPv4' ? 4 : 16);
    return;
  }
  assert.ok(r.family === 'IPv4' || r.family === 'IPv6');
  const alen = r.family === 'IPv4' ? 4 : 16;
  assert.equal(r.src.addr.length, alen);
  assert.equal(r.dst.addr.length, alen);
  assert.ok(r.protocol === 'TCP' || r.protocol === 'UDP');
  assert.ok(STATUS.includes(r.status) && OPS.includes(r.op));
  assert.ok(r.src.port >= 0 && r.src.port <= 65535 && r.dst.port >= 0 && r.dst.port <= 65535);
  assert.ok(Buffer.byteLength(r.comm) <= 3 * CONSTANTS.PT_COMM_LEN && Buffer.byteLength(r.utsName) <= 3 * CONSTANTS.PT_UTS_LEN);
}

/** decodeBatch must not throw; every error is typed; every record well formed. */
function walk(buf: Buffer): { recs: RawRecord[]; errors: DecodeError[] } {
  const errors: DecodeError[] = [];
  const recs = timed('decodeBatch', CALL_MS, () => decodeBatch(buf, (e) => { typedOnly(e); errors.push(e); }));
  for (const r of recs) wellFormed(r);
  return { recs, errors };
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const connectFields = fc.record({
  seq: u64, ts_ns: u64, cgroup_id: u64, tgid: u32, tid: u32, ppid: u32, uid: u32, netns: u32, flags: u32,
  err: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  family: fc.constantFrom(2, 10), protocol: fc.constantFrom(6, 17),
  status: fc.integer({ min: 0, max: 5 }), op: fc.integer({ min: 1, max: 4 }),
  sport: fc.integer({ min: 0, max: 65535 }), dport: fc.integer({ min: 0, max: 65535 }),
  saddr: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => Buffer.from(u)),
  comm: fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 15 }),
  uts: fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0') && Buffer.byteLength(s) < CONSTANTS.PT_UTS_LEN),
});
const cgroupFields = fc.record({
  hier: fc.integer({ min: 0, max: 65535 }), id: u64,
  path: fc.string({ unit: 'binary', maxLength: 300 }).map((s) => `/${s}`).filter((p) => Buffer.byteLength(p) <= CONSTANTS.PT_CGROUP_PATH_BUF),
});
type Spec = { kind: 'connect'; f: typeof connectFields extends fc.Arbitrary<infer F> ? F : never }
  | { kind: 'cgroup'; f: typeof cgroupFields extends fc.Arbitrary<infer F> ? F : never };
const recordSpec: fc.Arbitrary<Spec> = fc.oneof(
  connectFields.map((f) => ({ kind: 'connect' as const, f })),
  cgroupFields.map((f) => ({ kind: 'cgroup' as const, f })),
);
const encode = (s: Spec): Buffer => (s.kind === 'connect' ? encodeConnect(s.f) : encodeCgroup(s.f.hier, s.f.id, s.f.path));

/** Byte edits inside one record (its frame stays intact). */
const edits = fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 });
// Fields that decide validity, so edits hit them often.
const HOT = [CONNECT_EVENT.type, CONNECT_EVENT.family, CONNECT_EVENT.protocol, CONNECT_EVENT.status, CONNECT_EVENT.op, CGROUP_REC.len, CGROUP_REC.len + 1, CGROUP_REC.len + 3, CGROUP_REC.path];

fuzzSuite(import.meta.url, {
  'decodeBatch: random bytes never throw; errors are DecodeErrors; records are well formed': {
    runs: 20_000, timeMs: 600,
    make: (observe) => fc.property(fc.uint8Array({ maxLength: 600 }), (u) => {
      const buf = Buffer.from(u);
      observe(buf);
      walk(buf);
    }),
  },
  'decodeBatch: valid records round-trip, one per frame, in order': {
    runs: 2_000, timeMs: 500,
    make: (observe) => fc.property(fc.array(recordSpec, { maxLength: 6 }), (specs) => {
      observe(specs);
      const { recs, errors } = walk(frame(...specs.map(encode)));
      assert.deepEqual(errors, []);
      assert.equal(recs.length, specs.length);
      specs.forEach((s, i) => {
        const r = recs[i]!;
        assert.equal(r.kind, s.kind);
        if (r.kind === 'connect' && s.kind === 'connect') {
          assert.equal(r.seq, s.f.seq);
          assert.equal(r.tgid, s.f.tgid);
          assert.equal(r.errno, s.f.err);
          assert.equal(r.comm, s.f.comm);
          assert.equal(r.utsName, s.f.uts);
          assert.ok(r.src.addr.equals(s.f.saddr.subarray(0, s.f.family === 2 ? 4 : 16)));
        } else if (r.kind === 'cgroup' && s.kind === 'cgroup') {
          assert.equal(r.path, Buffer.from(s.f.path, 'utf8').toString('utf8'));
          assert.equal(r.cgroupId, s.f.id);
        }
      });
    }),
  },
  'decodeBatch: corrupted records in intact frames give exactly one record or one error each': {
    runs: 5_000, timeMs: 1_000,
    make: (observe) => fc.property(fc.array(fc.tuple(recordSpec, edits, fc.boolean()), { minLength: 1, maxLength: 5 }), (items) => {
      const bufs = items.map(([s, ed, hot]) => {
        const b = encode(s);
        for (const e of ed) b[(hot ? HOT[e.at % HOT.length]! : e.at) % b.length] = e.byte;
        return b;
      });
      observe(bufs);
      const { recs, errors } = walk(frame(...bufs));
      assert.equal(recs.length + errors.length, bufs.length);
    }),
  },
  'decodeBatch: broken framing (lengths, truncation, junk between frames) ends the walk with an error, never a throw': {
    runs: 5_000, timeMs: 800,
    make: (observe) => fc.property(
      fc.array(recordSpec, { minLength: 1, maxLength: 4 }),
      fc.array(fc.record({ at: fc.nat(), v: fc.oneof(u32, fc.constantFrom(0, 1, 7, 8, CONNECT_EVENT.SIZE - 1, CONNECT_EVENT.SIZE + 8, 0xffffffff)) }), { minLength: 1, maxLength: 3 }),
      fc.nat(),
      (specs, lens, cut) => {
        const buf = frame(...specs.map(encode));
        // Overwrite frame-header words (at 8-byte steps) and cut the batch somewhere.
        for (const l of lens) {
          const at = (l.at % Math.ceil(buf.length / 8)) * 8;
          if (at + 4 <= buf.length) buf.writeUInt32LE(l.v, at);
        }
        const b = buf.subarray(0, cut % (buf.length + 1));
        observe(b);
        const { recs, errors } = walk(b);
        // A corrupted length can land the walk inside a record, where it reads garbage headers,
        // but every step moves on by a header and at least 8 bytes: the walk is bounded by size.
        assert.ok(recs.length + errors.length <= Math.ceil(b.length / 16) + 1);
      }),
  },
  'decodeRecord/decodeConnect/decodeCgroup: any offset and length inside any buffer give only DecodeErrors': {
    runs: 20_000, timeMs: 800,
    make: (observe) => fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 5000 }).map((u) => Buffer.from(u)), recordSpec.map(encode)),
      fc.nat(), fc.nat(), fc.nat({ max: 3 }),
      (buf, o, l, which) => {
        const off = o % (buf.length + 1);
        const len = l % (buf.length - off + 16);
        observe({ buf, off, len, which });
        const fn = [decodeRecord, decodeConnect, decodeCgroup, decodeProc][which]!;
        try {
          wellFormed(timed('decode', CALL_MS, () => fn(buf, off, len)));
        } catch (err) {
          typedOnly(err);
        }
      }),
  },
});
