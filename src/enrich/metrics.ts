// SPDX-License-Identifier: Apache-2.0
// enrich's metric names and their wiring, read from the stage's counters at scrape time.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { MetaTable } from './meta-table.js';
import type { EnrichProcessor } from './processor.js';
import type { EnrichStage } from './stage.js';

export const ENRICH_METRICS = {
  recordsIn: 'podtrail_enrich_records_in_total',
  recordsOut: 'podtrail_enrich_records_out_total',
  outcomes: 'podtrail_enrich_attribution_total',
  lag: 'podtrail_consumer_lag',
  produceLatency: 'podtrail_produce_latency_seconds',
  transactions: 'podtrail_enrich_transactions_total',
  aborted: 'podtrail_enrich_transactions_aborted_total',
  metaContainers: 'podtrail_enrich_metadata_containers',
  metaRecords: 'podtrail_enrich_metadata_records_total',
} as const;

export function registerEnrichMetrics(registry: Registry, src: { processor: EnrichProcessor; stage: EnrichStage; table?: MetaTable; rawTopic: string; auditTopic: string }): void {
  const registers = [registry];
  const { processor: p, stage } = src;
  new Counter({ name: ENRICH_METRICS.recordsIn, help: 'raw records consumed', registers, collect() { this.reset(); this.inc(p.stats.in); } });
  new Counter({
    name: ENRICH_METRICS.recordsOut, help: 'records produced, by destination', labelNames: ['destination'], registers,
    collect() { this.reset(); this.inc({ destination: 'audit' }, p.stats.audit); this.inc({ destination: 'dlq' }, p.stats.dlq); },
  });
  new Counter({
    name: ENRICH_METRICS.outcomes, help: 'audit records by attribution status and source', labelNames: ['status', 'source'], registers,
    collect() {
      this.reset();
      for (const [k, n] of Object.entries(p.stats.byOutcome)) {
        const [status, source] = k.split('|');
        this.inc({ status: status ?? '', source: source || 'none' }, n);
      }
    },
  });
  new Gauge({
    name: ENRICH_METRICS.lag, help: 'records behind the high watermark, per input partition (after the last batch)', labelNames: ['topic', 'partition'], registers,
    collect() {
      this.reset();
      for (const [partition, lag] of stage.lag) this.set({ topic: src.rawTopic, partition: String(partition) }, lag);
    },
  });
  new Counter({ name: ENRICH_METRICS.transactions, help: 'committed transactions', registers, collect() { this.reset(); this.inc(stage.stats.transactions); } });
  new Counter({ name: ENRICH_METRICS.aborted, help: 'aborted transactions (their batch is retried)', registers, collect() { this.reset(); this.inc(stage.stats.aborted); } });
  if (src.table) {
    const table = src.table;
    new Gauge({ name: ENRICH_METRICS.metaContainers, help: 'containers in the metadata table', registers, collect() { this.set(table.size); } });
    new Counter({ name: ENRICH_METRICS.metaRecords, help: 'container metadata records read', registers, collect() { this.reset(); this.inc(table.records); } });
  }
  const latency = new Histogram({
    name: ENRICH_METRICS.produceLatency, help: 'time to commit a batch\'s output (transaction, or produce + offset commit)', labelNames: ['topic'], registers,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  stage.onCommitted = (secs) => latency.observe({ topic: src.auditTopic }, secs);
}
