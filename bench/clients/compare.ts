// SPDX-License-Identifier: Apache-2.0
// Kafka clients side by side on the same broker in one run: kafkajs 2.2.4 as published and
// as podtrail ships it (patches/kafkajs+2.2.4.patch, arm kafkajs-patched), @confluentinc/kafka-javascript's KafkaJS-compatible API, and @platformatic/kafka 1.x.
// Two workloads, each arm in a fresh child process (so CPU and RSS are that client's alone):
//  - produce: N Avro RawConnectEvents, acks=all, idempotent, no compression, send() calls of
//    --batch messages with --window in flight;
//  - passthrough: read N such records (read_committed, fresh group) and write each fetched
//    batch to another topic in one transaction with the consumer offsets (enrich's shape).
// Rounds run the clients in the same order each time (A B C A B C ...); medians over rounds.
// Every arm is checked: the produced topic holds N records; the passthrough's output holds N
// committed records and its group committed the whole input.
//
//   cd bench/clients && CKJS_LINKING=dynamic npm install && cd ../.. && npx tsc -p tsconfig.json
//   flock /tmp/podtrail-bench.lock node dist/bench/clients/compare.js [--records N] [--rounds R]
//        [--partitions P] [--batch B] [--window W] [--clients kafkajs,confluent,platformatic]
//        [--platformatic-retry-delay MS] [--kafkajs-retry-initial MS]
// --window defaults to 1 (podtrail's capture and enrich await each send); @platformatic/kafka
// 1.35's idempotent producer fails with OUT_OF_ORDER_SEQUENCE_NUMBER at --window 2.
// Brokers: PODTRAIL_BROKERS (default 127.0.0.1:9092).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { passthroughConfluent, produceConfluent } from './arm-confluent.js';
import { passthroughKafkajs, produceKafkajs } from './arm-kafkajs.js';
import { passthroughPlatformatic, producePlatformatic } from './arm-platformatic.js';
import { type ArmResult, type ArmSpec, CLIENTS, type ClientName, PACKAGES, installedVersion, loadClient, measured, rawRecords } from './workload.js';

const BROKERS = (process.env.PODTRAIL_BROKERS ?? '127.0.0.1:9092').split(',');

async function child(spec: ArmSpec): Promise<void> {
  let result: ArmResult | undefined;
  const run = async (fn: () => Promise<{ records: number; transactions?: number; startedAt?: number }>) => { result = await measured(fn); };
  const msgs = spec.workload === 'produce' ? rawRecords(spec.records) : [];
  const arms = {
    kafkajs: [() => produceKafkajs(spec, msgs, run), () => passthroughKafkajs(spec, run)],
    'kafkajs-patched': [() => produceKafkajs(spec, msgs, run), () => passthroughKafkajs(spec, run)],
    confluent: [() => produceConfluent(spec, msgs, run), () => passthroughConfluent(spec, run)],
    platformatic: [() => producePlatformatic(spec, msgs, run), () => passthroughPlatformatic(spec, run)],
  } as const;
  await arms[spec.client][spec.workload === 'produce' ? 0 : 1]();
  process.send!({ result });
  process.disconnect();
  process.exit(0);
}

function runArm(spec: ArmSpec, timeoutMs: number): Promise<ArmResult> {
  return new Promise((resolve, reject) => {
    const c = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, PODTRAIL_CLIENTS_CHILD: JSON.stringify(spec) }, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let err = '';
    let result: ArmResult | undefined;
    c.stderr!.setEncoding('utf8').on('data', (s: string) => { err = (err + s).slice(-4000); });
    c.on('message', (m: { result?: ArmResult }) => { result = m.result; });
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('exit', (code, sig) => {
      clearTimeout(t);
      if (result) resolve(result);
      else {
        // Node prints a long inspected error: name the Kafka error code when there is one.
        const why = [...new Set([...err.matchAll(/apiId: '(\w+)'|^(\w*Error[^\n]*)/gm)].map((m) => m[1] ?? m[2]))].slice(0, 3).join('; ');
        reject(new Error(`${spec.client} ${spec.workload}: child exited ${code ?? sig}: ${why || err.trim().slice(-500)}`));
      }
    });
  });
}

