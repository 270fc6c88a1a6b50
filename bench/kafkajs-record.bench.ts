// SPDX-License-Identifier: Apache-2.0
// `npm run bench:kafkajs-record`: kafkajs's own per-record encoder and per-partition grouping
// (from its npm tarball, test/helpers/kafkajs-pristine.ts) against the installed ones, which
// patches/kafkajs+2.2.4.patch replaced, side by side in one process. Each record arm encodes produce
// requests' worth of records shaped like capture's (a `<node>/<cgroupId>` string key, an
// Avro value of ~200-400 bytes, no headers, timestamp delta 0) and joins them as kafkajs's
// RecordBatch does before compressing (Encoder.writeEncoderArray). Before the timed rounds
// the joined bytes of both arms are compared; any difference exits 1. Prints records/s
// (median over --rounds, the arms' order alternating) and the GC time each arm caused.
// The grouping arms group the same requests' messages to one partition, as capture's
// partitioner does (all of a node's events to one partition), and print messages/s.
// Wrap it in `flock /tmp/podtrail-bench.lock`.
//
//   node --expose-gc --max-semi-space-size=4 dist/bench/kafkajs-record.bench.js [--records N] [--batch N] [--rounds N]
// (capture's young-generation size, src/capture/node-flags.ts)
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pristineRequire } from '../test/helpers/kafkajs-pristine.js';

const require = createRequire(import.meta.url);
interface EncoderT {
  buf: Buffer;
  offset: number;
  buffer: Buffer;
  writeEncoderArray(a: unknown[]): EncoderT;
}
const Encoder = require('kafkajs/src/protocol/encoder.js') as { new (): EncoderT; prototype: EncoderT };

function fail(msg: string, code = 2): never {
  process.stderr.write(`kafkajs-record bench: ${msg}\n`);
  process.exit(code);
}

const { values } = parseArgs({
  options: { records: { type: 'string', default: '400000' }, batch: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '7' } },
});
const int = (name: string, v: string | undefined, min: number, max: number) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer in [${min}, ${max}]`);
  return n;
};
const total = int('records', values.records, 1000, 10_000_000);
const batch = int('batch', values.batch, 1, 100_000);
const rounds = int('rounds', values.rounds, 1, 50);

// Deterministic values: a little PRNG, sizes like capture's Avro RawConnectEvents.
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const messages: Array<{ key: string; value: Buffer }> = [];
for (let i = 0; i < batch; i++) {
  const value = Buffer.alloc(200 + Math.floor(rnd() * 200));
  for (let j = 0; j < value.length; j++) value[j] = Math.floor(rnd() * 256);
  messages.push({ key: `node-${Math.floor(rnd() * 4)}/${1000 + Math.floor(rnd() * 5000)}`, value });
}

interface RecordArgs { offsetDelta: number; timestampDelta: number; key: string; value: Buffer }
type RecordFn = ((a: RecordArgs) => EncoderT) & { podtrailPatch?: string };
const RECORD = './src/protocol/recordBatch/record/v0/index.js';
const patchedRecord = require(`kafkajs/${RECORD.slice(2)}`) as RecordFn;
if (patchedRecord.podtrailPatch !== 'exact-size-record') fail('node_modules/kafkajs is not patched (npm ci applies patches/kafkajs+2.2.4.patch)');
const arms: Record<string, RecordFn> = {
  'kafkajs Record': pristineRequire<RecordFn>(RECORD),
  'podtrail Record': patchedRecord,
};
type GroupFn = (a: { topic: string; partitionMetadata: unknown[]; messages: unknown[]; partitioner: () => number }) => Record<number, unknown[]>;
const GROUPING = './src/producer/groupMessagesPerPartition.js';
const groupArms: Record<string, GroupFn> = {
  'kafkajs grouping': pristineRequire<GroupFn>(GROUPING),
  'podtrail grouping': require(`kafkajs/${GROUPING.slice(2)}`) as GroupFn,
};
const partitionMetadata = [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }];
const group = (g: GroupFn) => g({ topic: 't', partitionMetadata, messages, partitioner: () => 1 });

/** One request's records, as kafkajs's produce request builds and joins them. */
function encodeBatch(rec: RecordFn): Buffer {
  const records = messages.map((m, i) => rec({ ...m, offsetDelta: i, timestampDelta: 0 }));
  return new Encoder().writeEncoderArray(records).buffer;
}

const [a, b] = Object.values(arms).map(encodeBatch);
if (!a!.equals(b!)) fail('the two encoders produced different bytes', 1);
const [ga, gb] = Object.values(groupArms).map(group);
if (JSON.stringify(ga) !== JSON.stringify(gb) || ga![1]!.length !== batch) fail('the two groupings differ', 1);

let gcMs = 0;
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
});
obs.observe({ entryTypes: ['gc'] });
const gc = (globalThis as { gc?: () => void }).gc;

async function run(name: string): Promise<{ rate: number; gcMs: number }> {
  const rec = arms[name];
  const grp = groupArms[name];
  gc?.();
  await new Promise((r) => setImmediate(r)); // deliver the forced GC's entry first
  gcMs = 0;
  const t0 = performance.now();
  let n = 0;
  while (n < total) {
    if (rec) encodeBatch(rec);
    else group(grp!);
    n += batch;
  }
  const secs = (performance.now() - t0) / 1000;
  await new Promise((r) => setImmediate(r));
  return { rate: n / secs, gcMs: gcMs };
}

const results = new Map<string, Array<{ rate: number; gcMs: number }>>();
const names = [...Object.keys(arms), ...Object.keys(groupArms)];
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...names].reverse() : names;
  for (const name of order) {
    const res = await run(name);
    (results.get(name) ?? results.set(name, []).get(name)!).push(res);
  }
}
obs.disconnect();
const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`kafkajs record encoding, ${fmt(total)} records per round in requests of ${fmt(batch)}, ${rounds} rounds (node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(2)}${gc ? '' : ', no --expose-gc'})`);
console.log('bytes: identical in both record arms; grouping: identical in both grouping arms (one partition, as capture)');
const rate = new Map<string, number>();
for (const name of names) {
  const rs = results.get(name)!;
  rate.set(name, median(rs.map((x) => x.rate)));
  console.log(`  ${name.padEnd(17)} ${fmt(rate.get(name)!).padStart(11)} ${name.endsWith('grouping') ? 'messages' : 'records'}/s   GC ${median(rs.map((x) => x.gcMs)).toFixed(0).padStart(5)} ms per round (median)`);
}
console.log(`podtrail's encoder: ${(rate.get('podtrail Record')! / rate.get('kafkajs Record')!).toFixed(2)}x kafkajs's records/s`);
console.log(`podtrail's grouping: ${(rate.get('podtrail grouping')! / rate.get('kafkajs grouping')!).toFixed(2)}x kafkajs's messages/s`);
