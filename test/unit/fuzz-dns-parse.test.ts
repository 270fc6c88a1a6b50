// SPDX-License-Identifier: Apache-2.0
// Property tests of the DNS parser and TCP reassembler: random mutations of valid packets
// (byte flips, cuts, splices, pointer bytes planted anywhere) and plain random bytes never
// throw, always come back as a parse or a listed reason, and each takes bounded time; any
// split of a valid TCP stream gives back its messages. In a worker with a deadline.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MALFORMED_REASONS, parseDns } from '../../src/capture/dns/parse.js';
import { answerSet } from '../../src/capture/dns/answer-set.js';
import { DnsTcpReassembler } from '../../src/capture/dns/tcp-stream.js';
import { encodeDns, loopAnswer, type WireRecord } from '../helpers/dns-wire.js';
import { fuzzSuite, timed } from '../helpers/fuzz.js';

const CALL_MS = 50;

const label = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
const name = fc.array(label, { minLength: 1, maxLength: 5 }).map((l) => l.join('.'));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.'));
const record: fc.Arbitrary<WireRecord> = fc.oneof(
  fc.record({ name, type: fc.constant('A' as const), ttl: fc.nat(), value: ipv4 }),
  fc.record({ name, type: fc.constant('AAAA' as const), ttl: fc.nat(), value: fc.constantFrom('2001:db8::1', '::1', 'fe80::42') }),
  fc.record({ name, type: fc.constant('CNAME' as const), ttl: fc.nat(), value: name }),
);
const valid = fc.record({
  id: fc.nat(0xffff), response: fc.boolean(), rcode: fc.nat(15), tc: fc.boolean(), compress: fc.boolean(),
  question: fc.record({ name, type: fc.constantFrom(1, 28, 5, 16) }),
  answers: fc.array(record, { maxLength: 8 }),
  edns: fc.option(fc.constantFrom(512, 1232, 4096), { nil: undefined }),
}).map((m) => encodeDns(m));

type Mutation = { kind: 'flip'; at: number; value: number } | { kind: 'cut'; at: number } | { kind: 'splice'; at: number; bytes: number[] } | { kind: 'pointer'; at: number; target: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.array(fc.nat(255), { maxLength: 8 }) }),
  fc.record({ kind: fc.constant('pointer' as const), at: fc.nat(), target: fc.nat(0x3fff) }),
);

function mutate(b: Buffer, ms: Mutation[]): Buffer {
  let out = Buffer.from(b);
  for (const m of ms) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'flip') out[at] = m.value;
    else if (m.kind === 'cut') out = out.subarray(0, at);
    else if (m.kind === 'splice') out = Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes), out.subarray(at)]);
    else if (at + 1 < out.length) {
      // Pointers into the message (often backwards into itself) are what loops are made of.
      const t = m.target % out.length;
      out[at] = 0xc0 | (t >> 8);
      out[at + 1] = t & 0xff;
    }
  }
  return out;
}

const REASONS = new Set<string>(MALFORMED_REASONS);

function checked(b: Buffer): void {
  const r = timed('parseDns', CALL_MS, () => parseDns(b));
  if (!r.ok) {
    assert.ok(REASONS.has(r.reason), r.reason);
    assert.notEqual(r.reason, 'internal', 'a parser fault, not a packet fault');
    return;
  }
  const a = answerSet(r.msg);
  if (a) {
    assert.ok(a.chain.length <= 17);
    for (const x of a.addrs) assert.ok(x.ttl >= 0 && x.ttl <= 0x7fffffff);
  }
  for (const rec of r.msg.answers) {
    assert.ok(rec.name.length <= 255 * 4, 'names are bounded (escapes at most 4 chars a byte)');
  }
}

fuzzSuite(import.meta.url, {
  'valid packets parse and round-trip their id and question': {
    runs: 500, timeMs: 3_000,
    make: (observe) => fc.property(valid, (b) => {
      observe(b.toString('hex'));
      const r = parseDns(b);
      assert.ok(r.ok, r.ok ? '' : r.reason);
      assert.equal(r.msg.id, b.readUInt16BE(0));
      assert.ok(r.msg.question);
    }),
  },
  'mutated packets never throw and take bounded time': {
    runs: 3_000, timeMs: 8_000,
    make: (observe) => fc.property(valid, fc.array(mutation, { minLength: 1, maxLength: 6 }), (b, ms) => {
      const m = mutate(b, ms);
      observe(m.toString('hex'));
      checked(m);
    }),
  },
  'random bytes and a compression loop never throw': {
    runs: 2_000, timeMs: 4_000,
    make: (observe) => fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(0xffff), (bytes, id) => {
      const b = Buffer.from(bytes);
      observe(b.toString('hex'));
      checked(b);
      checked(loopAnswer(id, 'loop.test'));
    }),
  },
  'any split of a TCP stream gives back its messages': {
    runs: 300, timeMs: 3_000,
    make: (observe) => fc.property(fc.array(valid, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 10 }), (msgs, cuts) => {
      const stream = Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m])));
      observe({ stream: stream.toString('hex'), cuts });
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((x, y) => x - y);
      const r = new DnsTcpReassembler();
      const got: Buffer[] = [];
      let prev = 0;
      let seq = 5;
      for (const p of [...points, stream.length]) {
        got.push(...r.push('s', stream.subarray(prev, p), seq));
        seq += p - prev;
        prev = p;
      }
      assert.deepEqual(got, msgs);
    }),
  },
  'mutated TCP streams never throw; what they yield parses or is a listed reason': {
    runs: 500, timeMs: 3_000,
    make: (observe) => fc.property(fc.array(valid, { minLength: 1, maxLength: 3 }), fc.array(mutation, { maxLength: 4 }), (msgs, ms) => {
      const stream = mutate(Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]))), ms);
      observe(stream.toString('hex'));
      const r = new DnsTcpReassembler({ maxMessageBytes: 512 });
      for (let i = 0; i < stream.length; i += 7) for (const m of r.push('s', stream.subarray(i, i + 7))) checked(m);
    }),
  },
});
