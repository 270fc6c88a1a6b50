// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KAFKA_OPTIONS, TOPIC_OPTIONS, kafkaConfigFrom, topicsConfigFrom, DEFAULT_TOPICS } from '../../src/common/config.js';
import { ConfigError } from '../../src/common/errors.js';
import { parseOptions } from '../../src/common/options.js';

const specs = { ...KAFKA_OPTIONS, ...TOPIC_OPTIONS, max: { type: 'int', min: 1, desc: 'n' }, format: { type: 'enum', choices: ['json', 'pretty'], default: 'json', desc: 'f' } } as const;
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseOptions('test', argv, specs, env).values;
const configError = (re: RegExp) => (e: unknown) => e instanceof ConfigError && re.test(e.message);

test('defaults: local broker and the design topics', () => {
  const v = parse([]);
  assert.deepEqual(kafkaConfigFrom(v, {}), { brokers: ['127.0.0.1:9092'], clientId: 'podtrail', ssl: false });
  const t = topicsConfigFrom(v);
  assert.equal(t.raw, DEFAULT_TOPICS.raw);
  assert.equal(t.audit, 'podtrail.audit.v1');
  assert.equal(t.dlq, 'podtrail.dlq.v1');
});

test('flags win over environment, environment over defaults', () => {
  assert.deepEqual(parse([], { PODTRAIL_BROKERS: 'k1:9092, k2:9093' }).brokers, ['k1:9092', 'k2:9093']);
  assert.deepEqual(parse(['--brokers', '[::1]:9092'], { PODTRAIL_BROKERS: 'k1:9092' }).brokers, ['[::1]:9092']);
  assert.equal(parse([], { PODTRAIL_RAW_TOPIC: 'my.raw' })['raw-topic'], 'my.raw');
});

test('bad values are refused with the flag or variable named', () => {
  assert.throws(() => parse(['--brokers', 'localhost']), configError(/--brokers: broker "localhost" is not host:port/));
  assert.throws(() => parse([], { PODTRAIL_BROKERS: 'a:99999' }), configError(/PODTRAIL_BROKERS: .*outside 1-65535/));
  assert.throws(() => parse(['--brokers', ',']), configError(/comma-separated list/));
  assert.throws(() => parse(['--nope']), configError(/Unknown option '--nope'/));
  assert.throws(() => parse(['--max', '0']), configError(/--max: must be at least 1/));
  assert.throws(() => parse(['--max', '1.5']), configError(/--max: expected an integer/));
  assert.throws(() => parse(['--format', 'xml']), configError(/--format: expected one of json\|pretty/));
  assert.throws(() => parse(['--raw-topic', 'bad topic']), configError(/not a valid Kafka topic name/));
  assert.throws(() => parse([], { PODTRAIL_SSL: 'maybe' }), configError(/PODTRAIL_SSL: expected true or false/));
  assert.throws(() => parse(['--log-level', 'loud']), configError(/--log-level/));
});

test('TLS and SASL pass through, and half-configured ones are refused', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'podtrail-cfg-'));
  const ca = path.join(dir, 'ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const withTls = kafkaConfigFrom(parse(['--ssl', '--ssl-ca', ca]), {});
  assert.deepEqual(withTls.ssl, { ca: ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'] });
  assert.throws(() => kafkaConfigFrom(parse(['--ssl-ca', ca]), {}), configError(/need --ssl/));
  assert.throws(() => kafkaConfigFrom(parse(['--ssl', '--ssl-ca', path.join(dir, 'missing.pem')]), {}), configError(/cannot read/));

  const sasl = kafkaConfigFrom(parse(['--sasl-mechanism', 'scram-sha-512', '--sasl-username', 'u']), { PODTRAIL_SASL_PASSWORD: 'p' });
  assert.deepEqual(sasl.sasl, { mechanism: 'scram-sha-512', username: 'u', password: 'p' });
  const pw = path.join(dir, 'pw');
  writeFileSync(pw, 'secret\n');
  assert.equal(kafkaConfigFrom(parse(['--sasl-mechanism', 'plain', '--sasl-username', 'u', '--sasl-password-file', pw]), {}).sasl?.password, 'secret');
  assert.throws(() => kafkaConfigFrom(parse(['--sasl-mechanism', 'plain']), {}), configError(/needs --sasl-username/));
  assert.throws(() => kafkaConfigFrom(parse(['--sasl-mechanism', 'plain', '--sasl-username', 'u']), {}), configError(/needs a password/));
  assert.throws(() => kafkaConfigFrom(parse(['--sasl-username', 'u']), {}), configError(/needs --sasl-mechanism/));
});

test('--kafka-credentials: a mounted Secret turns on what its files hold, and flags win', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'podtrail-creds-'));
  // An empty directory (an optional Secret that does not exist): plaintext, no SASL.
  assert.deepEqual(kafkaConfigFrom(parse(['--kafka-credentials', dir]), {}), { brokers: ['127.0.0.1:9092'], clientId: 'podtrail', ssl: false });
  writeFileSync(path.join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');
  writeFileSync(path.join(dir, 'username'), 'capture\n');
  writeFileSync(path.join(dir, 'password'), 's3cret\n');
  const cfg = kafkaConfigFrom(parse([], { PODTRAIL_KAFKA_CREDENTIALS: dir }), {});
  assert.deepEqual(cfg.ssl, { ca: ['-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n'] });
  assert.deepEqual(cfg.sasl, { mechanism: 'scram-sha-512', username: 'capture', password: 's3cret' });
  // Flags win over the directory's files.
  assert.equal(kafkaConfigFrom(parse(['--kafka-credentials', dir, '--sasl-username', 'other']), {}).sasl?.username, 'other');
  writeFileSync(path.join(dir, 'mechanism'), 'scram-sha-256\n');
  assert.equal(kafkaConfigFrom(parse(['--kafka-credentials', dir]), {}).sasl?.mechanism, 'scram-sha-256');
  // Bad forms: a half pair, an unknown mechanism, a directory that is not there.
  writeFileSync(path.join(dir, 'mechanism'), 'gssapi\n');
  assert.throws(() => kafkaConfigFrom(parse(['--kafka-credentials', dir]), {}), configError(/mechanism.*"gssapi"/));
  writeFileSync(path.join(dir, 'mechanism'), 'plain');
  writeFileSync(path.join(dir, 'tls.crt'), 'x');
  assert.throws(() => kafkaConfigFrom(parse(['--kafka-credentials', dir]), {}), configError(/tls\.crt without tls\.key/));
  writeFileSync(path.join(dir, 'tls.key'), 'k');
  const mtls = kafkaConfigFrom(parse(['--kafka-credentials', dir]), {});
  assert.deepEqual([typeof mtls.ssl === 'object' && mtls.ssl.cert, typeof mtls.ssl === 'object' && mtls.ssl.key, mtls.sasl?.mechanism], ['x', 'k', 'plain']);
  const half = mkdtempSync(path.join(tmpdir(), 'podtrail-creds-'));
  writeFileSync(path.join(half, 'password'), 'p');
  assert.throws(() => kafkaConfigFrom(parse(['--kafka-credentials', half]), {}), configError(/password without username/));
  assert.throws(() => kafkaConfigFrom(parse(['--kafka-credentials', path.join(half, 'nope')]), {}), configError(/--kafka-credentials: cannot read/));
});
