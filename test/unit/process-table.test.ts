// SPDX-License-Identifier: Apache-2.0
// The user-space process table: kernel process records in ring order, ancestry, the
// exit grace, its bound, and seeding from /proc (a real one and hostile fake ones).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONSTANTS, type RawProcRecord } from '../../src/capture/event-layout.js';
import { ProcessTable, readProc } from '../../src/capture/process-table.js';
import { identityOf, RENDERED } from '../../src/capture/proc-identity.js';
import { ConfigError } from '../../src/common/errors.js';

function rec(p: Partial<RawProcRecord> & Pick<RawProcRecord, 'procKind' | 'tgid' | 'keyNs'>): RawProcRecord {
  return {
    kind: 'proc', seq: 1n, tsNs: p.keyNs, ppid: 1, parentKeyNs: 5n, startNs: p.keyNs, uid: 0, comm: 'x', exeFlags: 0,
    exe: Buffer.alloc(0), args: Buffer.alloc(0), argsFull: 0, ...p,
  };
}

test('exec, fork and exit build the table; ancestry follows parent keys, nearest first', () => {
  const t = new ProcessTable();
  t.apply(rec({ procKind: 'exec', tgid: 10, keyNs: 100n, ppid: 1, parentKeyNs: 5n, comm: 'sh', exe: Buffer.from('/bin/sh'), args: Buffer.from('sh\0-c\0x\0'), argsFull: 9 }));
  t.apply(rec({ procKind: 'fork', tgid: 11, keyNs: 110n, ppid: 10, parentKeyNs: 100n, comm: 'sh' }));
  t.apply(rec({ procKind: 'exec', tgid: 11, keyNs: 120n, ppid: 10, parentKeyNs: 100n, comm: 'curl', exe: Buffer.from('/usr/bin/curl'), args: Buffer.from('curl\0'), argsFull: 5 }));
  const forked = t.get(11, 110n)!;
  assert.equal(forked.source, 'fork');
  assert.equal(forked.exe.toString(), '/bin/sh', 'a fork runs its parent image');
  const curl = t.get(11, 120n)!;
  assert.equal(curl.exe.toString(), '/usr/bin/curl');
  assert.deepEqual(t.ancestry(curl).map((e) => [e.tgid, e.comm]), [[10, 'sh']]);
  assert.equal(t.get(11, 999n), undefined, 'another key of the same pid is another process');
});

test('an exited process stays for the grace period, then goes; argv cut by the kernel is flagged', () => {
  let now = 1000;
  const t = new ProcessTable({ exitGraceMs: 500, now: () => now });
  t.apply(rec({ procKind: 'exec', tgid: 20, keyNs: 200n, args: Buffer.from('a\0'), argsFull: 9000, exeFlags: CONSTANTS.PT_EXE_ARGS_TRUNCATED }));
  assert.equal(t.get(20, 200n)!.argsTruncated, true);
  t.apply(rec({ procKind: 'exit', tgid: 20, keyNs: 200n }));
  now += 499;
  t.prune();
  assert.ok(t.get(20, 200n), 'still there within the grace');
  now += 2;
  t.prune();
  assert.equal(t.get(20, 200n), undefined);
});

test('an image replaced by exec (a fork\'s too) leaves after the grace; a long-lived process stays however many come and go', () => {
  let now = 0;
  const t = new ProcessTable({ maxEntries: 64, exitGraceMs: 100, now: () => now });
  t.apply(rec({ procKind: 'exec', tgid: 2, keyNs: 2n, comm: 'daemon' }));
  // 1,000 fork+exec+exit cycles, as a shell loop makes, and 1,000 re-execs of one pid.
  for (let i = 0; i < 1000; i++) {
    now += 10;
    const tgid = 1000 + (i % 50);
    t.apply(rec({ procKind: 'fork', tgid, keyNs: BigInt(10 * i + 1), ppid: 2, parentKeyNs: 2n }));
    t.apply(rec({ procKind: 'exec', tgid, keyNs: BigInt(10 * i + 2), ppid: 2, parentKeyNs: 2n }));
    t.apply(rec({ procKind: 'exit', tgid, keyNs: BigInt(10 * i + 2) }));
    t.apply(rec({ procKind: 'exec', tgid: 3, keyNs: BigInt(100_000 + i), ppid: 2, parentKeyNs: 2n }));
  }
  assert.ok(t.get(2, 2n), 'the daemon is still known');
  assert.equal(t.evicted, 0, 'nothing live was pushed out');
  assert.ok(t.size < 64, `only the last grace period's images are held (${t.size})`);
  // Within the grace a replaced image still answers (a connect of it still on its way).
  assert.ok(t.get(3, 100_998n));
  assert.ok(t.get(3, 100_999n));
  now += 101;
  t.prune();
  assert.equal(t.get(3, 100_998n), undefined);
  assert.ok(t.get(3, 100_999n), 'the current image stays');
});

