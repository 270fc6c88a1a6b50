// SPDX-License-Identifier: Apache-2.0
// `npm run bench:capture`: what capture costs the node it watches. In one run:
//  - a loopback connect loop (bench/connect-loop.c, one thread) alone, with `podtrail
//    capture` publishing to the broker, and with bpftrace printing connects (when
//    installed), alternating A B C A B C ... and taking medians, since the machine is shared;
//  - kernel drops (failed ring reserves) and capture's peak RSS in the podtrail rounds,
//    which run at the highest rate one client reaches;
//  - the events/s the user-space path sustains, from recorded kernel batches replayed
//    through KernelCapture, CaptureService and RawPublisher (decode + encode + produce).
// Wrap it in `flock /tmp/podtrail-bench.lock` when others bench on the machine too.
//
//   node dist/bench/capture.bench.js [--rounds N] [--seconds S] [--replay-events N] [--no-bpftrace]
//        [--compare DIR]   (DIR: another built checkout, run as a further arm: before/after)
//        [--capture-args="FLAGS"]   (more `podtrail capture` flags for the podtrail arms)
//        [--identity-off-arm]   (a further arm, podtrail-noid: this checkout with --process-identity off)
//        [--dns-arm]   (a further arm, podtrail-dns: this checkout with --dns on, against podtrail's --dns off)
//        [--capture-node-options="OPTS"]   (NODE_OPTIONS for them; default: src/capture/node-flags.ts)
//        [--replay-only]   (only the user-space path, with CPU per event; for `node --cpu-prof`)
// Brokers: PODTRAIL_BROKERS (default 127.0.0.1:9092). Needs root (BPF).
import './capture-env.js';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { loadavg, cpus, release } from 'node:os';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { repoRoot } from '../test/helpers/ns.js';
import { baselineArm, bpftraceArm, buildLoop, hasBpftrace, killLiveChildren, podtrailArm, type ArmResult } from './capture-arms.js';
import { recordBatches, replay } from './capture-replay.js';
import { CAPTURE_NODE_FLAGS } from '../src/capture/node-flags.js';

const BROKERS = (process.env.PODTRAIL_BROKERS ?? '127.0.0.1:9092').split(',');
const TARGET_RATIO = 1.1;
const TARGET_RSS_MIB = 150;

function fail(msg: string): never {
  process.stderr.write(`capture bench: ${msg}\n`);
  killLiveChildren();
  process.exit(2);
}

// Whoever waits on the bench lock must not wait forever on a stuck run.
setTimeout(() => fail('gave up after 30 minutes'), 30 * 60_000).unref();
process.on('SIGINT', () => fail('interrupted'));
process.on('SIGTERM', () => fail('terminated'));

function parse() {
  return parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '4' },
      'replay-events': { type: 'string', default: '300000' },
      'no-bpftrace': { type: 'boolean', default: false },
      compare: { type: 'string' },
      'identity-off-arm': { type: 'boolean', default: false },
      'dns-arm': { type: 'boolean', default: false },
      'replay-only': { type: 'boolean', default: false },
      'capture-args': { type: 'string', default: '' },
      // What the launchers use (src/capture/node-flags.ts); pass '' to measure without.
      'capture-node-options': { type: 'string', default: CAPTURE_NODE_FLAGS.join(' ') },
    },
  });
}

