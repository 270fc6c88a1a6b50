// SPDX-License-Identifier: Apache-2.0
// Process identity against the real kernel: the exec record (path, argv, parent key,
// flags) of programs started in odd ways, the key every connect of theirs carries, and the
// raw record capture's service makes of the connect (its whole `process`: exe, args,
// parent, ancestry, exeFlags). The expected parents and ancestors older than the test are
// read from /proc here, independently of the table's own seed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { KernelCapture, loadNativeBinding } from '../../src/capture/native.js';
import { CONSTANTS, type RawProcRecord } from '../../src/capture/event-layout.js';
import type { ProcessTable } from '../../src/capture/process-table.js';
import { CaptureService } from '../../src/capture/service.js';
import { moduleLogger } from '../../src/common/log.js';
import type { Process, ProcessRef, RawConnectEvent } from '../../src/schema/types.js';
import type { KernelConnectEvent } from '../../src/capture/native.js';
import { buildClient } from '../helpers/ns.js';
import { EventSink, missingKernelPrereq } from '../helpers/capture-sink.js';

const missing = missingKernelPrereq();
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;
const PY = '/usr/bin/python3';
const TICK_NS = 10_000_000n; // USER_HZ 100: /proc/<pid>/stat counts start time in these

/** CLOCK_BOOTTIME start of pid in /proc's clock ticks. */
function startTicks(pid: number): bigint {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return BigInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!);
}

const argv = (r: RawProcRecord) => r.args.toString('utf8').split('\0').slice(0, -1);

/** A process older than the test as /proc shows it: the form a record's parent and ancestors take. */
function procRef(pid: number): ProcessRef {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  let exe: string | null = null;
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
  } catch {
    // a kernel thread
  }
  return { pid, comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), exe };
}

