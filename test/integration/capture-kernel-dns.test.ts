// SPDX-License-Identifier: Apache-2.0
// DNS capture on the real kernel (issue 15): the cgroup programs at the host's cgroup v2 root
// see real resolvers (glibc, busybox's unconnected sends, Go's pure resolver) talk to the test
// DNS server, and capture's service names each connect that follows. Three "pods" (a cgroup
// each, two with their own network namespace pair, one in the host's like hostNetwork) share
// one capture; every case asserts the whole dst.name of the raw record. Traffic stays on the
// namespace pairs made here and on loopback: the connects are UDP connects, which send nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { KernelCapture, KernelCaptureError, loadNativeBinding } from '../../src/capture/native.js';
import { CaptureService, type RawSink } from '../../src/capture/service.js';
import type { DstName } from '../../src/capture/dns-capture.js';
import { moduleLogger } from '../../src/common/log.js';
import type { DnsLookup, RawConnectEvent } from '../../src/schema/types.js';
import { serve, startDnsServer, type DnsZone, type RunningDnsServer } from '../helpers/dns-server.js';
import { makeDnsNetns, type DnsNetns } from '../helpers/dns-netns.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { CGROUP_V2 } from '../helpers/ns.js';
import { run, type RunResult } from '../helpers/proc.js';
import { Registry } from 'prom-client';
import { CAPTURE_METRICS, registerCaptureMetrics } from '../../src/capture/metrics.js';

const missing = missingKernelPrereq() ?? (['go', 'busybox', 'python3'].find((c) => !existsOnPath(c)) ? 'go, busybox or python3 missing' : undefined);
const skip = missing && process.env.CI !== 'true' ? `DNS kernel prerequisites: ${missing}` : false;

function existsOnPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => existsSync(join(d, cmd)));
}

const IP = '198.51.100.77'; // both pods' names resolve here
const ZONE_A: DnsZone = {
  'plain.test': { a: ['198.51.100.10'], ttl: 120 },
  'alias.test': { cname: 'mid.test', ttl: 300 },
  'mid.test': { cname: 'end.test', ttl: 30 },
  'end.test': { a: ['198.51.100.20'], ttl: 60 },
  'big.test': { truncate: true, a: ['198.51.100.31', '198.51.100.32'], ttl: 90 },
  'short.test': { a: ['198.51.100.50'], ttl: 1 },
  // ~1.6 kB over TCP: past the UDP copy cap, and more than one segment on the veth.
  'huge.test': { truncate: true, a: Array.from({ length: 100 }, (_, i) => `198.51.101.${i}`), ttl: 95 },
  'wrongid.test': { wrongId: true, wrongIdA: '203.0.113.66', a: ['198.51.100.40'], ttl: 70 },
  'loop.test': { loop: true },
  'musl.test': { a: ['198.51.100.60'], ttl: 80 },
  'go.test': { a: ['198.51.100.70'], ttl: 75 },
  'same.test': { a: [IP], ttl: 100 },
};
const ZONE_B: DnsZone = { 'other.test': { a: [IP], ttl: 200 } };
const ZONE_H: DnsZone = { 'host.test': { a: ['198.51.100.88'], ttl: 110 } };
const HOST_DNS = '127.0.0.2';
const GARBAGE_DNS = '192.0.2.3';

// glibc: resolve, then a UDP connect to the first address (or argv[2]) on 443: a connect
// event and not a packet.
const RESOLVE_CONNECT = [
  'import json, os, socket, sys',
  'out = {"pid": os.getpid()}',
  'try:',
  '    addrs = sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[1], 443, socket.AF_INET, socket.SOCK_STREAM)})',
  '    out["addrs"] = addrs',
  'except socket.gaierror as e:',
  '    out["err"] = e.args[0]',
  '    addrs = []',
  'if len(sys.argv) > 3: __import__("time").sleep(float(sys.argv[3]))',
  'dst = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else (addrs[0] if addrs else None)',
  'if dst:',
  '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  '    s.connect((dst, 443))',
  '    s.close()',
  'print(json.dumps(out))',
].join('\n');

// A UDP connect only, for the process after busybox's lookup.
const CONNECT_ONLY = 'import json, os, socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.connect((sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 443))\nprint(json.dumps({"pid": os.getpid()}))';

