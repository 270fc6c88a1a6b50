// SPDX-License-Identifier: Apache-2.0
// What every client arm of bench/clients/compare.ts does the same way: the records (Avro
// RawConnectEvents, encoded before timing starts), the measured section (wall time, this
// process's CPU, which includes a native client's own threads, and its peak RSS), and the
// loading of the clients from bench/clients/node_modules, which the main package lacks.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Codec } from '../../src/schema/codec.js';
import { repoRoot } from '../../test/helpers/ns.js';
import { sampleRaw } from '../../test/helpers/records.js';

// kafkajs-patched: the main tree's kafkajs, with patches/kafkajs+2.2.4.patch, as podtrail runs it;
// kafkajs: bench/clients's own, as published.
export const CLIENTS = ['kafkajs', 'kafkajs-patched', 'confluent', 'platformatic'] as const;
export type ClientName = (typeof CLIENTS)[number];
export const PACKAGES: Record<ClientName, string> = {
  kafkajs: 'kafkajs',
  'kafkajs-patched': 'kafkajs',
  confluent: '@confluentinc/kafka-javascript',
  platformatic: '@platformatic/kafka',
};

export interface ArmSpec {
  client: ClientName;
  workload: 'produce' | 'passthrough';
  brokers: string[];
  records: number;
  /** produce: messages per send() call; passthrough: most messages per transaction */
  batch: number;
  /** produce: send() calls in flight at once */
  window: number;
  /** produce: the topic written; passthrough: the topic read */
  topic: string;
  outTopic?: string;
  group?: string;
  transactionalId?: string;
  /** platformatic: its retryDelay; kafkajs: retry.initialRetryTime */
  retryDelayMs?: number;
}

export interface ArmResult { seconds: number; records: number; cpuSeconds: number; peakRssMiB: number; transactions?: number }

export interface Msg { key: Buffer; value: Buffer }

// The packages are optional and live in bench/clients/node_modules, not the main tree's:
// resolve them from there, whatever directory the compiled file runs from.
const req = createRequire(join(repoRoot, 'bench', 'clients', 'package.json'));
const mainReq = createRequire(join(repoRoot, 'package.json'));
const dirOf = (name: ClientName) => (name === 'kafkajs-patched' ? join(repoRoot, 'node_modules') : join(repoRoot, 'bench', 'clients', 'node_modules'));

/** The client's module, or an Error saying why it cannot be loaded (not installed, no build). */
export async function loadClient(name: ClientName): Promise<any> {
  const pkg = PACKAGES[name];
  if (name === 'confluent') return req(pkg); // CommonJS with a native addon
  if (name === 'kafkajs-patched') {
    const grouping = mainReq('kafkajs/src/producer/groupMessagesPerPartition.js') as { podtrailPatch?: string };
    if (grouping.podtrailPatch !== 'linear-grouping') throw new Error('the main tree\'s kafkajs is not patched (npm ci)');
    return import(pathToFileURL(mainReq.resolve(pkg)).href);
  }
  return import(pathToFileURL(req.resolve(pkg)).href);
}

export function installedVersion(name: ClientName): string | undefined {
  try {
    // Read the file: a package's "exports" may not list its package.json.
    return (JSON.parse(readFileSync(join(dirOf(name), PACKAGES[name], 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** N raw records as capture writes them: 64 cgroups on 16 nodes, so keys spread over partitions. */
export function rawRecords(n: number): Msg[] {
  const codec = new Codec();
  const out: Msg[] = [];
  for (let i = 0; i < n; i++) {
    const node = `node-${i % 16}`;
    const cg = 1000n + BigInt(i % 64);
    const r = sampleRaw({ seq: BigInt(i + 1), eventId: `${node}:bench:${i + 1}`, node, cgroup: { id: cg, path: `/kubepods/burstable/pod35b82523-06c1-48e7-9e61-2521a89b703b/${cg.toString(16).padStart(64, '0')}` } });
    out.push({ key: Buffer.from(`${node}/${cg}`), value: codec.encode('RawConnectEvent', r) });
  }
  return out;
}

/** Runs fn as the measured section; the CPU figure is the whole process's (all threads). */
export async function measured(fn: () => Promise<{ records: number; transactions?: number; startedAt?: number }>): Promise<ArmResult> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 50);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    const r = await fn();
    const t1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    peak = Math.max(peak, process.memoryUsage.rss());
    // A passthrough starts its clock at the first batch (group join is not throughput).
    const start = r.startedAt ?? t0;
    return { seconds: (t1 - start) / 1000, records: r.records, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB: peak / 1048576, ...(r.transactions !== undefined ? { transactions: r.transactions } : {}) };
  } finally {
    clearInterval(timer);
  }
}

/** Sends chunks of `batch` messages with at most `window` send() calls in flight. */
export async function windowed(msgs: Msg[], batch: number, window: number, send: (chunk: Msg[]) => Promise<unknown>): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < msgs.length; i += batch) {
    const p = send(msgs.slice(i, i + batch)).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}
