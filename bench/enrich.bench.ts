// SPDX-License-Identifier: Apache-2.0
// `npm run bench:enrich`: enrich's throughput against a bare kafkajs passthrough, on the
// real broker. Loads N raw records (a few hundred pod cgroup paths resolving against Docker
// metadata files in a temporary host root) once, then runs, each in its own child process
// reading the same raw topic with a fresh group: the passthrough and the real EnrichStage,
// exactly-once and at-least-once. Records/s are taken from the output topic's record
// timestamps, first to last; peak RSS is the child's. Wrap it in
// `flock /tmp/podtrail-bench.lock` when others bench on the machine too.
//
//   node dist/bench/enrich.bench.js [--records N] [--pods N] [--partitions N] [--rounds N]
//        [--modes exactly-once,at-least-once] [--compression none|gzip] [--cpu-prof DIR]
//        [--compare DIR]   (DIR: another built checkout whose enrich runs as a further arm,
//                           between this one's passthrough and enrich: before/after)
// Other work on the machine moves wall-clock rates a lot: each figure is the median of
// --rounds runs (default 3), and CPU per record (robust to contention) is printed beside it.
// Brokers: PODTRAIL_BROKERS (default 127.0.0.1:9092). Diagnostics: PODTRAIL_BENCH_BROKER_PID (a
// local broker's pid: its CPU per record is printed too), PODTRAIL_BENCH_FETCH_BYTES (fetch size
// for both sides instead of the stage's), PODTRAIL_BENCH_NODE_ARGS (extra node flags for children).
// The passthrough is bare on purpose: one partition batch at a time, kafkajs's default partitioner.
import { fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { CompressionTypes, type Kafka } from 'kafkajs';
import { createKafka } from '../src/kafka/client.js';
import { Codec } from '../src/schema/codec.js';
import { buildWorld, rawEvents } from './enrich-world.js';
import { runChild, type ChildResult, type ChildSpec } from './enrich-child.js';

const BROKERS = (process.env.PODTRAIL_BROKERS ?? '127.0.0.1:9092').split(',');
const MODES = ['exactly-once', 'at-least-once'] as const;
type Mode = (typeof MODES)[number];

if (process.env.PODTRAIL_BENCH_CHILD) {
  await runChild(JSON.parse(process.env.PODTRAIL_BENCH_CHILD) as ChildSpec);
} else {
  await main();
}

/** The broker's CPU time (ms) when PODTRAIL_BENCH_BROKER_PID names it (a local broker), else 0. */
function brokerCpuMs(): number {
  const pid = process.env.PODTRAIL_BENCH_BROKER_PID;
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime + stime, in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

function fail(msg: string): never {
  process.stderr.write(`enrich bench: ${msg}\n`);
  process.exit(2);
}

function options() {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '200000' },
      pods: { type: 'string', default: '300' },
      partitions: { type: 'string', default: '6' },
      modes: { type: 'string', default: MODES.join(',') },
      compression: { type: 'string', default: 'none' },
      rounds: { type: 'string', default: '3' },
      'cpu-prof': { type: 'string' },
      compare: { type: 'string' },
    },
  });
  const int = (k: 'records' | 'pods' | 'partitions' | 'rounds', lo: number, hi: number) => {
    const n = Number(values[k]);
    if (!Number.isInteger(n) || n < lo || n > hi) fail(`--${k} must be an integer in [${lo}, ${hi}], got ${values[k]}`);
    return n;
  };
  const modes = values.modes!.split(',') as Mode[];
  if (modes.length === 0 || !modes.every((m) => MODES.includes(m))) fail(`--modes takes ${MODES.join(',')}`);
  if (!['none', 'gzip'].includes(values.compression!)) fail('--compression is none or gzip');
  const compare = values.compare === undefined ? undefined : `${values.compare}/dist/bench/enrich.bench.js`;
  if (compare !== undefined && !existsSync(compare)) fail(`--compare: no dist/bench/enrich.bench.js under ${values.compare} (build it first)`);
  return { compare, rounds: int('rounds', 1, 20), records: int('records', 1, 10_000_000), pods: int('pods', 1, 5000), partitions: int('partitions', 1, 64), modes, compression: values.compression as 'none' | 'gzip', cpuProf: values['cpu-prof'] };
}

