// SPDX-License-Identifier: Apache-2.0
// What a Kafka failure means for the stage that met it. Decisions read kafkajs's error types
// and its protocol error table (the `retriable` flag of each code), never message text.
//
//   retry:    wait and try again; the cluster is settling (a topic created a moment ago has
//             no leader yet, a coordinator is loading, a broker restarts, a request timed out).
//   reset:    the idempotent/transactional producer's state no longer matches the broker's
//             (a broker that lost its data, a producer id that expired): retrying the same
//             request with the same producer is refused for ever. Make a new producer.
//   fatal:    configuration or permission: credentials, ACLs, a topic name, an unsupported
//             version. Retrying cannot help; say so once and exit.
import { createRequire } from 'node:module';

export type ConditionKind = 'retry' | 'reset' | 'fatal';

export interface KafkaCondition {
  kind: ConditionKind;
  /** fatal for want of access: credentials, a certificate, an ACL. The operator must act (exit 2). */
  access?: boolean;
  /** a protocol error type (NOT_LEADER_FOR_PARTITION) or a kafkajs error name (KafkaJSConnectionError) */
  type: string;
  message: string;
}

interface ProtocolCode { type: string; code: number; retriable: boolean; message: string }

const require = createRequire(import.meta.url);
const PROTOCOL: ProtocolCode[] = (require('kafkajs/src/protocol/error.js') as { errorCodes: ProtocolCode[] }).errorCodes;

/** The producer's sequence or epoch was refused: only a new producer id gets past it. */
const RESET = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'PRODUCER_FENCED',
]);

/**
 * Not retriable in kafkajs's table, but transient while a cluster starts or changes: a
 * replication factor above the brokers registered so far, a transaction still completing
 * (the broker expects clients to retry it), a topic being deleted and made again.
 */
const TRANSIENT = new Set([
  'INVALID_REPLICATION_FACTOR',
  'CONCURRENT_TRANSACTIONS',
  'TOPIC_DELETION_DISABLED',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'GROUP_LOAD_IN_PROGRESS',
  'REBALANCE_IN_PROGRESS',
  'THROTTLING_QUOTA_EXCEEDED',
]);

/** kafkajs's own error classes that mean "the cluster is not reachable or not settled yet". */
const RETRY_CLASSES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSStaleTopicMetadataAssignment',
  'KafkaJSLockTimeout',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSTimeout',
  'KafkaJSNotImplemented',
]);

const FATAL_CLASSES = new Set(['KafkaJSSASLAuthenticationError', 'KafkaJSInvalidTopic', 'KafkaJSUnsupportedMagicByteInMessageSet']);

/** Node TLS verification codes: a certificate the client does not trust never becomes trusted by waiting. */
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|HOSTNAME_MISMATCH)/;

/** Protocol errors that say the principal may not do it, or could not prove who it is. */
const ACCESS = /_AUTHORIZATION_FAILED$|^SASL_AUTHENTICATION_FAILED$|^UNSUPPORTED_SASL_MECHANISM$|^ILLEGAL_SASL_STATE$/;

const byType = new Map(PROTOCOL.map((p) => [p.type, p]));

interface ErrLike { name?: unknown; type?: unknown; code?: unknown; message?: unknown; retriable?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown }

/** The errors under `err`: its causes (kafkajs nests them as originalError) and an aggregate's members. */
function* chain(err: unknown, depth = 0): Generator<ErrLike> {
  if (!err || typeof err !== 'object' || depth > 8) return;
  const e = err as ErrLike;
  yield e;
  if (Array.isArray(e.errors)) for (const x of e.errors) yield* chain(x, depth + 1);
  yield* chain(e.cause ?? e.originalError, depth + 1);
}

function one(e: ErrLike): KafkaCondition | undefined {
  const message = typeof e.message === 'string' ? e.message : String(e.message ?? '');
  const name = typeof e.name === 'string' ? e.name : '';
  // PRODUCER_FENCED (code 90) is newer than kafkajs's table: a reset all the same.
  if (typeof e.type === 'string' && RESET.has(e.type)) return { kind: 'reset', type: e.type, message };
  // Some of these (COORDINATOR_LOAD_IN_PROGRESS, Kafka's newer name for code 14) are not in kafkajs's table.
  if (typeof e.type === 'string' && TRANSIENT.has(e.type)) return { kind: 'retry', type: e.type, message };
  if (typeof e.type === 'string' && byType.has(e.type)) {
    const type = e.type;
    if (type === 'TOPIC_ALREADY_EXISTS') return undefined;
    if (byType.get(type)!.retriable) return { kind: 'retry', type, message };
    return { kind: 'fatal', type, message, ...(ACCESS.test(type) ? { access: true } : {}) };
  }
  if (typeof e.code === 'string' && TLS_CODES.test(e.code)) return { kind: 'fatal', type: e.code, message, access: true };
  if (name === 'KafkaJSSASLAuthenticationError') return { kind: 'fatal', type: name, message, access: true };
  if (FATAL_CLASSES.has(name)) return { kind: 'fatal', type: name, message };
  if (RETRY_CLASSES.has(name)) return { kind: 'retry', type: name, message };
  if (typeof e.code === 'string' && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ENOTFOUND)$/.test(e.code)) {
    return { kind: 'retry', type: e.code, message };
  }
  return undefined;
}

/**
 * What `err` means. The most specific answer wins: a protocol error anywhere in the chain
 * decides over the kafkajs wrapper around it (KafkaJSNumberOfRetriesExceeded, an aggregate of
 * topic creation errors); among several, fatal beats reset beats retry.
 */
export function kafkaCondition(err: unknown): KafkaCondition {
  let best: KafkaCondition | undefined;
  const rank = { fatal: 3, reset: 2, retry: 1 } as const;
  let sawAlreadyExists = false;
  for (const e of chain(err)) {
    if (e.type === 'TOPIC_ALREADY_EXISTS') sawAlreadyExists = true;
    const c = one(e);
    if (c && (!best || rank[c.kind] > rank[best.kind])) best = c;
  }
  if (best) return best;
  const top = (err ?? {}) as ErrLike;
  const message = typeof top.message === 'string' ? top.message : String(err);
  if (sawAlreadyExists) return { kind: 'retry', type: 'TOPIC_ALREADY_EXISTS', message };
  // kafkajs marks its own transient wrappers retriable; anything else we do not know is fatal,
  // so a bug is seen rather than retried for ever.
  return { kind: top.retriable === true ? 'retry' : 'fatal', type: typeof top.name === 'string' ? top.name : 'Error', message };
}

/** True for a kafkajs log line's `error` text that names a retriable protocol error (logged at debug, not error). */
const RETRIABLE_MESSAGES = new Set(PROTOCOL.filter((p) => p.retriable || TRANSIENT.has(p.type) || p.type === 'TOPIC_ALREADY_EXISTS').map((p) => p.message));
export function retriableLogMessage(error: unknown): boolean {
  return typeof error === 'string' && RETRIABLE_MESSAGES.has(error);
}
