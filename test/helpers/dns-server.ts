// SPDX-License-Identifier: Apache-2.0
// A small authoritative DNS server for the DNS tests: answers from a table, and on request
// sends what a hostile or unlucky resolver would: CNAME chains, truncated answers (TC) that
// the client must retry over TCP, an answer with the wrong transaction id, a compression
// loop, an rcode. It runs as a child process inside a network namespace the test created
// (startDnsServer), speaking UDP and TCP on port 53 of the address given, and reports every
// query and answer as a JSON line so tests can check what was on the wire.
import { createSocket, type RemoteInfo } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { encodeDns, loopAnswer, readQuestion, type WireRecord } from './dns-wire.js';
import { HarnessError, terminate } from './proc.js';

export interface DnsZoneEntry {
  a?: string[];
  aaaa?: string[];
  /** the name is an alias: the answer is a CNAME to this name, followed through the table */
  cname?: string;
  ttl?: number;
  /** UDP answers carry TC and no records; TCP gets the full answer */
  truncate?: boolean;
  /** first an answer with the id + 1 and `wrongIdA` as its address, then the real answer */
  wrongId?: boolean;
  wrongIdA?: string;
  /** the answer's owner name is a pointer to itself */
  loop?: boolean;
  rcode?: number;
}

export type DnsZone = Record<string, DnsZoneEntry>;

/** One line the server prints: each query it read and each answer it sent. */
export interface DnsWireLog {
  event: 'query' | 'answer';
  transport: 'udp' | 'tcp';
  peer: string;
  id: number;
  name: string;
  type: number;
  hex: string;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;

/** The answers for one query, in the order to send them. */
export function answersFor(zone: DnsZone, q: { id: number; name: string; type: number }, transport: 'udp' | 'tcp'): Buffer[] {
  const name = q.name.toLowerCase().replace(/\.$/, '');
  const entry = zone[name];
  const question = { name: q.name, type: q.type };
  if (!entry) return [encodeDns({ id: q.id, response: true, rcode: 3, question })];
  if (entry.loop) return [loopAnswer(q.id, q.name, q.type)];
  if (entry.truncate && transport === 'udp') return [encodeDns({ id: q.id, response: true, tc: true, question })];
  const ttl = entry.ttl ?? 60;
  const records: WireRecord[] = [];
  let cur = name;
  let e: DnsZoneEntry | undefined = entry;
  for (let hops = 0; e?.cname && hops < 16; hops++) {
    records.push({ name: cur, type: 'CNAME', ttl: e.ttl ?? ttl, value: e.cname });
    cur = e.cname;
    e = zone[cur];
  }
  for (const v of q.type === TYPE_A ? e?.a ?? [] : q.type === TYPE_AAAA ? e?.aaaa ?? [] : []) {
    records.push({ name: cur, type: q.type === TYPE_A ? 'A' : 'AAAA', ttl: e?.ttl ?? ttl, value: v });
  }
  const real = encodeDns({ id: q.id, response: true, rcode: entry.rcode ?? 0, question, answers: records });
  if (!entry.wrongId) return [real];
  const forged = encodeDns({ id: (q.id + 1) & 0xffff, response: true, question, answers: [{ name: q.name, type: 'A', ttl, value: entry.wrongIdA ?? '203.0.113.66' }] });
  return [forged, real];
}

/** Serves the zone on addr:port (UDP and TCP) in this process; resolves when both listen. */
export async function serve(zone: DnsZone, addr: string, port: number, log: (l: DnsWireLog) => void): Promise<() => Promise<void>> {
  const udp = createSocket(addr.includes(':') ? 'udp6' : 'udp4');
  udp.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const q = readQuestion(msg);
    if (!q) return;
    const peer = `${rinfo.address}:${rinfo.port}`;
    log({ event: 'query', transport: 'udp', peer, ...q, hex: msg.toString('hex') });
    for (const a of answersFor(zone, q, 'udp')) {
      log({ event: 'answer', transport: 'udp', peer, ...q, id: a.readUInt16BE(0), hex: a.toString('hex') });
      udp.send(a, rinfo.port, rinfo.address);
    }
  });
  const tcp = createServer((s: Socket) => {
    let buf = Buffer.alloc(0);
    const peer = `${s.remoteAddress}:${s.remotePort}`;
    s.on('error', () => s.destroy());
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const q = readQuestion(msg);
        if (!q) { s.destroy(); return; }
        log({ event: 'query', transport: 'tcp', peer, ...q, hex: msg.toString('hex') });
        for (const a of answersFor(zone, q, 'tcp')) {
          log({ event: 'answer', transport: 'tcp', peer, ...q, id: a.readUInt16BE(0), hex: a.toString('hex') });
          s.write(Buffer.concat([Buffer.from([a.length >> 8, a.length & 0xff]), a]));
        }
      }
    });
  });
  await new Promise<void>((res, rej) => { udp.once('error', rej); udp.bind(port, addr, () => { udp.off('error', rej); res(); }); });
  await new Promise<void>((res, rej) => { tcp.once('error', rej); tcp.listen(port, addr, () => { tcp.off('error', rej); res(); }); });
  return async () => {
    udp.close();
    await new Promise<void>((res) => tcp.close(() => res()));
  };
}

