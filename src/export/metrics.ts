// SPDX-License-Identifier: Apache-2.0
// export's metric names and their wiring, read from the stage's counters at scrape time.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ExportStage } from './stage.js';

export const EXPORT_METRICS = {
  recordsIn: 'podtrail_export_records_in_total',
  recordsOut: 'podtrail_export_records_out_total',
  bad: 'podtrail_export_undecodable_total',
  lag: 'podtrail_consumer_lag',
  latency: 'podtrail_produce_latency_seconds',
} as const;

export function registerExportMetrics(registry: Registry, stage: ExportStage, src: { auditTopic: string; destination: string }): void {
  const registers = [registry];
  new Counter({ name: EXPORT_METRICS.recordsIn, help: 'audit records consumed', registers, collect() { this.reset(); this.inc(stage.stats.in); } });
  new Counter({ name: EXPORT_METRICS.recordsOut, help: 'records delivered to the destination', labelNames: ['destination'], registers, collect() { this.reset(); this.inc({ destination: src.destination }, stage.stats.out); } });
  new Counter({ name: EXPORT_METRICS.bad, help: 'undecodable audit messages (DLQ or skipped)', registers, collect() { this.reset(); this.inc(stage.stats.bad); } });
  new Gauge({
    name: EXPORT_METRICS.lag, help: 'records behind the high watermark, per input partition (after the last batch)', labelNames: ['topic', 'partition'], registers,
    collect() {
      this.reset();
      for (const [partition, lag] of stage.lag) this.set({ topic: src.auditTopic, partition: String(partition) }, lag);
    },
  });
  const latency = new Histogram({
    name: EXPORT_METRICS.latency, help: 'time to deliver and commit a batch', labelNames: ['topic'], registers,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  stage.onDelivered = (secs) => latency.observe({ topic: src.destination }, secs);
}
