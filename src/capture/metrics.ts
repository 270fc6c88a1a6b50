// SPDX-License-Identifier: Apache-2.0
// capture's metric names and their wiring. Values are read from the stages' own counters
// when Prometheus scrapes, so the event path pays nothing for them.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { KernelCapture } from './native.js';
import type { RawPublisher } from './publisher.js';
import type { CaptureService } from './service.js';
import type { MetadataPublisher } from './metadata-publisher.js';

export const CAPTURE_METRICS = {
  eventsIn: 'podtrail_capture_events_total',
  kernelDrops: 'podtrail_capture_kernel_ring_reserve_failures_total',
  kernelGaps: 'podtrail_capture_kernel_seq_gap_events_total',
  kernelSkipped: 'podtrail_capture_kernel_skipped_runs_total',
  eventsOut: 'podtrail_capture_events_published_total',
  dropped: 'podtrail_capture_buffer_dropped_total',
  bufferEvents: 'podtrail_capture_buffer_events',
  bufferBytes: 'podtrail_capture_buffer_bytes',
  bufferFill: 'podtrail_capture_buffer_fill_ratio',
  lossRecords: 'podtrail_capture_loss_records_total',
  metaRecords: 'podtrail_capture_metadata_records_total',
  produceLatency: 'podtrail_produce_latency_seconds',
  sendErrors: 'podtrail_produce_errors_total',
  dnsPackets: 'podtrail_capture_dns_packets_total',
  dnsParsed: 'podtrail_capture_dns_parsed_total',
  dnsMalformed: 'podtrail_capture_dns_malformed_total',
  dnsKernelDrops: 'podtrail_capture_dns_kernel_drops_total',
  dnsLookups: 'podtrail_capture_dns_lookups_total',
  dnsLookupsDropped: 'podtrail_capture_dns_lookups_dropped_total',
  dnsConnectsNamed: 'podtrail_capture_dns_connects_named_total',
  dnsNames: 'podtrail_capture_dns_names',
} as const;

export interface CaptureMetricSources {
  kernel: KernelCapture;
  service: CaptureService;
  publisher?: RawPublisher;
  metadata?: MetadataPublisher;
  maxBufferedEvents: number;
  maxBufferedBytes: number;
}

/** Registers capture's metrics; returns the produce-latency histogram for the publisher's hook. */
export function registerCaptureMetrics(registry: Registry, src: CaptureMetricSources): Histogram {
  const registers = [registry];
  const counterFrom = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
  const gaugeFrom = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers, collect() { this.set(read()); } });
  const pub = () => src.publisher?.stats();
  counterFrom(CAPTURE_METRICS.eventsIn, 'connection events read from the kernel', () => src.service.events);
  new Gauge({
    name: CAPTURE_METRICS.kernelDrops, help: 'failed ring buffer reserves (events the kernel could not queue), per CPU', labelNames: ['cpu'], registers,
    collect() {
      src.kernel.stats().ringReserveFailsPerCpu.forEach((n, cpu) => this.set({ cpu: String(cpu) }, Number(n)));
    },
  });
  counterFrom(CAPTURE_METRICS.kernelGaps, 'events missing from the kernel sequence (reported as loss records)', () => Number(src.service.kernelGaps));
  counterFrom(CAPTURE_METRICS.kernelSkipped, 'capture program runs the kernel skipped (recursion_misses): possible loss that no seq gap shows',
    () => Number(src.kernel.stats().recursionMisses));
  counterFrom(CAPTURE_METRICS.eventsOut, 'raw events acknowledged by Kafka', () => pub()?.sent ?? 0);
  counterFrom(CAPTURE_METRICS.dropped, 'raw events dropped because the capture buffer was full', () => pub()?.dropped ?? 0);
  gaugeFrom(CAPTURE_METRICS.bufferEvents, 'raw events waiting for Kafka', () => pub()?.buffered ?? 0);
  gaugeFrom(CAPTURE_METRICS.bufferBytes, 'bytes waiting for Kafka', () => pub()?.bufferedBytes ?? 0);
  gaugeFrom(CAPTURE_METRICS.bufferFill, 'capture buffer fill, 0..1 (1: dropping)', () => {
    const s = pub();
    return s ? Math.max(s.buffered / src.maxBufferedEvents, s.bufferedBytes / src.maxBufferedBytes) : 0;
  });
  counterFrom(CAPTURE_METRICS.lossRecords, 'loss records published', () => pub()?.lossRecords ?? 0);
  counterFrom(CAPTURE_METRICS.metaRecords, 'container metadata versions published', () => pub()?.metaRecords ?? 0);
  counterFrom(CAPTURE_METRICS.sendErrors, 'failed produce requests (retried)', () => pub()?.sendErrors ?? 0);
  // Registered with DNS capture off too (all 0 then), so the metric set does not depend on a flag.
  const dns = () => src.service.dns;
  counterFrom(CAPTURE_METRICS.dnsPackets, 'DNS packets (queries and answers) read from the kernel (--dns on)', () => dns()?.packets ?? 0);
  counterFrom(CAPTURE_METRICS.dnsParsed, 'DNS messages parsed', () => dns()?.names.stats.parsed ?? 0);
  new Counter({
    name: CAPTURE_METRICS.dnsMalformed, help: 'DNS messages that did not parse, by reason (counted, never fatal)', labelNames: ['reason'], registers,
    collect() {
      this.reset();
      for (const [reason, n] of dns()?.names.stats.malformed ?? []) this.inc({ reason }, n);
    },
  });
  // Reserve failures and sequence gaps are the same packets seen from both ends: the larger counts.
  counterFrom(CAPTURE_METRICS.dnsKernelDrops, 'DNS packets the kernel could not queue (ring buffer full): connects after them may lack names', () => {
    if (!dns()) return 0;
    const k = src.kernel.stats();
    return Number(k.dnsReserveFails > k.dnsSeqLost ? k.dnsReserveFails : k.dnsSeqLost);
  });
  counterFrom(CAPTURE_METRICS.dnsLookups, 'DNS lookup records made (after folding repeats)', () => dns()?.lookups ?? 0);
  counterFrom(CAPTURE_METRICS.dnsLookupsDropped, 'DNS lookup records dropped because the capture buffer was full', () => pub()?.lookupsDropped ?? 0);
  counterFrom(CAPTURE_METRICS.dnsConnectsNamed, 'connects given a dst.name', () => dns()?.connectsNamed ?? 0);
  gaugeFrom(CAPTURE_METRICS.dnsNames, 'answers held in the per-pod name tables', () => dns()?.names.table.size ?? 0);
  return new Histogram({
    name: CAPTURE_METRICS.produceLatency, help: 'time for Kafka to acknowledge a produce request', labelNames: ['topic'], registers,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
}