async function admin<T>(kafka: Kafka, fn: (a: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
  const a = kafka.admin();
  await a.connect();
  try {
    return await fn(a);
  } finally {
    await a.disconnect();
  }
}

/** Reads a topic to its end (read_committed): count and first/last record timestamps. */
async function scanOutput(kafka: Kafka, topic: string, want: number): Promise<{ count: number; firstTs: number; lastTs: number }> {
  const groupId = `bench-scan-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxBytesPerPartition: 4 << 20 });
  let count = 0;
  let firstTs = Infinity;
  let lastTs = 0;
  let last = Date.now();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const ts = Number(m.timestamp);
        if (ts < firstTs) firstTs = ts;
        if (ts > lastTs) lastTs = ts;
      }
      count += batch.messages.length;
      last = Date.now();
    },
  });
  while (count < want ? Date.now() - last < 30_000 : Date.now() - last < 1_000) await new Promise((r) => setTimeout(r, 100));
  await consumer.disconnect();
  await admin(kafka, (a) => a.deleteGroups([groupId])).catch(() => undefined);
  return { count, firstTs, lastTs };
}

/** script: this file, or the compare checkout's (its child reads the same spec). */
function runInChild(spec: ChildSpec, cpuProf: string | undefined, script = fileURLToPath(import.meta.url)): Promise<ChildResult> {
  const extra = process.env.PODTRAIL_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const execArgv = extra.concat(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`, `--cpu-prof-name=${spec.role}-${spec.mode}-${Date.now()}.cpuprofile`] : []);
  const env = { PODTRAIL_LOG_LEVEL: 'warn', ...process.env, PODTRAIL_BENCH_CHILD: JSON.stringify(spec) };
  const child = fork(script, [], { execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // Others wait on the bench lock: a stuck run must not hold it for long.
  const limitMs = Math.max(120_000, spec.records);
  return new Promise((resolve, reject) => {
    let result: ChildResult | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('message', (m) => { result = m as ChildResult; });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (result && code === 0) resolve(result);
      else reject(new Error(`${spec.role} ${spec.mode} child ${sig ? `killed (${sig}) after ${limitMs} ms` : `exited ${code}`}`));
    });
  });
}

/** Mean ms per transaction of each step, when the child ran transactions. */
function phaseText(res: ChildResult): string {
  const p = res.phases;
  if (!p || p.transactions === 0) return '';
  const per = (ms: number) => (ms / p.transactions).toFixed(1);
  return `; ${p.transactions} transactions, ms each: begin ${per(p.begin)}, first send ${per(p.firstSend)}, other sends ${per(p.sends)}, offsets ${per(p.offsets)}, commit ${per(p.commit)}`;
}

