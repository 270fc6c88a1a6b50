// SPDX-License-Identifier: Apache-2.0
// Process identity inside a real container (the private dockerd of test/helpers/dockerd.ts):
// a binary written into the container's writable layer and run is flagged as such; the
// image's own binary is not; paths are as the container sees them (its root, not the node's).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelCapture, loadNativeBinding } from '../../src/capture/native.js';
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
  const sink = new EventSink();
  const procs: RawProcRecord[] = [];

  before(async () => {
    if (missing) throw new Error(`prerequisites missing: ${missing}`);
    d = await startDockerd();
    capture = new KernelCapture(loadNativeBinding().Capture, { pendingTimeoutMs: 2000 });
    capture.start((evs) => sink.push(evs), (ps) => procs.push(...ps));
  });

  after(async () => {
    capture?.stop();
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
    await d!.docker(['rm', '-f', c.id]);
  });
});
