// SPDX-License-Identifier: Apache-2.0
// The one place a kafkajs client is built, from one KafkaConfig. kafkajs logs go through pino.
import { Kafka, logLevel as KafkaLogLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../common/config.js';
import { moduleLogger, type Logger } from '../common/log.js';

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
// Not lower for the transactional producer: with initialRetryTime 20 ms enrich lost the
// first raw records of a capture instance in test/integration/fault-capture-kill (3 runs
// of 16; 0 of 10 at 200 ms). A race in enrich's transaction pipelining that this wait
// hides; see the session note of 2026-11-30.

export function createKafka(cfg: KafkaConfig, logger: Logger = moduleLogger('kafka')): Kafka {
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
