// SPDX-License-Identifier: Apache-2.0
// podtrail replay: re-enrich a time window of the raw topic from the containers topic.
import { KAFKA_OPTIONS, TOPIC_OPTIONS, kafkaConfigFrom, topicsConfigFrom } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import { moduleLogger } from '../common/log.js';
import { ensureTopic } from '../export/ensure-topic.js';
import { createKafka, IDEMPOTENT_RETRY } from '../kafka/client.js';
import { codec } from '../schema/codec.js';
import { parseIsoNanos } from '../schema/json-form.js';
import { MetaTable } from '../enrich/meta-table.js';
import { EnrichProcessor } from '../enrich/processor.js';
import { replay } from '../enrich/replay.js';
import { annotationFilter, createResolver } from '../runtime/index.js';
import { TopicResolver } from '../enrich/topic-resolver.js';
import { defineCommand } from './command.js';
import { POD_ANNOTATIONS_OPTION } from './pod-annotations.js';
import { DESTINATION_OPTIONS, destinationJoin } from './destination-options.js';
import { createFormatter, FORMATS } from './formats.js';
import { flushStdout, writeLine } from './stdout.js';

const iso = (flag: string, v: string): bigint => {
  try {
    return parseIsoNanos(v);
  } catch {
    throw new ConfigError(`podtrail replay: --${flag}: not an ISO-8601 time, got ${JSON.stringify(v)}`);
  }
};

const options = {
  since: { type: 'string', arg: 'ISO', desc: 'start of the window (event time, inclusive)' },
  until: { type: 'string', arg: 'ISO', desc: 'end of the window (exclusive; default: now)' },
  'to-topic': { type: 'string', arg: 'T', desc: 'write audit records (Avro) to this topic' },
  stdout: { type: 'boolean', desc: 'print the records instead' },
  format: { type: 'enum', choices: FORMATS, default: 'json', desc: 'output format with --stdout' },
  'file-fallback': { type: 'enum', choices: ['on', 'off'], default: 'off', desc: 'also read node files under --host-root for containers the topic lacks' },
  'host-root': { type: 'string', arg: 'DIR', default: '/', desc: "node filesystem for --file-fallback on" },
  'gap-window': { type: 'int', min: 1, default: 4096, desc: 'as enrich --gap-window: use the live value to get the same LOSS records' },
  'slack': { type: 'int', arg: 'MS', min: 0, default: 120_000, desc: 'how far publish time may trail event time' },
  // As --gap-window: use the live enrich's value to get the same records.
  ...POD_ANNOTATIONS_OPTION,
  ...DESTINATION_OPTIONS,
  ...TOPIC_OPTIONS,
  ...KAFKA_OPTIONS,
} as const;

export default defineCommand({
  name: 'replay',
  summary: 're-enrich a time window of the raw topic from the metadata topic (point in time)',
  usage: 'Usage: podtrail replay --since ISO [--until ISO] [--raw-topic T] (--to-topic T | --stdout) [--format json|pretty]',
  options,
  async run(v) {
    if (!v.since) throw new ConfigError('podtrail replay: --since is required');
    if (Boolean(v['to-topic']) === v.stdout) throw new ConfigError('podtrail replay: give exactly one of --to-topic T and --stdout');
    const sinceNs = iso('since', v.since);
    const untilNs = v.until ? iso('until', v.until) : undefined;
    if (untilNs !== undefined && untilNs <= sinceNs) throw new ConfigError('podtrail replay: --until must be after --since');
    const log = moduleLogger('replay');
    const topics = topicsConfigFrom(v);
    const kafka = createKafka(kafkaConfigFrom(v));
    const c = codec();
    const table = new MetaTable(c, { topic: topics.containers, maxContainers: 1_000_000, maxVersionsPerContainer: 256 }, moduleLogger('replay.meta'));
    const destinations = destinationJoin(v, c, table);
    await table.start(kafka);
    await table.caughtUp;
    const podAnnotations = v['pod-annotations'];
    const resolver = new TopicResolver(table, {
      topic: topics.containers, waitMs: 0, missTtlMs: 3_600_000, keepAnnotation: annotationFilter(podAnnotations),
      ...(v['file-fallback'] === 'on' ? { fallback: createResolver({ hostRoot: v['host-root'] as string, podAnnotations }) } : {}),
    });
    const processor = new EnrichProcessor(c, resolver, { concurrency: 64, topic: topics.raw, gapWindow: v['gap-window'], ...(destinations ? { destinations } : {}) }, log);
    const format = createFormatter(v.format as string);
    // The target is made when missing, as export's is: an idempotent producer would otherwise
    // retry a topic nobody makes for ever.
    if (v['to-topic'] && (await ensureTopic(kafka, v['to-topic'], topics, log))) log.info({ created: [v['to-topic']] }, 'created topics');
    const producer = v['to-topic'] ? kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: IDEMPOTENT_RETRY }) : undefined;
    await producer?.connect();
    const pending: Array<{ key: Buffer | string | null; value: Buffer }> = [];
    const flush = async () => {
      if (producer && pending.length) await producer.send({ topic: v['to-topic'] as string, acks: -1, messages: pending.splice(0) });
    };
    try {
      const res = await replay(kafka, c, processor, { rawTopic: topics.raw, sinceNs, untilNs, slackMs: v.slack, progressMs: 2000 }, async (o) => {
        if (o.kind === 'dlq') {
          log.warn({ code: o.headers['podtrail-error-code'], offset: o.headers['podtrail-source-offset'], partition: o.headers['podtrail-source-partition'] }, `skipped undecodable raw record: ${o.error}`);
          return;
        }
        if (producer) {
          pending.push({ key: o.key, value: o.value });
          if (pending.length >= 2000) await flush();
        } else {
          await writeLine(format('query' in o.record ? { schema: 'AuditDnsLookup', value: o.record, writerVersion: 'current' } : { schema: 'AuditRecord', value: o.record, writerVersion: 'current' }));
        }
      }, log);
      await flush();
      log.info({ ...res }, 'replay finished');
    } finally {
      await producer?.disconnect().catch(() => undefined);
      await table.stop();
      await flushStdout();
    }
    return 0;
  },
});
