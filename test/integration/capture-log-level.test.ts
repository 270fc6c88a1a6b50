// SPDX-License-Identifier: Apache-2.0
// --log-level reaches every component of capture. The kernel wrapper (src/capture/native.ts)
// used to make its logger when the module loaded, before main.ts applied the flag, so "kernel
// capture attached" and its warnings ignored --log-level warn. Its logger is now passed in.
// Real kernel: capture --stdout (no Kafka) records a refused connect to loopback, once at each level.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { repoRoot } from '../helpers/ns.js';

const missing = missingKernelPrereq();
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;
const BIN = path.join(repoRoot, 'bin', 'podtrail.js');

/** A loopback port nobody listens on (connects to it are refused, and still recorded). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Runs capture --stdout at `level` until it has recorded one of our connects; returns its stderr lines' levels and messages. */
async function captureAt(level: string): Promise<Array<{ level: number; module?: string; msg: string }>> {
  const port = await closedPort();
  const child = spawn(process.execPath, [BIN, 'capture', '--stdout', '--log-level', level, '--publish-metadata', 'off', '--state-dir', 'off'], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PODTRAIL_LOG_LEVEL: '' },
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const seen = () => out.split('\n').some((l) => l.startsWith('{') && (JSON.parse(l) as { dst?: { port?: number } }).dst?.port === port);
  try {
    const deadline = Date.now() + 30_000;
    while (!seen() && Date.now() < deadline && child.exitCode === null) {
      await new Promise<void>((resolve) => connect(port, '127.0.0.1').on('error', () => resolve()));
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(seen(), `capture --log-level ${level} recorded no connect to 127.0.0.1:${port}; it said:\n${err}`);
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, err);
  return err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; module?: string; msg: string });
}

describe('capture --log-level (real kernel)', { skip }, () => {
  test('warn silences every component\'s info lines, the kernel wrapper\'s included; info shows them', { timeout: 120_000 }, async () => {
    if (missing) throw new Error(`kernel capture prerequisites missing: ${missing}`);
    const info = await captureAt('info');
    assert.ok(info.some((l) => l.module === 'capture.native' && l.level === 30 && /kernel capture attached/.test(l.msg)),
      `at info, the kernel wrapper says it attached: ${JSON.stringify(info.map((l) => l.msg))}`);
    const warn = await captureAt('warn');
    assert.deepEqual(warn.filter((l) => l.level < 40).map((l) => `${l.module}: ${l.msg}`), [], 'no line below warn');
  });
});
