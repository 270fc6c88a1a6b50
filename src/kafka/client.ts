// SPDX-License-Identifier: Apache-2.0
// The one place a kafkajs client is built, from one KafkaConfig. kafkajs logs go through pino.
import { Kafka, logLevel as KafkaLogLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../common/config.js';
import { moduleLogger, type Logger } from '../common/log.js';
import { checkAndLogKafkajs } from './kafkajs-changes.js';

function pinoLogCreator(logger: Logger) {
  return () => (entry: LogEntry) => {
    const { message, ...extra } = entry.log;
    const ctx = { kafkaNamespace: entry.namespace, ...extra };
    switch (entry.level) {
      case KafkaLogLevel.ERROR: logger.error(ctx, message); break;
      case KafkaLogLevel.WARN: logger.warn(ctx, message); break;
      case KafkaLogLevel.INFO: logger.debug(ctx, message); break;
      default: logger.trace(ctx, message);
    }
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
    // kafkajs maps INFO and below to pino debug/trace: its INFO lines are chatty.
    logLevel: KafkaLogLevel.INFO,
    logCreator: pinoLogCreator(logger),
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5000 },
  });
}