async function main(): Promise<void> {
  const o = options();
  const kafka = createKafka({ brokers: BROKERS, clientId: 'podtrail-bench', ssl: false });
  const world = await buildWorld({ pods: o.pods, nodes: o.partitions });
  const tag = `bench.${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
  const raw = `${tag}.raw`;
  const outs: string[] = [];
  try {
    await admin(kafka, (a) => a.createTopics({ topics: [{ topic: raw, numPartitions: o.partitions, replicationFactor: 1 }], waitForLeaders: true }));
    const codec = new Codec();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const t0 = performance.now();
    let bytes = 0;
    let chunk: Array<{ key: string; value: Buffer; partition: number }> = [];
    const flush = async () => {
      await producer.send({ topic: raw, acks: -1, compression: o.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None, messages: chunk });
      chunk = [];
    };
    // One node per partition, as capture's node partitioner would spread them at best.
    for (const { key, node, raw: ev } of rawEvents(world, o.records)) {
      const value = codec.encode('RawConnectEvent', ev);
      bytes += value.length;
      chunk.push({ key, value, partition: node % o.partitions });
      if (chunk.length === 5000) await flush();
    }
    if (chunk.length) await flush();
    await producer.disconnect();
    const k = world.kinds;
    console.log(`podtrail enrich bench: ${o.records} raw records, ${o.pods} pods (${k.podContainers} pod containers, ${k.hostNetwork} hostNetwork; ${k.plain} plain, ${k.host} host, ${k.gone} gone cgroup paths), ${world.nodes.length} nodes, ${o.partitions} partitions, compression ${o.compression}, broker ${BROKERS.join(',')}`);
    console.log(`loaded ${o.records} records (${(bytes / 1e6).toFixed(1)} MB Avro) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    type Run = { rate: number; cpuUs: number; rssKb: number; statuses: string };
    const runs = new Map<string, Run[]>();
    const load0 = loadavg()[0]!;
    for (let round = 1; round <= o.rounds; round++) {
      for (const mode of o.modes) {
        for (const arm of o.compare ? ['passthrough', 'compare', 'enrich'] as const : ['passthrough', 'enrich'] as const) {
          const role = arm === 'compare' ? 'enrich' : arm;
          const out = `${tag}.${arm}.${mode}.${round}`;
          outs.push(out, `${out}.dlq`);
          await admin(kafka, (a) => a.createTopics({ topics: [out, `${out}.dlq`].map((topic) => ({ topic, numPartitions: o.partitions, replicationFactor: 1 })), waitForLeaders: true }));
          const spec: ChildSpec = { role, mode, brokers: BROKERS, raw, out, dlq: `${out}.dlq`, group: `${out}.group`, hostRoot: world.hostRoot, records: o.records, paths: world.workloads.map((w) => w.path) };
          const b0 = brokerCpuMs();
          const res = await runInChild(spec, o.cpuProf, arm === 'compare' ? o.compare : undefined);
          const brokerUs = ((brokerCpuMs() - b0) * 1000) / o.records;
          const scan = await scanOutput(kafka, out, o.records);
          if (scan.count !== o.records) throw new Error(`${arm} ${mode}: ${scan.count} output records, want ${o.records}`);
          const rate = o.records / Math.max(0.001, (scan.lastTs - scan.firstTs) / 1000);
          const statuses = Object.entries(res.byStatus ?? {}).sort().map(([st, n]) => `${st} ${n}`).join(', ');
          const key = `${mode}/${arm}`;
          runs.set(key, [...(runs.get(key) ?? []), { rate, cpuUs: (res.cpuMs * 1000) / o.records, rssKb: res.maxRssKb, statuses }]);
          console.log(`  round ${round} ${mode.padEnd(13)} ${arm.padEnd(11)} ${String(Math.round(rate)).padStart(6)} records/s (first to last output record ${scan.lastTs - scan.firstTs} ms; ${res.batches} batches; cpu ${((res.cpuMs * 1000) / o.records).toFixed(1)} us/record; peak RSS ${(res.maxRssKb / 1024).toFixed(0)} MiB${res.processMs !== undefined ? `; processBatch ${res.processMs.toFixed(0)} ms, commits ${res.commitMs!.toFixed(0)} ms` : ''}${phaseText(res)}; load ${loadavg()[0]!.toFixed(1)}${brokerUs ? `; broker cpu ${brokerUs.toFixed(1)} us/record` : ''})`);
        }
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
    console.log(`median of ${o.rounds} round(s); machine load average ${load0.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end (2 cores)`);
    console.log('mode           passthrough/s      enrich/s  ratio  enrich peak RSS  cpu us/record (pass/enrich)  attribution');
    for (const mode of o.modes) {
      const pt = runs.get(`${mode}/passthrough`)!;
      const en = runs.get(`${mode}/enrich`)!;
      const [p, e] = [median(pt.map((r) => r.rate)), median(en.map((r) => r.rate))];
      const rss = Math.max(...en.map((r) => r.rssKb));
      console.log(`${mode.padEnd(13)}  ${String(Math.round(p)).padStart(13)}  ${String(Math.round(e)).padStart(12)}  ${(e / p).toFixed(2).padStart(5)}  ${`${(rss / 1024).toFixed(0)} MiB`.padStart(15)}  ${`${median(pt.map((r) => r.cpuUs)).toFixed(1)} / ${median(en.map((r) => r.cpuUs)).toFixed(1)}`.padStart(27)}  ${en[0]!.statuses}`);
    }
    if (o.compare) {
      console.log(`--compare ${o.compare}: its enrich in the same rounds, between this checkout's passthrough and enrich`);
      console.log('mode           compare/s  ratio to passthrough  peak RSS  cpu us/record   this/compare: rate  cpu per record  (per-round rate ratios)  compare attribution');
      for (const mode of o.modes) {
        const pt = runs.get(`${mode}/passthrough`)!;
        const en = runs.get(`${mode}/enrich`)!;
        const cm = runs.get(`${mode}/compare`)!;
        const c = median(cm.map((r) => r.rate));
        const perRound = en.map((r, i) => (r.rate / cm[i]!.rate).toFixed(2)).join(', ');
        console.log(`${mode.padEnd(13)}  ${String(Math.round(c)).padStart(9)}  ${(c / median(pt.map((r) => r.rate))).toFixed(2).padStart(20)}  ${`${(Math.max(...cm.map((r) => r.rssKb)) / 1024).toFixed(0)} MiB`.padStart(8)}  ${median(cm.map((r) => r.cpuUs)).toFixed(1).padStart(13)}  ${(median(en.map((r) => r.rate)) / c).toFixed(2).padStart(18)}  ${(median(en.map((r) => r.cpuUs)) / median(cm.map((r) => r.cpuUs))).toFixed(2).padStart(14)}  (${perRound})  ${cm[0]!.statuses}`);
      }
    }
  } finally {
    await admin(kafka, (a) => a.deleteTopics({ topics: [raw, ...outs], timeout: 10_000 })).catch(() => undefined);
    await world.dispose();
  }
}
