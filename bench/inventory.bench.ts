// SPDX-License-Identifier: Apache-2.0
// `npm run bench:inventory`: the inventory's per-record work on a window of N audit records
// (default 10 million): decode each Avro message (src/schema/codec.ts) and add it to the
// aggregator (src/inventory/aggregate.ts), then classify, sort and render the result. The
// records are synthesized in this process and encoded with the real codec: a pool of
// --pool distinct encoded messages (workloads x destinations x executables, with failures and
// a LOSS record now and then) is cycled through, each message decoded afresh, so the decode and
// aggregation costs are real while Kafka's fetch is left out (the integration test reads a real
// broker; a broker-fed run over 10 million records does not fit this machine's CI budget).
// Decoding is the inventory's own (src/inventory/projection.ts), as `podtrail inventory` reads.
// Prints records/s (wall clock, and per CPU-second, since the machine may be shared) for the pass, the finish (classify + sort) and render times, and the
// process's peak RSS (getrusage maxrss) next to its RSS before the pass, so the growth is
// the aggregator's. Wrap it in `flock /tmp/podtrail-bench.lock`.
//
//   node dist/bench/inventory.bench.js [--records N] [--workloads N] [--destinations N] [--pool N]
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Aggregator } from '../src/inventory/aggregate.js';
import { AuditProjection } from '../src/inventory/projection.js';
import { renderInventory } from '../src/inventory/render.js';
import { parseAddr } from '../src/schema/addr.js';
import { Codec } from '../src/schema/codec.js';
import type { AuditRecord } from '../src/schema/types.js';
import { sampleAudit } from '../test/helpers/records.js';
import { BARE_ENDPOINT } from '../src/schema/endpoint.js';

function fail(msg: string): never {
  process.stderr.write(`inventory bench: ${msg}\n`);
  process.exit(2);
}
setTimeout(() => fail('gave up after 20 minutes'), 20 * 60_000).unref();

const { values } = parseArgs({ options: {
  records: { type: 'string', default: '10000000' }, workloads: { type: 'string', default: '200' },
  destinations: { type: 'string', default: '500' }, pool: { type: 'string', default: '200000' },
} });
const int = (k: keyof typeof values) => {
  const n = Number(values[k]);
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${k} must be a positive integer, got ${values[k]}`);
  return n;
};
const N = int('records');
const WORKLOADS = int('workloads');
const DESTS = int('destinations');
const POOL = int('pool');

const codec = new Codec();
const T0 = 1_796_005_677_000_000_000n;
const base = sampleAudit();
const pool: Buffer[] = [];
for (let i = 0; i < POOL; i++) {
  const w = i % WORKLOADS;
  const d = Math.floor(i / WORKLOADS) % DESTS;
  const ns = `ns-${w % 20}`;
  let r: AuditRecord = {
    ...base, seq: BigInt(i), eventId: `node-${w % 8}:b:${i}`, time: T0 + BigInt(i) * 1_000_000n, node: `node-${w % 8}`,
    dst: { ...BARE_ENDPOINT, addr: parseAddr(d % 5 === 0 ? `10.${w & 255}.${d >> 8}.${d & 255}` : `52.${w & 255}.${d >> 8}.${d & 255}`), port: d % 7 === 0 ? 5432 : 443 },
    result: { status: i % 50 === 0 ? 'REFUSED' : 'OK', errno: i % 50 === 0 ? 111 : 0 },
    process: { ...base.process!, comm: `exe-${i % 3}` },
    pod: { ...base.pod!, namespace: ns, name: `wl-${w}-6b7c9d-${i % 5}`, uid: `uid-${w}-${i % 5}`, labels: { app: `wl-${w}`, 'pod-template-hash': '6b7c9d', team: 'x' }, workload: { kind: 'Deployment', name: `wl-${w}` }, ips: [`10.${w & 255}.200.${i % 5}`] },
  };
  if (i % 10_000 === 9_999) {
    r = { ...r, protocol: null, family: null, src: null, dst: null, result: null, process: null, netns: null, mntns: null, pidns: null, utsName: null, cgroup: null, container: null, pod: null, attribution: { status: 'LOSS', source: 'capture', reason: null }, loss: { instance: 'b', fromSeq: 1n, toSeq: 2n, count: 2n, cause: 'KERNEL_RING_BUFFER', firstTime: null, lastTime: null } };
  }
  pool.push(codec.encode('AuditRecord', r));
}
const bytes = pool.reduce((s, b) => s + b.length, 0) / pool.length;
globalThis.gc?.();
const rssBefore = process.memoryUsage().rss;
const agg = new Aggregator();
const projection = new AuditProjection(codec.set);
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) agg.addRecord(projection.decode(pool[i % POOL] as Buffer));
const t1 = process.hrtime.bigint();
const cpu = process.cpuUsage(cpu0);
const cpuSecs = (cpu.user + cpu.system) / 1e6;
const inv = agg.finish({ since: null, until: null }, null, { namespaces: [], workloads: [], selector: null });
const t2 = process.hrtime.bigint();
const json = renderInventory(inv, 'json');
const md = renderInventory(inv, 'markdown');
const t3 = process.hrtime.bigint();
const peakKb = process.resourceUsage().maxRSS;
const secs = Number(t1 - t0) / 1e9;
const dests = inv.workloads.reduce((s, w) => s + w.destinations.length, 0);
process.stdout.write([
  `podtrail inventory bench: Node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at end`,
  `records ${N} (pool of ${POOL} distinct encoded messages, ${bytes.toFixed(0)} B each on average), ${inv.workloads.length} workloads, ${dests} destinations listed, ${inv.summary.loss.records} LOSS records`,
  `decode + aggregate: ${secs.toFixed(1)} s wall, ${Math.round(N / secs).toLocaleString('en-US')} records/s; ${cpuSecs.toFixed(1)} s CPU, ${Math.round(N / cpuSecs).toLocaleString('en-US')} records per CPU-second`,
  `finish (classify, collapse, sort): ${(Number(t2 - t1) / 1e6).toFixed(0)} ms; render json ${(json.length / 1e6).toFixed(1)} MB + markdown ${(md.length / 1e6).toFixed(1)} MB: ${(Number(t3 - t2) / 1e6).toFixed(0)} ms`,
  `RSS before the pass ${(rssBefore / 1048576).toFixed(0)} MiB, peak RSS ${(peakKb / 1024).toFixed(0)} MiB`,
  '',
].join('\n'));
