// SPDX-License-Identifier: Apache-2.0
// podtrail export: a consumer group on the audit topic that sends each record to a SIEM,
// as JSON (the JSON form), OCSF, ECS or CEF: to a Kafka topic for Kafka Connect sinks,
// or over syslog (RFC 5424; TCP octet-counted, or UDP).
import { KAFKA_OPTIONS, TOPIC_OPTIONS, kafkaConfigFrom, topicsConfigFrom } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import { moduleLogger } from '../common/log.js';
import { createKafka } from '../kafka/client.js';
import { ClusterGuard, ClusterIdentity } from '../kafka/cluster.js';
import { retryKafka } from '../kafka/retry.js';
import { ensureTopics } from '../kafka/topics.js';
import { codec } from '../schema/codec.js';
import { ConfluentDecoder, SchemaRegistryClient } from '../schema/confluent.js';
import { ensureTopic } from '../export/ensure-topic.js';
import { EXPORT_FORMATS, createRenderer, type ExportFormat } from '../export/render.js';
import { ExportStage, type Decoder, type Sink } from '../export/stage.js';
import { FACILITIES, parseSyslogUrl, type Facility } from '../export/syslog-message.js';
import { SyslogSender } from '../export/syslog-sender.js';
import { SyslogSink } from '../export/syslog-sink.js';
import { TopicSink } from '../export/topic-sink.js';
import { METRICS_OPTIONS, createRegistry, serveMetrics } from '../common/metrics.js';
import { registerExportMetrics } from '../export/metrics.js';
import { defineCommand } from './command.js';
import { FAILED_STOP_MS, STOP_MS, settlesWithin, waitForSignal } from './signals.js';

const topicName = (v: string) => (/^[A-Za-z0-9._-]{1,249}$/.test(v) && v !== '.' && v !== '..' ? undefined : 'not a valid Kafka topic name');

const options = {
  format: { type: 'enum', choices: EXPORT_FORMATS, default: 'json', desc: 'output format', env: 'PODTRAIL_EXPORT_FORMAT' },
  'to-topic': { type: 'string', arg: 'T', desc: 'write to this Kafka topic (created if missing)', env: 'PODTRAIL_EXPORT_TOPIC', check: topicName },
  syslog: { type: 'string', arg: 'URL', desc: 'send to a syslog server: tcp://HOST:PORT or udp://HOST:PORT', env: 'PODTRAIL_EXPORT_SYSLOG' },
  'syslog-facility': { type: 'enum', choices: Object.keys(FACILITIES), arg: 'NAME', default: 'local0', desc: 'syslog facility', env: 'PODTRAIL_SYSLOG_FACILITY' },
  group: { type: 'string', desc: 'consumer group id (default podtrail-export-<destination>)', env: 'PODTRAIL_EXPORT_GROUP' },
  'at-least-once': { type: 'boolean', desc: 'topic export without transactions: faster, but a crash can repeat records' },
  'transactional-id': { type: 'string', desc: 'transactional id, stable per replica (default <group>-<hostname>-<pid>)', env: 'PODTRAIL_EXPORT_TRANSACTIONAL_ID' },
  'transaction-timeout': { type: 'int', arg: 'MS', min: 1000, default: 10000, desc: 'how long a dead replica can hold back read_committed readers' },
  'schema-registry': { type: 'string', arg: 'URL', desc: 'Confluent Schema Registry, to read Confluent-framed Avro (0x00 + schema id) too', env: 'PODTRAIL_SCHEMA_REGISTRY' },
  ...METRICS_OPTIONS,
  ...TOPIC_OPTIONS,
  ...KAFKA_OPTIONS,
} as const;

/** A group name per destination, so two exports never share offsets by accident. */
export function defaultGroup(toTopic: string | undefined, syslog: string | undefined): string {
  const dest = toTopic ? `topic-${toTopic}` : `syslog-${syslog}`;
  return `podtrail-export-${dest.replace(/[^A-Za-z0-9._-]+/g, '_')}`;
}