test('the table is bounded: the least recently put entries go first', () => {
  const t = new ProcessTable({ maxEntries: 16 });
  for (let i = 0; i < 40; i++) t.apply(rec({ procKind: 'exec', tgid: 100 + i, keyNs: BigInt(i) }));
  assert.equal(t.size, 16);
  assert.equal(t.evicted, 24);
  assert.equal(t.get(100, 0n), undefined);
  assert.ok(t.get(139, 39n));
  assert.throws(() => new ProcessTable({ maxEntries: 3 }), ConfigError);
  assert.throws(() => new ProcessTable({ maxBytes: 10 }), ConfigError);
  assert.throws(() => new ProcessTable({ exitGraceMs: -1 }), ConfigError);
});

test('ancestry stops at 8 levels and at a cycle', () => {
  const t = new ProcessTable();
  for (let i = 1; i <= 12; i++) t.apply(rec({ procKind: 'exec', tgid: i, keyNs: BigInt(i), ppid: i - 1, parentKeyNs: BigInt(i - 1) }));
  assert.deepEqual(t.ancestry(t.get(12, 12n)!).map((e) => e.tgid), [11, 10, 9, 8, 7, 6, 5, 4]);
  t.apply(rec({ procKind: 'exec', tgid: 50, keyNs: 1n, ppid: 51, parentKeyNs: 1n }));
  t.apply(rec({ procKind: 'exec', tgid: 51, keyNs: 1n, ppid: 50, parentKeyNs: 1n }));
  assert.deepEqual(t.ancestry(t.get(50, 1n)!).map((e) => e.tgid), [51]);
});

test('seeded from the real /proc: this process is known by the key the kernel gives it (start time in ns)', () => {
  const t = new ProcessTable();
  assert.ok(t.seedFromProc() > 1);
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const ticks = BigInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!);
  // Any ns inside the tick finds it, as the kernel's start_boottime does.
  const me = t.get(process.pid, ticks * 10_000_000n + 4_321_987n)!;
  assert.equal(me.exe.toString(), realpathSync(process.execPath));
  assert.equal(me.ppid, process.ppid);
  assert.deepEqual(me.args.toString().split('\0').slice(0, -1), process.argv.length ? readFileSync('/proc/self/cmdline', 'utf8').split('\0').slice(0, -1) : []);
  assert.equal(t.ancestry(me)[0]?.tgid, process.ppid);
});

