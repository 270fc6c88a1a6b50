// SPDX-License-Identifier: Apache-2.0
// Real-kernel KernelCapture: attach modes and their errors, the doctor probe,
// the loopback filter, and loss accounting when JS falls behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  KernelCapture,
  KernelCaptureError,
  loadNativeBinding,
  probeKernel,
  type KernelConnectEvent,
} from '../../src/capture/native.js';
import { buildClient, repoRoot, runClient } from '../helpers/ns.js';
import { EventSink, missingKernelPrereq } from '../helpers/capture-sink.js';

const missing = missingKernelPrereq();
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nativeJs = fileURLToPath(new URL('../../src/capture/native.js', import.meta.url));

/** Starts a capture in a child run under `wrap` (setpriv, unshare...); returns its error or 'STARTED'. */
function startUnder(wrap: string[], shellPrefix = ''): { code?: string; errno?: number; message?: string } | 'STARTED' {
  const js =
    `import { KernelCapture, loadNativeBinding } from ${JSON.stringify(nativeJs)};` +
    `try { const k = new KernelCapture(loadNativeBinding().Capture, { attach: 'tracepoint' }); k.start(() => {}); k.stop(); console.log('"STARTED"'); }` +
    `catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, message: e.message })); }`;
  const node = `${JSON.stringify(process.execPath)} --input-type=module -e ${JSON.stringify(js)}`;
  const out = execFileSync(wrap[0]!, [...wrap.slice(1), 'sh', '-c', `${shellPrefix}exec ${node}`], {
    encoding: 'utf8',
    env: { ...process.env, PODTRAIL_LOG_LEVEL: 'silent' },
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('kernel capture: modes, probe, filters, loss', { skip }, () => {
  let client = '';
  const started: KernelCapture[] = [];
  const open = (o: ConstructorParameters<typeof KernelCapture>[1]) => {
    const kc = new KernelCapture(loadNativeBinding().Capture, o);
    started.push(kc);
    return kc;
  };

  before(async () => {
    if (missing) throw new Error(`kernel capture prerequisites missing: ${missing}`);
    client = await buildClient();
  });

  after(() => {
    for (const kc of started) kc.stop();
  });

  test('probeKernel reports BTF, privileges, cgroup layout, tracefs and each mode', () => {
    const p = probeKernel();
    assert.equal(p.btf, true);
    assert.equal(p.privileges.enough, true);
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    const v1 = / cgroup rw/.test(mounts) || /\scgroup\s/.test(mounts);
    const v2 = /\scgroup2\s/.test(mounts);
    assert.equal(p.cgroup.kind, v1 && v2 ? 'hybrid' : v1 ? 'v1' : v2 ? 'v2' : 'none');
    assert.deepEqual(p.modes.map((m) => m.mode), ['fentry', 'kprobe', 'tracepoint']);
    assert.ok(p.modes.some((m) => m.ok), 'some attach mode must work');
    const tp = p.modes.find((m) => m.mode === 'tracepoint')!;
    assert.equal(tp.ok, true, tp.message);
    assert.notEqual(p.tracefs.path, '');
    for (const m of p.modes.filter((x) => !x.ok)) {
      assert.ok(m.errno > 0 && m.code !== '' && m.message.includes('errno'), JSON.stringify(m));
    }
  });

  test('an explicitly chosen mode either attaches or fails with code, errno and mode', () => {
    const probe = probeKernel();
    const haveKprobes = existsSync('/sys/bus/event_source/devices/kprobe');
    for (const mode of ['kprobe', 'fentry', 'tracepoint'] as const) {
      const kc = open({ attach: mode });
      const expected = probe.modes.find((m) => m.mode === mode)!;
      if (mode === 'kprobe') assert.equal(expected.ok, haveKprobes, 'kprobe availability matches the kprobe PMU');
      if (expected.ok) {
        assert.equal(kc.start(() => {}).attachMode, mode);
        kc.stop();
      } else {
        assert.throws(() => kc.start(() => {}), (e: unknown) => {
          assert.ok(e instanceof KernelCaptureError);
          assert.equal(e.mode, mode);
          assert.equal(e.errno, expected.errno);
          assert.ok(['LOAD_FAILED', 'ATTACH_FAILED'].includes(e.code), e.code);
          assert.match(e.message, new RegExp(`mode ${mode}`));
          return true;
        });
        assert.equal(kc.stats().running, false);
      }
    }
  });

  test("auto mode's pre-checks agree with a full load of each mode", () => {
    // auto rules modes out without verifying the object (a minimal fexit program, the
    // kprobe PMU); each verdict must be the one a full load of that mode gives.
    const probe = probeKernel();
    const kc = open({ attach: 'auto' });
    const r = kc.start(() => {});
    kc.stop();
    const firstOk = probe.modes.findIndex((m) => m.ok);
    assert.equal(r.attachMode, probe.modes[firstOk]!.mode);
    assert.deepEqual(
      r.attempts.map((a) => [a.mode, a.ok, a.errno]),
      probe.modes.slice(0, firstOk + 1).map((m) => [m.mode, m.ok, m.ok ? 0 : m.errno]),
    );
    for (const a of r.attempts.filter((x) => !x.ok)) assert.ok(['LOAD_FAILED', 'ATTACH_FAILED'].includes(a.code), a.code);
  });

  test('start/stop cycles (auto mode, failed attempts included) leak no fds; stop twice is harmless', () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 3; i++) {
      const kc = open({ attach: 'auto' });
      kc.start(() => {});
      kc.stop();
      kc.stop();
    }
    assert.equal(fds(), before);
  });

  test('a missing BPF object and an unknown controller are clear errors', () => {
    assert.throws(() => open({ bpfObjectPath: '/nonexistent/podtrail.bpf.o', attach: 'tracepoint' }).start(() => {}), (e: unknown) => {
      assert.ok(e instanceof KernelCaptureError);
      assert.deepEqual([e.code, e.errno], ['OPEN_FAILED', 2]);
      return true;
    });
    assert.throws(() => open({ cgroupControllers: ['nosuchctl'] }).start(() => {}), (e: unknown) => {
      assert.ok(e instanceof KernelCaptureError);
      assert.equal(e.code, 'BAD_CONTROLLER');
      assert.match(e.message, /nosuchctl.*memory/);
      return true;
    });
  });

  // The addon is compiled against bpf/.output/podtrail.skel.h; an object built from other
  // sources (a stale build, an edited bench variant) must fail at open, saying what it lacks.
  test('an object without a program the addon was built against: OPEN_FAILED naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podtrail-skel-'));
    try {
      const src = readFileSync(join(repoRoot, 'bpf', 'podtrail.bpf.c'), 'utf8');
      const edited = src.replace('int pt_tp_conn_out(', 'int pt_tp_conn_renamed(');
      assert.notEqual(edited, src, 'the rename applies');
      writeFileSync(join(dir, 'podtrail.bpf.c'), edited);
      const arch = process.arch === 'arm64' ? 'arm64' : 'x86';
      execFileSync('clang', ['-g', '-O2', '-target', 'bpf', '-mcpu=v3', `-D__TARGET_ARCH_${arch}`, '-I', join(repoRoot, 'bpf', '.output'),
        '-I', join(repoRoot, 'bpf'), '-c', join(dir, 'podtrail.bpf.c'), '-o', join(dir, 'other.bpf.o')]);
      assert.throws(() => open({ bpfObjectPath: join(dir, 'other.bpf.o'), attach: 'kprobe' }).start(() => {}), (e: unknown) => {
        assert.ok(e instanceof KernelCaptureError);
        assert.equal(e.code, 'OPEN_FAILED');
        assert.match(e.message, /not the one this addon was built against/);
        assert.match(e.message, /pt_tp_conn_out/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('not root, or no CAP_BPF/CAP_SYS_ADMIN: NOT_PRIVILEGED with EPERM', () => {
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    const wraps = [['setpriv', '--inh-caps=-all', '--bounding-set=-bpf,-sys_admin,-perfmon']];
    // The unprivileged user needs to read the checkout (not so under a 0700 home).
    try {
      execFileSync(nobody[0]!, [...nobody.slice(1), 'test', '-r', nativeJs]);
      wraps.push(nobody);
    } catch {
      /* checkout unreadable for nobody: the capability case still runs */
    }
    for (const wrap of wraps) {
      const r = startUnder(wrap);
      assert.notEqual(r, 'STARTED');
      assert.equal((r as { code: string }).code, 'NOT_PRIVILEGED');
      assert.equal((r as { errno: number }).errno, 1);
      assert.match((r as { message: string }).message, /CAP_BPF/);
    }
  });

  test('no kernel BTF: NO_BTF; tracefs neither mounted nor mountable: NO_TRACEFS', () => {
    // Private mount namespaces, so the host's mounts are untouched.
    const noBtf = startUnder(['unshare', '-m', '--propagation', 'private'], 'mount -t tmpfs none /sys/kernel/btf && ');
    assert.deepEqual([(noBtf as { code: string }).code, (noBtf as { errno: number }).errno], ['NO_BTF', 2]);
    const keep = '/run/podtrail-test-btf';
    const noTracefs = startUnder(
      ['unshare', '-m', '--propagation', 'private'],
      `mkdir -p ${keep} && mount --bind /sys/kernel/btf ${keep} && mount -t tmpfs none /sys/kernel && ` +
        `mkdir /sys/kernel/btf && mount --bind ${keep} /sys/kernel/btf && `,
    );
    execFileSync('rmdir', [keep]);
    assert.equal((noTracefs as { code: string }).code, 'NO_TRACEFS');
    assert.match((noTracefs as { message: string }).message, /mount -t tracefs/);
  });

  test('excludeLoopback drops loopback destinations; the default keeps them', async () => {
    const all = new EventSink();
    const noLo = new EventSink();
    open({ attach: 'tracepoint' }).start((e) => all.push(e));
    open({ attach: 'tracepoint', excludeLoopback: true }).start((e) => noLo.push(e));
    const c4 = await runClient(client, 'tcp', {});
    const c6 = await runClient(client, 'udp-connect', { family: '6' });
    assert.equal((await all.forPid(c4.pid, 1)).length, 1);
    assert.equal((await all.forPid(c6.pid, 1)).length, 1);
    await sleep(300);
    assert.deepEqual(noLo.all.filter((e) => e.pid === c4.pid || e.pid === c6.pid), []);
    for (const kc of started.splice(0)) kc.stop();
  });

  test('when JS falls behind the ring fills; every lost event is counted and is a seq gap', async () => {
    const kc = open({ attach: 'tracepoint', ringBufferBytes: 16384, maxBatch: 1 });
    const got: KernelConnectEvent[] = [];
    const block = new Int32Array(new SharedArrayBuffer(4));
    kc.start((evs) => {
      got.push(...evs);
      Atomics.wait(block, 0, 0, 20); // a slow consumer
    });
    const c = await runClient(client, 'tcp-loop', { count: 400 });
    assert.equal(c.results.length, 64);
    await sleep(300);
    kc.stop();
    // Batches queued before stop still arrive; wait until delivery is quiet.
    let last = -1;
    while (kc.stats().delivered !== last) {
      last = kc.stats().delivered;
      await sleep(300);
    }
    const s = kc.stats();
    const lost = s.ringReserveFails + s.cgroupReserveFailsPerCpu.reduce((a, b) => a + b, 0n) + s.droppedAtStop;
    assert.ok(s.ringReserveFails > 0n, 'the small ring must have overflowed');
    assert.ok(s.ringReserveFailsPerCpu.length >= 1);
    assert.equal(BigInt(s.delivered) + lost, s.lastSeq, JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    // The same loss, seen downstream: the seqs missing from 1..lastSeq.
    const seen = new Set(got.map((e) => e.seq));
    let gaps = 0n;
    for (let q = 1n; q <= s.lastSeq; q++) if (!seen.has(q)) gaps++;
    assert.equal(gaps, lost);
  });
});
