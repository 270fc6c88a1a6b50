// SPDX-License-Identifier: Apache-2.0
// Sustained load through the real pipeline (not in CI): N connects/s from M containers of
// kubelet-shaped pods on a private dockerd, for S seconds, through `podtrail capture` ->
// Kafka -> `podtrail enrich` (exactly-once) -> the audit topic, read back read_committed.
// Reports loss (each generator's own count against the audit records from its container's
// cgroup, plus LOSS records), latency from the connect's kernel time to the audit record
// being readable, and each stage's CPU and RSS each second (CSV + PNG) with CPU per 1k
// events/s. Outputs go to bench/results/<timestamp>/. Serialize with other benches:
//
//   flock /tmp/podtrail-bench.lock node dist/bench/sustained.js [--rate N] [--containers M]
//        [--duration S] [--drain S] [--out DIR]
// Brokers: PODTRAIL_BROKERS (default 127.0.0.1:9092). Needs root (BPF, dockerd).
import './capture-env.js';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, hostname, loadavg, release } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { repoRoot } from '../test/helpers/ns.js';
import { type Dockerd, startDockerd } from '../test/helpers/dockerd.js';
import { type Stage, startStage, stopStage } from '../test/helpers/stages.js';
import { AuditReader } from './sustained-audit.js';
import { STAGES, pct, plot, timeseriesCsv, windowFigures, writeText } from './sustained-report.js';
import { Sampler, pidListeningOn } from './sustained-sampler.js';
import { type Generator, buildStaticClient, createLoadPods, startGenerators } from './sustained-world.js';

const BROKERS = (process.env.PODTRAIL_BROKERS ?? '127.0.0.1:9092').split(',');
const lines: string[] = [];
const say = (s: string) => { lines.push(s); process.stdout.write(`${s}\n`); };
const cleanups: Array<() => Promise<unknown>> = [];

async function cleanup(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c().catch((e: Error) => process.stderr.write(`cleanup: ${e.message}\n`));
}

class BenchError extends Error {}
function fail(msg: string): never {
  throw new BenchError(msg);
}

/** From a signal or the watchdog: clean up what was started, then exit. */
async function abort(msg: string): Promise<never> {
  process.stderr.write(`sustained bench: ${msg}\n`);
  await cleanup();
  process.exit(2);
}

function options() {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '200' },
      containers: { type: 'string', default: '4' },
      duration: { type: 'string', default: '600' },
      drain: { type: 'string', default: '60' },
      out: { type: 'string' },
    },
  });
  const num = (k: 'rate' | 'containers' | 'duration' | 'drain', lo: number, hi: number) => {
    const n = Number(values[k]);
    if (!Number.isInteger(n) || n < lo || n > hi) fail(`--${k} must be an integer in [${lo}, ${hi}], got ${values[k]}`);
    return n;
  };
  return { rate: num('rate', 1, 50_000), containers: num('containers', 1, 64), duration: num('duration', 10, 86_400), drain: num('drain', 5, 3600), out: values.out };
}

