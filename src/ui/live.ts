// SPDX-License-Identifier: Apache-2.0
// The live view's feed: the audit topic from its end on, read_committed, with a throwaway group
// that never commits and is deleted at stop. The newest records are kept in a bounded ring so a
// page opened later starts with them; each one goes to every open page as it arrives.
import { randomBytes } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { ConfigError, DecodeError } from '../common/errors.js';
import { retryKafka } from '../kafka/retry.js';
import type { Logger } from '../common/log.js';
import type { Codec } from '../schema/codec.js';
import { auditToJson } from '../schema/json-form.js';

export type Listener = (json: string) => void;

export class LiveFeed {
  private readonly ring: string[] = [];
  private readonly listeners = new Set<Listener>();
  private consumer: Consumer | undefined;
  private readonly groupId = `podtrail-ui-${randomBytes(6).toString('hex')}`;
  joined = false;

  constructor(private readonly kafka: Kafka, private readonly codec: Codec, private readonly topic: string, private readonly keep: number, private readonly log: Logger) {}

  async start(): Promise<void> {
    const exists = await retryKafka('list the topics', async () => {
      const admin = this.kafka.admin();
      try {
        await admin.connect();
        return (await admin.listTopics()).includes(this.topic);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }, this.log);
    if (!exists) throw new ConfigError(`topic ${this.topic} does not exist on this cluster (check --audit-topic and --brokers)`);
    const consumer = this.kafka.consumer({ groupId: this.groupId, readUncommitted: false, sessionTimeout: 10_000, maxWaitTimeInMs: 250, allowAutoTopicCreation: false });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: false });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (!this.joined) this.log.info({ topic: this.topic }, 'ui live feed joined');
      this.joined = true;
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (!message.value) return;
        let json: string;
        try {
          json = JSON.stringify(auditToJson(this.codec.decodeAs('AuditRecord', message.value)));
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          this.log.warn({ partition, offset: message.offset, code: err.code }, 'live feed skipped an undecodable message');
          return;
        }
        this.ring.push(json);
        if (this.ring.length > this.keep) this.ring.shift();
        for (const l of this.listeners) l(json);
      },
    });
  }

  subscribe(l: Listener): () => void {
    for (const j of this.ring) l(j);
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    const admin = this.kafka.admin();
    await admin.connect().then(() => admin.deleteGroups([this.groupId])).catch(() => undefined).finally(() => admin.disconnect());
  }
}
