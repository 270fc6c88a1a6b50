// SPDX-License-Identifier: Apache-2.0
// Real-kernel KernelCapture: attach modes and their errors, the doctor probe,
// the loopback filter, and loss accounting when JS falls behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import {
  KernelCapture,
  KernelCaptureError,
  loadNativeBinding,
  probeKernel,
  type KernelConnectEvent,
} from '../../src/capture/native.js';
import { buildClient, runClient } from '../helpers/ns.js';
import { EventSink, missingKernelPrereq } from '../helpers/capture-sink.js';

const missing = missingKernelPrereq();
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
