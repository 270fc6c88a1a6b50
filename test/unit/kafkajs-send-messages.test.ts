// SPDX-License-Identifier: Apache-2.0
// kafkajs's sendMessages across a retry during which leaders move (a broker killed, a rolling
// restart). As published (2.2.4) it remembered answers per broker: a partition whose request had
// failed, now led by a broker that had answered, was never sent (lost), and one already
// acknowledged, now led by a broker that had not, was sent again (twice). The patch remembers
// answers per partition. The same scenario runs against kafkajs's own file from its npm tarball,
// to show the test sees the bug, and against the patched one installed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pristineKafkajsDir } from '../helpers/kafkajs-pristine.js';

const require = createRequire(import.meta.url);
type SendMessages = (deps: any) => (req: any) => Promise<Array<{ topicName: string; partition: number }>>;

interface Sent { broker: number; topic: string; partition: number; values: string[]; firstSequence: number }

/**
 * Two partitions of topic t. Attempt 1: partition 0 on broker 1 (which fails: killed), partition
 * 1 on broker 2 (acknowledged, after `slowMs`). Then, with `move`, the leaders move: partition 0
 * to broker 2, partition 1 to broker 3. Returns what each broker wrote and what sendMessages
 * returned.
 */
async function scenario(sendMessages: SendMessages, { move = true, slowMs = 0 } = {}) {
  let attempt = 0;
  const leaders = () => (attempt <= 1 || !move ? { 0: 1, 1: 2 } : { 0: 2, 1: 3 }) as Record<number, number>;
  const written: Sent[] = [];
  const seq = new Map<string, number>();
  const broker = (nodeId: number) => ({
    nodeId,
    produce: async ({ topicData }: any) => {
      if (attempt === 1 && nodeId === 1) throw Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError', retriable: true });
      if (attempt === 1 && slowMs) await new Promise((r) => setTimeout(r, slowMs));
      for (const { topic, partitions } of topicData) {
        for (const p of partitions) written.push({ broker: nodeId, topic, partition: p.partition, values: p.messages.map((m: any) => m.value), firstSequence: p.firstSequence });
      }
      return { topics: topicData.map(({ topic, partitions }: any) => ({ topicName: topic, partitions: partitions.map((p: any) => ({ partition: p.partition, errorCode: 0, baseOffset: '0' })) })) };
    },
  });
  const brokers = new Map([1, 2, 3].map((n) => [n, broker(n)]));
  const cluster = {
    targetTopics: new Set(),
    refreshMetadataIfNecessary: async () => undefined,
    refreshMetadata: async () => undefined,
    addMultipleTargetTopics: async () => undefined,
    isConnected: () => true,
    findTopicPartitionMetadata: () => [0, 1].map((p) => ({ partitionId: p, leader: leaders()[p] })),
    findLeaderForPartitions: (_t: string, partitions: string[]) => {
      const out: Record<string, number[]> = {};
      for (const p of partitions) (out[leaders()[Number(p)]!] ??= []).push(Number(p));
      return out;
    },
    findBroker: async ({ nodeId }: { nodeId: number | string }) => brokers.get(Number(nodeId))!,
    removeBroker: () => undefined,
  };
  const eosManager = {
    isTransactional: () => false,
    getSequence: (t: string, p: number) => seq.get(`${t}/${p}`) ?? 0,
    updateSequence: (t: string, p: number, n: number) => seq.set(`${t}/${p}`, (seq.get(`${t}/${p}`) ?? 0) + n),
    getProducerId: () => 1, getProducerEpoch: () => 0, getTransactionalId: () => undefined,
    acquireBrokerLock: async () => undefined, releaseBrokerLock: async () => undefined,
  };
  const retrier = async (fn: (bail: (e: unknown) => never, n: number, t: number) => Promise<unknown>) => {
    for (;;) {
      attempt++;
      try {
        return await fn((e) => { throw e; }, attempt, 0);
      } catch (err) {
        if (attempt >= 5 || !(err as { retriable?: boolean }).retriable) throw err;
      }
    }
  };
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const send = sendMessages({ logger, cluster, partitioner: ({ message }: any) => message.partition, eosManager, retrier });
  const result = await send({ acks: -1, timeout: 1000, topicMessages: [{ topic: 't', messages: [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }] }] });
  // a request left in flight by the attempt that failed lands after all
  if (slowMs) await new Promise((r) => setTimeout(r, slowMs * 2));
  return { written, result };
}

const perPartition = (w: Sent[]) => [0, 1].map((p) => w.filter((x) => x.partition === p).flatMap((x) => x.values));

test('patched: each partition is written once, although its leader moved between attempts', async () => {
  const { written, result } = await scenario(require('kafkajs/src/producer/sendMessages.js') as SendMessages);
  assert.deepEqual(perPartition(written), [['a'], ['b']]);
  assert.deepEqual(written.map((w) => [w.partition, w.broker, w.firstSequence]).sort(), [[0, 2, 0], [1, 2, 0]]);
  assert.deepEqual(result.map((r) => [r.topicName, r.partition]).sort(), [['t', 0], ['t', 1]]);
});

test("kafkajs's own sendMessages loses partition 0 and writes partition 1 twice in the same scenario", async () => {
  const pristine = require(path.join(pristineKafkajsDir(), 'src/producer/sendMessages.js')) as SendMessages;
  const { written } = await scenario(pristine);
  assert.deepEqual(perPartition(written), [[], ['b', 'b']], 'the bug the patch fixes is what this scenario shows');
});

// A leader killed while another broker's request of the same attempt is still in flight: with
// Promise.all the retry began at the first failure and sent the in-flight partition again under
// the next sequence number (written twice, as a batch twice in the audit topic).
test('patched: a request still in flight when another fails is not sent again', async () => {
  const { written, result } = await scenario(require('kafkajs/src/producer/sendMessages.js') as SendMessages, { move: false, slowMs: 50 });
  assert.deepEqual(perPartition(written), [['a'], ['b']]);
  assert.deepEqual(written.map((w) => [w.partition, w.broker, w.firstSequence]).sort(), [[0, 1, 0], [1, 2, 0]]);
  assert.deepEqual(result.map((r) => [r.topicName, r.partition]).sort(), [['t', 0], ['t', 1]]);
});

test("kafkajs's own sendMessages writes the in-flight partition twice in the same scenario", async () => {
  const pristine = require(path.join(pristineKafkajsDir(), 'src/producer/sendMessages.js')) as SendMessages;
  const { written } = await scenario(pristine, { move: false, slowMs: 50 });
  assert.deepEqual(perPartition(written), [['a'], ['b', 'b']], 'the bug the patch fixes is what this scenario shows');
});
