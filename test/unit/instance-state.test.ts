// SPDX-License-Identifier: Apache-2.0
// capture's instance state file: what a killed capture leaves for the next one, and the
// announcement of its end built from it. Bad files give a clear error, never a crash.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { endAnnouncement, InstanceState, stateDirCheck } from '../../src/capture/instance-state.js';

const dir = mkdtempSync(join(tmpdir(), 'pt-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A logger that keeps what it logs. */
function memLog() {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s) as { level: number; msg: string }); } });
  return { log, lines };
}

test('the next instance gets the previous one, with its last acknowledged seq; a clean restart chain carries on', () => {
  const sub = mkdtempSync(join(dir, 'a-'));
  const { log } = memLog();
  const a = new InstanceState(sub, 'node-a', 'raw', log);
  assert.deepEqual(a.claim('aaaa0001', 1000n), [], 'nothing before the first instance');
  a.progress(41n, 5000n);
  a.progress(40n, 4000n); // lower: ignored
  a.progress(42n, 6000n);
  a.stopped(7000n);
  // The same pid "restarts" (a container's pid 1 does): still a predecessor, not a live other.
  const b = new InstanceState(sub, 'node-a', 'raw', log);
  const prev = b.claim('bbbb0002', 8000n);
  assert.equal(prev.length, 1);
  assert.deepEqual({ ...prev[0], pid: 0 }, { instance: 'aaaa0001', pid: 0, startedAt: '1000', lastSeq: '42', lastTime: '6000', stoppedAt: '7000' });
  assert.deepEqual(endAnnouncement('node-a', prev[0]!, 9000n), {
    instance: 'aaaa0001', eventId: 'node-a:aaaa0001:end', cause: 'CAPTURE_RESTART', fromSeq: 43n, toSeq: 42n, count: 0n, firstTime: 6000n, lastTime: 9000n,
  });
  // b is killed before Kafka took the announcement: c must announce both.
  const c = new InstanceState(sub, 'node-a', 'raw', log);
  assert.deepEqual(c.claim('cccc0003', 10_000n).map((r) => r.instance), ['aaaa0001', 'bbbb0002']);
  c.announced('aaaa0001');
  const d = new InstanceState(sub, 'node-a', 'raw', log);
  assert.deepEqual(d.claim('dddd0004', 11_000n).map((r) => r.instance), ['bbbb0002', 'cccc0003']);
  d.stopped(12_000n);
});

test('node and raw topic each have their own file', () => {
  const sub = mkdtempSync(join(dir, 'b-'));
  const { log } = memLog();
  new InstanceState(sub, 'node-a', 'raw', log).claim('aaaa0001', 1n);
  const other = new InstanceState(sub, 'node-a', 'raw2', log);
  assert.deepEqual(other.claim('bbbb0002', 2n), []);
  assert.notEqual(other.path, new InstanceState(sub, 'node-b', 'raw', log).path);
  other.stopped(3n);
});

test('progress is written at most every 250 ms, and on a clean stop', async () => {
  const sub = mkdtempSync(join(dir, 'c-'));
  const { log } = memLog();
  const s = new InstanceState(sub, 'node-a', 'raw', log);
  s.claim('aaaa0001', 1n);
  s.progress(7n, 70n);
  const read = () => (JSON.parse(readFileSync(s.path, 'utf8')) as { current: { lastSeq: string } }).current.lastSeq;
  assert.equal(read(), '0', 'not written at once');
  const deadline = Date.now() + 2000;
  while (read() !== '7' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(read(), '7');
  s.progress(9n, 90n);
  s.stopped(100n);
  assert.equal(read(), '9');
});

test('a corrupt or foreign file is an error in the log, not a crash, and is replaced', () => {
  const { log, lines } = memLog();
  for (const [i, text] of ['{nope', '{"version":1,"unannounced":[{"instance":"../x","pid":1}],"current":null}', '[]', '"x"'].entries()) {
    const sub = mkdtempSync(join(dir, `d${i}-`));
    const s = new InstanceState(sub, 'node-a', 'raw', log);
    writeFileSync(s.path, text);
    assert.deepEqual(s.claim('aaaa0001', 1n), []);
    assert.match(lines.at(-1)!.msg, /capture state file is corrupt/);
    assert.equal(lines.at(-1)!.level, 50);
    assert.equal((JSON.parse(readFileSync(s.path, 'utf8')) as { current: { instance: string } }).current.instance, 'aaaa0001');
    s.stopped(2n);
  }
});

test('an unwritable state dir is logged once and capture carries on', () => {
  const sub = mkdtempSync(join(dir, 'e-'));
  // Root writes through file modes, so as root the dir is a read-only tmpfs instead.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', sub]);
  else chmodSync(sub, 0o500);
  try {
    const { log, lines } = memLog();
    const s = new InstanceState(sub, 'node-a', 'raw', log);
    assert.deepEqual(s.claim('aaaa0001', 1n), []);
    s.stopped(2n);
    assert.equal(lines.filter((l) => /cannot write the capture state file/.test(l.msg)).length, 1);
  } finally {
    if (asRoot) execFileSync('umount', [sub]);
  }
});

test('a state dir that is a file: one clear error, no throw', () => {
  const file = join(dir, 'not-a-dir');
  writeFileSync(file, 'x');
  const { log, lines } = memLog();
  const s = new InstanceState(file, 'node-a', 'raw', log);
  assert.deepEqual(s.claim('aaaa0001', 1n), []);
  s.progress(3n, 3n);
  s.stopped(4n);
  assert.equal(lines.filter((l) => /cannot write the capture state file/.test(l.msg)).length, 1);
});

test('--state-dir takes an absolute directory or off', () => {
  assert.equal(stateDirCheck('/run/podtrail'), undefined);
  assert.equal(stateDirCheck('off'), undefined);
  assert.ok(stateDirCheck('run/podtrail'));
});
