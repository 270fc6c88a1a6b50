// SPDX-License-Identifier: Apache-2.0
// What a Kafka failure means (retry / reset / fatal), read from kafkajs's own error classes and
// protocol table; retryKafka's episodes (one line when a run of failures outlasts the quiet
// window, one when it ends); and the level kafkajs's own log lines get.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { logLevel } from 'kafkajs';
import { kafkaCondition, retriableLogMessage } from '../../src/kafka/conditions.js';
import { RetryEpisode, backoffMs, retryKafka, retryCounts } from '../../src/kafka/retry.js';
import { kafkajsLevel } from '../../src/kafka/client.js';
import { ConfigError, KafkaAccessError, KafkaError } from '../../src/common/errors.js';

const require = createRequire(import.meta.url);
const kerr = require('kafkajs/src/errors.js') as Record<string, new (...a: any[]) => Error>;
const { createErrorFromCode, errorCodes } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode(code: number): Error; errorCodes: Array<{ type: string; code: number }>;
};
const proto = (type: string) => createErrorFromCode(errorCodes.find((c) => c.type === type)!.code);

function capture(level = 'debug') {
  const lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const stream = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  return { log: pino({ level }, stream), lines };
}

test('what a cluster shows while it starts or moves leaders is retried', () => {
  for (const t of ['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE', 'UNKNOWN_TOPIC_OR_PARTITION', 'GROUP_COORDINATOR_NOT_AVAILABLE',
    'NOT_COORDINATOR_FOR_GROUP', 'GROUP_LOAD_IN_PROGRESS', 'CONCURRENT_TRANSACTIONS', 'REQUEST_TIMED_OUT', 'NOT_ENOUGH_REPLICAS', 'INVALID_REPLICATION_FACTOR']) {
    assert.deepEqual([t, kafkaCondition(proto(t)).kind], [t, 'retry']);
  }
  for (const name of ['KafkaJSConnectionError', 'KafkaJSRequestTimeoutError', 'KafkaJSGroupCoordinatorNotFound', 'KafkaJSBrokerNotFound']) {
    assert.equal(kafkaCondition(new kerr[name]!('x', {})).kind, 'retry', name);
  }
  assert.equal(kafkaCondition(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })).kind, 'retry');
  // Transient, and newer than kafkajs's table (which calls code 14 GROUP_LOAD_IN_PROGRESS): still retried.
  assert.equal(kafkaCondition(Object.assign(new Error('loading'), { type: 'COORDINATOR_LOAD_IN_PROGRESS' })).kind, 'retry');
  // A wrapper decides nothing: kafkajs gives up and nests the protocol error.
  const wrapped = new kerr.KafkaJSNumberOfRetriesExceeded!(proto('NOT_LEADER_FOR_PARTITION'), { retryCount: 5, retryTime: 100 });
  assert.deepEqual(kafkaCondition(wrapped), { kind: 'retry', type: 'NOT_LEADER_FOR_PARTITION', message: 'This server is not the leader for that topic-partition' });
});

test("a producer whose sequence or epoch the broker refuses is reset, not retried for ever", () => {
  for (const t of ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING']) {
    assert.equal(kafkaCondition(proto(t)).kind, 'reset', t);
  }
});

