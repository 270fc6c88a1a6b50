// SPDX-License-Identifier: Apache-2.0
// The options every stage shares: brokers, TLS and SASL, topic names, logging. Validated
// once, at startup, with a message that names the flag or variable at fault.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors.js';
import type { OptSpecs, OptValues } from './options.js';

export const DEFAULT_TOPICS = {
  raw: 'podtrail.raw.v1',
  audit: 'podtrail.audit.v1',
  containers: 'podtrail.containers.v1',
  dlq: 'podtrail.dlq.v1',
} as const;

export const DEFAULT_BROKERS = '127.0.0.1:9092';

export function checkBrokerList(list: string[]): string | undefined {
  for (const b of list) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(b);
    if (!m) return `broker "${b}" is not host:port`;
    const port = Number(m[2]);
    if (port < 1 || port > 65535) return `broker "${b}" has port ${port} outside 1-65535`;
  }
  return undefined;
}

const topicName = (v: string) =>
  /^[A-Za-z0-9._-]{1,249}$/.test(v) && v !== '.' && v !== '..' ? undefined : 'not a valid Kafka topic name';

export const KAFKA_OPTIONS = {
  brokers: { type: 'list', desc: 'Kafka bootstrap brokers, comma-separated host:port', env: 'PODTRAIL_BROKERS', default: [DEFAULT_BROKERS], check: checkBrokerList },
  'client-id': { type: 'string', desc: 'Kafka client id', env: 'PODTRAIL_CLIENT_ID', default: 'podtrail' },
  ssl: { type: 'boolean', desc: 'connect with TLS', env: 'PODTRAIL_SSL' },
  'ssl-ca': { type: 'string', desc: 'PEM file of CA certificates to trust', env: 'PODTRAIL_SSL_CA' },
  'ssl-cert': { type: 'string', desc: 'PEM client certificate (mutual TLS)', env: 'PODTRAIL_SSL_CERT' },
  'ssl-key': { type: 'string', desc: 'PEM client key (mutual TLS)', env: 'PODTRAIL_SSL_KEY' },
  'sasl-mechanism': { type: 'enum', choices: ['plain', 'scram-sha-256', 'scram-sha-512'], desc: 'SASL mechanism', env: 'PODTRAIL_SASL_MECHANISM' },
  'sasl-username': { type: 'string', desc: 'SASL username', env: 'PODTRAIL_SASL_USERNAME' },
  'sasl-password-file': { type: 'string', desc: 'file holding the SASL password (or env PODTRAIL_SASL_PASSWORD)', env: 'PODTRAIL_SASL_PASSWORD_FILE' },
  'kafka-credentials': { type: 'string', arg: 'DIR', desc: 'a mounted Secret: ca.crt (TLS), username + password [+ mechanism, default scram-sha-512] (SASL), tls.crt + tls.key (mutual TLS); each file present turns its part on; flags win', env: 'PODTRAIL_KAFKA_CREDENTIALS' },
  'log-level': { type: 'enum', choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], desc: 'log level (logs go to stderr)', env: 'PODTRAIL_LOG_LEVEL', default: 'info' },
} as const satisfies OptSpecs;

export const TOPIC_OPTIONS = {
  'raw-topic': { type: 'string', desc: 'raw connect events topic', env: 'PODTRAIL_RAW_TOPIC', default: DEFAULT_TOPICS.raw, check: topicName },
  'audit-topic': { type: 'string', desc: 'audit records topic', env: 'PODTRAIL_AUDIT_TOPIC', default: DEFAULT_TOPICS.audit, check: topicName },
  'containers-topic': { type: 'string', desc: 'container metadata topic (compacted)', env: 'PODTRAIL_CONTAINERS_TOPIC', default: DEFAULT_TOPICS.containers, check: topicName },
  'dlq-topic': { type: 'string', desc: 'dead-letter topic for undecodable records', env: 'PODTRAIL_DLQ_TOPIC', default: DEFAULT_TOPICS.dlq, check: topicName },
  'topic-partitions': { type: 'int', desc: 'partitions for topics podtrail creates', env: 'PODTRAIL_TOPIC_PARTITIONS', default: 6, min: 1, max: 10000 },
  'topic-replication': { type: 'int', desc: 'replication factor for topics podtrail creates (-1: broker default)', env: 'PODTRAIL_TOPIC_REPLICATION', default: -1, min: -1, max: 32 },
} as const satisfies OptSpecs;

export const SCHEMA_REGISTRY_OPTIONS = {
  'schema-registry': { type: 'string', arg: 'URL', desc: 'Confluent Schema Registry: write Avro with Confluent framing (subject <topic>-value) and read both framings', env: 'PODTRAIL_SCHEMA_REGISTRY' },
} as const satisfies OptSpecs;