function options() {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '100000' },
      rounds: { type: 'string', default: '5' },
      partitions: { type: 'string', default: '3' },
      batch: { type: 'string', default: '1000' },
      window: { type: 'string', default: '1' },
      clients: { type: 'string', default: CLIENTS.join(',') },
      'platformatic-retry-delay': { type: 'string', default: '200' },
      'kafkajs-retry-initial': { type: 'string', default: '200' },
    },
  });
  const int = (k: 'records' | 'rounds' | 'partitions' | 'batch' | 'window' | 'platformatic-retry-delay' | 'kafkajs-retry-initial', lo: number, hi: number) => {
    const n = Number(values[k]);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`--${k} must be an integer in [${lo}, ${hi}], got ${values[k]}`);
    return n;
  };
  const clients = values.clients!.split(',') as ClientName[];
  if (!clients.every((c) => CLIENTS.includes(c))) throw new Error(`--clients takes ${CLIENTS.join(',')}`);
  return { records: int('records', 100, 10_000_000), rounds: int('rounds', 1, 50), partitions: int('partitions', 1, 64), batch: int('batch', 1, 100_000), window: int('window', 1, 64), retryDelayMs: int('platformatic-retry-delay', 0, 60_000), kafkajsRetryMs: int('kafkajs-retry-initial', 1, 60_000), clients };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** Records a read_committed consumer finds on `topic` (the passthrough's output check). */
async function countCommitted(kafka: Kafka, topic: string, want: number): Promise<number> {
  const groupId = `bench-clients-count-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxBytesPerPartition: 4 << 20 });
  let n = 0;
  let last = Date.now();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ autoCommit: false, eachBatch: async ({ batch }) => { n += batch.messages.length; last = Date.now(); } });
  while (n < want && Date.now() - last < 10_000) await new Promise((r) => setTimeout(r, 200));
  await consumer.disconnect();
  const admin = kafka.admin();
  await admin.connect().then(() => admin.deleteGroups([groupId])).catch(() => undefined).finally(() => admin.disconnect());
  return n;
}

async function main(): Promise<void> {
  const o = options();
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const kafka = new Kafka({ clientId: 'bench-clients', brokers: BROKERS, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  say(`Kafka client comparison: ${cpus().length} CPUs, Node ${process.version}, broker ${BROKERS.join(',')}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const clients: ClientName[] = [];
  for (const c of o.clients) {
    const v = installedVersion(c);
    const loaded = v ? await loadClient(c).then(() => 'loads', (e: Error) => `does not load: ${e.message.split('\n')[0]}`) : `not installed in ${c === 'kafkajs-patched' ? 'node_modules' : 'bench/clients/node_modules'}`;
    say(`  ${c}: ${PACKAGES[c]} ${v ?? '-'} ${loaded}`);
    if (v && loaded === 'loads') clients.push(c);
  }
  if (clients.length === 0) throw new Error('no client to compare (cd bench/clients && npm install)');
  say(`${o.records} records per arm (Avro RawConnectEvent, ~${rawRecords(1)[0]!.value.length} B), ${o.partitions} partitions, batch ${o.batch}, window ${o.window}, platformatic retryDelay ${o.retryDelayMs} ms, kafkajs initialRetryTime ${o.kafkajsRetryMs} ms, ${o.rounds} rounds, order ${clients.join(' -> ')}`);

  const run = randomBytes(3).toString('hex');
  const input = `bench.clients.${run}.input`;
  await admin.createTopics({ topics: [{ topic: input, numPartitions: o.partitions, replicationFactor: 1 }], waitForLeaders: true });
  const topics = [input];
  const fill = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await fill.connect();
  const recs = rawRecords(o.records);
  for (let i = 0; i < recs.length; i += 5000) await fill.send({ topic: input, acks: -1, messages: recs.slice(i, i + 5000) });
  await fill.disconnect();

  const results: Array<{ client: ClientName; workload: string; r: ArmResult }> = [];
  try {
    for (let round = 1; round <= o.rounds; round++) {
      const line: string[] = [`round ${round}:`];
      for (const workload of ['produce', 'passthrough'] as const) {
        for (const client of clients) {
          const out = `bench.clients.${run}.${client}.${workload}.${round}`;
          await admin.createTopics({ topics: [{ topic: out, numPartitions: o.partitions, replicationFactor: 1 }], waitForLeaders: true });
          topics.push(out);
          const group = `bench-clients-${run}-${client}-${round}`;
          const retryDelayMs = client.startsWith('kafkajs') ? o.kafkajsRetryMs : o.retryDelayMs;
          const spec: ArmSpec = workload === 'produce'
            ? { client, workload, brokers: BROKERS, records: o.records, batch: o.batch, window: o.window, topic: out, retryDelayMs }
            : { client, workload, brokers: BROKERS, records: o.records, batch: o.batch, window: o.window, topic: input, outTopic: out, group, transactionalId: `${group}-tx`, retryDelayMs };
          const r = await runArm(spec, 600_000).catch(async (e: Error) => {
            await admin.deleteTopics({ topics: [out], timeout: 10_000 }).catch(() => undefined);
            throw e;
          });
          // Every arm must have done the whole job, or its figures mean nothing.
          if (workload === 'produce') {
            const end = (await admin.fetchTopicOffsets(out)).reduce((n, p) => n + Number(p.high), 0);
            if (end !== o.records) throw new Error(`${client} produce: topic holds ${end} records, want ${o.records}`);
          } else {
            const n = await countCommitted(kafka, out, o.records);
            const committed = (await admin.fetchOffsets({ groupId: group, topics: [input] }))[0]!.partitions.reduce((s, p) => s + Number(p.offset), 0);
            if (n !== o.records || committed !== o.records) throw new Error(`${client} passthrough: output holds ${n} committed records, group committed ${committed}; want ${o.records}`);
            await admin.deleteGroups([group]).catch(() => undefined);
          }
          await admin.deleteTopics({ topics: [out], timeout: 10_000 }).catch(() => undefined);
          results.push({ client, workload, r });
          line.push(`${workload} ${client} ${fmt(r.records / r.seconds)}/s`);
        }
      }
      say(line.join('  '));
    }
  } finally {
    await admin.deleteTopics({ topics: [input], timeout: 10_000 }).catch(() => undefined);
    await admin.disconnect();
  }

  for (const workload of ['produce', 'passthrough'] as const) {
    say('');
    say(`${workload} (median of ${o.rounds}): client, records/s, CPU per record, peak RSS, vs kafkajs (records/s, CPU per record)${workload === 'passthrough' ? ', transactions' : ''}`);
    const of = (c: ClientName) => results.filter((x) => x.client === c && x.workload === workload).map((x) => x.r);
    const rate = (c: ClientName) => median(of(c).map((r) => r.records / r.seconds));
    const cpu = (c: ClientName) => median(of(c).map((r) => (r.cpuSeconds / r.records) * 1e6));
    for (const c of clients) {
      const vs = clients.includes('kafkajs') ? `${(rate(c) / rate('kafkajs')).toFixed(2)}x, ${(cpu(c) / cpu('kafkajs')).toFixed(2)}x` : '-';
      const tx = workload === 'passthrough' ? `, ${median(of(c).map((r) => r.transactions ?? 0))}` : '';
      say(`  ${c.padEnd(15)} ${fmt(rate(c)).padStart(8)}/s  ${cpu(c).toFixed(1).padStart(6)} us  ${median(of(c).map((r) => r.peakRssMiB)).toFixed(0).padStart(4)} MiB  ${vs}${tx}`);
    }
  }
}

// Last, so every const above is initialised before either path runs.
if (process.env.PODTRAIL_CLIENTS_CHILD) await child(JSON.parse(process.env.PODTRAIL_CLIENTS_CHILD) as ArmSpec);
else {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`client comparison: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