/** pid and up to n-1 of its ancestors, from /proc. */
function chainFrom(pid: number, n: number): ProcessRef[] {
  const out: ProcessRef[] = [];
  for (let p = pid; p > 0 && out.length < n;) {
    out.push(procRef(p));
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  return out;
}

/** A connect's whole process record, as its raw record must hold it. */
function processOf(e: KernelConnectEvent, x: { keyNs: bigint }, exe: string, args: string[], parents: ProcessRef[], exeFlags: string[] = [], argsTruncated = false): Process {
  return {
    pid: e.pid, tid: e.tid, ppid: e.ppid, uid: 0n, gid: 0n, comm: e.comm, startTime: e.startBootNs, nsPid: e.pid,
    key: x.keyNs, exe, args, argsTruncated, parent: parents[0] ?? null, ancestry: parents.slice(0, 8), exeFlags,
  };
}

class ProcSink {
  readonly all: RawProcRecord[] = [];
  push(r: RawProcRecord[]): void {
    this.all.push(...r);
  }
  /** The first n records of kind of tgid among those from index from on. */
  async of(tgid: number, kind: RawProcRecord['procKind'], n = 1, from = 0, timeoutMs = 6000): Promise<RawProcRecord[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.all.slice(from).filter((r) => r.tgid === tgid && r.procKind === kind);
      if (got.length >= n) return got;
      if (Date.now() > deadline) throw new Error(`expected ${n} ${kind} records of ${tgid}, got ${got.length}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * A run's pid, stdout, and where the sinks stood when it was spawned. Pids come back:
 * this file reuses one on purpose (ns_last_pid), and the pids after it were used earlier
 * in the file, so a run's records are looked for only among those that came after it.
 */
interface Run { pid: number; out: string; procFrom: number; eventFrom: number }

const sink = new EventSink();
const procs = new ProcSink();
/** capture's raw records, by seq */
const raws = new Map<bigint, RawConnectEvent>();
const rawOf = (e: KernelConnectEvent): RawConnectEvent => {
  const r = raws.get(e.seq);
  assert.ok(r, `a raw record for seq ${e.seq}`);
  return r;
};

/** Runs a command to its end; its pid and stdout. */
function run(cmd: string, args: string[]): Promise<Run> {
  const procFrom = procs.all.length;
  const eventFrom = sink.all.length;
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve({ pid: c.pid!, out, procFrom, eventFrom }) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

describe('kernel capture: process identity (real BPF)', { skip }, () => {
  let client = '';
  let capture: KernelCapture;
  let server: Server;
  let port = 0;
  let tmp = '';
  let early: ReturnType<typeof spawn>;
  let earlyTicks = 0n;
  let svc: CaptureService;
  let table: ProcessTable;
  const nodeKey = () => startTicks(process.pid);
  /** the test runner and its ancestors, as every direct child's parents */
  let runner: ProcessRef[] = [];

  before(async () => {
    if (missing) throw new Error(`kernel capture prerequisites missing: ${missing}`);
    client = await buildClient();
    tmp = mkdtempSync('/tmp/pt-proc-');
    server = createServer((s) => s.on('error', () => {}).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    // A process older than capture: it connects when told to, after capture starts.
    early = spawn(PY, ['-c', `import socket,sys\nsys.stdin.readline()\nsocket.create_connection(("127.0.0.1", ${port})).close()`], { stdio: ['pipe', 'ignore', 'inherit'] });
    await new Promise((r) => setTimeout(r, 300));
    earlyTicks = startTicks(early.pid!);
    runner = chainFrom(process.pid, 8);
    const binding = loadNativeBinding();
    capture = new KernelCapture(binding.Capture, { pendingTimeoutMs: 2000 });
    // capture's own service, with the kernel records teed to the sinks after it saw them.
    const tee = {
      start: (onBatch: (e: KernelConnectEvent[]) => void, onProc?: (p: RawProcRecord[]) => void) => capture.start((evs) => {
        onBatch(evs);
        sink.push(evs);
      }, (ps) => {
        onProc?.(ps);
        procs.push(ps);
      }),
      stop: () => capture.stop(),
    } as unknown as KernelCapture;
    const rawSink = { offer: (r: RawConnectEvent) => (raws.set(r.seq, r), true), offerLoss: () => assert.fail('no kernel loss expected') };
    svc = new CaptureService(tee, binding, rawSink, { node: 'test-node', processTable: { exitGraceMs: 60_000 } }, moduleLogger('test.capture'));
    svc.start();
    table = svc.processes!;
    assert.ok(table.size > 0, 'seeded from /proc');
  });

  after(async () => {
    early?.kill();
    svc?.stop();
    server?.close();
    try {
      execFileSync('umount', [join(tmp, 'merged')], { stdio: 'ignore' });
    } catch {
      // not mounted: that test did not get so far
    }
    // rm walks by directory fd; Node's rmSync by whole paths, too long for the 4 KiB test's tree.
    if (tmp) execFileSync('rm', ['-rf', tmp]);
  });

  test('a process older than capture: its connects carry its start time as key, matching /proc', async () => {
    early.stdin!.end('go\n');
    await new Promise((r) => early.on('close', r));
    const [e] = await sink.forPid(early.pid!, 1);
    assert.equal(e!.procKeyNs, e!.startBootNs);
    assert.equal(e!.procKeyNs / TICK_NS, earlyTicks);
    assert.equal(procs.all.filter((r) => r.tgid === early.pid && r.procKind === 'exec').length, 0);
    // Known from the /proc seed: the script's newlines as \x0a.
    const script = `import socket,sys\\x0asys.stdin.readline()\\x0asocket.create_connection(("127.0.0.1", ${port})).close()`;
    assert.deepEqual(rawOf(e!).process, processOf(e!, { keyNs: e!.startBootNs }, realpathSync(PY), [PY, '-c', script], runner));
    const [x] = await procs.of(early.pid!, 'exit');
    assert.deepEqual({ ...x!, tsNs: 0n, uid: 0 }, {
      kind: 'proc', procKind: 'exit', seq: x!.seq, tsNs: 0n, tgid: early.pid, keyNs: e!.procKeyNs, ppid: 0,
      parentKeyNs: 0n, startNs: e!.startBootNs, uid: 0, comm: 'python3', exeFlags: 0, exe: Buffer.alloc(0), args: Buffer.alloc(0), argsFull: 0,
    });
  });

  test('a binary at a deep odd path (spaces, unicode) run with arguments: exec, connect and exit share one key', async (t) => {
    const dir = join(tmp, 'with space', 'ünï cødé ✓', ...Array(12).fill('deep'), '..dots');
    mkdirSync(dir, { recursive: true });
    const bin = join(dir, 'pt client');
    copyFileSync(client, bin);
    chmodSync(bin, 0o755);
    const r = await run(bin, ['--count', '1', 'tcp']);
    const [x] = await procs.of(r.pid, 'exec', 1, r.procFrom);
    const [e] = await sink.forPid(r.pid, 1, 6000, 300, r.eventFrom);
    const [end] = await procs.of(r.pid, 'exit', 1, r.procFrom);
    assert.deepEqual(x, {
      kind: 'proc', procKind: 'exec', seq: x!.seq, tsNs: x!.tsNs, tgid: r.pid, keyNs: x!.tsNs, ppid: process.pid,
      parentKeyNs: x!.parentKeyNs, startNs: e!.startBootNs, uid: 0, comm: 'pt client', exeFlags: 0,
      exe: Buffer.from(bin), args: Buffer.from([bin, '--count', '1', 'tcp'].join('\0') + '\0'),
      argsFull: Buffer.byteLength([bin, '--count', '1', 'tcp'].join('\0') + '\0'),
    });
    // The test runner is older than capture: the parent key is its start time.
    assert.equal(x!.parentKeyNs / TICK_NS, nodeKey());
    assert.equal(e!.procKeyNs, x!.keyNs);
    assert.equal(e!.exeUnlinked, false);
    assert.equal(end!.keyNs, x!.keyNs);
    assert.equal(end!.parentKeyNs, x!.parentKeyNs);
    assert.ok(end!.seq > x!.seq);
    // Resolved when the connect arrived, whether or not its exit had come first.
    assert.deepEqual(rawOf(e!).process, processOf(e!, x!, bin, [bin, '--count', '1', 'tcp'], runner));
    t.diagnostic(`exec to exit ${Number(end!.tsNs - x!.tsNs) / 1e6} ms`);
  });

  test('a process that execs, connects and exits within a millisecond: its record still names it', async (t) => {
    // A TCP connect to a listener of its own on loopback, then exit: the exit record can reach
    // the table before the connect is turned into a record; the exit grace covers it. The
    // bound is measured by the kernel's own timestamps (exec and exit records). A loaded
    // machine can stretch one run past it, so runs repeat until one fits, and that one's
    // record is checked whole.
    const tries: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await run(client, ['tcp']);
      const [x] = await procs.of(r.pid, 'exec', 1, r.procFrom);
      const [end] = await procs.of(r.pid, 'exit', 1, r.procFrom);
      const [e] = await sink.forPid(r.pid, 1, 6000, 300, r.eventFrom);
      const took = end!.tsNs - x!.tsNs;
      tries.push(`${Number(took) / 1e6} ms`);
      if (took >= 1_000_000n) continue;
      assert.ok(x!.tsNs <= e!.bootNs && e!.bootNs <= end!.tsNs, 'exec, connect, exit in that order');
      assert.equal(e!.protocol, 'TCP');
      assert.equal(e!.status, 'OK');
      assert.deepEqual(rawOf(e!).process, processOf(e!, x!, client, [client, 'tcp'], runner));
      t.diagnostic(`exec to exit ${Number(took) / 1e6} ms, exec to connect ${Number(e!.bootNs - x!.tsNs) / 1e6} ms (runs: ${tries.join(', ')})`);
      return;
    }
    assert.fail(`no run went from exec to exit within 1 ms: ${tries.join(', ')}`);
  });

  test('python3 script.py: the exe is the interpreter, the args hold the script', async () => {
    const script = join(tmp, 'client script.py');
    writeFileSync(script, `import socket,sys\nsocket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()\n`);
    const r = await run(PY, [script, String(port)]);
    const [x] = await procs.of(r.pid, 'exec', 1, r.procFrom);
    const [e] = await sink.forPid(r.pid, 1, 6000, 300, r.eventFrom);
    assert.equal(x!.exe.toString(), realpathSync(PY));
    assert.deepEqual(argv(x!), [PY, script, String(port)]);
    assert.equal(x!.exeFlags, 0);
    assert.equal(x!.comm, 'python3');
    assert.equal(e!.procKeyNs, x!.keyNs);
    assert.deepEqual(rawOf(e!).process, processOf(e!, x!, realpathSync(PY), [PY, script, String(port)], runner));
  });

  test('a script run through its #! line: the exe is the interpreter, argv as the kernel rewrote it', async () => {
    const script = join(tmp, 'she bang.py');
    writeFileSync(script, `#!${PY} -u\nimport socket,sys\nsocket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()\n`);
    chmodSync(script, 0o755);
    const r = await run(script, [String(port)]);
    const [x] = await procs.of(r.pid, 'exec', 1, r.procFrom);
    const [e] = await sink.forPid(r.pid, 1, 6000, 300, r.eventFrom);
    assert.equal(x!.exe.toString(), realpathSync(PY));
    assert.deepEqual(argv(x!), [PY, '-u', script, String(port)]);
    assert.equal(x!.exeFlags, 0);
    assert.equal(e!.procKeyNs, x!.keyNs);
    assert.deepEqual(rawOf(e!).process, processOf(e!, x!, realpathSync(PY), [PY, '-u', script, String(port)], runner));
  });

  test('run through a path with .. and a symlink: the exe is the file reached, argv[0] as typed', async () => {
    const dir = join(tmp, 'dots');
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    copyFileSync(client, join(dir, 'a', 'real client'));
    chmodSync(join(dir, 'a', 'real client'), 0o755);
    symlinkSync(join(dir, 'a', 'real client'), join(dir, 'a', 'b', 'link'));
    const typed = `${dir}/a/b/../b/./link`;
    const r = await run(typed, ['tcp']);
    const [x] = await procs.of(r.pid, 'exec', 1, r.procFrom);
    assert.equal(x!.exe.toString(), join(dir, 'a', 'real client'));
    assert.deepEqual(argv(x!), [typed, 'tcp']);
    assert.equal(x!.comm, 'link');
    const [e] = await sink.forPid(r.pid, 1, 6000, 300, r.eventFrom);
    assert.deepEqual(rawOf(e!).process, processOf(e!, x!, join(dir, 'a', 'real client'), [typed, 'tcp'], runner));
  });

  test('paths beyond the walk (over 4 KiB, over 64 levels): top components dropped, the file\'s own name kept, flagged', async () => {
    // Built relative to the current directory: the whole path is longer than PATH_MAX.
    const long = 'L'.repeat(250);
    const deep = join(tmp, 'long');
    mkdirSync(deep);
    const mk = (name: string, levels: number) => ['-c', [
      'import os, shutil, sys',
      `os.chdir(${JSON.stringify(deep)})`,
      `for _ in range(${levels}):\n    os.mkdir(${JSON.stringify(name)})\n    os.chdir(${JSON.stringify(name)})`,
      `shutil.copy(${JSON.stringify(client)}, "x")`,
      'os.execv("./x", ["./x", "tcp"])',
    ].join('\n')];
    const r1 = await run(PY, mk(long, 17));
    const [, x1] = await procs.of(r1.pid, 'exec', 2, r1.procFrom);
    const p1 = x1!.exe.toString();
    assert.equal(x1!.exeFlags, CONSTANTS.PT_EXE_PATH_TRUNCATED);
    assert.ok(p1.length < CONSTANTS.PT_EXE_MAX && p1.length > CONSTANTS.PT_EXE_MAX - 260, `kept ${p1.length} bytes`);
    assert.ok(p1.endsWith(`/${long}/x`));
    assert.match(p1, new RegExp(`^(/${long})+/x$`));
    const [e1] = await sink.forPid(r1.pid, 1, 6000, 300, r1.eventFrom);
    assert.equal(e1!.procKeyNs, x1!.keyNs);
    assert.deepEqual(rawOf(e1!).process, processOf(e1!, x1!, p1, ['./x', 'tcp'], runner, ['PATH_TRUNCATED']));
    // Node's rmSync walks by whole paths, which are too long here; rm walks by directory fd.
    execFileSync('rm', ['-rf', join(deep, long)]);
    const r2 = await run(PY, mk('d', 70));
    const [, x2] = await procs.of(r2.pid, 'exec', 2, r2.procFrom);
    assert.equal(x2!.exeFlags, CONSTANTS.PT_EXE_PATH_TRUNCATED);
    assert.equal(x2!.exe.toString(), '/d'.repeat(63) + '/x');
  });

  test('the same pid running a new program after exec gets a new key', async () => {
    const script = join(tmp, 'reexec.py');
    writeFileSync(script, `import socket,sys\nsocket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()\n`);
    const r = await run('/bin/sh', ['-c', `exec ${PY} ${script} ${port}`]);
    const [sh, py] = await procs.of(r.pid, 'exec', 2, r.procFrom);
    const [e] = await sink.forPid(r.pid, 1, 6000, 300, r.eventFrom);
    assert.equal(sh!.exe.toString(), realpathSync('/bin/sh'));
    assert.equal(py!.exe.toString(), realpathSync(PY));
    assert.deepEqual(rawOf(e!).process, processOf(e!, py!, realpathSync(PY), [PY, script, String(port)], runner));
    assert.notEqual(sh!.keyNs, py!.keyNs);
    assert.equal(sh!.startNs, py!.startNs);
    assert.equal(e!.procKeyNs, py!.keyNs);
  });

  test('an ancestry of sh, python3 and the client: each parent key is the parent image\'s key', async () => {
    const py = `import subprocess\nsubprocess.run([${JSON.stringify(client)}, "tcp"], check=True)`;
    const r = await run('/bin/sh', ['-c', `${PY} -c '${py}'; true`]);
    const [sh] = await procs.of(r.pid, 'exec', 1, r.procFrom);
    const pyExec = (await waitFor(() => procs.all.slice(r.procFrom).find((p) => p.procKind === 'exec' && p.ppid === r.pid && p.comm === 'python3')))!;
    const cl = (await waitFor(() => procs.all.slice(r.procFrom).find((p) => p.procKind === 'exec' && p.ppid === pyExec.tgid)))!;
    const [e] = await sink.forPid(cl.tgid, 1, 6000, 300, r.eventFrom);
    assert.equal(cl.exe.toString(), client);
    assert.equal(e!.procKeyNs, cl.keyNs);
    assert.equal(cl.parentKeyNs, pyExec.keyNs);
    assert.equal(pyExec.parentKeyNs, sh!.keyNs);
    assert.equal(sh!.parentKeyNs / TICK_NS, nodeKey());
    // The client's record: its ancestry nearest first, through the test runner to its own ancestors.
    const parents = [{ pid: pyExec.tgid, comm: 'python3', exe: realpathSync(PY) }, { pid: r.pid, comm: 'sh', exe: realpathSync('/bin/sh') }, ...runner];
    assert.deepEqual(rawOf(e!).process, processOf(e!, cl, client, [client, 'tcp'], parents));
    // Each forked child first ran its parent's image under its own start-time key.
    const forks = procs.all.slice(r.procFrom).filter((p) => p.procKind === 'fork' && (p.tgid === pyExec.tgid || p.tgid === cl.tgid));
    assert.deepEqual(forks.map((f) => [f.tgid, f.keyNs === f.startNs, f.parentKeyNs]), [[pyExec.tgid, true, sh!.keyNs], [cl.tgid, true, pyExec.keyNs]]);
  });

  test('a pid reused by another program: both processes are told apart by their keys', async () => {
    const script = join(tmp, 'first.py');
    writeFileSync(script, `import socket,sys\nsocket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()\n`);
    const a = await run(PY, [script, String(port)]);
    // Hand the same pid to a second program: ns_last_pid makes the next fork take it,
    // unless another fork on the machine gets there first (then try again).
    const reuse = [
      'import os, sys',
      'target, client = int(sys.argv[1]), sys.argv[2]',
      'for _ in range(500):',
      '    with open("/proc/sys/kernel/ns_last_pid", "w") as f: f.write(str(target - 1))',
      '    pid = os.fork()',
      '    if pid == 0:',
      '        if os.getpid() == target: os.execv(client, [client, "tcp"])',
      '        os._exit(3)',
      '    _, st = os.waitpid(pid, 0)',
      '    if pid == target: sys.exit(os.waitstatus_to_exitcode(st))',
      'sys.exit(4)',
    ].join('\n');
    const reuser = await run(PY, ['-c', reuse, String(a.pid), client]);
    const [xa, xb] = await procs.of(a.pid, 'exec', 2, a.procFrom);
    const evs = await sink.forPid(a.pid, 2, 6000, 300, a.eventFrom);
    assert.equal(xa!.exe.toString(), realpathSync(PY));
    assert.equal(xb!.exe.toString(), client);
    assert.notEqual(xa!.keyNs, xb!.keyNs);
    assert.deepEqual(evs.map((e) => [e.comm, e.procKeyNs]), [['python3', xa!.keyNs], ['pt-client', xb!.keyNs]]);
    assert.deepEqual(rawOf(evs[0]!).process, processOf(evs[0]!, xa!, realpathSync(PY), [PY, script, String(port)], runner));
    assert.deepEqual(rawOf(evs[1]!).process, processOf(evs[1]!, xb!, client, [client, 'tcp'], [{ pid: reuser.pid, comm: 'python3', exe: realpathSync(PY) }, ...runner]));
    // The table keeps both: a late connect of the first still finds the first.
    assert.equal(table.get(a.pid, xa!.keyNs)!.exe.toString(), realpathSync(PY));
    assert.equal(table.get(a.pid, xb!.keyNs)!.exe.toString(), client);
  });

  test('a binary deleted while it runs: exec flags clear, its connect says unlinked', async () => {
    const copy = join(tmp, 'py-deleted');
    copyFileSync(realpathSync(PY), copy);
    chmodSync(copy, 0o755);
    const r = await run(copy, ['-c', `import os,socket,sys\nos.unlink(sys.executable)\nsocket.create_connection(("127.0.0.1", ${port})).close()`]);
    const [x] = await procs.of(r.pid, 'exec', 1, r.procFrom);
    const [e] = await sink.forPid(r.pid, 1, 6000, 300, r.eventFrom);
    assert.equal(x!.exe.toString(), copy);
    assert.equal(x!.exeFlags, 0);
    assert.equal(e!.exeUnlinked, true);
    assert.equal(e!.procKeyNs, x!.keyNs);
    const script = `import os,socket,sys\\x0aos.unlink(sys.executable)\\x0asocket.create_connection(("127.0.0.1", ${port})).close()`;
    assert.deepEqual(rawOf(e!).process, processOf(e!, x!, copy, [copy, '-c', script], runner, ['DELETED']));
  });

  test('a memfd exec (fexecve): fileless and memfd flags, the memfd name as path', async () => {
    const py = `import os\nfd = os.memfd_create("pt-memfd", 0)\nos.write(fd, open(${JSON.stringify(client)}, "rb").read())\nos.execve(fd, ["pt-memfd", "tcp"], {})`;
    const r = await run(PY, ['-c', py]);
    const [, x] = await procs.of(r.pid, 'exec', 2, r.procFrom);
    const [e] = await sink.forPid(r.pid, 1, 6000, 300, r.eventFrom);
    assert.equal(x!.exe.toString(), '/memfd:pt-memfd');
    assert.equal(x!.exeFlags, CONSTANTS.PT_EXE_FILELESS | CONSTANTS.PT_EXE_MEMFD | CONSTANTS.PT_EXE_UNREACHABLE);
    assert.deepEqual(argv(x!), ['pt-memfd', 'tcp']);
    assert.equal(e!.exeUnlinked, true);
    assert.equal(e!.procKeyNs, x!.keyNs);
    assert.deepEqual(rawOf(e!).process, processOf(e!, x!, '/memfd:pt-memfd', ['pt-memfd', 'tcp'], runner, ['FILELESS', 'MEMFD', 'UNREACHABLE']));
  });

  test('overlayfs: a binary written to the upper (writable) layer is flagged, one from the lower is not', async () => {
    const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => join(tmp, d));
    for (const d of [lower, upper, work, merged]) mkdirSync(d!);
    copyFileSync(client, join(lower!, 'pt-lower'));
    chmodSync(join(lower!, 'pt-lower'), 0o755);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged!]);
    copyFileSync(client, join(merged!, 'pt-upper'));
    chmodSync(join(merged!, 'pt-upper'), 0o755);
    const lo = await run(join(merged!, 'pt-lower'), ['tcp']);
    const up = await run(join(merged!, 'pt-upper'), ['tcp']);
    const [xl] = await procs.of(lo.pid, 'exec', 1, lo.procFrom);
    const [xu] = await procs.of(up.pid, 'exec', 1, up.procFrom);
    assert.equal(xl!.exe.toString(), join(merged!, 'pt-lower'));
    assert.equal(xl!.exeFlags, 0);
    assert.equal(xu!.exe.toString(), join(merged!, 'pt-upper'));
    assert.equal(xu!.exeFlags, CONSTANTS.PT_EXE_UPPER);
    const [el] = await sink.forPid(lo.pid, 1, 6000, 300, lo.eventFrom);
    const [eu] = await sink.forPid(up.pid, 1, 6000, 300, up.eventFrom);
    assert.deepEqual(rawOf(el!).process, processOf(el!, xl!, join(merged!, 'pt-lower'), [join(merged!, 'pt-lower'), 'tcp'], runner));
    assert.deepEqual(rawOf(eu!).process, processOf(eu!, xu!, join(merged!, 'pt-upper'), [join(merged!, 'pt-upper'), 'tcp'], runner, ['UPPER_LAYER']));
    execFileSync('umount', [merged!]);
  });

  test('argv longer than the kernel keeps: cut at PT_ARGS_MAX and flagged, with its full length', async () => {
    const long = 'line1\nline2 '.repeat(10 * 1024);
    const args = ['-c', 'pass', long];
    const r = await run(PY, args);
    const [x] = await procs.of(r.pid, 'exec', 1, r.procFrom);
    const whole = Buffer.from([PY, ...args].join('\0') + '\0');
    assert.equal(x!.argsFull, whole.length);
    assert.equal(x!.exeFlags, CONSTANTS.PT_EXE_ARGS_TRUNCATED);
    assert.deepEqual(x!.args, whole.subarray(0, CONSTANTS.PT_ARGS_MAX));
  });

  test('nothing lost: every process record in its sequence, none undecodable', () => {
    const s = capture.stats();
    assert.equal(s.procReserveFails, 0n);
    assert.equal(s.procTableFull, 0n);
    assert.equal(s.procSeqLost, 0n);
    assert.equal(s.decodeErrors, 0);
    assert.ok(s.lastProcSeq >= BigInt(s.procRecords) && s.procRecords > 0);
  });
});

async function waitFor<T>(f: () => T | undefined, timeoutMs = 6000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