export interface SaslConfig { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string }
export interface SslConfig { ca?: string[]; cert?: string; key?: string }

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  ssl: boolean | SslConfig;
  sasl?: SaslConfig;
}

export interface TopicsConfig {
  raw: string;
  audit: string;
  containers: string;
  dlq: string;
  partitions: number;
  replicationFactor: number;
}

const readPem = (flag: string, file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--${flag}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
};

/**
 * --kafka-credentials DIR: a Kubernetes Secret mounted as files, one per key. An absent file
 * leaves its part off, so one manifest serves a plaintext cluster (an optional Secret that does
 * not exist mounts as an empty directory) and a TLS + SCRAM one. Flags set explicitly win.
 */
function fromCredentialsDir(v: OptValues<typeof KAFKA_OPTIONS>): OptValues<typeof KAFKA_OPTIONS> {
  const dir = v['kafka-credentials'];
  if (!dir) return v;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new ConfigError(`--kafka-credentials: cannot read ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const has = (f: string) => names.includes(f);
  const file = (f: string) => path.join(dir, f);
  const out = { ...v };
  if (has('ca.crt') || has('tls.crt')) out.ssl = true;
  if (has('ca.crt')) out['ssl-ca'] ??= file('ca.crt');
  if (has('tls.crt') !== has('tls.key')) throw new ConfigError(`--kafka-credentials: ${dir} has ${has('tls.crt') ? 'tls.crt without tls.key' : 'tls.key without tls.crt'}`);
  if (has('tls.crt')) {
    out['ssl-cert'] ??= file('tls.crt');
    out['ssl-key'] ??= file('tls.key');
  }
  if (has('username') !== has('password')) throw new ConfigError(`--kafka-credentials: ${dir} has ${has('username') ? 'username without password' : 'password without username'}`);
  if (has('username')) {
    out['sasl-username'] ??= readPem('kafka-credentials', file('username')).trim();
    out['sasl-password-file'] ??= file('password');
    const mech = has('mechanism') ? readPem('kafka-credentials', file('mechanism')).trim() : 'scram-sha-512';
    if (!['plain', 'scram-sha-256', 'scram-sha-512'].includes(mech)) throw new ConfigError(`--kafka-credentials: ${file('mechanism')} says ${JSON.stringify(mech.slice(0, 40))}, not plain, scram-sha-256 or scram-sha-512`);
    out['sasl-mechanism'] ??= mech as never;
  }
  return out;
}

export function kafkaConfigFrom(given: OptValues<typeof KAFKA_OPTIONS>, env: NodeJS.ProcessEnv = process.env): KafkaConfig {
  const v = fromCredentialsDir(given);
  const cfg: KafkaConfig = { brokers: v.brokers, clientId: v['client-id'] ?? 'podtrail', ssl: v.ssl };
  const tlsFiles = v['ssl-ca'] || v['ssl-cert'] || v['ssl-key'];
  if (tlsFiles) {
    if (!v.ssl) throw new ConfigError('--ssl-ca/--ssl-cert/--ssl-key need --ssl (or PODTRAIL_SSL=true)');
    if (Boolean(v['ssl-cert']) !== Boolean(v['ssl-key'])) throw new ConfigError('--ssl-cert and --ssl-key go together');
    cfg.ssl = {
      ...(v['ssl-ca'] ? { ca: [readPem('ssl-ca', v['ssl-ca'])] } : {}),
      ...(v['ssl-cert'] ? { cert: readPem('ssl-cert', v['ssl-cert']) } : {}),
      ...(v['ssl-key'] ? { key: readPem('ssl-key', v['ssl-key']) } : {}),
    };
  }
  const mech = v['sasl-mechanism'] as SaslConfig['mechanism'] | undefined;
  if (mech) {
    const username = v['sasl-username'];
    if (!username) throw new ConfigError(`--sasl-mechanism ${mech} needs --sasl-username (or PODTRAIL_SASL_USERNAME)`);
    let password = env.PODTRAIL_SASL_PASSWORD;
    if (v['sasl-password-file']) password = readPem('sasl-password-file', v['sasl-password-file']).replace(/\r?\n$/, '');
    if (!password) throw new ConfigError(`--sasl-mechanism ${mech} needs a password: PODTRAIL_SASL_PASSWORD or --sasl-password-file`);
    cfg.sasl = { mechanism: mech, username, password };
  } else if (v['sasl-username']) {
    throw new ConfigError('--sasl-username needs --sasl-mechanism plain|scram-sha-256|scram-sha-512');
  }
  return cfg;
}

export function topicsConfigFrom(v: OptValues<typeof TOPIC_OPTIONS>): TopicsConfig {
  return {
    raw: v['raw-topic'] as string,
    audit: v['audit-topic'] as string,
    containers: v['containers-topic'] as string,
    dlq: v['dlq-topic'] as string,
    partitions: v['topic-partitions'],
    replicationFactor: v['topic-replication'],
  };
}
