// SPDX-License-Identifier: Apache-2.0
// podtrail tail: print a topic's records (either schema) in the JSON form, or pretty.
// An undecodable message is reported on stderr with topic, partition and offset, and skipped.
import { randomBytes } from 'node:crypto';
import { KAFKA_OPTIONS, SCHEMA_REGISTRY_OPTIONS, kafkaConfigFrom } from '../common/config.js';
import { ConfluentDecoder, SchemaRegistryClient } from '../schema/confluent.js';
import { ConfigError, DecodeError, KafkaError } from '../common/errors.js';
import { moduleLogger } from '../common/log.js';
import { createKafka, watchConsumer } from '../kafka/client.js';
import { retryKafka } from '../kafka/retry.js';
import { requireLeaders } from '../kafka/topics.js';
import { codec } from '../schema/codec.js';
import { parseIsoNanos } from '../schema/json-form.js';
import { defineCommand } from './command.js';
import { createFormatter, FORMATS } from './formats.js';
import { writeLine, flushStdout } from './stdout.js';

const options = {
  topic: { type: 'string', arg: 'T', desc: 'topic to read (e.g. podtrail.audit.v1)', env: 'PODTRAIL_TAIL_TOPIC' },
  'from-beginning': { type: 'boolean', desc: 'start at the earliest offset instead of the end' },
  since: { type: 'string', arg: 'ISO', desc: 'start at the first record at or after this ISO-8601 time' },
  format: { type: 'enum', choices: FORMATS, default: 'json', desc: 'output format' },
  max: { type: 'int', min: 1, desc: 'exit after printing N records' },
  'idle-exit': { type: 'int', min: 1, arg: 'MS', desc: 'exit after MS milliseconds with nothing new' },
  'read-uncommitted': { type: 'boolean', desc: 'also show records of open or aborted transactions' },
  ...SCHEMA_REGISTRY_OPTIONS,
  ...KAFKA_OPTIONS,
} as const;

export default defineCommand({
  name: 'tail',
  summary: 'print records from a topic (raw or audit) as JSON or pretty lines',
  usage: 'Usage: podtrail tail --topic T [--from-beginning] [--since ISO] [--format json|pretty] [--max N] [--idle-exit MS]',
  options,
  async run(v) {
    if (!v.topic) throw new ConfigError('podtrail tail: --topic is required');
    if (v.since && v['from-beginning']) throw new ConfigError('podtrail tail: --since and --from-beginning exclude each other');
    let sinceMs: number | undefined;
    if (v.since) {
      try {
        sinceMs = Number(parseIsoNanos(v.since) / 1_000_000n);
      } catch {
        throw new ConfigError(`podtrail tail: --since: not an ISO-8601 time, got ${JSON.stringify(v.since)}`);
      }
    }
    const log = moduleLogger('tail');
    const topic = v.topic;
    const kafka = createKafka(kafkaConfigFrom(v));
    const format = createFormatter(v.format as string);
    // A throwaway group that never commits: tail must not disturb anyone's offsets.
    const groupId = `podtrail-tail-${randomBytes(6).toString('hex')}`;
    const consumer = kafka.consumer({ groupId, readUncommitted: v['read-uncommitted'], sessionTimeout: 10000, rebalanceTimeout: 10000 });
    const dec = v['schema-registry'] ? new ConfluentDecoder(codec(), new SchemaRegistryClient(v['schema-registry'])) : codec();
    let printed = 0;
    let lastActivity = Date.now();
    let done!: (code: number) => void;
    const finished = new Promise<number>((resolve) => (done = resolve));

    // On a brand-new cluster tail may start before capture or enrich made the topic: wait for
    // it (said once), and through the moments its partitions have no leader yet.
    await retryKafka(`wait for topic ${topic}`, async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        if (!(await admin.listTopics()).includes(topic)) {
          throw new KafkaError(`topic ${topic} does not exist (yet) on ${kafkaConfigFrom(v).brokers.join(',')}`, { retriable: true });
        }
        await requireLeaders(admin, [topic]);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }, log);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: v['from-beginning'] || sinceMs !== undefined });
    // Where each partition resumes: --since's offsets, then just past the last record read.
    // Sought at every group join, because kafkajs drops seeks when it restarts a crashed
    // consumer: on a fresh broker the first join can fail (the coordinator is still loading
    // __consumer_offsets), and a seek made right after run() then threw "Consumer group was
    // not initialized" and ended tail (npm start on a fresh clone, test/integration/setup.test.ts).
    const resume = new Map<number, string>();
    if (sinceMs !== undefined) {
      const found = await retryKafka(`find the offsets of ${topic} at --since`, async () => {
        const admin = kafka.admin();
        try {
          await admin.connect();
          return await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs);
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      }, log);
      for (const o of found) resume.set(o.partition, o.offset);
    }
    consumer.on(consumer.events.GROUP_JOIN, () => {
      lastActivity = Date.now();
      for (const [partition, offset] of resume) consumer.seek({ topic, partition, offset });
    });

    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        lastActivity = Date.now();
        // Past this record once it is handled (printed or skipped); not when handling threw.
        const handled = () => resume.set(partition, (BigInt(message.offset) + 1n).toString());
        if (v.max !== undefined && printed >= v.max) return void handled();
        if (!message.value) {
          log.warn({ topic, partition, offset: message.offset }, 'skipped empty message (tombstone)');
          return void handled();
        }
        let line: string;
        try {
          line = format(await dec.decode(message.value));
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          log.warn({ topic, partition, offset: message.offset, code: err.code, error: err.message }, `skipped undecodable message at ${topic}/${partition}@${message.offset}: ${err.message}`);
          return void handled();
        }
        await writeLine(line);
        handled();
        printed++;
        if (v.max !== undefined && printed >= v.max) done(0);
      },
    });

    const idle = v['idle-exit'];
    const timer = idle !== undefined
      ? setInterval(() => { if (Date.now() - lastActivity >= idle) done(0); }, Math.min(200, idle))
      : undefined;
    const onSignal = () => done(0);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    watchConsumer(consumer, 'tail consumer', log, () => done(1));

    const code = await finished;
    if (timer) clearInterval(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await consumer.disconnect().catch(() => undefined);
    const admin = kafka.admin();
    await admin.connect().then(() => admin.deleteGroups([groupId])).catch(() => undefined).finally(() => admin.disconnect());
    await flushStdout();
    return code;
  },
});
