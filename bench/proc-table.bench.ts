// SPDX-License-Identifier: Apache-2.0
// Memory of capture's user-space process table (src/capture/process-table.ts) holding N live
// processes, each from an exec record as the kernel sends it: a typical shape (a 20-60 byte
// path, 3-12 arguments of 4-40 bytes) and a worst one (4095-byte path, 4096 bytes of argv).
// Prints RSS and heap before and after filling, in a fresh process per shape, with the
// table's byte budget lifted (the worst shape would exceed it), then what the default
// budget (64 MiB of paths and argv) keeps of the worst shape. Each child runs with capture's
// node flags (src/capture/node-flags.ts), as `podtrail capture` does, and the RSS is given
// again after every process's identity was rendered (as if each had connected).
//
//   node --expose-gc dist/bench/proc-table.bench.js [--processes 50000] [--shape typical|worst]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CONSTANTS, type RawProcRecord } from '../src/capture/event-layout.js';
import { ProcessTable } from '../src/capture/process-table.js';
import { identityOf } from '../src/capture/proc-identity.js';
import { CAPTURE_NODE_FLAGS } from '../src/capture/node-flags.js';

const { values } = parseArgs({ options: { processes: { type: 'string', default: '50000' }, shape: { type: 'string' } } });
const n = Number(values.processes);

const status = (k: string) => Number(/\d+/.exec(readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(k))!)![0]) / 1024;

function rand(lo: number, hi: number): number {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

function word(len: number): string {
  let s = '';
  while (s.length < len) s += Math.random().toString(36).slice(2);
  return s.slice(0, len);
}

function record(i: number, worst: boolean): RawProcRecord {
  const exe = worst ? `/${word(CONSTANTS.PT_EXE_MAX - 2)}` : `/usr/${word(rand(4, 12))}/bin/${word(rand(4, 30))}`;
  const args = worst ? Buffer.alloc(CONSTANTS.PT_ARGS_MAX, 0x61) : Buffer.from(Array.from({ length: rand(3, 12) }, () => word(rand(4, 40)) + '\0').join(''));
  return {
    kind: 'proc', procKind: 'exec', seq: BigInt(i + 1), tsNs: BigInt(1e12 + i), tgid: 1000 + i, keyNs: BigInt(1e12 + i),
    ppid: 1, parentKeyNs: 1n, startNs: BigInt(1e12 + i), uid: 0, comm: word(rand(3, 15)), exeFlags: 0,
    exe: Buffer.from(exe), args, argsFull: args.length,
  };
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!values.shape) {
  // One fresh process per shape, so the second does not start on the first's heap.
  const self = fileURLToPath(import.meta.url);
  console.log(`process table: ${n.toLocaleString('en-US')} live processes, Node ${process.version}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  for (const shape of ['typical', 'worst']) {
    process.stdout.write(execFileSync(process.execPath, ['--expose-gc', ...CAPTURE_NODE_FLAGS, self, '--processes', String(n), '--shape', shape], { encoding: 'utf8' }));
  }
} else {
  const worst = values.shape === 'worst';
  gc?.();
  const rss0 = status('VmRSS:');
  const heap0 = process.memoryUsage().heapUsed / 2 ** 20;
  const t = new ProcessTable({ maxEntries: Math.max(n, 16), maxBytes: 2 ** 40 });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) t.apply(record(i, worst));
  const ms = performance.now() - t0;
  gc?.();
  const rss1 = status('VmRSS:');
  const heap1 = process.memoryUsage().heapUsed / 2 ** 20;
  const ab = process.memoryUsage().arrayBuffers / 2 ** 20;
  if (t.size !== n) throw new Error(`table holds ${t.size}, expected ${n}`);
  const kept = new ProcessTable({ maxEntries: Math.max(n, 16) });
  if (worst) for (let i = 0; i < 20_000; i++) kept.apply(record(i, true));
  // As capture does: each identity goes into its raw record and is not held here, so what
  // stays is what proc-identity.ts keeps (a bounded cache of recent ones).
  let withExe = 0;
  for (let i = 0; i < n; i++) if (identityOf(t, 1000 + i, BigInt(1e12 + i)).exe !== null) withExe++;
  gc?.();
  const rss2 = status('VmRSS:');
  const heap2 = process.memoryUsage().heapUsed / 2 ** 20;
  console.log(`${values.shape.padEnd(8)} identities rendered for all: RSS ${rss2.toFixed(1)} MiB (+${(rss2 - rss1).toFixed(1)} MiB), JS heap +${(heap2 - heap1).toFixed(1)} MiB, ${withExe} with exe`);
  console.log(`${values.shape.padEnd(8)} RSS ${rss0.toFixed(1)} -> ${rss1.toFixed(1)} MiB (peak VmHWM ${status('VmHWM:').toFixed(1)} MiB), JS heap +${(heap1 - heap0).toFixed(1)} MiB, buffers ${ab.toFixed(1)} MiB, ${(((rss1 - rss0) * 2 ** 20) / n).toFixed(0)} B per process; filled in ${ms.toFixed(0)} ms${worst ? `; the default budget keeps ${kept.size.toLocaleString('en-US')} worst-shape processes` : ''}`);
}
