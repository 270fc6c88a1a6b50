// SPDX-License-Identifier: Apache-2.0
// `npm run bench:codec`: the Avro codec against JSON, side by side in one process, on
// RawConnectEvents and the AuditRecords enrich makes of them (bench/codec-records.ts). Arms:
//  - avro Codec: src/schema/codec.ts, single-object encoding, bigint longs; encode and decode;
//  - avro raw writer: capture's hand-written RawConnectEvent writer (src/capture/raw-writer.ts),
//    encode only (its bytes are the Codec's, checked, so the Codec's decode is the decode);
//  - json: the JSON form (src/schema/json-form.ts, what `podtrail tail` prints) through
//    JSON.stringify to UTF-8 bytes; decoded with JSON.parse and back to the typed value (bigints,
//    address bytes) by jsonToRaw/jsonToAudit below, since json-form.ts has no parser beyond
//    parseIsoNanos; JSON.parse alone (a plain object, numbers and strings) is printed as well.
// Every arm goes from the typed value to a Buffer (a Kafka message value) and back. Before and
// after the timed rounds every record is checked: decode(encode(x)) deep-equals x in every arm
// and the raw writer's bytes equal the Codec's; any mismatch exits 1. Sizes: bytes per record,
// and per record after gzip (level 1, as capture's publisher) of 500-record batches (the values
// concatenated, without Kafka's record framing). Rates are wall-clock medians over --rounds,
// the arms' order rotating each round. Wrap it in `flock /tmp/podtrail-bench.lock`.
//
//   node dist/bench/codec.bench.js [--records N] [--rounds N] [--batch N] [--seed N]
import { cpus, loadavg } from 'node:os';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { CAPTURE_GZIP_LEVEL } from '../src/kafka/kafkajs-changes.js';
import { RawWriter } from '../src/capture/raw-writer.js';
import { parseAddr } from '../src/schema/addr.js';
import { Codec } from '../src/schema/codec.js';
import { auditToJson, parseIsoNanos, rawToJson } from '../src/schema/json-form.js';
import type { AuditRecord, Endpoint, Process, RawConnectEvent } from '../src/schema/types.js';
import { plain } from '../test/helpers/records.js';
import { codecRecords } from './codec-records.js';
import { BARE_ENDPOINT } from '../src/schema/endpoint.js';

function fail(msg: string, code = 2): never {
  process.stderr.write(`codec bench: ${msg}\n`);
  process.exit(code);
}

// Whoever waits on the bench lock must not wait forever on a stuck run.
setTimeout(() => fail('gave up after 10 minutes'), 10 * 60_000).unref();

function options() {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({ options: { records: { type: 'string', default: '50000' }, rounds: { type: 'string', default: '7' }, batch: { type: 'string', default: '500' }, seed: { type: 'string', default: '11' } } }));
  } catch (err) {
    fail((err as Error).message);
  }
  const int = (k: string, lo: number, hi: number) => {
    const n = Number(values[k]);
    if (!Number.isInteger(n) || n < lo || n > hi) fail(`--${k} must be an integer in [${lo}, ${hi}], got ${values[k]}`);
    return n;
  };
  return { records: int('records', 100, 2_000_000), rounds: int('rounds', 1, 50), batch: int('batch', 1, 100_000), seed: int('seed', 0, 2 ** 31) };
}

// JSON form -> typed value. Plain JSON.parse objects are reused where their shape already is the type's.
type J = Record<string, any>;
const big = (v: unknown): bigint => BigInt(v as number | string);
const bigOrNull = (v: unknown): bigint | null => (v === null ? null : big(v));
const endpoint = (e: J): Endpoint => ({ ...BARE_ENDPOINT, addr: parseAddr(e.addr), port: e.port });
const proc = (p: J): Process => ({ pid: p.pid, tid: p.tid, ppid: p.ppid, uid: big(p.uid), gid: big(p.gid), comm: p.comm, startTime: big(p.startTime), nsPid: p.nsPid,
  key: big(p.key), exe: p.exe, args: p.args, argsTruncated: p.argsTruncated, parent: p.parent, ancestry: p.ancestry, exeFlags: p.exeFlags,
});

function jsonToRaw(j: J): RawConnectEvent {
  return {
    eventId: j.eventId, seq: big(j.seq), instance: j.instance, time: parseIsoNanos(j.time), node: j.node,
    protocol: j.protocol, family: j.family, src: endpoint(j.src), dst: endpoint(j.dst), result: j.result,
    process: proc(j.process), netns: big(j.netns), mntns: big(j.mntns), pidns: big(j.pidns), utsName: j.utsName,
    cgroup: { id: big(j.cgroup.id), path: j.cgroup.path }, encryptedDns: j.encryptedDns === true,
  };
}

