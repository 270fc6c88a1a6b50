// SPDX-License-Identifier: Apache-2.0
// Running podtrail stages (capture, enrich, tail) as child processes in integration tests.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnCli } from './cli.js';
import { BROKERS } from './kafka.js';

/** A parsed JSON line of `podtrail tail --format json`. */
export type J = Record<string, any>;

export interface Stage { name: string; child: ChildProcess; log: () => string }

export function startStage(name: string, args: string[]): Stage {
  const withBrokers = args.includes('--brokers') ? args : [...args, '--brokers', BROKERS.join(',')];
  const child = spawnCli(withBrokers, { PODTRAIL_LOG_LEVEL: 'info' });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { log = (log + s).slice(-60_000); });
  child.stdout!.resume();
  return { name, child, log: () => log };
}

export async function waitForLog(s: Stage, msg: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!s.log().includes(`"msg":"${msg}"`)) {
    if (s.child.exitCode !== null) throw new Error(`${s.name} exited ${s.child.exitCode}: ${s.log().slice(-3000)}`);
    if (Date.now() > end) throw new Error(`${s.name}: no "${msg}" after ${ms} ms: ${s.log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopStage(s: Stage): Promise<number | null> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return s.child.exitCode;
  const exited = new Promise<number | null>((r) => s.child.once('exit', (code) => r(code)));
  s.child.kill('SIGTERM');
  const t = setTimeout(() => s.child.kill('SIGKILL'), 20_000);
  const code = await exited;
  clearTimeout(t);
  return code;
}

/** Streams `podtrail tail --format json` from the beginning until `done` holds for what was read. */
export async function tailUntil(topic: string, done: (recs: J[]) => boolean, ms: number): Promise<J[]> {
  const s = startStage(`tail ${topic}`, ['tail', '--topic', topic, '--from-beginning', '--format', 'json']);
  const recs: J[] = [];
  let buf = '';
  s.child.stdout!.removeAllListeners('data');
  s.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      recs.push(JSON.parse(buf.slice(0, i)) as J);
      buf = buf.slice(i + 1);
    }
  });
  const end = Date.now() + ms;
  while (!done(recs) && Date.now() < end && s.child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
  const code = await stopStage(s);
  assert.equal(code, 0, `tail exited ${code}: ${s.log().slice(-2000)}`);
  return recs;
}
