// SPDX-License-Identifier: Apache-2.0
// One measured run of the enrich benchmark, in its own process so its peak RSS and CPU are
// its own: either the real EnrichStage (built as `podtrail enrich` builds it, cache warmed
// first) or the bare passthrough. Reports to the parent over IPC once everything it was
// handed is committed.
import { createKafka } from '../src/kafka/client.js';
import { moduleLogger } from '../src/common/log.js';
import { codec } from '../src/schema/codec.js';
import { planLookup } from '../src/runtime/cgroup-path.js';
import { DEFAULT_CONCURRENCY, EnrichProcessor } from '../src/enrich/processor.js';
import { createResolver } from '../src/runtime/index.js';
import { EnrichStage, STAGE_MAX_BYTES_PER_PARTITION } from '../src/enrich/stage.js';
import { Passthrough } from './passthrough.js';
import type { TxnPhases } from '../src/kafka/transactional.js';

export interface ChildSpec {
  role: 'enrich' | 'passthrough';
  mode: 'exactly-once' | 'at-least-once';
  brokers: string[];
  raw: string;
  out: string;
  dlq: string;
  group: string;
  hostRoot: string;
  records: number;
  paths: string[];
}

export interface ChildResult {
  /** first eachBatch call to the moment all records were committed */
  ms: number;
  batches: number;
  cpuMs: number;
  maxRssKb: number;
  byStatus?: Record<string, number>;
  /** enrich only: time inside processBatch, and in the output commit (transaction or produce) */
  processMs?: number;
  commitMs?: number;
  /** exactly-once: summed wall time per transaction step */
  phases?: TxnPhases;
}

const TXN_TIMEOUT_MS = 10_000;
// Experiments only: the stage's own default is what the bench reports.
const FETCH_BYTES = Number(process.env.PODTRAIL_BENCH_FETCH_BYTES) || STAGE_MAX_BYTES_PER_PARTITION;

export async function runChild(spec: ChildSpec): Promise<void> {
  const kafka = createKafka({ brokers: spec.brokers, clientId: `podtrail-bench-${spec.role}`, ssl: false });
  const atLeastOnce = spec.mode === 'at-least-once';
  const transactionalId = `${spec.group}-txn`;
  let progress: () => { in: number; done: boolean; firstAt: number; batches: number };
  let stop: () => Promise<void>;
  let byStatus: Record<string, number> | undefined;
  let phases: () => TxnPhases | undefined;
  const timing = { processMs: 0, commitMs: 0 };

  if (spec.role === 'passthrough') {
    const p = new Passthrough(kafka, { group: spec.group, inTopic: spec.raw, outTopic: spec.out, atLeastOnce, transactionalId, transactionTimeoutMs: TXN_TIMEOUT_MS, maxBytesPerPartition: FETCH_BYTES });
    await p.start();
    progress = () => ({ in: p.stats.in, done: p.idle(), firstAt: p.stats.firstBatchAt, batches: p.stats.batches });
    stop = () => p.stop();
    phases = () => (atLeastOnce ? undefined : p.phases);
  } else {
    const log = moduleLogger('enrich');
    // The world has a few deleted containers on purpose; their warnings are not news here.
    const resolver = createResolver({ hostRoot: spec.hostRoot, logger: moduleLogger('enrich.resolver').child({}, { level: 'error' }) });
    // A warm cache: every distinct path resolved once before the clock starts.
    for (const path of spec.paths) {
      const plan = planLookup(path);
      if (plan) await resolver.resolve(plan.containerId, plan.hint);
    }
    const processor = new EnrichProcessor(codec(), resolver, { concurrency: DEFAULT_CONCURRENCY, topic: spec.raw }, log);
    let calls = 0;
    let firstAt = 0;
    const processBatch = processor.processBatch.bind(processor);
    processor.processBatch = async (partition, messages) => {
      calls++;
      const t = performance.now();
      firstAt ||= t;
      try {
        return await processBatch(partition, messages);
      } finally {
        timing.processMs += performance.now() - t;
      }
    };
    const stage = new EnrichStage(kafka, processor, {
      group: spec.group,
      topics: { raw: spec.raw, audit: spec.out, dlq: spec.dlq, containers: `${spec.out}.containers`, partitions: 1, replicationFactor: 1 },
      atLeastOnce,
      transactionalId,
      transactionTimeoutMs: TXN_TIMEOUT_MS,
      maxBytesPerPartition: FETCH_BYTES,
    }, log);
    stage.onCommitted = (s) => { timing.commitMs += s * 1000; };
    await stage.start();
    progress = () => ({ in: processor.stats.in, done: calls === stage.stats.batches, firstAt, batches: stage.stats.batches });
    stop = () => stage.stop();
    phases = () => stage.txnPhases;
    byStatus = processor.stats.byStatus;
  }

  const cpu0 = process.cpuUsage();
  let seen = -1;
  let movedAt = performance.now();
  for (;;) {
    const p = progress();
    if (p.in !== seen) {
      seen = p.in;
      movedAt = performance.now();
    } else if (performance.now() - movedAt > 60_000) {
      process.stderr.write(`enrich bench: ${spec.role} ${spec.mode} made no progress for 60 s at ${p.in} of ${spec.records} records\n`);
      process.exit(3);
    }
    if (p.in >= spec.records && p.done) {
      const cpu = process.cpuUsage(cpu0);
      const res: ChildResult = { ms: performance.now() - p.firstAt, batches: p.batches, cpuMs: (cpu.user + cpu.system) / 1000, maxRssKb: process.resourceUsage().maxRSS, ...(byStatus ? { byStatus, ...timing } : {}), phases: phases() };
      await stop();
      await new Promise<void>((resolve) => process.send!(res, () => resolve()));
      process.exit(0);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
