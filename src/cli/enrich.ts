// SPDX-License-Identifier: Apache-2.0
// podtrail enrich: the consumer-group stage that turns raw events into audit records.
import { KAFKA_OPTIONS, TOPIC_OPTIONS, kafkaConfigFrom, topicsConfigFrom } from '../common/config.js';
import { moduleLogger } from '../common/log.js';
import { createKafka } from '../kafka/client.js';
import { ensureTopics } from '../kafka/topics.js';
import { codec } from '../schema/codec.js';
import { EnrichProcessor } from '../enrich/processor.js';
import { createResolver } from '../enrich/resolvers/index.js';
import { EnrichStage } from '../enrich/stage.js';
import { defineCommand } from './command.js';
import { waitForSignal } from './signals.js';

const options = {
  group: { type: 'string', desc: 'consumer group id', env: 'PODTRAIL_ENRICH_GROUP', default: 'podtrail-enrich' },
  'host-root': { type: 'string', arg: 'DIR', desc: "where the node's filesystem is mounted", env: 'PODTRAIL_HOST_ROOT', default: '/' },
  'docker-config': { type: 'string', arg: 'FILE', desc: "Docker's daemon.json (default <host-root>/etc/docker/daemon.json)", env: 'PODTRAIL_DOCKER_CONFIG' },
  'at-least-once': { type: 'boolean', desc: 'skip transactions: faster, but a crash can duplicate audit records' },
  'transactional-id': { type: 'string', desc: 'transactional id, stable per replica (default <group>-<hostname>-<pid>)', env: 'PODTRAIL_TRANSACTIONAL_ID' },
  'transaction-timeout': { type: 'int', arg: 'MS', min: 1000, default: 10000, desc: 'how long a dead replica can hold back read_committed readers' },
  concurrency: { type: 'int', min: 1, max: 4096, default: 64, desc: 'metadata lookups in flight' },
  'cache-ttl': { type: 'int', arg: 'MS', min: 0, default: 300000, desc: 'metadata cache TTL' },
  'negative-ttl': { type: 'int', arg: 'MS', min: 0, default: 5000, desc: 'TTL of cached "not found" answers' },
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
    const resolver = createResolver({
      hostRoot: v['host-root'] as string,
      ...(v['docker-config'] ? { dockerConfigPath: v['docker-config'] } : {}),
      cacheTtlMs: v['cache-ttl'],
      negativeTtlMs: v['negative-ttl'],
      logger: moduleLogger('enrich.resolver'),
    });
    const created = await ensureTopics(kafka, topics, ['raw', 'audit', 'dlq']);
    if (created.length) log.info({ created }, 'created topics');
    const processor = new EnrichProcessor(codec(), resolver, { concurrency: v.concurrency, topic: topics.raw }, log);
    const stage = new EnrichStage(kafka, processor, {
      group: v.group as string,
      topics,
      atLeastOnce: v['at-least-once'],
      ...(v['transactional-id'] ? { transactionalId: v['transactional-id'] } : {}),
      transactionTimeoutMs: v['transaction-timeout'],
      maxBytesPerPartition: 1024 * 1024,
    }, log);
    await stage.start();
    const sig = await waitForSignal();
    log.info({ signal: sig, ...processor.stats, ...stage.stats }, 'stopping');
    await stage.stop();
    return 0;
  },
});
