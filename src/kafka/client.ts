// SPDX-License-Identifier: Apache-2.0
// The one place a kafkajs client is built, from one KafkaConfig. kafkajs logs go through pino.
import { Kafka, logLevel as KafkaLogLevel, type Consumer, type LogEntry, type SASLOptions } from 'kafkajs';
import { errMessage } from '../common/errors.js';
import type { KafkaConfig } from '../common/config.js';
import { moduleLogger, type Logger } from '../common/log.js';
import { checkAndLogKafkajs } from './kafkajs-changes.js';
import { kafkaCondition, retriableLogMessage } from './conditions.js';
import { RetryEpisode } from './retry.js';

/**
 * kafkajs's own log lines go through pino at a level that says whether anyone need act.
 * kafkajs logs every failed response at error level, including the retriable ones a cluster
 * shows while it starts or moves leaders ("The coordinator is loading", "not the leader"), and
 * every consumer crash it is about to restart from. Those reach podtrail's code as well, as
 * exceptions or CRASH events, which the stage retries and logs once per episode
 * (src/kafka/retry.ts); so here they are debug. What kafkajs alone sees stays at warn/error.
 */
export function kafkajsLevel(level: number, namespace: string, message: string, extra: Record<string, unknown>): 'error' | 'warn' | 'debug' | 'trace' {
  if (level === KafkaLogLevel.ERROR || level === KafkaLogLevel.WARN) {
    // A failed response or authentication, a step kafkajs itself retries, or a crash it
    // restarts from: the outcome reaches podtrail's code, which logs it once per episode (or,
    // refused access, once as the reason it exits).
    if (namespace === 'Connection' || namespace.startsWith('SaslAuthenticator') || retriableLogMessage(extra.error) || 'retryCount' in extra || 'retryTime' in extra) return 'debug';
    if (KAFKAJS_HANDLED.test(message)) return 'debug';
    return level === KafkaLogLevel.ERROR ? 'error' : 'warn';
  }
  return level === KafkaLogLevel.INFO ? 'debug' : 'trace';
}

/** kafkajs lines about what it recovers from by itself, or about errors our own code threw and reports. */
const KAFKAJS_HANDLED = /^(Crash: |Restarting the consumer|Error when calling each(Batch|Message)|The group is rebalancing|The coordinator is not aware of this member|Limiting retries for the idempotent producer)/;

function pinoLogCreator(logger: Logger) {
  return () => (entry: LogEntry) => {
    const { message, ...extra } = entry.log;
    const ctx = { kafkaNamespace: entry.namespace, ...extra };
    logger[kafkajsLevel(entry.level, entry.namespace, message, extra)](ctx, message);
  };
}

// We use kafkajs's default (Java-compatible murmur2) partitioner on purpose.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

/** Retry settings for idempotent/transactional producers: kafkajs wants unlimited retries there. */
export const IDEMPOTENT_RETRY = { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5000 };

/**
 * For transactional producers. Right after a commit the broker is still writing the
 * transaction markers, and the next transaction's AddPartitionsToTxn is refused with
 * CONCURRENT_TRANSACTIONS; kafkajs then waits initialRetryTime. At 200 ms that wait
 * bounded enrich's exactly-once throughput and made most of its p99 latency
 * (bench/README.md); backoff still doubles up to maxRetryTime when the broker is away.
 * (It was back at 200 ms for a while: fault-capture-kill had reported enrich's first audit
 * records as lost. They were in the audit topic: the test's reader had stopped before it
 * read their partition; test/integration/audit-reader.test.ts.)
 */
export const TRANSACTIONAL_RETRY = { ...IDEMPOTENT_RETRY, initialRetryTime: 20 };

/**
 * capture's raw producer: kafkajs gives up after about 6 s and the publisher's own loop, which
 * never gives up, sends the same request again. With unlimited retries kafkajs retried a topic
 * that no longer existed (a replaced cluster) inside sendBatch for ever, so the publisher never
 * learned why nothing went out and could not make the topic again. kafkajs warns that limited
 * retries "may invalidate EoS guarantees": not here, because kafkajs rolls the partition's
 * sequence back when a request fails, and the publisher re-sends exactly that request, so the
 * broker sees the same sequence numbers and drops what it already has.
 */
export const CAPTURE_PRODUCER_RETRY = { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 };

export function createKafka(cfg: KafkaConfig, logger: Logger = moduleLogger('kafka')): Kafka {
  // The pinned, patched kafkajs, or a clear error; what is in force is logged once per process.
  checkAndLogKafkajs(logger);
  const sasl: SASLOptions | undefined = cfg.sasl
    ? ({ mechanism: cfg.sasl.mechanism, username: cfg.sasl.username, password: cfg.sasl.password } as SASLOptions)
    : undefined;
  return new Kafka({
    clientId: cfg.clientId,
    brokers: cfg.brokers,
    ssl: cfg.ssl,
    ...(sasl ? { sasl } : {}),
    connectionTimeout: 3000,
    requestTimeout: 30000,
    // kafkajsLevel decides what pino sees; INFO and below are chatty.
    logLevel: KafkaLogLevel.INFO,
    logCreator: pinoLogCreator(logger),
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5000 },
  });
}

/**
 * Logs a consumer's crashes once per episode: kafkajs restarts a consumer that crashed on a
 * retriable condition (a coordinator loading, a leader moving), and the episode ends when the
 * consumer joins its group again. A crash kafkajs does not restart from is `fatal`'s to handle.
 */
export function watchConsumer(consumer: Consumer, op: string, log: Logger, fatal: (why: string) => void): void {
  const episode = new RetryEpisode(op, log);
  consumer.on(consumer.events.GROUP_JOIN, () => episode.succeeded());
  consumer.on(consumer.events.CRASH, (e) => {
    const err = e.payload.error;
    if (e.payload.restart) {
      episode.failed(kafkaCondition(err));
      return;
    }
    const why = errMessage(err);
    log.error({ err }, `${op} stopped for good: ${why}`);
    fatal(why);
  });
}
