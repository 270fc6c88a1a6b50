// SPDX-License-Identifier: Apache-2.0
// The three-broker failover scenario, shared by its test (test/integration/kafka-cluster.test.ts,
// which checks that every connection is accounted for) and its bench (bench/kafka-failover.ts,
// which reports the connect-to-audit latency per phase). A 3-node KRaft cluster of its own;
// capture and enrich started together on it with nothing made beforehand; a generator
// connecting a few hundred times a second from its own cgroup; then the leader of the raw and
// audit partitions SIGKILLed and restarted, then a rolling restart of all three.
import { randomBytes } from 'node:crypto';
import type { Admin } from 'kafkajs';
import type { AuditRecord } from '../../src/schema/types.js';
import { readAuditUntil, accountInstance, byPid } from './audit-account.js';
import { CaptureProc, type CaptureExit } from './capture-proc.js';
import { buildGenerator, ConnectGenerator, type GenRun } from './connect-gen.js';
import { keepLogs, PrivateCluster } from './private-broker.js';
import { startStage, stopStage, waitForLog, type Stage } from './stages.js';

export interface Phase { name: string; fromMs: number; toMs: number }

export interface FailoverResult {
  cluster: { replication: number[]; minIsr: string | undefined };
  phases: Phase[];
  runs: GenRun[];
  genPath: string;
  node: string;
  instance: string;
  capture: CaptureExit;
  recs: AuditRecord[];
  /** eventId -> the audit record's Kafka timestamp (ms) */
  appended: Map<string, number>;
  /** eventId -> where each copy was read: partition@offset, producer id and epoch */
  where: Map<string, string[]>;
  killed: number;
}

const RAW = 'podtrail.raw.v1';
const AUDIT = 'podtrail.audit.v1';

/** Every partition of the topics has all its replicas in sync again. */
async function fullIsr(admin: Admin, topics: string[], replicas: number, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const md = await admin.fetchTopicMetadata({ topics });
      if (md.topics.every((t) => t.partitions.every((p) => p.leader >= 0 && p.isr.length === replicas))) return;
    } catch {
      // a broker going away mid-request: ask again
    }
    if (Date.now() > end) throw new Error(`partitions of ${topics.join(', ')} not fully in sync after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The broker leading the most partitions of raw and audit together. */
async function busiestLeader(admin: Admin): Promise<number> {
  const md = await admin.fetchTopicMetadata({ topics: [RAW, AUDIT] });
  const count = new Map<number, number>();
  for (const t of md.topics) for (const p of t.partitions) count.set(p.leader, (count.get(p.leader) ?? 0) + 1);
  return [...count].sort((a, b) => b[1] - a[1])[0]![0];
}

export async function runFailoverScenario(opts: { settleMs?: number; logs?: string } = {}): Promise<FailoverResult> {
  const settle = opts.settleMs ?? 8000;
  const gen = new ConnectGenerator(await buildGenerator(), 20, 30);
  const cluster = await PrivateCluster.create('cluster');
  const node = `cluster-${randomBytes(3).toString('hex')}`;
  let cap: CaptureProc | undefined;
  let enrich: Stage | undefined;
  const phases: Phase[] = [];
  const phase = async (name: string, body: () => Promise<void>) => {
    const fromMs = Date.now();
    await body();
    phases.push({ name, fromMs, toMs: Date.now() });
  };
  try {
    await cluster.start();
    const kafka = cluster.kafka();
    const admin = kafka.admin();
    await admin.connect();
    try {
      const brokers = cluster.addresses.join(',');
      enrich = startStage('enrich', ['enrich', '--brokers', brokers, '--host-root', '/nonexistent-host-root', '--file-fallback', 'off', '--gap-window', '200']);
      cap = await CaptureProc.start(['--brokers', brokers, '--node', node, '--state-dir', 'off', '--publish-metadata', 'off']);
      await waitForLog(enrich, 'enrich running', 120_000);
      const md = await admin.fetchTopicMetadata({ topics: [RAW, AUDIT] });
      const cfg = await admin.describeConfigs({ resources: [{ type: 2, name: RAW, configNames: ['min.insync.replicas'] }], includeSynonyms: false });
      const replication = md.topics.flatMap((t) => t.partitions.map((p) => p.replicas.length));
      const minIsr = cfg.resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;

      gen.start();
      // The first transactions on a new cluster wait for its transaction and group coordinators
      // to load: a warm-up, reported apart from the steady state.
      await phase('warm-up (first transactions on the new cluster)', async () => {
        await new Promise((r) => setTimeout(r, settle));
      });
      await phase('steady', async () => {
        await new Promise((r) => setTimeout(r, settle));
      });
      const killed = await busiestLeader(admin);
      await phase(`leader (broker ${killed}) SIGKILLed, restarted`, async () => {
        await cluster.kill(killed);
        await new Promise((r) => setTimeout(r, settle));
        await cluster.start(killed);
        await fullIsr(admin, [RAW, AUDIT], 3);
      });
      for (let n = 1; n <= cluster.nodes; n++) {
        await phase(`rolling restart: broker ${n}`, async () => {
          await cluster.stop(n);
          await cluster.start(n);
          await fullIsr(admin, [RAW, AUDIT], 3);
        });
      }
      await phase('after', async () => {
        await new Promise((r) => setTimeout(r, settle));
      });
      await gen.stop();
      const instance = cap.instance;
      const capture = await cap.stop('SIGTERM');
      const events = BigInt((capture.final?.events as number | undefined) ?? 0);
      const appended = new Map<string, number>();
      const where = new Map<string, string[]>();
      const recs = await readAuditUntil(kafka, AUDIT, (rs) => {
        const a = accountInstance(rs, node, instance);
        for (let s = 1n; s <= events; s++) if (!a.delivered.has(s) && !a.covered(s)) return false;
        return true;
      }, 180_000, appended, where);
      return { cluster: { replication, minIsr }, phases, runs: gen.runs, genPath: gen.path, node, instance, capture, recs, appended, where, killed };
    } finally {
      await admin.disconnect();
    }
  } finally {
    await gen.stop().catch(() => undefined);
    await cap?.kill();
    if (enrich) await stopStage(enrich);
    if (opts.logs) keepLogs(opts.logs, { capture: cap?.stderr, enrich: enrich?.log() });
    await cluster.discard(process.env.PODTRAIL_TEST_KEEP_CLUSTER === '1');
    await gen.cleanup();
  }
}

/** Connect-to-audit latency (ms) of the generator's connects made in each phase: p50, p99, max. */
export function latencyByPhase(r: FailoverResult): Array<{ phase: string; connects: number; p50: number; p99: number; max: number }> {
  const pids = byPid(r.recs, r.genPath);
  const lat: Array<{ at: number; ms: number }> = [];
  for (const list of pids.values()) {
    for (const rec of list) {
      const appended = r.appended.get(rec.eventId);
      if (appended === undefined) continue;
      const at = Number(rec.time / 1_000_000n);
      lat.push({ at, ms: appended - at });
    }
  }
  const pct = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
  return r.phases.map((p) => {
    const xs = lat.filter((l) => l.at >= p.fromMs && l.at < p.toMs).map((l) => l.ms).sort((a, b) => a - b);
    return { phase: p.name, connects: xs.length, p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: xs[xs.length - 1] ?? NaN };
  });
}
