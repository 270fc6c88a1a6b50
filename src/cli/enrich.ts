// SPDX-License-Identifier: Apache-2.0
// podtrail enrich: the consumer-group stage that turns raw events into audit records.
import { KAFKA_OPTIONS, SCHEMA_REGISTRY_OPTIONS, TOPIC_OPTIONS, kafkaConfigFrom, topicsConfigFrom } from '../common/config.js';
import { ConfluentDecoder, ConfluentEncoder, SchemaRegistryClient } from '../schema/confluent.js';
import { moduleLogger } from '../common/log.js';
import { createKafka } from '../kafka/client.js';
import { ClusterGuard, ClusterIdentity } from '../kafka/cluster.js';
import { retryKafka } from '../kafka/retry.js';
import { ensureTopics } from '../kafka/topics.js';
import { codec } from '../schema/codec.js';
import { DEFAULT_CONCURRENCY, EnrichProcessor } from '../enrich/processor.js';
import { annotationFilter, createResolver } from '../runtime/index.js';
import { EnrichStage, STAGE_MAX_BYTES_PER_PARTITION } from '../enrich/stage.js';
import { MetaTable } from '../enrich/meta-table.js';
import { TopicResolver } from '../enrich/topic-resolver.js';
import type { MetadataResolver } from '../runtime/types.js';
import type { AuditDnsLookup, AuditRecord } from '../schema/types.js';
import { METRICS_OPTIONS, createRegistry, serveMetrics } from '../common/metrics.js';
import { registerEnrichMetrics } from '../enrich/metrics.js';
import { defineCommand } from './command.js';
import { POD_ANNOTATIONS_OPTION } from './pod-annotations.js';
import { DESTINATION_OPTIONS, destinationJoin } from './destination-options.js';
import { CRI_OPTIONS } from './cri-options.js';
import { CachedResolver } from '../runtime/cache.js';
import { openCriRuntimes, type CriRuntimes } from '../runtime/cri/runtimes.js';
import { FAILED_STOP_MS, STOP_MS, settlesWithin, waitForSignal } from './signals.js';

const options = {
  group: { type: 'string', desc: 'consumer group id', env: 'PODTRAIL_ENRICH_GROUP', default: 'podtrail-enrich' },
  'host-root': { type: 'string', arg: 'DIR', desc: "where the node's filesystem is mounted", env: 'PODTRAIL_HOST_ROOT', default: '/' },
  'docker-config': { type: 'string', arg: 'FILE', desc: "Docker's daemon.json (default <host-root>/etc/docker/daemon.json)", env: 'PODTRAIL_DOCKER_CONFIG' },
  'at-least-once': { type: 'boolean', desc: 'skip transactions: faster, but a crash can duplicate audit records' },
  'transactional-id': { type: 'string', desc: 'transactional id, stable per replica (default <group>-<hostname>-<pid>)', env: 'PODTRAIL_TRANSACTIONAL_ID' },
  'transaction-timeout': { type: 'int', arg: 'MS', min: 1000, default: 10000, desc: 'how long a dead replica can hold back read_committed readers' },
  metadata: { type: 'enum', choices: ['topic', 'files'], default: 'topic', desc: 'resolve from the containers topic (node files as fallback), or from node files only', env: 'PODTRAIL_METADATA' },
  'meta-wait': { type: 'int', arg: 'MS', min: 0, default: 3000, desc: "how long an event waits for its container's metadata to arrive on the topic", env: 'PODTRAIL_META_WAIT' },
  'meta-max-containers': { type: 'int', min: 100, default: 200_000, desc: 'containers kept in the metadata table (oldest evicted first)' },
  'file-fallback': { type: 'enum', choices: ['on', 'off'], default: 'on', desc: 'fall back to node files under --host-root when the topic has nothing' },
  'gap-window': { type: 'int', min: 1, default: 4096, desc: "later events of a capture instance seen before a hole in its sequence is reported as LOSS" },
  concurrency: { type: 'int', min: 1, max: 4096, default: DEFAULT_CONCURRENCY, desc: 'metadata lookups in flight' },
  'cache-ttl': { type: 'int', arg: 'MS', min: 0, default: 300000, desc: 'metadata cache TTL' },
  'negative-ttl': { type: 'int', arg: 'MS', min: 0, default: 5000, desc: 'TTL of cached "not found" answers' },
  ...POD_ANNOTATIONS_OPTION,
  ...DESTINATION_OPTIONS,
  ...CRI_OPTIONS,
  ...METRICS_OPTIONS,
  ...SCHEMA_REGISTRY_OPTIONS,
  ...TOPIC_OPTIONS,
  ...KAFKA_OPTIONS,
} as const;

