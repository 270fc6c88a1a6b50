// SPDX-License-Identifier: Apache-2.0
// Property tests of the raw-record decoders (Codec.decode/decodeAs, ConfluentDecoder): whatever
// the bytes, the answer is a valid record of a known schema or a DecodeError with a known
// code, never another error, and never slow. Each property runs in a worker with a deadline
// (test/helpers/fuzz.ts), so a hang fails with the input it hung on.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type avro from 'avsc';
import { DecodeError } from '../../src/common/errors.js';
import { Codec, HEADER_BYTES } from '../../src/schema/codec.js';
import { ConfluentDecoder, SchemaRegistryError, confluentFrame, schemaText, type SchemaRegistryClient } from '../../src/schema/confluent.js';
import { fingerprintBytesLE } from '../../src/schema/rabin.js';
import { parseSchema, SCHEMA_NAMES, type WriterSchema } from '../../src/schema/registry.js';
import { avroArb } from '../helpers/avro-arb.js';
import { fuzzSuite, timed, timedAsync } from '../helpers/fuzz.js';
import { sampleAudit } from '../helpers/records.js';

const codec = new Codec();
const WRITERS: WriterSchema[] = [...codec.set.byFingerprint.values()];
const CODES = new Set(['BAD_MAGIC', 'UNKNOWN_FINGERPRINT', 'TRUNCATED', 'INVALID', 'UNKNOWN_SCHEMA_ID']);
// Generous: a decode takes microseconds; this catches work that grows with a claimed count.
const CALL_MS = 500;

const frame = (fp: bigint, body: Buffer): Buffer => Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytesLE(fp), body]);

function typedOnly(err: unknown): void {
  if (err instanceof DecodeError && CODES.has(err.code)) return;
  throw new Error(`not a typed DecodeError: ${err instanceof Error ? err.stack : String(err)}`);
}

/** Decodes; an accepted buffer must give a valid record of the current schema. */
function check(buf: Buffer): boolean {
  let d;
  try {
    d = timed('Codec.decode', CALL_MS, () => codec.decode(buf));
  } catch (err) {
    typedOnly(err);
    return false;
  }
  assert.ok(codec.set.get(d.schema).type.isValid(d.value), `accepted bytes give an invalid ${d.schema}`);
  return true;
}

// Mutations of valid encodings: the bytes garbage most often looks like.
const mutation = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  // A varint (a length, a block count, a union index) replaced by any long, huge and negative included.
  fc.record({ op: fc.constant('varint' as const), at: fc.nat(), value: fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(-1n, -2n, 2n ** 31n, 2n ** 40n, 2n ** 62n - 1n)) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function zigzag(n: bigint): Buffer {
  let z = BigInt.asUintN(64, n >= 0n ? n << 1n : (-n << 1n) - 1n);
  const out: number[] = [];
  while (z >= 0x80n) { out.push(Number(z & 0x7fn) | 0x80); z >>= 7n; }
  out.push(Number(z));
  return Buffer.from(out);
}

/** Applies mutations to the body only (from `from`), so most runs get past the header. */
function mutate(buf: Buffer, muts: Mutation[], from = HEADER_BYTES): Buffer {
  let b = Buffer.from(buf);
  for (const m of muts) {
    const span = Math.max(0, b.length - from);
    const at = from + (span === 0 ? 0 : m.at % (span + 1));
    switch (m.op) {
      case 'truncate': b = b.subarray(0, at); break;
      case 'set': if (at < b.length) b[at] = m.byte; break;
      case 'insert': b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]); break;
      case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]); break;
      case 'varint': {
        let end = at;
        while (end < b.length && end - at < 10 && (b[end]! & 0x80) !== 0) end++;
        b = Buffer.concat([b.subarray(0, at), zigzag(m.value), b.subarray(Math.min(end + 1, b.length))]);
        break;
      }
    }
  }
  return b;
}

const writerValue = fc.constantFrom(...WRITERS).chain((ws) => avroArb(ws.type).map((value) => ({ ws, value })));

// Registry answers for the Confluent decoder: everything a registry (or a wrong one) can say.
type Answer = { kind: string; schema?: string; schemaType?: string; type?: avro.Type };
const extraFields = (s: string): string => {
  const j = JSON.parse(s) as { fields: unknown[] };
  j.fields.push({ name: 'junkList', type: { type: 'array', items: 'string' }, default: [] });
  j.fields.push({ name: 'junkMap', type: { type: 'map', values: { type: 'array', items: 'long' } }, default: {} });
  return JSON.stringify(j);
};
const ANSWERS: Answer[] = [
  { kind: 'missing' },
  { kind: 'unreachable' },
  { kind: 'protobuf', schema: 'syntax = "proto3"; message X {}', schemaType: 'PROTOBUF' },
  { kind: 'not json', schema: '{"type": "record", "na' },
  { kind: 'bad avro', schema: '{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}' },
  { kind: 'foreign', schema: '{"type":"record","name":"com.acme.Other","fields":[{"name":"a","type":{"type":"array","items":"string"}}]}' },
  { kind: 'incompatible', schema: '{"type":"record","name":"io.podtrail.v1.RawConnectEvent","fields":[{"name":"eventId","type":"int"}]}' },
  ...SCHEMA_NAMES.filter((n) => codec.set.current.has(n)).flatMap((n) => [
    { kind: `${n} current`, schema: schemaText(n) },
    { kind: `${n} with extra map/array fields`, schema: extraFields(schemaText(n)) },
  ]),
  ...WRITERS.filter((w) => w.version !== 'current').map((w) => ({ kind: `${w.name} ${w.version}`, schema: JSON.stringify(w.type.schema()) })),
].map((a) => {
  if (!a.schema || a.schemaType) return a;
  try { return { ...a, type: parseSchema(JSON.parse(a.schema)) }; } catch { return a; }
});