// Answers every query with the next of a few malformed packets (header too short, a label
// over 63 bytes, a record running past the end), on GARBAGE_DNS:53 in the server namespace.
const GARBAGE_SERVER = [
  'import socket, sys',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  `s.bind(("${GARBAGE_DNS}", 53))`,
  'print("ready", flush=True)',
  'bad = [b"\\x12\\x34\\x81", None, None]',
  'n = 0',
  'while True:',
  '    q, peer = s.recvfrom(512)',
  '    qid = q[:2]',
  '    if n % 3 == 0: r = qid + b"\\x81"',
  '    elif n % 3 == 1: r = qid + b"\\x81\\x80\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00" + b"\\x40" + b"a" * 64 + b"\\x00\\x00\\x01\\x00\\x01"',
  '    else: r = q[:2] + b"\\x81\\x80" + q[4:6] + b"\\x00\\x01\\x00\\x00\\x00\\x00" + q[12:] + b"\\xc0\\x0c\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x3c\\x00\\x04\\xc6"',
  '    n += 1',
  '    s.sendto(r, peer)',
].join('\n');

const GARBAGE_CLIENT = [
  'import socket, os, json',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  's.settimeout(2)',
  'got = 0',
  'for i in range(3):',
  '    q = bytes([0x50, i]) + b"\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x03bad\\x04test\\x00\\x00\\x01\\x00\\x01"',
  `    s.sendto(q, ("${GARBAGE_DNS}", 53))`,
  '    s.recvfrom(4096)',
  '    got += 1',
  'print(json.dumps({"pid": os.getpid(), "got": got}))',
].join('\n');

const GO_CLIENT = `package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
)

// The pure-Go resolver (connected UDP, plain write/read), then a UDP dial to the first address.
func main() {
	r := &net.Resolver{PreferGo: true}
	out := map[string]any{"pid": os.Getpid()}
	addrs, err := r.LookupHost(context.Background(), os.Args[1])
	if err != nil {
		out["err"] = err.Error()
	} else {
		out["addrs"] = addrs
		if c, err := net.Dial("udp", net.JoinHostPort(addrs[0], "443")); err == nil {
			c.Close()
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
`;

interface Pod { uid: string; cgroup: string }


