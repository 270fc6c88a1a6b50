// SPDX-License-Identifier: Apache-2.0
// DNS capture under a DNS-heavy load (issue 15): a client in a network namespace sends
// --rate lookups/s over one connected UDP socket (as glibc and Go do) to the test DNS server in
// the other namespace of the pair; this process runs capture (kernel DNS programs, DnsCapture,
// the service, a counting sink) and reports its CPU per answer, the kernel's drops, and the BPF
// time per packet of each DNS program (kernel.bpf_stats_enabled, restored afterwards).
//   node dist/bench/dns-kernel.bench.js [--rate N] [--seconds S] [--names N]
import { spawn, execFileSync } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { KernelCapture, loadNativeBinding } from '../src/capture/native.js';
import { CaptureService, type RawSink } from '../src/capture/service.js';
import { moduleLogger } from '../src/common/log.js';
import type { DnsZone } from '../test/helpers/dns-server.js';
import { makeDnsNetns } from '../test/helpers/dns-netns.js';
import { run } from '../test/helpers/proc.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

const RATE = arg('rate', 10_000);
const SECONDS = arg('seconds', 10);
const NAMES = arg('names', 1000);

// Paced sends, non-blocking reads: the answers it got are the ones capture could see.
const CLIENT = `
import json, socket, struct, sys, time
rate, secs, server, names = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def q(i):
    name = b"".join(bytes([len(l)]) + l.encode() for l in ("n%d.bench.test" % (i % names)).split("."))
    return struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + name + b"\\x00\\x00\\x01\\x00\\x01"
qs = [q(i) for i in range(65536)]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((server, 53))
s.setblocking(False)
sent = got = 0
t0 = time.monotonic()
def drain():
    global got
    try:
        while True:
            s.recv(4096)
            got += 1
    except BlockingIOError:
        pass
while True:
    now = time.monotonic() - t0
    if now >= secs:
        break
    due = int(now * rate)
    while sent < due:
        s.send(qs[sent & 0xffff])
        sent += 1
    drain()
    time.sleep(0.0005)
end = time.monotonic() + 1.0
while time.monotonic() < end and got < sent:
    drain()
    time.sleep(0.01)
print(json.dumps({"sent": sent, "got": got, "seconds": time.monotonic() - t0}))
`;

class Count implements RawSink {
  connects = 0;
  lookups = 0;
  offer(): boolean {
    this.connects++;
    return true;
  }
  offerLoss(): void {}
  offerLookup(): void {
    this.lookups++;
  }
}

interface ProgStat { id: number; name: string; runNs: number; runs: number }

/** DNS programs loaded now; `mine`: only those ids (others may have podtrail loaded meanwhile). */
function dnsProgStats(mine?: Set<number>): ProgStat[] {
  const out = execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  return (JSON.parse(out) as Array<{ id: number; name?: string; run_time_ns?: number; run_cnt?: number }>)
    .filter((p) => p.name?.startsWith('pt_dns_') && (!mine || mine.has(p.id)))
    .map((p) => ({ id: p.id, name: p.name!, runNs: p.run_time_ns ?? 0, runs: p.run_cnt ?? 0 }));
}

async function main(): Promise<void> {
  const zone: DnsZone = {};
  for (let i = 0; i < NAMES; i++) zone[`n${i}.bench.test`] = { a: [`198.51.${100 + ((i >> 8) & 3)}.${i & 255}`], ttl: 300 };
  const net = await makeDnsNetns();
  const stats = '/proc/sys/kernel/bpf_stats_enabled';
  const statsBefore = readFileSync(stats, 'utf8').trim();
  // The server's per-packet log lines go nowhere: reading them here would be charged to capture.
  const serverJs = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'helpers', 'dns-server.js');
  const srv = spawn('ip', ['netns', 'exec', net.server, process.execPath, serverJs, JSON.stringify({ addr: net.serverAddr, zone })],
    { stdio: ['ignore', openSync('/dev/null', 'w'), 'inherit'] });
  const binding = loadNativeBinding();
  const kernel = new KernelCapture(binding.Capture, { dns: true }, moduleLogger('bench.dns'));
  const sink = new Count();
  const svc = new CaptureService(kernel, binding, sink, { node: 'bench', dns: {} }, moduleLogger('bench.dns'));
  try {
    const before = new Set(dnsProgStats().map((p) => p.id));
    svc.start();
    // Ours: the ones that were not there before capture started.
    const mine = new Set(dnsProgStats().map((p) => p.id).filter((id) => !before.has(id)));
    writeFileSync(stats, '1');
    await new Promise((r) => setTimeout(r, 1500)); // server up, table seeded, JIT warm
    const p0 = dnsProgStats(mine);
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const r = await run('ip', ['netns', 'exec', net.client, 'python3', '-c', CLIENT, String(RATE), String(SECONDS), net.serverAddr, String(NAMES)], { timeoutMs: (SECONDS + 30) * 1000 });
    if (r.code !== 0) throw new Error(`client: ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 300)); // the last batches
    const cpu = process.cpuUsage(cpu0);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const p1 = dnsProgStats(mine);
    const c = JSON.parse(r.stdout) as { sent: number; got: number; seconds: number };
    const k = kernel.stats();
    const d = svc.dns!.stats();
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`# ${new Date().toISOString()}, load average ${load}`);
    console.log(`client: ${c.sent} queries sent, ${c.got} answers received in ${c.seconds.toFixed(1)} s (${Math.round(c.sent / c.seconds)} lookups/s)`);
    console.log(`capture: ${k.dnsRecords} DNS records (queries + answers) read, ${d.parsed} parsed, malformed ${JSON.stringify(d.malformed)}, ${d.lookups} lookup records after folding, name table ${d.tableSize}`);
    console.log(`kernel drops: ring reserve failures ${k.dnsReserveFails}, sequence gaps ${k.dnsSeqLost}, mark failures ${k.dnsMarkFails}`);
    console.log(`capture CPU: ${cpuS.toFixed(2)} s over ${wall.toFixed(1)} s (${((cpuS / wall) * 100).toFixed(1)}% of a core); ${((cpuS / c.got) * 1e6).toFixed(1)} us per answer (query and answer decoded, parsed, matched, recorded)`);
    for (const a of p1) {
      const b = p0.find((x) => x.id === a.id);
      const runs = a.runs - (b?.runs ?? 0);
      const ns = a.runNs - (b?.runNs ?? 0);
      console.log(`BPF ${a.name}: ${runs} runs, ${runs ? Math.round(ns / runs) : 0} ns per run`);
    }
  } finally {
    writeFileSync(stats, statsBefore);
    svc.stop();
    srv.kill('SIGTERM');
    await new Promise((r) => srv.once('exit', r));
    await net.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