function stubRegistry(answer: Answer): SchemaRegistryClient {
  return {
    async schemaById(): Promise<{ schema: string; schemaType: string } | undefined> {
      if (answer.kind === 'unreachable') throw new SchemaRegistryError('registry unreachable (stub)', undefined, { retriable: true });
      if (answer.schema === undefined) return undefined;
      return { schema: answer.schema, schemaType: answer.schemaType ?? 'AVRO' };
    },
  } as unknown as SchemaRegistryClient;
}

const confluentCase = fc.constantFrom(...ANSWERS).chain((answer) => fc.record({
  answer: fc.constant(answer),
  id: fc.nat(),
  body: answer.type
    ? fc.oneof(
      avroArb(answer.type).map((v) => answer.type!.toBuffer(v)),
      fc.tuple(avroArb(answer.type), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([v, m]) => mutate(answer.type!.toBuffer(v), m, 0)),
    )
    : fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
}));

// The first hang this suite found (fixed in src/schema/avro-blocks.ts): an AuditRecord whose
// labels map claims 2^62 entries. Kept, with its siblings, as fixed cases.
function hangCases(): Buffer[] {
  const audit = codec.encode('AuditRecord', { ...sampleAudit(), pod: { ...sampleAudit().pod!, labels: { a: 'b' } } });
  const at = audit.indexOf(Buffer.from([0x02, 0x02, 0x61, 0x02, 0x62, 0x00]));
  const withCount = (n: bigint) => Buffer.concat([audit.subarray(0, at), zigzag(n), audit.subarray(at + 1)]);
  const cases = [withCount(2n ** 62n), withCount(2n ** 33n), withCount(-(2n ** 40n)), audit.subarray(0, at + 1)];
  const cm = codec.set.current.get('ContainerMeta');
  if (cm) {
    // cgroupPaths is the last field: a huge array count, then nothing.
    const v = fc.sample(avroArb(cm.type), { seed: 1, numRuns: 1 })[0] as Record<string, unknown>;
    const body = cm.type.toBuffer({ ...v, cgroupPaths: [] });
    cases.push(frame(cm.fingerprint, Buffer.concat([body.subarray(0, body.length - 1), zigzag(2n ** 50n)])));
  }
  return cases;
}

fuzzSuite(import.meta.url, {
  'Codec.decode: random bytes, bare or behind a real header, give a record or a DecodeError': {
    runs: 20_000, timeMs: 1_200,
    make: (observe) => fc.property(
      fc.oneof(fc.constant(null), fc.constantFrom(...WRITERS).map((w) => w.fingerprint), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
      fc.uint8Array({ maxLength: 300 }),
      (fp, body) => {
        const buf = fp === null ? Buffer.from(body) : frame(fp, Buffer.from(body));
        observe(buf);
        check(buf);
      }),
  },
  'Codec.decode: every valid record of every writer schema decodes to the same value': {
    runs: 3_000, timeMs: 800,
    make: (observe) => fc.property(writerValue, ({ ws, value }) => {
      const buf = frame(ws.fingerprint, ws.type.toBuffer(value));
      observe(buf);
      const d = timed('Codec.decode', CALL_MS, () => codec.decode(buf));
      assert.equal(d.schema, ws.name);
      assert.equal(d.writerVersion, ws.version);
      if (ws.version === 'current') assert.ok(ws.type.toBuffer(d.value).equals(buf.subarray(HEADER_BYTES)), 're-encodes to the same bytes');
    }),
  },
  'Codec.decode/decodeAs: mutated valid records (truncated, flipped, spliced, huge counts) give only DecodeErrors': {
    runs: 30_000, timeMs: 2_000,
    make: (observe) => fc.property(writerValue, fc.array(mutation, { minLength: 1, maxLength: 4 }), ({ ws, value }, muts) => {
      const buf = mutate(frame(ws.fingerprint, ws.type.toBuffer(value)), muts);
      observe(buf);
      check(buf);
      try {
        timed('Codec.decodeAs', CALL_MS, () => codec.decodeAs('RawConnectEvent', buf));
      } catch (err) {
        typedOnly(err);
      }
    }),
  },
  'ConfluentDecoder: any registry answer and any body give a record, a DecodeError, or (registry down) a SchemaRegistryError': {
    runs: 4_000, timeMs: 1_200,
    make: (observe) => fc.asyncProperty(confluentCase, async ({ answer, id, body }) => {
      const buf = confluentFrame(id % 2 ** 32, body);
      observe({ answer: answer.kind, buf });
      const dec = new ConfluentDecoder(codec, stubRegistry(answer));
      try {
        const d = await timedAsync('ConfluentDecoder.decode', CALL_MS, async () => dec.decode(buf));
        assert.ok(codec.set.get(d.schema).type.isValid(d.value));
      } catch (err) {
        if (answer.kind === 'unreachable' && err instanceof SchemaRegistryError && err.retriable) return;
        typedOnly(err);
      }
      // Without a registry, a Confluent frame is a typed error too.
      try {
        await new ConfluentDecoder(codec).decode(buf);
        assert.fail('decoded a Confluent frame without a registry');
      } catch (err) {
        typedOnly(err);
      }
    }),
  },
  'regression: map/array block counts past the end of the buffer end the decode at once': {
    runs: 50, timeMs: 2_000, deadlineMs: 15_000,
    make: (observe) => fc.property(fc.constantFrom(...hangCases()), (buf) => {
      observe(buf);
      assert.equal(check(buf), false, 'a truncated record is refused');
    }),
  },
});
