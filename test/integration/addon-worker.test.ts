// SPDX-License-Identifier: Apache-2.0
// The addon loaded in a Worker thread and torn down with a capture still running, as node-usb's
// worker test does for its addon: the env cleanup hook (native/src/addon.cc, CleanupHook) must
// stop the poll thread and release every BPF program, map and link, and the process must go on.
// Real kernel: the objects are read from this process's fds and from bpftool.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { bpfObjectsOf, bpftoolMissing, waitUnlisted, type BpfObjects } from '../helpers/bpf-objects.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { repoRoot } from '../helpers/ns.js';

const missing = missingKernelPrereq() ?? (await bpftoolMissing());
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;
const native = path.join(repoRoot, 'dist', 'src', 'capture', 'native.js');

/**
 * A worker that starts a capture, says so, then either waits to be terminated or, when told,
 * exits by itself (process.exit in a worker ends that thread). A running capture, like a listening socket, keeps
 * its thread's event loop alive: a worker whose script merely returns goes on.
 */
function captureWorker(then: 'wait' | 'exit'): Worker {
  const src = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(native)}).then(({ KernelCapture, loadNativeBinding }) => {
      const k = new KernelCapture(loadNativeBinding().Capture, { attach: 'tracepoint' });
      let events = 0;
      k.start((batch) => { events += batch.length; });
      parentPort.postMessage({ started: true });
      ${then === 'wait' ? 'setInterval(() => parentPort.postMessage({ events }), 50);' : "parentPort.on('message', (m) => { if (m === 'exit') process.exit(0); });"}
    }, (err) => parentPort.postMessage({ error: String(err && err.stack || err) }));
  `;
  return new Worker(src, { eval: true });
}

const diff = (after: BpfObjects, before: BpfObjects): BpfObjects => ({
  progs: after.progs.filter((id) => !before.progs.includes(id)),
  maps: after.maps.filter((id) => !before.maps.includes(id)),
  links: after.links.filter((id) => !before.links.includes(id)),
});

async function started(w: Worker): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    w.on('message', (m: { started?: boolean; error?: string }) => {
      if (m.error) reject(new Error(`the worker's capture did not start: ${m.error}`));
      if (m.started) resolve();
    });
    w.once('error', reject);
  });
}

describe('the addon in a Worker thread (real kernel)', { skip }, () => {
  for (const how of ['terminated', 'exits'] as const) {
    test(`a worker with a capture running ${how === 'terminated' ? 'is terminated' : 'calls process.exit'}: every BPF object is released, the process goes on`, { timeout: 90_000 }, async () => {
      if (missing) throw new Error(`prerequisites missing: ${missing}`);
      const before = bpfObjectsOf(process.pid);
      const w = captureWorker(how === 'terminated' ? 'wait' : 'exit');
      const exited = new Promise<number>((resolve) => w.once('exit', resolve));
      await started(w);
      const held = diff(bpfObjectsOf(process.pid), before);
      assert.ok(held.progs.length > 0 && held.maps.length > 0 && held.links.length > 0, `the worker's capture holds programs, maps and links: ${JSON.stringify(held)}`);
      if (how === 'terminated') await w.terminate();
      else w.postMessage('exit');
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
      if (code === 'hung') {
        await w.terminate();
        assert.fail('the worker did not end within 30 s with a capture running');
      }
      assert.deepEqual(diff(bpfObjectsOf(process.pid), before), { progs: [], maps: [], links: [] }, 'no fd of the worker\'s capture is left in the process');
      assert.deepEqual(await waitUnlisted(held, 10_000), { progs: [], maps: [], links: [] }, 'the kernel lists none of them');
      // The main thread is unharmed and can load the addon again in another worker.
      const again = captureWorker('wait');
      await started(again);
      await again.terminate();
    });
  }
});
