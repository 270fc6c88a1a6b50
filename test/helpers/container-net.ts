// SPDX-License-Identifier: Apache-2.0
// Commands and loopback connections inside a harness container's own namespaces.
// Only loopback addresses are allowed: test traffic never leaves the machine.
import { readFile } from 'node:fs/promises';
import type { Dockerd, DockerCmdOptions } from './dockerd.js';
import { HarnessError, type RunResult, allPids, innermostPid, nsLink, sleep } from './proc.js';

/** A running container: pod containers and plain containers both fit. */
export interface Target {
  id: string;
  pid: number;
}

export async function execIn(d: Dockerd, t: Target, cmd: string[], opts: DockerCmdOptions = {}): Promise<RunResult> {
  return d.docker(['exec', ...(opts.input !== undefined ? ['-i'] : []), t.id, ...cmd], opts);
}

type Proto = 'tcp' | 'udp';

/** Local ports present (any state) in the netns of `pid`, from /proc/<pid>/net/<proto>{,6}. */
export async function portsInUse(pid: number, proto: Proto): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const file of [proto, `${proto}6`]) {
    const text = await readFile(`/proc/${pid}/net/${file}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const port = f[1]?.split(':')[1];
      if (port && f[3]) out.set(parseInt(port, 16), [...(out.get(parseInt(port, 16)) ?? []), f[3]]);
    }
  }
  return out;
}

/** A port nobody uses in the target's netns; connecting to it is refused. */
export async function freePort(t: Target, proto: Proto = 'tcp'): Promise<number> {
  const used = await portsInUse(t.pid, proto);
  for (let i = 0; i < 100; i++) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    if (!used.has(p)) return p;
  }
  throw new HarnessError('no free port found');
}

/**
 * Starts busybox httpd on 127.0.0.1:port inside the container (it accepts any number of
 * connections) and waits until the socket is in LISTEN in that netns.
 */
export async function listenTcp(d: Dockerd, t: Target, port?: number): Promise<{ port: number }> {
  const p = port ?? (await freePort(t));
  const r = await d.docker(['exec', '-d', t.id, 'httpd', '-f', '-p', `127.0.0.1:${p}`, '-h', '/www']);
  if (r.code !== 0) throw new HarnessError(`starting listener in ${t.id.slice(0, 12)}: ${r.stderr.trim()}`);
  const end = Date.now() + 5_000;
  while (Date.now() < end) {
    if ((await portsInUse(t.pid, 'tcp')).get(p)?.includes('0A')) return { port: p };
    await sleep(50);
  }
  throw new HarnessError(`listener on 127.0.0.1:${p} in ${t.id.slice(0, 12)} did not come up (port taken?)`);
}

export interface ConnectOptions {
  protocol?: Proto;
  port: number;
  addr?: string;
  timeoutSec?: number;
}

export interface ConnectResult {
  protocol: Proto;
  addr: string;
  port: number;
  /** TCP: connected and closed cleanly (exit 0). UDP: the kernel did not report refused. */
  ok: boolean;
  /** ECONNREFUSED: TCP RST, or for UDP the ICMP port-unreachable seen on write */
  refused: boolean;
  code: number;
  stdout: string;
  stderr: string;
  /** the connecting process as the host sees it, and as the container numbers it */
  hostPid: number;
  nsPid: number;
  comm: string;
}

function isLoopback(addr: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(addr) || addr === '::1';
}

async function hostPidOf(t: Target, nsPid: number): Promise<number> {
  const pidns = await nsLink(t.pid, 'pid');
  if (!pidns) throw new HarnessError(`container process ${t.pid} is gone`);
  for (const pid of await allPids()) {
    if ((await innermostPid(pid)) === nsPid && (await nsLink(pid, 'pid')) === pidns) return pid;
  }
  throw new HarnessError(`no host process for pid ${nsPid} in ${t.id.slice(0, 12)}`);
}

/**
 * One connect from inside the container, by a process whose host pid is known before it
 * connects: `sh` prints its pid, waits for our go, then execs the client in place (same
 * pid, comm becomes the client's). TCP uses `nc`, UDP `nslookup` (it connect()s its UDP
 * socket, then writes a query).
 */
export async function connectFrom(d: Dockerd, t: Target, o: ConnectOptions): Promise<ConnectResult> {
  const protocol = o.protocol ?? 'tcp';
  const addr = o.addr ?? '127.0.0.1';
  const timeoutSec = o.timeoutSec ?? 3;
  if (!isLoopback(addr)) throw new HarnessError(`refusing to connect to ${addr}: tests use loopback only`);
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new HarnessError(`bad port ${o.port}`);
  const target = addr.includes(':') ? `[${addr}]` : addr;
  const client =
    protocol === 'tcp'
      ? { comm: 'nc', cmd: `exec nc -w ${timeoutSec} ${addr} ${o.port}` }
      : { comm: 'nslookup', cmd: `exec nslookup -timeout=${timeoutSec} -retry=1 podtrail.invalid ${target}:${o.port}` };

  const child = d.spawnDocker(['exec', '-i', t.id, 'sh', '-c', `echo $$; read go; ${client.cmd}`]);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.on('error', () => {});
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 128)));
  const timer = setTimeout(() => child.kill('SIGKILL'), (timeoutSec + 15) * 1000);
  try {
    const firstLine = new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out.push(b);
        const s = Buffer.concat(out).toString('utf8');
        if (s.includes('\n')) resolve(s.slice(0, s.indexOf('\n')));
      });
      void exited.then(() => reject(new HarnessError(`docker exec ended early: ${Buffer.concat(err).toString().trim()}`)));
    });
    const nsPid = Number(await firstLine);
    const hostPid = await hostPidOf(t, nsPid);
    child.stdin.end('go\n');
    const code = await exited;
    const all = Buffer.concat(out).toString('utf8');
    const stdout = all.slice(all.indexOf('\n') + 1);
    const stderr = Buffer.concat(err).toString('utf8');
    const refused = /Connection refused/.test(stderr + stdout);
    return {
      protocol,
      addr,
      port: o.port,
      ok: protocol === 'tcp' ? code === 0 : !refused,
      refused,
      code,
      stdout,
      stderr,
      hostPid,
      nsPid,
      comm: client.comm,
    };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