function jsonToAudit(j: J): AuditRecord {
  const l = j.loss as J | null | undefined;
  return {
    eventId: j.eventId, seq: big(j.seq), instance: j.instance, time: parseIsoNanos(j.time), node: j.node,
    protocol: j.protocol ?? null, family: j.family ?? null, src: j.src ? endpoint(j.src) : null, dst: j.dst ? endpoint(j.dst) : null,
    result: j.result ?? null, process: j.process ? proc(j.process) : null,
    netns: bigOrNull(j.netns ?? null), mntns: bigOrNull(j.mntns ?? null), pidns: bigOrNull(j.pidns ?? null), utsName: j.utsName ?? null,
    cgroup: j.cgroup ? { id: big(j.cgroup.id), path: j.cgroup.path } : null, encryptedDns: j.encryptedDns === true,
    container: j.container ?? null, pod: j.pod ?? null, attribution: j.attribution,
    loss: l ? {
      instance: l.instance, fromSeq: big(l.fromSeq), toSeq: big(l.toSeq), count: big(l.count), cause: l.cause,
      firstTime: l.firstTime === null ? null : parseIsoNanos(l.firstTime), lastTime: l.lastTime === null ? null : parseIsoNanos(l.lastTime),
    } : null,
  };
}

interface Arm<T> { name: string; encode?: (x: T) => Buffer; decode?: (b: Buffer) => unknown; typed: boolean; bytesOf?: string }

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

let sink = 0;

/** records/s of one pass of f over the records. */
function pass<T, R>(xs: T[], f: (x: T) => R, out?: R[]): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < xs.length; i++) {
    const r = f(xs[i]!);
    if (out) out[i] = r;
    else if (r === null) sink++;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return xs.length / s;
}

/** Every arm's round trip, for every record; exits 1 at the first wrong one. */
function check<T>(kind: string, xs: T[], arms: Arm<T>[], encoded: Map<string, Buffer[]>): void {
  for (const a of arms) {
    const bufs = encoded.get(a.bytesOf ?? a.name)!;
    for (let i = 0; i < xs.length; i++) {
      if (a.encode && !a.encode(xs[i]!).equals(bufs[i]!)) fail(`${kind} ${a.name}: record ${i} encodes to other bytes than ${a.bytesOf ? `${a.bytesOf} wrote` : "before"}`, 1);
      if (a.bytesOf && !bufs[i]!.equals(encoded.get(a.name)![i]!)) fail(`${kind} ${a.name}: record ${i}'s bytes differ from ${a.bytesOf}'s`, 1);
      if (a.decode && a.typed && !isDeepStrictEqual(plain(a.decode(bufs[i]!)), xs[i])) fail(`${kind} ${a.name}: record ${i} does not decode to its input`, 1);
    }
  }
}

function gzipPerRecord(bufs: Buffer[], batch: number): number {
  let total = 0;
  for (let i = 0; i < bufs.length; i += batch) total += gzipSync(Buffer.concat(bufs.slice(i, i + batch)), { level: CAPTURE_GZIP_LEVEL }).length;
  return total / bufs.length;
}

function bench<T>(kind: string, xs: T[], arms: Arm<T>[], rounds: number, batch: number, say: (s: string) => void): void {
  const encoded = new Map<string, Buffer[]>();
  for (const a of arms) if (a.encode) encoded.set(a.name, xs.map(a.encode));
  for (const a of arms) if (!a.encode) encoded.set(a.name, encoded.get(a.bytesOf!)!);
  check(kind, xs, arms, encoded);
  const enc = new Map<string, number[]>(arms.map((a) => [a.name, []]));
  const dec = new Map<string, number[]>(arms.map((a) => [a.name, []]));
  const scratch: Buffer[] = new Array(xs.length);
  // Round 0 warms the JIT up and is not counted.
  for (let r = 0; r <= rounds; r++) {
    for (let k = 0; k < arms.length; k++) {
      const a = arms[(k + r) % arms.length]!;
      if (a.encode) { const v = pass(xs, a.encode, scratch); if (r) enc.get(a.name)!.push(v); }
      if (a.decode) { const v = pass(encoded.get(a.name)!, a.decode); if (r) dec.get(a.name)!.push(v); }
    }
  }
  check(kind, xs, arms, encoded);
  const cell = (v: number[]) => (v.length ? `${fmt(median(v))} (${fmt(Math.min(...v) / 1000)}k-${fmt(Math.max(...v) / 1000)}k)` : '-');
  const size = new Map(arms.map((a) => {
    const bufs = encoded.get(a.name)!;
    return [a.name, { bytes: bufs.reduce((n, b) => n + b.length, 0) / bufs.length, gz: gzipPerRecord(bufs, batch) }];
  }));
  say('');
  say(`${kind} (${fmt(xs.length)} records)`);
  say(`  ${'arm'.padEnd(30)}${'encode records/s'.padStart(26)}${'decode records/s'.padStart(26)}${'bytes/record'.padStart(14)}${'gzip bytes/record'.padStart(19)}`);
  for (const a of arms) {
    const s = size.get(a.name)!;
    say(`  ${a.name.padEnd(30)}${cell(enc.get(a.name)!).padStart(26)}${cell(dec.get(a.name)!).padStart(26)}${s.bytes.toFixed(1).padStart(14)}${s.gz.toFixed(1).padStart(19)}`);
  }
  const m = (t: Map<string, number[]>, n: string) => median(t.get(n)!);
  const json = arms.find((a) => a.name.startsWith('json') && a.encode)!.name;
  const parse = arms.find((a) => a.name.startsWith('json') && !a.typed)?.name;
  for (const a of arms.filter((x) => x.name.startsWith('avro'))) {
    const parts: string[] = [];
    if (a.encode) parts.push(`encode ${(m(enc, a.name) / m(enc, json)).toFixed(2)}x`);
    if (a.decode) parts.push(`decode ${(m(dec, a.name) / m(dec, json)).toFixed(2)}x (vs JSON.parse alone ${parse ? (m(dec, a.name) / m(dec, parse)).toFixed(2) : '-'}x)`);
    parts.push(`bytes ${(size.get(a.name)!.bytes / size.get(json)!.bytes).toFixed(2)}x`, `gzip bytes ${(size.get(a.name)!.gz / size.get(json)!.gz).toFixed(2)}x`);
    say(`  ${a.name} / json: ${parts.join(', ')}`);
  }
}