test('permissions, credentials, certificates and unknown errors are fatal', () => {
  for (const t of ['TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'INVALID_TOPIC_EXCEPTION']) {
    assert.equal(kafkaCondition(proto(t)).kind, 'fatal', t);
  }
  assert.equal(kafkaCondition(new kerr.KafkaJSSASLAuthenticationError!('SASL SCRAM SHA512 authentication failed')).kind, 'fatal');
  assert.equal(kafkaCondition(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' })).kind, 'fatal');
  assert.equal(kafkaCondition(new TypeError('x is not a function')).kind, 'fatal');
  assert.equal(kafkaCondition('a string').kind, 'fatal');
  assert.equal(kafkaCondition(undefined).kind, 'fatal');
  // fatal beats retry anywhere in an aggregate (one topic refused, another not yet led)
  const agg = new kerr.KafkaJSAggregateError!('Topic creation errors', [proto('LEADER_NOT_AVAILABLE'), proto('TOPIC_AUTHORIZATION_FAILED')]);
  assert.equal(kafkaCondition(agg).type, 'TOPIC_AUTHORIZATION_FAILED');
  // our own retriable errors are retried
  assert.equal(kafkaCondition(new KafkaError('topic t has no leader yet', { retriable: true })).kind, 'retry');
});

test('another stage creating the same topics a moment earlier is not a failure', () => {
  const agg = new kerr.KafkaJSAggregateError!('Topic creation errors', [proto('TOPIC_ALREADY_EXISTS')]);
  assert.equal(kafkaCondition(agg).type, 'TOPIC_ALREADY_EXISTS');
  assert.equal(kafkaCondition(agg).kind, 'retry');
});

test('an error chain that loops or nests deeply ends', () => {
  const a: any = new Error('a');
  a.cause = a;
  assert.equal(kafkaCondition(a).kind, 'fatal');
  let e: any = proto('LEADER_NOT_AVAILABLE');
  for (let i = 0; i < 100; i++) e = Object.assign(new Error(`w${i}`), { cause: e });
  assert.equal(kafkaCondition(e).kind, 'fatal', 'past 8 levels the inner cause is not read');
});

test('an episode is one warn line and one recovery line, and nothing when it clears quickly', () => {
  const { log, lines } = capture('info');
  const quick = new RetryEpisode('op-quick', log, 60_000);
  for (let i = 0; i < 5; i++) quick.failed(kafkaCondition(proto('UNKNOWN_TOPIC_OR_PARTITION')));
  quick.succeeded();
  assert.equal(lines.length, 0, 'a run shorter than the quiet window says nothing at info');
  const slow = new RetryEpisode('op-slow', log, 0);
  for (let i = 0; i < 50; i++) slow.failed(kafkaCondition(proto('UNKNOWN_TOPIC_OR_PARTITION')));
  slow.failed(kafkaCondition(proto('GROUP_COORDINATOR_NOT_AVAILABLE')));
  slow.succeeded();
  assert.deepEqual(lines.map((l) => [l.level, l.condition ?? l.lastCondition]), [[40, 'UNKNOWN_TOPIC_OR_PARTITION'], [40, 'GROUP_COORDINATOR_NOT_AVAILABLE'], [30, 'GROUP_COORDINATOR_NOT_AVAILABLE']]);
  assert.match(lines[2]!.msg, /op-slow: recovered/);
  assert.equal(lines[2]!.failures, 51);
  assert.equal(retryCounts().retries.get('op-slow\0UNKNOWN_TOPIC_OR_PARTITION'), 50);
  assert.equal(retryCounts().episodes.get('op-slow'), 1);
});

test('retryKafka retries a retriable condition, throws a fatal one at once, and resets through onReset', async () => {
  const { log } = capture();
  let n = 0;
  assert.equal(await retryKafka('op-r', async () => { if (n++ < 3) throw proto('LEADER_NOT_AVAILABLE'); return 'ok'; }, log, { initialMs: 1, maxMs: 2 }), 'ok');
  assert.equal(n, 4);
  let calls = 0;
  await assert.rejects(retryKafka('op-f', async () => { calls++; throw proto('TOPIC_AUTHORIZATION_FAILED'); }, log, { initialMs: 1 }),
    (e: unknown) => e instanceof KafkaAccessError && e instanceof ConfigError && !e.retriable && /refused access: op-f: .*TOPIC_AUTHORIZATION_FAILED/.test(e.message));
  assert.equal(calls, 1, 'a fatal condition is not retried');
  await assert.rejects(retryKafka('op-fatal', async () => { throw proto('INVALID_TOPIC_EXCEPTION'); }, log, { initialMs: 1 }),
    (e: unknown) => e instanceof KafkaError && !(e instanceof ConfigError) && !e.retriable, 'a fatal condition that is not about access');
  await assert.rejects(retryKafka('op-nr', async () => { throw proto('UNKNOWN_PRODUCER_ID'); }, log, { initialMs: 1 }), /UNKNOWN_PRODUCER_ID/, 'reset without onReset is fatal');
  let resets = 0;
  let m = 0;
  await retryKafka('op-reset', async () => { if (m++ === 0) throw proto('OUT_OF_ORDER_SEQUENCE_NUMBER'); }, log, { initialMs: 1, onReset: async () => { resets++; } });
  assert.equal(resets, 1);
  await assert.rejects(retryKafka('op-stop', async () => { throw proto('LEADER_NOT_AVAILABLE'); }, log, { initialMs: 1, stopping: () => true }), /stopped while retrying/);
  await assert.rejects(retryKafka('op-deadline', async () => { throw proto('LEADER_NOT_AVAILABLE'); }, log, { initialMs: 1, maxMs: 2, deadlineMs: 20 }), /still LEADER_NOT_AVAILABLE/);
});

test('backoff doubles to its cap with jitter', () => {
  for (let i = 0; i < 200; i++) {
    const b0 = backoffMs(0);
    assert.ok(b0 >= 160 && b0 <= 240, String(b0));
    const b9 = backoffMs(9);
    assert.ok(b9 >= 4000 && b9 <= 6000, String(b9));
  }
  assert.ok(backoffMs(1e9) <= 6000, 'huge attempts do not overflow');
});

test("kafkajs's own lines: failed responses and what it retries or restarts are debug, the rest keeps its level", () => {
  assert.equal(kafkajsLevel(logLevel.ERROR, 'Connection', 'Response Metadata(key: 3, version: 6)', { error: 'This server does not host this topic-partition' }), 'debug');
  assert.equal(kafkajsLevel(logLevel.ERROR, 'Producer', 'Failed to send messages: x', { retryCount: 1, retryTime: 300 }), 'debug');
  assert.equal(kafkajsLevel(logLevel.ERROR, 'Consumer', 'Crash: KafkaJSNumberOfRetriesExceeded: The coordinator is loading', {}), 'debug');
  assert.equal(kafkajsLevel(logLevel.ERROR, 'Consumer', 'Restarting the consumer in 300ms', {}), 'debug');
  assert.equal(kafkajsLevel(logLevel.WARN, 'Admin', 'Could not create topics', { error: 'The coordinator is loading and hence can\'t process requests for this group' }), 'debug');
  assert.equal(kafkajsLevel(logLevel.ERROR, 'SaslAuthenticator-SCRAM-SHA-512', 'SASL SCRAM SHA512 authentication failed: x', {}), 'debug');
  assert.equal(kafkajsLevel(logLevel.ERROR, 'ConsumerGroup', 'Offset out of range, resetting to default offset', { topic: 't' }), 'error');
  assert.equal(kafkajsLevel(logLevel.WARN, 'Consumer', 'something kafkajs alone knows', {}), 'warn');
  assert.equal(kafkajsLevel(logLevel.INFO, 'Consumer', 'Starting', {}), 'debug');
  assert.equal(kafkajsLevel(logLevel.DEBUG, 'Consumer', 'x', {}), 'trace');
  assert.ok(retriableLogMessage('This server is not the leader for that topic-partition'));
  assert.ok(!retriableLogMessage('Not authorized to access topics: [Topic authorization failed]'));
  assert.ok(!retriableLogMessage(42));
});