export interface RunningDnsServer {
  pid: number;
  /** everything the server logged so far */
  log: DnsWireLog[];
  /** waits until `pred` holds for some log line */
  waitFor(pred: (l: DnsWireLog) => boolean, ms?: number): Promise<DnsWireLog>;
  stop(): Promise<void>;
}

/**
 * Starts the server as a child inside network namespace `netns` (a name under /run/netns),
 * listening on addr:53. Resolves once it listens.
 */
export async function startDnsServer(netns: string, addr: string, zone: DnsZone): Promise<RunningDnsServer> {
  const self = fileURLToPath(import.meta.url);
  const child: ChildProcess = spawn('ip', ['netns', 'exec', netns, process.execPath, self, JSON.stringify({ addr, zone })], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new HarnessError('cannot spawn the DNS server');
  const pid = child.pid;
  const log: DnsWireLog[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let readyRes!: () => void;
  let readyRej!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => { readyRes = res; readyRej = rej; });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let v: unknown;
    try { v = JSON.parse(line); } catch { return; }
    if ((v as { ready?: boolean }).ready) { readyRes(); return; }
    log.push(v as DnsWireLog);
    for (const w of waiters.splice(0)) w();
  });
  child.on('exit', (code) => readyRej(new HarnessError(`DNS server exited ${code}: ${stderr.trim()}`)));
  const timer = setTimeout(() => readyRej(new HarnessError(`DNS server not listening after 10 s: ${stderr.trim()}`)), 10_000);
  try {
    await ready;
  } finally {
    clearTimeout(timer);
  }
  return {
    pid, log,
    async waitFor(pred, ms = 5_000) {
      const end = Date.now() + ms;
      for (;;) {
        const hit = log.find(pred);
        if (hit) return hit;
        const left = end - Date.now();
        if (left <= 0) throw new HarnessError(`DNS server: no such log line in ${ms} ms; log: ${JSON.stringify(log).slice(0, 2000)}`);
        await new Promise<void>((res) => { const t = setTimeout(res, left); waiters.push(() => { clearTimeout(t); res(); }); });
      }
    },
    async stop() {
      if ((await terminate(pid, 3_000)) === 'stuck') throw new HarnessError(`DNS server ${pid} survived SIGKILL`);
    },
  };
}

// As a child: serve, print {"ready":true}, then one JSON line per query and answer.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { addr, zone } = JSON.parse(process.argv[2] ?? '{}') as { addr: string; zone: DnsZone };
  const out = (l: unknown): void => void process.stdout.write(`${JSON.stringify(l)}\n`);
  serve(zone, addr, 53, out).then(
    (close) => {
      out({ ready: true });
      process.on('SIGTERM', () => void close().finally(() => process.exit(0)));
    },
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
