// SPDX-License-Identifier: Apache-2.0
// A private rsyslogd for tests: its own config, work directory and pid file in a temp dir,
// TCP and UDP inputs on loopback, every message written as one JSON line to a file.
// The system's rsyslog (if any) is never touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import dgram from 'node:dgram';
import path from 'node:path';
import { sleep, terminate } from './proc.js';

export const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p));

export interface SyslogLine { pri: string; timestamp: string; hostname: string; app: string; procid: string; msgid: string; sd: string; msg: string; input: string; facility: string; severity: string }

/** A loopback port free for both TCP and UDP right now. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      }).on('error', reject);
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free loopback port');
}

export class Rsyslog {
  private child: ChildProcess | undefined;
  private stderr = '';
  readonly out: string;
  readonly conf: string;
  private readonly pidFile: string;

  constructor(readonly dir: string, readonly port: number) {
    this.out = path.join(dir, 'messages.jsonl');
    this.conf = path.join(dir, 'rsyslog.conf');
    this.pidFile = path.join(dir, 'rsyslogd.pid');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (!RSYSLOGD) throw new Error('rsyslogd not installed (apt-get install -y rsyslog)');
    const work = path.join(this.dir, 'work');
    await mkdir(work, { recursive: true });
    await writeFile(this.conf, `
global(workDirectory="${work}" maxMessageSize="64k")
module(load="imtcp")
module(load="imudp")
template(name="ptjson" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="input" name="inputname" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
ruleset(name="podtrail") {
  action(type="omfile" file="${this.out}" template="ptjson" flushOnTXEnd="on" asyncWriting="off")
}
input(type="imtcp" address="127.0.0.1" port="${this.port}" ruleset="podtrail")
input(type="imudp" address="127.0.0.1" port="${this.port}" ruleset="podtrail")
`);
    this.stderr = '';
    const child = spawn(RSYSLOGD, ['-n', '-f', this.conf, '-i', this.pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (!(await this.tcpOpen())) {
      if (child.exitCode !== null) throw new Error(`rsyslogd exited ${child.exitCode}: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`rsyslogd did not open 127.0.0.1:${this.port}: ${this.stderr}`);
      await sleep(100);
    }
  }

  private tcpOpen(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: this.port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (c?.pid && c.exitCode === null) await terminate(c.pid, 5_000);
  }

  async lines(): Promise<SyslogLine[]> {
    const text = await readFile(this.out, 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as SyslogLine);
  }

  /** Waits until the file holds at least n messages; returns them all. */
  async waitFor(n: number, timeoutMs = 30_000): Promise<SyslogLine[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = await this.lines();
      if (got.length >= n) return got;
      if (Date.now() > deadline) throw new Error(`rsyslog file has ${got.length} of ${n} messages after ${timeoutMs} ms; rsyslogd said: ${this.stderr}`);
      await sleep(200);
    }
  }
}
