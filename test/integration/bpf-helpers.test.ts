// SPDX-License-Identifier: Apache-2.0
// The BPF program's helpers in isolation, as Tetragon's bpf/tests do it: bpf/tests/pt_test.bpf.c
// includes the real program's headers and wraps one helper per test program; bpf/tests/pt_test.c
// (built by `make -C bpf tests`) runs them through BPF_PROG_TEST_RUN on this kernel and prints
// what they returned. Here: the cgroup path walk at its limits (15 levels kept, 255-byte names,
// deeper trees cut and flagged) and the pend slots' compare-and-swap protocol, including the
// states another CPU leaves a slot in mid-protocol.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONSTANTS } from '../../src/capture/event-layout.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { CGROUP_V2 } from '../helpers/ns.js';

const OUT = join(REPO_ROOT, 'bpf', '.output');
const OBJ = join(OUT, 'pt_test.bpf.o');
const RUNNER = join(OUT, 'pt-bpf-test');
const missing = process.getuid?.() !== 0 ? 'not root' : !existsSync(`${CGROUP_V2}/cgroup.procs`) ? `no cgroup v2 at ${CGROUP_V2}` : undefined;
const skip = missing && process.env.CI !== 'true' ? missing : false;

/** A #define of bpf/podtrail.h: the limits are the header's, not numbers of this test's own. */
function define(name: string): number {
  const m = new RegExp(`^#define ${name} (\\d+)`, 'm').exec(readFileSync(join(REPO_ROOT, 'bpf', 'podtrail.h'), 'utf8'));
  if (!m) throw new Error(`${name} not in podtrail.h`);
  return Number(m[1]);
}
const MAX_DEPTH = define('PT_CGROUP_MAX_DEPTH');
const PATH_MAX = define('PT_CGROUP_PATH_MAX');
const PEND_SLOTS = define('PT_PEND_SLOTS');
const PROBE = define('PT_PEND_PROBE');
const FREE = 0;
const BUSY = 1;
const READY = 2;

/** pend_home in pt_maps.bpf.h: Fibonacci hashing of the sock address. */
const home = (sk: bigint) => Number(((sk * 0x9e3779b97f4a7c15n) & 0xffff_ffff_ffff_ffffn) >> 50n) & (PEND_SLOTS - 1);

interface Out { op: string; ret: number; ts?: string }
function pend(...ops: string[]): Out[] {
  return execFileSync(RUNNER, [OBJ, 'pend', ...ops], { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l) as Out);
}
const rets = (o: Out[]) => o.map((x) => x.ret);

/** n distinct sock addresses whose probe window starts at slot h. */
function socksAt(h: number, n: number): bigint[] {
  const out: bigint[] = [];
  for (let sk = 0xffff_8880_0000_0000n; out.length < n; sk += 64n) if (home(sk) === h) out.push(sk);
  return out;
}