function main(): void {
  const o = options();
  const say = (s: string) => process.stdout.write(`${s}\n`);
  say(`podtrail codec bench: Node ${process.version}, ${cpus().length} CPUs, load average ${load()} at start`);
  const recs = codecRecords(o.records, o.seed);
  const mix = Object.entries(recs.attribution).sort().map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
  say(`records: ${fmt(o.records)} RawConnectEvents over ${recs.workloads} workloads (cgroup paths from test/fixtures/cgroup-paths.tsv, fresh IDs), ${fmt((100 * recs.ipv6) / o.records, 1)} % IPv6; their AuditRecords: ${mix}`);
  say(`${o.rounds} rounds after a warm-up round, arms in rotating order; records/s: median (min-max), wall clock, one thread; gzip level ${CAPTURE_GZIP_LEVEL} over batches of ${o.batch}`);
  say('round trips checked before and after the timed rounds: decode(encode(x)) deep-equals x in every typed arm, raw writer bytes == Codec bytes');
  const codec = new Codec();
  const writer = new RawWriter(codec);
  if (!writer.fast) fail('the raw writer does not follow the current RawConnectEvent schema (writer.fast is false)');
  const text = (b: Buffer) => JSON.parse(b.toString('utf8')) as J;
  bench('RawConnectEvent', recs.raw, [
    { name: 'avro Codec', encode: (x) => codec.encode('RawConnectEvent', x), decode: (b) => codec.decodeAs('RawConnectEvent', b), typed: true },
    { name: 'avro raw writer (encode only)', encode: (x) => writer.encode(x), typed: true, bytesOf: 'avro Codec' },
    { name: 'json (json-form + stringify)', encode: (x) => Buffer.from(JSON.stringify(rawToJson(x)), 'utf8'), decode: (b) => jsonToRaw(text(b)), typed: true },
    { name: 'json, JSON.parse alone', decode: text, typed: false, bytesOf: 'json (json-form + stringify)' },
  ], o.rounds, o.batch, say);
  bench('AuditRecord', recs.audit, [
    { name: 'avro Codec', encode: (x) => codec.encode('AuditRecord', x), decode: (b) => codec.decodeAs('AuditRecord', b), typed: true },
    { name: 'json (json-form + stringify)', encode: (x) => Buffer.from(JSON.stringify(auditToJson(x)), 'utf8'), decode: (b) => jsonToAudit(text(b)), typed: true },
    { name: 'json, JSON.parse alone', decode: text, typed: false, bytesOf: 'json (json-form + stringify)' },
  ], o.rounds, o.batch, say);
  // Process identity's cost on the wire: the same records (same seed) with and without it,
  // through the raw writer and the audit Codec, raw and gzip'd per batch as capture sends them.
  const bare = codecRecords(o.records, o.seed, false);
  say('');
  say('process identity on the wire (same records, same seed; bytes per record, gzip bytes per record):');
  for (const [kind, withId, without, enc] of [
    ['RawConnectEvent', recs.raw, bare.raw, (x: never) => writer.encode(x)],
    ['AuditRecord', recs.audit, bare.audit, (x: never) => codec.encode('AuditRecord', x)],
  ] as const) {
    const size = (xs: readonly unknown[]) => {
      const bufs = xs.map((x) => enc(x as never));
      return { bytes: bufs.reduce((n, b) => n + b.length, 0) / bufs.length, gz: gzipPerRecord(bufs, o.batch) };
    };
    const a = size(without);
    const b = size(withId);
    say(`  ${kind.padEnd(16)} without ${a.bytes.toFixed(1)} B (gzip ${a.gz.toFixed(1)} B), with ${b.bytes.toFixed(1)} B (gzip ${b.gz.toFixed(1)} B): +${(b.bytes - a.bytes).toFixed(1)} B raw, +${(b.gz - a.gz).toFixed(1)} B gzip'd`);
  }
  say('');
  say(`load average ${load()} at end`);
}

try {
  main();
} catch (err) {
  fail((err as Error).stack ?? String(err));
}
process.exit(0);