class Collect implements RawSink {
  readonly raws: RawConnectEvent[] = [];
  readonly lookups: DnsLookup[] = [];
  offer(raw: RawConnectEvent): boolean {
    this.raws.push(raw);
    return true;
  }
  offerLoss(): void {}
  offerLookup(l: DnsLookup): void {
    this.lookups.push(l);
  }
  async connectOf(pid: number, dst: string, ms = 5000): Promise<RawConnectEvent> {
    const want = Buffer.from(dst.split('.').map(Number));
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.raws.find((r) => r.process.pid === pid && want.equals(r.dst.addr));
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no connect of pid ${pid} to ${dst}; have ${this.raws.filter((r) => r.process.pid === pid).length} of that pid`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  async lookupOf(pid: number, qname: string, ms = 5000): Promise<DnsLookup> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.lookups.find((l) => l.process.pid === pid && l.query === qname && l.answers.length > 0);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no lookup of ${qname} by pid ${pid}; lookups: ${JSON.stringify(this.lookups.map((l) => [l.process.pid, l.query]))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('DNS capture on the real kernel', { skip }, () => {
  const tag = randomBytes(3).toString('hex');
  const top = join(CGROUP_V2, `pt-dns-${tag}`);
  const sink = new Collect();
  let netA: DnsNetns;
  let netB: DnsNetns;
  let srvA: RunningDnsServer;
  let srvB: RunningDnsServer;
  let stopHost: (() => Promise<void>) | undefined;
  let garbage: ReturnType<typeof import('node:child_process').spawn> | undefined;
  let kernel: KernelCapture;
  let svc: CaptureService;
  let goBin: Promise<string>;
  const pods: Record<'a' | 'b' | 'h', Pod> = {} as Record<'a' | 'b' | 'h', Pod>;

  function makePod(): Pod {
    const uid = randomUUID();
    const cg = join(top, `kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice`, `cri-containerd-${randomBytes(32).toString('hex')}.scope`);
    mkdirSync(cg, { recursive: true });
    return { uid, cgroup: cg };
  }

  /** Runs argv in the pod's cgroup, in netns ns (undefined: the host's); parses its JSON line. */
  async function inPod<T>(pod: Pod, ns: string | undefined, argv: string[]): Promise<T & { pid: number }> {
    const inner = ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
    // The shell joins the cgroup first, so everything it execs starts there.
    const r: RunResult = await run('sh', ['-c', `echo $$ > "$0/cgroup.procs" && exec "$@"`, pod.cgroup, ...inner], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    const line = r.stdout.trim().split('\n').pop()!;
    return JSON.parse(line) as T & { pid: number };
  }

  const glibc = (pod: Pod, ns: string | undefined, name: string, dst = '', delayS?: number) =>
    inPod<{ addrs?: string[]; err?: number }>(pod, ns, ['python3', '-c', RESOLVE_CONNECT, name, dst, ...(delayS ? [String(delayS)] : [])]);

  /** The name a connect got must be the one its lookup recorded, field for field. */
  function expected(l: DnsLookup, name: string, cnames: string[], ttl: number, server: string, trust: DstName['trust']): DstName {
    return { name, cnames, answeredAt: l.time, ttl, server, trust };
  }

  before(async () => {
    goBin = (async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pt-dns-go-'));
      writeFileSync(join(dir, 'main.go'), GO_CLIENT);
      writeFileSync(join(dir, 'go.mod'), 'module ptdnsclient\n\ngo 1.19\n'); // Debian bookworm's golang-go
      // Standard library only: nothing to fetch, and nothing may be fetched.
      // In the module's directory (not `go build -C`, which older Go lacks).
      const r = await run('sh', ['-c', 'cd "$0" && exec go build -o client .', dir], {
        timeoutMs: 120_000,
        env: { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' },
      });
      assert.equal(r.code, 0, r.stderr);
      return join(dir, 'client');
    })();
    goBin.catch(() => undefined);
    [netA, netB] = await Promise.all([makeDnsNetns(), makeDnsNetns()]);
    for (const n of [netA, netB]) await run('ip', ['-n', n.client, 'route', 'add', 'default', 'dev', 'veth-c']);
    await run('ip', ['-n', netA.server, 'addr', 'add', `${GARBAGE_DNS}/24`, 'dev', 'veth-s']);
    pods.a = makePod();
    pods.b = makePod();
    pods.h = makePod();
    const binding = loadNativeBinding();
    // The v2 path for every event: the test's pods are v2 cgroups (the v1 rule has its own tests).
    kernel = new KernelCapture(binding.Capture, { attach: 'tracepoint', dns: true, cgroupControllers: [], flushIntervalMs: 5 }, moduleLogger('test.dns'));
    svc = new CaptureService(kernel, binding, sink, { node: 'test-node', processIdentity: false, dns: { resolvers: [netA.serverAddr, netB.serverAddr], dedupMs: 0 } }, moduleLogger('test.dns'));
    svc.start();
    [srvA, srvB] = await Promise.all([startDnsServer(netA.server, netA.serverAddr, ZONE_A), startDnsServer(netB.server, netB.serverAddr, ZONE_B)]);
    stopHost = await serve(ZONE_H, HOST_DNS, 53, () => undefined);
    const { spawn } = await import('node:child_process');
    garbage = spawn('ip', ['netns', 'exec', netA.server, 'python3', '-c', GARBAGE_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      garbage!.stdout!.once('data', () => res());
      garbage!.once('exit', (c) => rej(new Error(`garbage server exited ${c}`)));
    });
  });

  after(async () => {
    svc?.stop();
    garbage?.kill('SIGKILL');
    await stopHost?.();
    await srvA?.stop();
    await srvB?.stop();
    const problems = [...((await netA?.cleanup()) ?? []), ...((await netB?.cleanup()) ?? [])];
    for (const p of Object.values(pods)) {
      rmdirSync(p.cgroup);
      rmdirSync(join(p.cgroup, '..'));
    }
    if (existsSync(top)) rmdirSync(top);
    assert.deepEqual(problems, []);
  });

  test('glibc: A over UDP names the connect that follows (trust resolver); each lookup is a record', async () => {
    const r = await glibc(pods.a, netA.client, 'plain.test.');
    assert.deepEqual(r.addrs, ['198.51.100.10']);
    const l = await sink.lookupOf(r.pid, 'plain.test');
    const c = await sink.connectOf(r.pid, '198.51.100.10');
    assert.deepEqual(c.dst.name, expected(l, 'plain.test', [], 120, netA.serverAddr, 'resolver'));
    assert.equal(c.encryptedDns, false);
    assert.ok(l.time <= c.time, 'answered before the connect');
    // The lookup record itself, whole but for what the kernel picks (seq, time, port, cgroup id).
    assert.equal(l.eventId, `test-node:${svc.instance}:dns:${l.seq}`);
    assert.deepEqual({ ...l, eventId: '', seq: 0n, time: 0n, src: { ...l.src, port: 0 }, cgroup: { ...l.cgroup, id: 0n } }, {
      eventId: '', seq: 0n, instance: svc.instance, time: 0n, node: 'test-node', protocol: 'UDP', family: 'IPv4',
      src: { addr: Buffer.from([192, 0, 2, 2]), port: 0, name: null, pod: null, service: null, scope: null },
      dst: { addr: Buffer.from([192, 0, 2, 1]), port: 53, name: null, pod: null, service: null, scope: null },
      process: { pid: r.pid, tid: r.pid, ppid: 0, uid: 0n, gid: 0n, comm: 'python3', startTime: 0n, nsPid: 0, key: l.process.key, exe: null, args: [], argsTruncated: false, parent: null, ancestry: [], exeFlags: [] },
      netns: 0n, mntns: 0n, pidns: 0n, utsName: '',
      cgroup: { id: 0n, path: pods.a.cgroup.slice(CGROUP_V2.length) },
      query: 'plain.test', qtype: 1, rcode: 0, answers: [{ name: 'plain.test', type: 1, data: '198.51.100.10', ttl: 120 }],
      truncated: false, trust: 'resolver', count: 1n, firstTime: null, lastTime: null, dedupWindowMs: 0,
    });
    assert.ok(l.process.key > 0n);
  });

  test('a CNAME chain: the question is the name, the chain rides along, TTL is the smallest', async () => {
    const r = await glibc(pods.a, netA.client, 'alias.test.');
    const l = await sink.lookupOf(r.pid, 'alias.test');
    const c = await sink.connectOf(r.pid, '198.51.100.20');
    assert.deepEqual(c.dst.name, expected(l, 'alias.test', ['mid.test', 'end.test'], 30, netA.serverAddr, 'resolver'));
  });

  test('a truncated UDP answer retried over TCP: the TCP answer, reassembled, names the connect', async () => {
    const r = await glibc(pods.a, netA.client, 'big.test.');
    assert.deepEqual(r.addrs, ['198.51.100.31', '198.51.100.32']);
    const l = await sink.lookupOf(r.pid, 'big.test');
    assert.equal(l.protocol, 'TCP');
    const c = await sink.connectOf(r.pid, '198.51.100.31');
    assert.deepEqual(c.dst.name, expected(l, 'big.test', [], 90, netA.serverAddr, 'resolver'));
    assert.ok(svc.dns!.names.truncatedAnswers >= 1);
    const h = await glibc(pods.a, netA.client, 'huge.test.', '198.51.101.10');
    assert.equal(h.addrs?.length, 100);
    const hc = await sink.connectOf(h.pid, '198.51.101.10');
    // Every lookup reaches capture before the connect after it; the newest names it.
    const hls = sink.lookups.filter((x) => x.process.pid === h.pid && x.query === 'huge.test');
    const hl = hls[hls.length - 1]!;
    for (const x of hls) assert.deepEqual([x.protocol, x.answers.length, x.truncated], ['TCP', 64, false], 'the parser keeps 64 records (and so 64 addresses); none was cut');
    assert.deepEqual(hc.dst.name, expected(hl, 'huge.test', [], 95, netA.serverAddr, 'resolver'));
  });

  test('a connect after the answer\'s TTL still gets the name (clients cache past it)', async () => {
    const r = await glibc(pods.a, netA.client, 'short.test.', '', 1.2);
    const l = await sink.lookupOf(r.pid, 'short.test');
    const c = await sink.connectOf(r.pid, '198.51.100.50');
    assert.ok(c.time > l.time + 1_000_000_000n, 'the connect came after the TTL');
    assert.deepEqual(c.dst.name, expected(l, 'short.test', [], 1, netA.serverAddr, 'resolver'));
  });

  test('musl-style unconnected sends (busybox nslookup): marked by sendmsg; the pod\'s next process gets the name', async () => {
    const ns = await run('sh', ['-c', `echo $$ > "$0/cgroup.procs" && exec ip netns exec "$1" busybox nslookup musl.test ${netA.serverAddr}`, pods.a.cgroup, netA.client], { timeoutMs: 10_000 });
    assert.equal(ns.code, 0, ns.stderr + ns.stdout);
    assert.match(ns.stdout, /198\.51\.100\.60/);
    const l = await new Promise<DnsLookup>((res, rej) => {
      const end = Date.now() + 5000;
      const poll = () => {
        const hit = sink.lookups.find((x) => x.query === 'musl.test' && x.answers.length > 0);
        if (hit) res(hit);
        else if (Date.now() > end) rej(new Error('no musl.test lookup'));
        else setTimeout(poll, 20);
      };
      poll();
    });
    const p = await inPod<object>(pods.a, netA.client, ['python3', '-c', CONNECT_ONLY, '198.51.100.60']);
    const c = await sink.connectOf(p.pid, '198.51.100.60');
    // Another process of the same container: matched by container, so the same name.
    assert.deepEqual(c.dst.name, expected(l, 'musl.test', [], 80, netA.serverAddr, 'resolver'));
  });

  test('Go\'s pure resolver (connected UDP, write/read) names its own net.Dial', async () => {
    const bin = await goBin;
    const r = await inPod<{ addrs?: string[]; err?: string }>(pods.a, netA.client, [bin, 'go.test.']);
    assert.deepEqual(r.addrs, ['198.51.100.70'], JSON.stringify(r));
    const l = await sink.lookupOf(r.pid, 'go.test');
    const c = await sink.connectOf(r.pid, '198.51.100.70');
    assert.deepEqual(c.dst.name, expected(l, 'go.test', [], 75, netA.serverAddr, 'resolver'));
  });

  test('two pods resolve the same IP to different names: each connect gets its own pod\'s', async () => {
    const a = await glibc(pods.a, netA.client, 'same.test.');
    const b = await glibc(pods.b, netB.client, 'other.test.');
    const la = await sink.lookupOf(a.pid, 'same.test');
    const lb = await sink.lookupOf(b.pid, 'other.test');
    // A second process in each pod, after both lookups: only its own pod's table is searched.
    const pa = await inPod<object>(pods.a, netA.client, ['python3', '-c', CONNECT_ONLY, IP]);
    const pb = await inPod<object>(pods.b, netB.client, ['python3', '-c', CONNECT_ONLY, IP]);
    assert.deepEqual((await sink.connectOf(pa.pid, IP)).dst.name, expected(la, 'same.test', [], 100, netA.serverAddr, 'resolver'));
    assert.deepEqual((await sink.connectOf(pb.pid, IP)).dst.name, expected(lb, 'other.test', [], 200, netB.serverAddr, 'resolver'));
    // The host pod never looked it up: no name.
    const ph = await inPod<object>(pods.h, undefined, ['python3', '-c', CONNECT_ONLY, IP]);
    assert.equal((await sink.connectOf(ph.pid, IP)).dst.name, null);
  });

  test('a hostNetwork-like pod (host netns, loopback resolver): named, trust matched (loopback is never "resolver")', async () => {
    const ns = await run('sh', ['-c', `echo $$ > "$0/cgroup.procs" && exec busybox nslookup host.test ${HOST_DNS}`, pods.h.cgroup], { timeoutMs: 10_000 });
    assert.equal(ns.code, 0, ns.stderr + ns.stdout);
    const p = await inPod<object>(pods.h, undefined, ['python3', '-c', CONNECT_ONLY, '198.51.100.88']);
    const c = await sink.connectOf(p.pid, '198.51.100.88');
    const l = sink.lookups.find((x) => x.query === 'host.test' && x.answers.length > 0)!;
    assert.ok(l, 'the lookup was recorded');
    assert.deepEqual(c.dst.name, expected(l, 'host.test', [], 110, HOST_DNS, 'matched'));
    assert.equal(c.encryptedDns, false);
    // Encrypted DNS: 853 anywhere (DoT), 443 to a well-known DoH resolver. A UDP connect sends nothing.
    for (const [ip, port] of [['192.0.2.9', 853], ['1.1.1.1', 443]] as const) {
      const e = await inPod<object>(pods.h, undefined, ['python3', '-c', CONNECT_ONLY, ip, String(port)]);
      const ec = await sink.connectOf(e.pid, ip);
      assert.deepEqual([ec.encryptedDns, ec.dst.name], [true, null]);
    }
  });

  test('an answer with the wrong transaction id: its address is named with trust unmatched', async () => {
    const r = await glibc(pods.a, netA.client, 'wrongid.test.', '203.0.113.66');
    assert.deepEqual(r.addrs, ['198.51.100.40']);
    const c = await sink.connectOf(r.pid, '203.0.113.66');
    const forged = sink.lookups.find((x) => x.process.pid === r.pid && x.answers.some((a) => a.data === '203.0.113.66'))!;
    assert.ok(forged);
    assert.deepEqual(c.dst.name, expected(forged, 'wrongid.test', [], 70, netA.serverAddr, 'unmatched'));
    await sink.lookupOf(r.pid, 'wrongid.test');
    const mine = sink.lookups.filter((x) => x.process.pid === r.pid).map((x) => ({ answers: x.answers.map((a) => a.data), trust: x.trust }));
    assert.deepEqual(mine, [{ answers: ['203.0.113.66'], trust: 'unmatched' }, { answers: ['198.51.100.40'], trust: 'resolver' }]);
  });

  test('a configured cgroup root that is not the hierarchy\'s root (a pod\'s cgroup, as a cgroup namespace shows it) is refused', () => {
    const b = loadNativeBinding();
    for (const root of [pods.a.cgroup, '/tmp']) {
      const k = new KernelCapture(b.Capture, { attach: 'tracepoint', dns: true, dnsCgroupRoot: root, cgroupControllers: [] }, moduleLogger('test.dns'));
      assert.throws(() => k.start(() => {}), (e: unknown) => e instanceof KernelCaptureError && e.code === 'NO_CGROUP2' && e.message.includes(root), root);
    }
  });

  test('a compression-pointer loop and other malformed answers are counted by reason; capture goes on', async () => {
    const before = { ...svc.dns!.stats().malformed };
    const n = (k: string, m: Record<string, number>) => m[k] ?? 0;
    const r = await glibc(pods.a, netA.client, 'loop.test.');
    assert.ok(r.err !== undefined, 'the client got no address');
    const g = await inPod<{ got: number }>(pods.a, netA.client, ['python3', '-c', GARBAGE_CLIENT]);
    assert.equal(g.got, 3);
    const end = Date.now() + 5000;
    const want = ['pointer-loop', 'short-header', 'label-too-long', 'truncated-record'];
    for (;;) {
      const m = svc.dns!.stats().malformed;
      if (want.every((k) => n(k, m) > n(k, before))) break;
      assert.ok(Date.now() < end, `malformed counts ${JSON.stringify(m)} (before ${JSON.stringify(before)})`);
      await new Promise((res) => setTimeout(res, 20));
    }
    // Still capturing: the next lookup names its connect.
    const ok = await glibc(pods.a, netA.client, 'plain.test.');
    const l = await sink.lookupOf(ok.pid, 'plain.test');
    assert.deepEqual((await sink.connectOf(ok.pid, '198.51.100.10')).dst.name, expected(l, 'plain.test', [], 120, netA.serverAddr, 'resolver'));
    // The same counts on /metrics, by reason.
    const reg = new Registry();
    registerCaptureMetrics(reg, { kernel, service: svc, maxBufferedEvents: 1, maxBufferedBytes: 1 });
    const text = await reg.getSingleMetricAsString(CAPTURE_METRICS.dnsMalformed);
    for (const k of want) assert.match(text, new RegExp(`reason="${k}"} [1-9]`));
    assert.match(await reg.getSingleMetricAsString(CAPTURE_METRICS.dnsKernelDrops), / 0$/m);
    const st = kernel.stats();
    assert.equal(st.dnsReserveFails, 0n);
    assert.equal(st.dnsSeqLost, 0n);
    assert.equal(st.decodeErrors, 0);
  });
});