export default defineCommand({
  name: 'export',
  summary: 'send audit records to a SIEM: JSON/OCSF/ECS to a Kafka topic, or CEF/JSON over syslog',
  usage: 'Usage: podtrail export --format json|ocsf|ecs|cef (--to-topic T | --syslog tcp://HOST:PORT|udp://HOST:PORT) [--group ID] [--at-least-once] [--schema-registry URL]',
  options,
  async run(v) {
    const toTopic = v['to-topic'];
    const syslog = v.syslog;
    if (Boolean(toTopic) === Boolean(syslog)) throw new ConfigError('podtrail export: give exactly one of --to-topic T or --syslog URL');
    const prefixed = <T>(f: () => T): T => {
      try {
        return f();
      } catch (err) {
        if (err instanceof ConfigError) throw new ConfigError(`podtrail export: ${err.message}`);
        throw err;
      }
    };
    const target = syslog ? prefixed(() => parseSyslogUrl(syslog)) : undefined;
    if (target && v['at-least-once']) throw new ConfigError('podtrail export: --at-least-once is for --to-topic (syslog is always at-least-once)');
    const url = v['schema-registry'];
    const registry = url ? prefixed(() => new SchemaRegistryClient(url)) : undefined;
    const format = v.format as ExportFormat;
    const topics = topicsConfigFrom(v);
    if (toTopic && (toTopic === topics.audit || toTopic === topics.dlq)) throw new ConfigError(`podtrail export: --to-topic ${toTopic} is the audit or dead-letter topic`);
    const log = moduleLogger('export');
    const kafka = createKafka(kafkaConfigFrom(v));
    const group = v.group ?? defaultGroup(toTopic, syslog);

    const created = await ensureTopics(kafka, topics, toTopic ? ['audit', 'dlq'] : ['audit']);
    if (toTopic && (await ensureTopic(kafka, toTopic, topics))) created.push(toTopic);
    if (created.length) log.info({ created }, 'created topics');
    const cluster = new ClusterIdentity(kafka, log);
    await retryKafka('read the Kafka cluster id', () => cluster.changed(), log);

    const sink: Sink = toTopic
      ? new TopicSink(kafka, {
        toTopic, dlqTopic: topics.dlq, group, format, atLeastOnce: v['at-least-once'],
        ...(v['transactional-id'] ? { transactionalId: v['transactional-id'] } : {}),
        transactionTimeoutMs: v['transaction-timeout'],
      }, log)
      : new SyslogSink(new SyslogSender({ target: target!, logger: moduleLogger('export.syslog') }), { facility: v['syslog-facility'] as Facility }, log);
    const decoder: Decoder = registry ? new ConfluentDecoder(codec(), registry) : codec();
    const stage = new ExportStage(kafka, decoder, createRenderer(format), sink, { group, topic: topics.audit, maxBytesPerPartition: 1024 * 1024, guard: new ClusterGuard(cluster) }, log);
    const metrics = createRegistry('export');
    registerExportMetrics(metrics, stage, { auditTopic: topics.audit, destination: toTopic ?? String(syslog) });
    const metricsServer = await serveMetrics(v['metrics-port'], v['metrics-host'] as string, metrics, {
      notReady: () => (stage.joined ? null : 'not yet a member of the consumer group'),
      unhealthy: () => (stage.crashed ? `consumer crashed: ${stage.crashed}` : null),
    }, log);
    await stage.start();
    const sig = await Promise.race([waitForSignal(), stage.failed.then((why) => ({ failed: why }))]);
    if (typeof sig === 'object') {
      log.fatal({ why: sig.failed }, `export cannot go on, exiting: ${sig.failed}`);
      if (!(await settlesWithin(stage.stop(), FAILED_STOP_MS))) log.warn(`export did not stop within ${FAILED_STOP_MS / 1000} s; exiting anyway`);
      return 1;
    }
    log.info({ signal: sig, ...stage.stats }, 'stopping');
    if (!(await settlesWithin(stage.stop(), STOP_MS))) {
      log.error(`export did not stop within ${STOP_MS / 1000} s (a batch still waits on Kafka); exiting: what it had not committed comes again to the next member`);
      return 1;
    }
    await metricsServer?.stop();
    return 0;
  },
});
