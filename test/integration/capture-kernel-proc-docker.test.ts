// SPDX-License-Identifier: Apache-2.0
// Process identity inside a real container (the private dockerd of test/helpers/dockerd.ts):
// a binary written into the container's writable layer and run is flagged as such; the
// image's own binary is not; paths are as the container sees them (its root, not the node's).
// The raw records capture's service makes of their connects carry it whole.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelCapture, loadNativeBinding, type KernelConnectEvent } from '../../src/capture/native.js';
import { CaptureService } from '../../src/capture/service.js';
import { moduleLogger } from '../../src/common/log.js';
import type { ProcessRef, RawConnectEvent } from '../../src/schema/types.js';
import { CONSTANTS, type RawProcRecord } from '../../src/capture/event-layout.js';
import { EventSink, missingKernelPrereq } from '../helpers/capture-sink.js';
import { type Dockerd, checkPrerequisites, startDockerd } from '../helpers/dockerd.js';
import { createPlainContainer } from '../helpers/pods.js';

const pre = await checkPrerequisites();
const missing = missingKernelPrereq() ?? (pre.ok ? undefined : pre.missing.join(', '));
const skip = missing && process.env.CI !== 'true' ? `prerequisites: ${missing}` : false;

describe('kernel capture: process identity in a container (real dockerd)', { skip }, () => {
  let d: Dockerd | undefined;
  let capture: KernelCapture | undefined;
  let svc: CaptureService | undefined;
  const sink = new EventSink();
  const procs: RawProcRecord[] = [];
  const raws = new Map<bigint, RawConnectEvent>();

  /** A process key as the kernel's own records name it: a fork runs its parent's image. */
  function refOf(tgid: number, keyNs: bigint): ProcessRef | null {
    const r = procs.find((p) => p.tgid === tgid && p.keyNs === keyNs && p.procKind !== 'exit');
    if (!r) return null;
    if (r.procKind === 'exec') return { pid: tgid, comm: r.comm, exe: r.exe.toString() };
    return { pid: tgid, comm: r.comm, exe: refOf(r.ppid, r.parentKeyNs)?.exe ?? null };
  }

  before(async () => {
    if (missing) throw new Error(`prerequisites missing: ${missing}`);
    d = await startDockerd();
    const binding = loadNativeBinding();
    const k = new KernelCapture(binding.Capture, { pendingTimeoutMs: 2000 });
    capture = k;
    const tee = {
      start: (onBatch: (e: KernelConnectEvent[]) => void, onProc?: (p: RawProcRecord[]) => void) => k.start((evs) => {
        onBatch(evs);
        sink.push(evs);
      }, (ps) => {
        onProc?.(ps);
        procs.push(...ps);
      }),
      stop: () => k.stop(),
    } as unknown as KernelCapture;
    svc = new CaptureService(tee, binding, { offer: (r) => (raws.set(r.seq, r), true), offerLoss: () => undefined }, { node: 'test-node' }, moduleLogger('test.capture'));
    svc.start();
  });

  after(async () => {
    svc?.stop();
    await d?.stop();
  });

  async function execRecord(exe: string, timeoutMs = 8000): Promise<RawProcRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = procs.find((p) => p.procKind === 'exec' && p.exe.toString() === exe && p.args.toString().includes('\0nc\0'));
      if (r) return r;
      if (Date.now() > deadline) throw new Error(`no exec record of ${exe}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  test('a binary copied into the writable layer and run: UPPER flag, container path; the image binary: none', async (t) => {
    const c = await createPlainContainer(d!, 'pt-proc-upper', ['sleep', '300']);
    const cp = await d!.docker(['exec', c.id, 'cp', '/bin/busybox', '/tmp/busybox']);
    assert.equal(cp.code, 0, cp.stderr);
    // Refused at once: nothing listens on port 1 in the container's own loopback.
    const w1 = await d!.docker(['exec', c.id, '/tmp/busybox', 'nc', '-w', '1', '127.0.0.1', '1']);
    const w2 = await d!.docker(['exec', c.id, '/bin/busybox', 'nc', '-w', '1', '127.0.0.1', '1']);
    t.diagnostic(`nc: ${w1.code} ${w1.stderr.trim()} / ${w2.code} ${w2.stderr.trim()}`);
    const up = await execRecord('/tmp/busybox');
    const img = await execRecord('/bin/busybox');
    assert.equal(up.exeFlags, CONSTANTS.PT_EXE_UPPER);
    assert.deepEqual(up.args.toString().split('\0').slice(0, -1), ['/tmp/busybox', 'nc', '-w', '1', '127.0.0.1', '1']);
    assert.equal(up.comm, 'busybox');
    assert.equal(img.exeFlags, 0);
    t.diagnostic(`events in the container: ${JSON.stringify(sink.all.filter((e) => e.cgroupPath.includes(c.id)).map((e) => [e.pid, e.comm, e.status, e.errno]))}; exec ${up.tgid} ${img.tgid}`);
    const [e] = await sink.forPid(up.tgid, 1);
    assert.equal(e!.procKeyNs, up.keyNs);
    assert.equal(e!.cgroupPath.endsWith(c.id) || e!.cgroupPath.includes(c.id), true);
    const [ei] = await sink.forPid(img.tgid, 1);
    assert.equal(ei!.procKeyNs, img.keyNs);
    // The whole raw process record: started by the runtime (whoever forked it, as the kernel saw).
    for (const [ev, x, flags] of [[e!, up, ['UPPER_LAYER']], [ei!, img, []]] as const) {
      const p = raws.get(ev.seq)!.process;
      const parent = refOf(x.ppid, x.parentKeyNs);
      assert.ok(parent, `the parent's exec or fork record (${x.ppid})`);
      t.diagnostic(`${x.exe.toString()}: parent ${JSON.stringify(parent)}, ancestry ${JSON.stringify(p.ancestry.map((a) => a.comm))}`);
      assert.deepEqual(p, {
        pid: ev.pid, tid: ev.tid, ppid: ev.ppid, uid: 0n, gid: 0n, comm: 'busybox', startTime: ev.startBootNs, nsPid: ev.nsPid,
        key: x.keyNs, exe: x.exe.toString(), args: [x.exe.toString(), 'nc', '-w', '1', '127.0.0.1', '1'], argsTruncated: false,
        parent, ancestry: p.ancestry, exeFlags: [...flags],
      });
      assert.deepEqual(p.ancestry[0], parent);
      assert.ok(p.ancestry.length >= 2 && p.ancestry.length <= 8);
    }
    await d!.docker(['rm', '-f', c.id]);
  });
});