export default defineCommand({
  name: 'enrich',
  summary: 'resolve raw events to container and pod, publish audit records (consumer group)',
  usage: 'Usage: podtrail enrich [--brokers B] [--raw-topic T] [--audit-topic T] [--group ID] [--host-root DIR] [--docker-config FILE] [--at-least-once]',
  options,
  async run(v) {
    const log = moduleLogger('enrich');
    const topics = topicsConfigFrom(v);
    const kafka = createKafka(kafkaConfigFrom(v));
    const files = createResolver({
      hostRoot: v['host-root'] as string,
      ...(v['docker-config'] ? { dockerConfigPath: v['docker-config'] } : {}),
      cacheTtlMs: v['cache-ttl'],
      negativeTtlMs: v['negative-ttl'],
      podAnnotations: v['pod-annotations'],
      logger: moduleLogger('enrich.resolver'),
    });
    const useTopic = v.metadata === 'topic';
    // The node fallback asks the node's CRI runtimes first, as capture does (enrich on a node,
    // or with --metadata files); elsewhere no socket is found and the files answer alone.
    let cri: CriRuntimes | undefined;
    let fileResolver: MetadataResolver = files;
    if ((!useTopic || v['file-fallback'] === 'on') && v.cri !== 'off') {
      cri = await openCriRuntimes({
        hostRoot: v['host-root'] as string, sockets: v['cri-socket'], deadlineMs: v['cri-timeout'], files,
        keepAnnotation: annotationFilter(v['pod-annotations']), log: moduleLogger('enrich.cri'),
      });
      if (cri.sockets.length > 0) {
        log.info({ sockets: cri.sockets.map((s) => s.path) }, 'node fallback asks CRI runtimes first');
        fileResolver = new CachedResolver(cri.resolver, { ttlMs: v['cache-ttl'], negativeTtlMs: v['negative-ttl'], size: 10_000, clock: Date.now });
      }
    }
    const created = await ensureTopics(kafka, topics, useTopic ? ['raw', 'audit', 'dlq', 'containers'] : ['raw', 'audit', 'dlq']);
    if (created.length) log.info({ created }, 'created topics');
    const cluster = new ClusterIdentity(kafka, log);
    await retryKafka('read the Kafka cluster id', () => cluster.changed(), log);
    let confluent: { decoder: ConfluentDecoder; encodeAudit: (rec: AuditRecord) => Buffer; encodeLookup: (rec: AuditDnsLookup) => Buffer } | undefined;
    if (v['schema-registry']) {
      const client = new SchemaRegistryClient(v['schema-registry']);
      const enc = new ConfluentEncoder(codec(), client);
      await enc.prepare(topics.audit, 'AuditRecord');
      // A second record type on the audit topic: its own subject (TopicRecordNameStrategy), as CaptureLoss on the raw topic.
      await enc.prepare(topics.audit, 'AuditDnsLookup', `${topics.audit}-io.podtrail.v1.AuditDnsLookup`);
      confluent = {
        decoder: new ConfluentDecoder(codec(), client),
        encodeAudit: (rec) => enc.encodeSync(topics.audit, 'AuditRecord', rec),
        encodeLookup: (rec) => enc.encodeSync(topics.audit, 'AuditDnsLookup', rec),
      };
    }
    let table: MetaTable | undefined;
    let resolver: MetadataResolver = fileResolver;
    if (useTopic) {
      table = new MetaTable(codec(), { topic: topics.containers, maxContainers: v['meta-max-containers'], maxVersionsPerContainer: 64 }, moduleLogger('enrich.meta'), confluent?.decoder);
    }
    const destinations = destinationJoin(v, codec(), table);
    if (table) {
      await table.start(kafka);
      resolver = new TopicResolver(table, {
        topic: topics.containers, waitMs: v['meta-wait'], missTtlMs: 30_000, keepAnnotation: annotationFilter(v['pod-annotations']),
        ...(v['file-fallback'] === 'on' ? { fallback: fileResolver } : {}),
      });
    }
    const processor = new EnrichProcessor(codec(), resolver, {
      concurrency: v.concurrency, topic: topics.raw, gapWindow: v['gap-window'],
      ...(confluent ? { confluent: confluent.decoder, encodeAudit: confluent.encodeAudit, encodeLookup: confluent.encodeLookup } : {}),
      ...(destinations ? { destinations } : {}),
    }, log);
    const stage = new EnrichStage(kafka, processor, {
      group: v.group as string,
      topics,
      atLeastOnce: v['at-least-once'],
      ...(v['transactional-id'] ? { transactionalId: v['transactional-id'] } : {}),
      transactionTimeoutMs: v['transaction-timeout'],
      maxBytesPerPartition: STAGE_MAX_BYTES_PER_PARTITION,
      guard: new ClusterGuard(cluster),
    }, log);
    const registry = createRegistry('enrich');
    registerEnrichMetrics(registry, { processor, stage, ...(table ? { table } : {}), rawTopic: topics.raw, auditTopic: topics.audit });
    const metricsServer = await serveMetrics(v['metrics-port'], v['metrics-host'] as string, registry, {
      notReady: () => (!stage.joined ? 'not yet a member of the consumer group' : table && !table.ready ? 'metadata table still catching up' : null),
      unhealthy: () => (stage.crashed ? `consumer crashed: ${stage.crashed}` : null),
    }, log);
    await stage.start();
    const sig = await Promise.race([waitForSignal(), stage.failed.then((why) => ({ failed: why }))]);
    if (typeof sig === 'object') {
      log.fatal({ why: sig.failed }, `enrich cannot go on, exiting: ${sig.failed}`);
      if (!(await settlesWithin(stage.stop(), FAILED_STOP_MS))) log.warn(`enrich did not stop within ${FAILED_STOP_MS / 1000} s; exiting anyway`);
      return 1;
    }
    log.info({ signal: sig, ...processor.stats, ...stage.stats }, 'stopping');
    if (!(await settlesWithin(stage.stop(), STOP_MS))) {
      log.error(`enrich did not stop within ${STOP_MS / 1000} s (a batch still waits on Kafka); exiting: what it had not committed comes again to the next member`);
      return 1;
    }
    await table?.stop();
    cri?.close();
    await metricsServer?.stop();
    return 0;
  },
});