/** A free loopback port for a stage's /readyz. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Polls a stage's /readyz (capture: probes attached; enrich: in its group, metadata caught up). */
async function waitReady(s: Stage, port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (s.child.exitCode !== null) throw new BenchError(`${s.name} exited ${s.child.exitCode}: ${s.log().slice(-3000)}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return;
    if (Date.now() > end) throw new BenchError(`${s.name}: /readyz not ready after ${ms} ms: ${s.log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Keeps a stage's whole stderr in a file (the Stage keeps only its tail) and counts lines matching re. */
function logTo(s: Stage, path: string, re: RegExp): { count: () => number } {
  const file = createWriteStream(path);
  let n = 0;
  let part = '';
  s.child.stderr!.on('data', (d: string) => {
    file.write(d);
    const ls = (part + d).split('\n');
    part = ls.pop() ?? '';
    for (const l of ls) if (re.test(l)) n++;
  });
  s.child.once('close', () => file.end());
  return { count: () => n };
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const o = options();
  if (process.getuid?.() !== 0) fail('needs root: capture loads BPF programs and the bench runs a dockerd');
  // Whoever waits on the bench lock must not wait forever on a stuck run.
  setTimeout(() => void abort('gave up: the run took 15 minutes longer than planned'), (o.duration + o.drain + 900) * 1000).unref();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = o.out ?? join(repoRoot, 'bench', 'results', stamp);
  mkdirSync(out, { recursive: true });
  const run = randomBytes(3).toString('hex');
  const node = `sustained-${run}`;
  const t = { raw: `bench.sustained.${run}.raw`, audit: `bench.sustained.${run}.audit`, dlq: `bench.sustained.${run}.dlq`, meta: `bench.sustained.${run}.containers` };
  const group = `bench-sustained-${run}`;
  const kafka = new Kafka({ clientId: 'podtrail-bench-sustained', brokers: BROKERS, logLevel: logLevel.NOTHING, connectionTimeout: 3000 });
  const admin = kafka.admin();
  await admin.connect().catch((e: Error) => fail(`no broker answers at ${BROKERS.join(',')}: ${e.message}`));
  cleanups.push(() => admin.disconnect());

  say(`podtrail sustained bench: ${cpus().length} CPUs, Linux ${release()}, broker ${BROKERS.join(',')}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  say(`load: ${o.rate} connects/s from ${o.containers} containers (one pod each) for ${o.duration} s; capture -> Kafka -> enrich (exactly-once) -> audit topic read read_committed`);

  const bin = await buildStaticClient(repoRoot);
  cleanups.push(async () => rmSync(bin, { force: true }));
  const d: Dockerd = await startDockerd();
  cleanups.push(() => d.stop());
  const pods = await createLoadPods(d, o.containers, bin);
  cleanups.push(() => admin.deleteTopics({ topics: Object.values(t), timeout: 10_000 }));

  const stateDir = join(repoRoot, '.tmp', `sustained-state-${run}`);
  cleanups.push(async () => rmSync(stateDir, { recursive: true, force: true }));
  const common = ['--brokers', BROKERS.join(','), '--raw-topic', t.raw, '--containers-topic', t.meta, '--topic-partitions', '3'];
  const stages: Stage[] = [];
  cleanups.push(async () => { for (const s of stages) await stopStage(s); });
  const [capPort, enrPort] = [await freePort(), await freePort()];
  const metrics = (p: number) => ['--metrics-port', String(p), '--metrics-host', '127.0.0.1'];
  const capture = startStage('capture', ['capture', ...common, '--node', node, '--host-root', d.hostRoot, '--state-dir', stateDir, ...metrics(capPort)]);
  stages.push(capture);
  logTo(capture, join(out, 'capture.log'), /^$/);
  await waitReady(capture, capPort, 60_000);
  const enrich = startStage('enrich', ['enrich', ...common, '--audit-topic', t.audit, '--dlq-topic', t.dlq, '--group', group, '--transactional-id', `${group}-0`, '--host-root', d.hostRoot, ...metrics(enrPort)]);
  stages.push(enrich);
  // kafkajs logs each retried AddPartitionsToTxn refused with CONCURRENT_TRANSACTIONS (the
  // previous commit still completing); each retry waits the producer's retry backoff.
  const concurrentTxn = logTo(enrich, join(out, 'enrich.log'), /"msg":"Failed to send messages: The producer attempted to update a transaction while another concurrent operation/);
  await waitReady(enrich, enrPort, 60_000);

  const port = Number(BROKERS[0]!.split(':').pop());
  const brokerPid = BROKERS.length === 1 && /^(127\.|localhost)/.test(BROKERS[0]!) ? pidListeningOn(port) : undefined;
  if (brokerPid === undefined) say('broker: no local process listens on its port; it is not sampled');
  const paths = pods.map((p) => p.cgroupPath(p.container('gen').id));
  const reader = new AuditReader(kafka, t.audit, paths, Date.now());
  cleanups.push(() => reader.stop());
  await reader.start();
  // The generators start 5 s after the reader has joined (JIT, first fetches settle); those
  // seconds are sampled as negative t.
  const t0 = Date.now() + 5000;
  reader.setOrigin(t0);
  const sampler = new Sampler({ capture: capture.child.pid, enrich: enrich.child.pid, broker: brokerPid }, admin, t.raw, t0);
  sampler.start();
  cleanups.push(async () => sampler.stop());
  await sleep(Math.max(0, t0 - Date.now()));
  say(`generators start at ${new Date(t0).toISOString()} (t=0)`);
  const gens: Generator[] = await startGenerators(d, pods, o.rate, o.duration);
  cleanups.push(async () => { for (const g of gens) g.kill(); });
  const codes = await Promise.all(gens.map((g) => g.exited));
  if (codes.some((c) => c !== 0) || gens.some((g) => !g.result)) fail(`generators exited ${codes.join(',')}`);
  const genTotal = gens.reduce((n, g) => n + g.result!.connects + g.result!.fails, 0);

  const drainEnd = Date.now() + o.drain * 1000;
  while (reader.matched() < genTotal && Date.now() < drainEnd) await sleep(250);
  const drained = (Date.now() - t0) / 1000;
  await sleep(3000); // late duplicates or LOSS records would show up here
  sampler.stop();
  await reader.stop();
  for (const s of [capture, enrich]) await stopStage(s);
  const capStop = /\{[^\n]*"msg":"capture stopped"[^\n]*\}/.exec(capture.log())?.[0];
  await cleanup();

  // ---- report
  const ok = gens.reduce((n, g) => n + g.result!.connects, 0);
  const failed = gens.reduce((n, g) => n + g.result!.fails, 0);
  const secs = Math.max(...gens.map((g) => g.result!.seconds));
  say(`generators: ${fmt(ok)} connects ok, ${fmt(failed)} failed, in ${secs.toFixed(1)} s (${fmt(genTotal / secs, 1)}/s); max schedule lag ${Math.max(...gens.map((g) => g.result!.maxLateMs)).toFixed(1)} ms`);
  const accs = [...reader.byPath.values()];
  const matched = reader.matched();
  const dups = accs.reduce((n, a) => n + a.duplicates, 0);
  const statuses = new Map<string, number>();
  for (const a of accs) for (const [k, v] of a.statuses) statuses.set(k, (statuses.get(k) ?? 0) + v);
  const perGen = gens.map((g) => `${g.pod.name.split('-').slice(0, 2).join('-')} ${reader.byPath.get(g.cgroupPath)!.records}/${g.result!.connects + g.result!.fails}`);
  say(`audit records for the generators' connects: ${fmt(matched)} of ${fmt(genTotal)} (missing ${fmt(genTotal - matched)}, duplicate eventIds ${dups}); attribution ${[...statuses].map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}; drained at t=${drained.toFixed(1)} s`);
  say(`  per container: ${perGen.join(', ')}`);
  const lossCount = reader.losses.reduce((n, l) => n + Number(l.loss?.count ?? 0n), 0);
  say(`LOSS records: ${reader.losses.length} (covering ${fmt(lossCount)} connections${reader.losses.length ? `: ${reader.losses.map((l) => `${l.loss!.cause} ${l.loss!.fromSeq}-${l.loss!.toSeq}`).join(', ')}` : ''}); other audit records (other processes on this machine): ${fmt(reader.otherRecords)}`);
  if (capStop) {
    const c = JSON.parse(capStop) as Record<string, number>;
    say(`capture at exit: events ${fmt(c.events ?? NaN)}, kernel ring reserve fails ${c.ringReserveFails}, kernel seq gaps ${c.kernelGaps}, dropped in its buffer ${c.dropped ?? 0}, unsent ${c.unsent ?? 0}`);
  }
  const lat = reader.latencies.map(([, ms]) => ms).sort((a, b) => a - b);
  say(`latency connect (kernel time) -> audit record readable (read_committed consumer): p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${pct(lat, 100).toFixed(1)} ms (n=${fmt(lat.length)})`);
  const prod = [...reader.toProduce].sort((a, b) => a - b);
  say(`  of which connect -> enrich's produce call (audit CreateTime, ms clock): p50 ${pct(prod, 50).toFixed(1)} ms, p99 ${pct(prod, 99).toFixed(1)} ms; enrich's AddPartitionsToTxn retried after CONCURRENT_TRANSACTIONS: ${concurrentTxn.count()} times`);
  const w = windowFigures(sampler.samples, o.duration);
  say(`window t=0..${w.seconds.toFixed(0)} s: raw events ${fmt(w.rawEvents)} (${fmt(w.rawRate, 1)}/s, every connect on the machine, not only the generators'); whole machine busy ${fmt(w.hostBusyMeanPct)}% of one core on average (of ${cpus().length * 100}%)`);
  say(`stage     CPU mean (% of a core)   RSS mean / max (MiB)   CPU per 1k events/s (% of a core)   CPU per event`);
  for (const st of STAGES) {
    const s = w.stages[st];
    if (!s) continue;
    say(`${st.padEnd(9)} ${s.cpuMeanPct.toFixed(1).padStart(8)}                 ${s.rssMeanMiB.toFixed(0).padStart(5)} / ${s.rssMaxMiB.toFixed(0).padEnd(5)}          ${s.cpuPctPer1k.toFixed(1).padStart(8)}                          ${s.usPerEvent.toFixed(0)} us`);
  }
  const csv = join(out, 'timeseries.csv');
  writeText(csv, timeseriesCsv(sampler.samples, gens, reader.perSecond, reader.latencies));
  say(await plot(repoRoot, csv, join(out, 'sustained.png'), `podtrail sustained: ${o.rate} connects/s, ${o.containers} containers, ${o.duration} s (${hostname()}, ${stamp})`));
  say(`outputs: ${relative(repoRoot, out)}`); // relative: the summary is committed beside the results
  writeText(join(out, 'summary.txt'), `${lines.join('\n')}\n`);
  process.exitCode = genTotal === matched && dups === 0 && reader.losses.length === 0 ? 0 : 1;
}

process.on('SIGINT', () => void abort('interrupted'));
process.on('SIGTERM', () => void abort('terminated'));
try {
  await main();
} catch (err) {
  process.stderr.write(`sustained bench: ${err instanceof BenchError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  await cleanup();
  process.exit(2);
}
process.exit(process.exitCode ?? 0);