function options() {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (err) {
    fail((err as Error).message);
  }
  const { values } = parsed;
  const int = (k: 'rounds' | 'seconds' | 'replay-events', lo: number, hi: number) => {
    const n = Number(values[k]);
    if (!Number.isInteger(n) || n < lo || n > hi) fail(`--${k} must be an integer in [${lo}, ${hi}], got ${values[k]}`);
    return n;
  };
  const compare = values.compare;
  if (compare !== undefined && !existsSync(`${compare}/bin/podtrail.js`)) fail(`--compare: no bin/podtrail.js under ${compare}`);
  const captureArgs = values['capture-args']!.split(/\s+/).filter(Boolean);
  if (captureArgs.some((a) => /^--(brokers|raw-topic|node)(=|$)/.test(a))) fail('--capture-args: the bench sets --brokers, --raw-topic and --node itself');
  const nodeOptions = values['capture-node-options']!;
  return { rounds: int('rounds', 1, 50), seconds: int('seconds', 1, 60), replayEvents: int('replay-events', 1000, 10_000_000), bpftrace: !values['no-bpftrace'], compare, captureArgs, nodeOptions, noid: values['identity-off-arm']!, dns: values['dns-arm']!, replayOnly: values['replay-only']! };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** podtrail connect probes loaded by someone else (tests running meanwhile): they tax every arm. */
async function foreignCaptures(): Promise<number> {
  try {
    const { stdout } = await promisify(execFile)('bpftool', ['-j', 'prog', 'show'], { maxBuffer: 64 << 20 });
    return (JSON.parse(stdout) as Array<{ name?: string }>).filter((p) => p.name === 'pt_tp_conn_out' || p.name === 'pt_kr_conn_out').length;
  } catch {
    return 0;
  }
}

async function requireBroker(): Promise<Kafka> {
  const kafka = new Kafka({ clientId: 'podtrail-bench', brokers: BROKERS, logLevel: logLevel.NOTHING, connectionTimeout: 3000 });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } catch (err) {
    fail(`no broker answers at ${BROKERS.join(',')} (scripts/kafka-local.sh start): ${(err as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  return kafka;
}

function capSummary(say: (s: string) => void, name: string, rs: ArmResult[]): void {
  const caps = rs.map((x) => x.capture!);
  const events = caps.reduce((n, c) => n + c.events, 0);
  const drops = caps.reduce((n, c) => n + c.ringReserveFails + c.kernelGaps, 0);
  const unacked = caps.reduce((n, c) => n + (c.events - c.sent), 0);
  const peakRate = Math.max(...rs.map((x) => x.loop.rate));
  const peakRss = Math.max(...caps.map((c) => c.vmHwmKiB)) / 1024;
  const cpu = median(caps.map((c) => (c.cpuSeconds / Math.max(1, c.events)) * 1e6));
  say(`${name}: kernel drops (failed ring reserves + seq gaps) ${drops} of ${fmt(events)} events, one client at up to ${fmt(peakRate)} connects/s (target 0)`);
  say(`${name}: events not acknowledged by Kafka ${unacked}; exit codes ${caps.map((c) => c.exitCode).join(',')}`);
  say(`${name}: capture CPU per event (median) ${cpu.toFixed(2)} us; peak RSS (VmHWM) ${peakRss.toFixed(1)} MiB (target <= ${TARGET_RSS_MIB} MiB)`);
}

/** Recorded kernel batches through the user-space path alone: encode only, then to the broker. */
async function userSpacePath(say: (s: string) => void, loop: string, events: number, run: string, topics: string[]): Promise<void> {
  const rec = await recordBatches(loop, 1);
  say('');
  say(`user-space path, ${fmt(events)} events replayed from ${rec.batches.length} recorded kernel batches (${fmt(rec.events)} events):`);
  const enc = await replay(rec, events);
  say(`  decode + encode:           ${fmt(enc.rate)} events/s, CPU ${enc.cpuUs.toFixed(2)} us per event`);
  const topic = `bench.capture.${run}.replay`;
  topics.push(topic);
  const prod = await replay(rec, events, BROKERS, topic);
  say(`  decode + encode + produce: ${fmt(prod.rate)} events/s, CPU ${prod.cpuUs.toFixed(2)} us per event (gzip, acks=all, idempotent; ${prod.dropped} dropped)`);
}

async function main(): Promise<void> {
  const o = options();
  if (process.getuid?.() !== 0) fail('needs root: it loads BPF programs');
  const kafka = await requireBroker();
  const loop = await buildLoop(repoRoot);
  const arms: string[] = ['baseline', 'podtrail'];
  if (o.noid) arms.push('podtrail-noid');
  if (o.dns) arms.push('podtrail-dns');
  if (o.compare) arms.push('podtrail-compare');
  if (o.bpftrace && (await hasBpftrace())) arms.push('bpftrace');
  const run = randomBytes(3).toString('hex');
  const topics: string[] = [];
  const say = (s: string) => process.stdout.write(`${s}\n`);

  say(`podtrail capture bench: ${cpus().length} CPUs, Linux ${release()}, broker ${BROKERS.join(',')}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  say(`${o.rounds} rounds x ${o.seconds} s per arm, order ${arms.join(' -> ')}; connect loop: one thread, 127.0.0.1, SO_LINGER 0`);
  if (o.compare) say(`podtrail-compare: ${o.compare}`);
  if (o.captureArgs.length) say(`podtrail capture extra flags: ${o.captureArgs.join(' ')}`);
  if (o.nodeOptions) say(`podtrail capture NODE_OPTIONS: ${o.nodeOptions}`);
  if (o.replayOnly) {
    await userSpacePath(say, loop, o.replayEvents, run, topics);
    const admin = kafka.admin();
    await admin.connect().then(() => admin.deleteTopics({ topics, timeout: 10_000 })).catch(() => undefined).finally(() => admin.disconnect());
    return;
  }
  const results: ArmResult[] = [];
  for (let r = 1; r <= o.rounds; r++) {
    const line: string[] = [`round ${r}:`];
    for (const arm of arms) {
      const others = await foreignCaptures();
      let res: ArmResult;
      if (arm === 'baseline') res = await baselineArm(loop, o.seconds);
      else if (arm === 'bpftrace') res = await bpftraceArm(loop, o.seconds);
      else {
        const topic = `bench.capture.${run}.${arm}.${r}`;
        topics.push(topic);
        const cli = arm === 'podtrail-compare' ? `${o.compare}/bin/podtrail.js` : undefined;
        const extra = arm === 'podtrail-noid' ? [...o.captureArgs, '--process-identity', 'off']
          : arm === 'podtrail-dns' ? [...o.captureArgs, '--dns', 'on'] : o.captureArgs;
        res = await podtrailArm(loop, o.seconds, BROKERS.join(','), topic, cli, arm, extra, o.nodeOptions);
      }
      results.push(res);
      const c = res.capture;
      line.push(`${arm} ${fmt(res.loop.rate)}/s` + (c ? ` (events ${fmt(c.events)}, sent ${fmt(c.sent)}, drops ${c.ringReserveFails}, RSS ${fmt(c.vmHwmKiB / 1024, 1)} MiB)` : '') +
        (others ? ` [${others} other podtrail probes attached]` : ''));
    }
    say(line.join('  '));
  }

  const of = (arm: string) => results.filter((x) => x.arm === arm);
  const med = (arm: string) => median(of(arm).map((x) => x.loop.rate));
  const cpuPer = (arm: string) => median(of(arm).map((x) => (x.loop.cpuSeconds / x.loop.connects) * 1e6));
  const base = med('baseline');
  say('');
  say(`connect loop, median connects/s: ${arms.map((a) => `${a} ${fmt(med(a))}`).join(', ')}`);
  // Each round's arm against the same round's baseline, moments apart: steadier on a shared machine.
  const paired = (arm: string) => median(of(arm).map((x, i) => of('baseline')[i]!.loop.rate / x.loop.rate));
  const slow = (arm: string) => `${(base / med(arm)).toFixed(3)}x (median of per-round ratios ${paired(arm).toFixed(3)}x)`;
  say(`slowdown with podtrail capture: ${slow('podtrail')} (target <= ${TARGET_RATIO.toFixed(2)}x)`);
  if (o.noid) say(`slowdown with podtrail-noid (process identity off): ${slow('podtrail-noid')}`);
  if (o.dns) {
    say(`slowdown with podtrail-dns (DNS capture on): ${slow('podtrail-dns')}`);
    // DNS on against DNS off, each round's pair moments apart.
    const dnsPaired = median(of('podtrail').map((x, i) => x.loop.rate / of('podtrail-dns')[i]!.loop.rate));
    say(`podtrail-dns against podtrail (DNS off): ${(med('podtrail') / med('podtrail-dns')).toFixed(3)}x (median of per-round ratios ${dnsPaired.toFixed(3)}x)`);
  }
  if (o.compare) say(`slowdown with podtrail-compare: ${slow('podtrail-compare')}`);
  if (arms.includes('bpftrace')) say(`slowdown with bpftrace printing: ${slow('bpftrace')}`);
  say(`loop CPU per connect (median; the probes run in its syscalls): ${arms.map((a) => `${a} ${cpuPer(a).toFixed(2)} us`).join(', ')}`);
  capSummary(say, 'podtrail', of('podtrail'));
  if (o.noid) capSummary(say, 'podtrail-noid', of('podtrail-noid'));
  if (o.dns) capSummary(say, 'podtrail-dns', of('podtrail-dns'));
  if (o.compare) capSummary(say, 'podtrail-compare', of('podtrail-compare'));

  await userSpacePath(say, loop, o.replayEvents, run, topics);

  const admin = kafka.admin();
  await admin.connect().then(() => admin.deleteTopics({ topics, timeout: 10_000 })).catch(() => undefined).finally(() => admin.disconnect());
}

try {
  await main();
} catch (err) {
  fail((err as Error).stack ?? String(err));
}
process.exit(0);
