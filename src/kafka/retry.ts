// SPDX-License-Identifier: Apache-2.0
// Retrying Kafka operations through the conditions a cluster goes through while it starts or
// changes (src/kafka/conditions.ts), with backoff, one log line when an episode starts and one
// when it ends (never one per retry), and counters every stage's /metrics exposes.
import { Counter, type Registry } from 'prom-client';
import { KafkaAccessError, KafkaError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { kafkaCondition, type KafkaCondition } from './conditions.js';

export const KAFKA_RETRY_METRICS = {
  retries: 'podtrail_kafka_retries_total',
  episodes: 'podtrail_kafka_retry_episodes_total',
  resets: 'podtrail_kafka_producer_resets_total',
} as const;

/** Process-wide counts, by operation and condition type; read when Prometheus scrapes. */
const retries = new Map<string, number>();
const episodes = new Map<string, number>();
const resets = new Map<string, number>();

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

export function retryCounts(): { retries: ReadonlyMap<string, number>; episodes: ReadonlyMap<string, number>; resets: ReadonlyMap<string, number> } {
  return { retries, episodes, resets };
}

export function countProducerReset(op: string): void {
  bump(resets, op);
}

export function registerKafkaRetryMetrics(registry: Registry): void {
  const registers = [registry];
  const from = (name: string, help: string, labels: string[], m: Map<string, number>) =>
    new Counter({
      name, help, labelNames: labels, registers,
      collect() {
        this.reset();
        for (const [k, n] of m) {
          const [op, condition] = k.split('\0') as [string, string | undefined];
          this.inc(condition === undefined ? { op } : { op, condition }, n);
        }
      },
    });
  from(KAFKA_RETRY_METRICS.retries, 'Kafka operations retried after a retriable condition', ['op', 'condition'], retries);
  from(KAFKA_RETRY_METRICS.episodes, 'episodes of retrying (from the first failure to the next success)', ['op'], episodes);
  from(KAFKA_RETRY_METRICS.resets, 'idempotent or transactional producers replaced after the broker refused their sequence or epoch', ['op'], resets);
}

/**
 * One operation's run of failures, from the first to the next success. A run that clears
 * within `quietMs` is only counted: a topic made a moment ago answers UNKNOWN_TOPIC_OR_PARTITION
 * for a few hundred milliseconds on every fresh start, and that is nobody's concern. A run
 * that lasts longer is logged once at warn, its end once at info; the failures between are
 * counted, and a change of condition (connection refused, then a coordinator loading) is said.
 */
export class RetryEpisode {
  private failures = 0;
  private since = 0;
  private said = false;
  private lastType: string | undefined;

  constructor(private readonly op: string, private readonly log: Logger, private readonly quietMs = 2000) {}

  get active(): boolean {
    return this.failures > 0;
  }

  failed(c: KafkaCondition, extra: Record<string, unknown> = {}): void {
    bump(retries, `${this.op}\0${c.type}`);
    if (this.failures++ === 0) {
      this.since = Date.now();
      bump(episodes, this.op);
    }
    const ms = Date.now() - this.since;
    if (!this.said && (ms >= this.quietMs || c.kind === 'fatal')) {
      this.said = true;
      this.log[c.kind === 'fatal' ? 'error' : 'warn']({ op: this.op, condition: c.type, error: c.message, failures: this.failures, ms, ...extra },
        c.kind === 'fatal' ? `${this.op}: ${c.type}: ${c.message}` : `${this.op}: ${c.type}; retrying with backoff until it clears (logged again when it does)`);
    } else if (this.said && c.type !== this.lastType) {
      this.log.warn({ op: this.op, condition: c.type, error: c.message, failures: this.failures, ms, ...extra }, `${this.op}: still retrying, now ${c.type}`);
    } else {
      this.log.debug({ op: this.op, condition: c.type, error: c.message, failures: this.failures, ...extra }, `${this.op}: ${c.type}; retrying`);
    }
    this.lastType = c.type;
  }

  succeeded(): void {
    if (this.failures === 0) return;
    const fields = { op: this.op, failures: this.failures, ms: Date.now() - this.since, lastCondition: this.lastType };
    if (this.said) this.log.info(fields, `${this.op}: recovered`);
    else this.log.debug(fields, `${this.op}: cleared`);
    this.failures = 0;
    this.said = false;
    this.lastType = undefined;
  }
}

export interface RetryOptions {
  /** ends the retrying (the operation then throws a non-retriable KafkaError) */
  stopping?: () => boolean;
  initialMs?: number;
  maxMs?: number;
  /** gives up after this long; default: never (a stage waits for its cluster) */
  deadlineMs?: number;
  /** what to do about a 'reset' condition before the next try; without it, reset is fatal */
  onReset?: (c: KafkaCondition) => Promise<void>;
}

/** 200 ms doubling to 5 s, with ±20% jitter so that stages started together do not retry in step. */
export function backoffMs(attempt: number, initialMs = 200, maxMs = 5000): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * Runs `op` until it succeeds. A retriable condition waits and tries again; a fatal one throws
 * a KafkaError (retriable: false) naming the operation and the condition.
 */
export async function retryKafka<T>(op: string, run: () => Promise<T>, log: Logger, opts: RetryOptions = {}): Promise<T> {
  const episode = new RetryEpisode(op, log);
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await run();
      episode.succeeded();
      return r;
    } catch (err) {
      const c = kafkaCondition(err);
      if (c.access) throw new KafkaAccessError(`podtrail: Kafka refused access: ${op}: ${c.message} (${c.type})`, { cause: err });
      if (c.kind === 'fatal' || (c.kind === 'reset' && !opts.onReset)) {
        throw new KafkaError(`${op}: ${c.message} (${c.type})`, { cause: err, retriable: false });
      }
      if (opts.stopping?.()) throw new KafkaError(`${op}: stopped while retrying ${c.type}`, { cause: err, retriable: false });
      if (opts.deadlineMs !== undefined && Date.now() - started > opts.deadlineMs) {
        throw new KafkaError(`${op}: still ${c.type} after ${Math.round((Date.now() - started) / 1000)} s: ${c.message}`, { cause: err, retriable: true });
      }
      episode.failed(c);
      if (c.kind === 'reset') await opts.onReset!(c);
      await new Promise((r) => setTimeout(r, backoffMs(attempt, opts.initialMs, opts.maxMs)));
    }
  }
}