test('seeding from a hostile /proc: odd comm, missing exe, 100 KiB cmdline, malformed stat, vanished entries', () => {
  const root = mkdtempSync(join(tmpdir(), 'pt-fakeproc-'));
  try {
    const mk = (pid: string, stat: string | undefined, cmdline?: Buffer, exe?: string) => {
      const d = join(root, pid);
      mkdirSync(d);
      if (stat !== undefined) writeFileSync(join(d, 'stat'), stat);
      if (cmdline) writeFileSync(join(d, 'cmdline'), cmdline);
      if (exe) symlinkSync(exe, join(d, 'exe'));
    };
    const rest = (ppid: number, ticks: number) => `S ${ppid} ${Array(17).fill('0').join(' ')} ${ticks} 0 0`;
    mk('7', `7 (a) (b) x) ${rest(1, 300)}`, Buffer.from('a\0b\n\0'), '/bin/with space\n(deleted)');
    mk('8', `8 (k) ${rest(2, 10)}`); // a kernel thread: no exe, no cmdline
    mk('9', `9 (big) ${rest(7, 400)}`, Buffer.alloc(100 * 1024, 0x41));
    mk('10', 'garbage without parens');
    mk('11', `11 (short) S 1`);
    mk('12', undefined); // gone between readdir and read
    mk('self', `1 (no) ${rest(0, 1)}`);
    mk('0012', `12 (lead0) ${rest(0, 1)}`);
    const t = new ProcessTable();
    assert.equal(t.seedFromProc(root), 3);
    const a = t.get(7, 300n * 10_000_000n)!;
    assert.equal(a.comm, 'a) (b) x');
    assert.equal(a.exe.toString(), '/bin/with space\n(deleted)');
    assert.equal(a.args.toString(), 'a\0b\n\0');
    const k = t.get(8, 100_000_000n)!;
    assert.deepEqual([k.exe.length, k.args.length], [0, 0]);
    const big = t.get(9, 4_000_000_000n)!;
    assert.equal(big.args.length, CONSTANTS.PT_ARGS_MAX);
    assert.equal(big.argsTruncated, true);
    assert.equal(big.parentKeyNs, a.keyNs);
    assert.equal(readProc(join(root, '10'), 10), undefined);
    assert.equal(readProc(join(root, '11'), 11), undefined);
    assert.equal(t.seedFromProc(join(root, 'nonexistent')), 0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the table is bounded in bytes too: 8 KiB processes push the oldest out, and exits give their bytes back', () => {
  let now = 0;
  const t = new ProcessTable({ maxBytes: 65_536, exitGraceMs: 10, now: () => now });
  const big = (i: number) => rec({ procKind: 'exec', tgid: 1000 + i, keyNs: BigInt(i), exe: Buffer.alloc(4095, 0x61), args: Buffer.alloc(4096, 0x62), argsFull: 4096 });
  for (let i = 0; i < 20; i++) t.apply(big(i));
  assert.equal(t.size, 8);
  assert.equal(t.heldBytes, 8 * 8191);
  assert.equal(t.get(1000, 0n), undefined);
  assert.ok(t.get(1019, 19n));
  t.apply(rec({ procKind: 'exit', tgid: 1019, keyNs: 19n }));
  now = 11;
  t.prune();
  assert.equal(t.size, 7);
  assert.equal(t.heldBytes, 7 * 8191);
});

test('rendered identities are bounded: a busy process keeps its one object, one not seen for long is rendered again, equal', () => {
  const t = new ProcessTable({ maxEntries: 4 * RENDERED });
  const n = 3 * RENDERED;
  for (let i = 0; i < n; i++) t.apply(rec({ procKind: 'exec', tgid: 10_000 + i, keyNs: BigInt(i), comm: 'w', exe: Buffer.from('/bin/w'), args: Buffer.from(`w\0${i}\0`), argsFull: 0 }));
  const first = identityOf(t, 10_000, 0n);
  const busy = identityOf(t, 10_001, 1n);
  for (let i = 2; i < n; i++) {
    identityOf(t, 10_000 + i, BigInt(i));
    assert.equal(identityOf(t, 10_001, 1n), busy, 'a process that keeps connecting keeps its identity object');
  }
  const again = identityOf(t, 10_000, 0n);
  assert.notEqual(again, first, 'aged out after 2 x RENDERED others');
  assert.deepEqual(again, first);
  assert.deepEqual(again.args, ['w', '0']);
});

test('entries are found along their pid\'s chain: a pid\'s old image within its grace, a reused pid, a seed behind a newer exec', () => {
  let now = 0;
  const t = new ProcessTable({ exitGraceMs: 100, now: () => now });
  t.apply(rec({ procKind: 'exec', tgid: 70, keyNs: 1n, comm: 'a' }));
  t.apply(rec({ procKind: 'exec', tgid: 70, keyNs: 2n, comm: 'b' }));
  t.apply(rec({ procKind: 'exit', tgid: 70, keyNs: 2n }));
  t.apply(rec({ procKind: 'exec', tgid: 70, keyNs: 3n, comm: 'c' }));
  assert.deepEqual([1n, 2n, 3n].map((k) => t.get(70, k)?.comm), ['a', 'b', 'c']);
  assert.equal(t.size, 3);
  now = 101;
  t.prune();
  assert.deepEqual([1n, 2n, 3n].map((k) => t.get(70, k)?.comm), [undefined, undefined, 'c']);
  assert.equal(t.size, 1);
  // A pid that exec'd after attach but before the scan: the scan's older entry goes behind it.
  const root = mkdtempSync(join(tmpdir(), 'pt-fakeproc-'));
  try {
    mkdirSync(join(root, '70'));
    writeFileSync(join(root, '70', 'stat'), `70 (old) S 1 ${Array(17).fill('0').join(' ')} 5 0 0`);
    assert.equal(t.seedFromProc(root), 1);
    assert.equal(t.get(70, 3n)?.comm, 'c');
    assert.equal(t.get(70, 5n * 10_000_000n + 7n)?.comm, 'old');
    assert.equal(t.size, 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