interface Walk { top: string; depth: number; flags: number; len: number; path: string }
function walk(levels: number, nameLen: number): Walk {
  return JSON.parse(execFileSync(RUNNER, [OBJ, 'cgroup', CGROUP_V2, String(levels), String(nameLen)], { encoding: 'utf8' })) as Walk;
}
/** The names pt_test.c gives levels 2..n: nameLen times 'a', 'b', ... */
const names = (top: string, levels: number, nameLen: number) =>
  [top, ...Array.from({ length: levels - 1 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(nameLen))];

describe('BPF helpers under BPF_PROG_TEST_RUN (real kernel)', { skip }, () => {
  before(() => {
    if (missing) throw new Error(`prerequisite missing: ${missing}`);
    execFileSync('make', ['-s', '-C', join(REPO_ROOT, 'bpf'), 'tests'], { stdio: ['ignore', 'ignore', 'inherit'] });
  });

  describe('cgroup path walk', () => {
    test('one level: "/" and its name', () => {
      const w = walk(1, 10);
      assert.deepEqual(w, { top: w.top, depth: 1, flags: 0, len: w.top.length + 1, path: `/${w.top}` });
    });

    test(`${MAX_DEPTH} levels of 255-byte names: the deepest tree kept whole (${MAX_DEPTH * 256} bytes)`, () => {
      assert.equal(MAX_DEPTH, 15);
      const w = walk(15, 255);
      const path = '/' + names(w.top, 15, 255).join('/');
      assert.deepEqual(w, { top: w.top, depth: 15, flags: 0, len: path.length, path });
    });

    test('16 levels: the top level cut, the 15 deepest kept, flagged truncated', () => {
      const w = walk(16, 255);
      const path = '/' + names(w.top, 16, 255).slice(1).join('/');
      assert.equal(path.length, 15 * 256);
      assert.ok(path.length < PATH_MAX);
      assert.deepEqual(w, { top: w.top, depth: 15, flags: CONSTANTS.PT_CGF_TRUNCATED, len: path.length, path });
    });

    test('20 levels: still the 15 deepest, flagged', () => {
      const w = walk(20, 200);
      const path = '/' + names(w.top, 20, 200).slice(5).join('/');
      assert.deepEqual(w, { top: w.top, depth: 15, flags: CONSTANTS.PT_CGF_TRUNCATED, len: path.length, path });
    });
  });

  describe('pend slots', () => {
    test('the home slot is the one the JS mirror computes', () => {
      const sks = [1n, 0x1000n, 0xffff_8880_1234_5678n, 0xffff_ffff_ffff_ffc0n];
      assert.deepEqual(rets(pend(...sks.map((s) => `home:${s}`))), sks.map(home));
    });

    test('park, find, take: the event comes out once, the slot is free again', () => {
      const sk = 0xffff_8880_0abc_0000n;
      const h = home(sk);
      const o = pend(`put:${sk}`, `find:${sk}`, `take:${h}:${sk}`, `take:${h}:${sk}`, `find:${sk}`, `put:${sk}`, `find:${sk}`);
      assert.deepEqual(o, [
        { op: 'put', ret: 0 },
        { op: 'find', ret: h },
        { op: 'take', ret: 0, ts: String(sk + 1n) },
        { op: 'take', ret: -1, ts: '0' }, // a second taker gets nothing
        { op: 'find', ret: -1 },
        { op: 'put', ret: 0 }, // the freed home slot is used again
        { op: 'find', ret: h },
      ]);
    });

    test(`a full window of ${PROBE}: the next attempt is refused; a take makes room`, () => {
      const h = 100;
      const sks = socksAt(h, PROBE + 1);
      const o = pend(...sks.map((s) => `put:${s}`), ...sks.map((s) => `find:${s}`), `take:${h + 3}:${sks[3]}`, `put:${sks[PROBE]}`, `find:${sks[PROBE]}`);
      assert.deepEqual(rets(o), [
        ...Array(PROBE).fill(0), -1,
        ...Array.from({ length: PROBE }, (_, i) => h + i), -1,
        0, 0, h + 3,
      ]);
    });

    test('the window wraps at the end of the table', () => {
      const h = PEND_SLOTS - 3;
      const sks = socksAt(h, PROBE);
      const o = pend(...sks.map((s) => `put:${s}`), ...sks.map((s) => `find:${s}`));
      assert.deepEqual(rets(o).slice(PROBE), Array.from({ length: PROBE }, (_, i) => (h + i) % PEND_SLOTS));
    });

    test('a second park of one sock replaces the first, counted stale; one attempt remains', () => {
      const sk = 0xffff_8880_0def_0000n;
      const h = home(sk);
      const o = pend(`put:${sk}`, `put:${sk}`, 'stale', `find:${sk}`, `take:${h + 1}:${sk}`, `take:${h}:${sk}`, `find:${sk}`);
      // The stale take frees the home slot before the new park probes, so the new one lands there.
      assert.deepEqual(rets(o), [0, 0, 1, h, -1, 0, -1]);
    });

    test('a slot another CPU holds BUSY is neither taken nor reused', () => {
      const [a, b] = socksAt(200, 2) as [bigint, bigint];
      // Another CPU is mid-take (or mid-park) of a's slot: state BUSY, sk still a.
      const o = pend(`put:${a}`, `hdr:200:${BUSY}:${a}`, `find:${a}`, `take:200:${a}`, `put:${b}`, `find:${b}`, `hdr:200:${READY}:${a}`, `take:200:${a}`);
      assert.deepEqual(o.map((x) => [x.op, x.ret, x.ts]), [
        ['put', 0, undefined], ['hdr', 0, undefined],
        ['find', -1, undefined], // only READY slots are found
        ['take', -1, '0'], // the compare-and-swap READY->BUSY fails
        ['put', 0, undefined], ['find', 201, undefined], // b skips the busy slot
        ['hdr', 0, undefined],
        ['take', 0, String(a + 1n)], // once released READY, the parked event is intact
      ]);
    });

    test('a slot that changed hands between find and take is put back, not taken', () => {
      const [a, b] = socksAt(300, 2) as [bigint, bigint];
      // A taker that found the slot for b comes late: the slot holds a now.
      const o = pend(`put:${a}`, `take:300:${b}`, `find:${a}`, `take:300:${a}`);
      assert.deepEqual(o.map((x) => [x.ret, x.ts]), [[0, undefined], [-1, '0'], [300, undefined], [0, String(a + 1n)]]);
    });

    test('a slot left FREE with a stale sk is not found', () => {
      const [a] = socksAt(400, 1) as [bigint];
      assert.deepEqual(rets(pend(`hdr:400:${FREE}:${a}`, `find:${a}`, `take:400:${a}`)), [0, -1, -1]);
    });
  });
});
