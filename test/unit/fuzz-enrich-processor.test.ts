// SPDX-License-Identifier: Apache-2.0
// The enrich processor over garbage interleaved with records that decode (any field values
// the schema allows, so forged ones too): processBatch never throws, every message that does
// not decode goes to the DLQ once with its partition and offset, every raw record comes out
// as exactly one audit record, in order, that decodes again; LOSS records are the only
// extras. The metadata resolver answers anything, or throws. Unit twin of
// test/integration/dlq-flood.test.ts.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino } from 'pino';
import { Codec } from '../../src/schema/codec.js';
import { fingerprintBytesLE } from '../../src/schema/rabin.js';
import { DLQ_HEADERS, EnrichProcessor, type InMessage } from '../../src/enrich/processor.js';
import type { MetadataResolver, ResolveResult } from '../../src/runtime/types.js';
import type { RawConnectEvent } from '../../src/schema/types.js';
import { avroArb } from '../helpers/avro-arb.js';
import { fuzzSuite, mainTest, timedAsync } from '../helpers/fuzz.js';
import { sampleRaw } from '../helpers/records.js';
import { A, S } from '../helpers/host-tree.js';

const codec = new Codec();
const silent = pino({ level: 'silent' });
const raw = codec.set.get('RawConnectEvent');
const CALL_MS = 3_000;

// Raw records as capture writes them (one instance, consecutive seqs), and forged ones. Seqs
// stay >= 0 here: a negative one breaks loss accounting (see the todo test below).
const forged = (avroArb(raw.type) as fc.Arbitrary<RawConnectEvent>).map((r) => ({ ...r, seq: r.seq < 0n ? -r.seq - 1n : r.seq }));
const kinds = fc.oneof(
  { weight: 4, arbitrary: forged.map((r) => ({ kind: 'raw' as const, r })) },
  { weight: 2, arbitrary: fc.constantFrom(`/kubepods/burstable/pod35b82523-06c1-48e7-9e61-2521a89b703b/${A}`, `/docker/${S}`, '/', '/system.slice/x', '..', '')
    .chain((path) => forged.map((r) => ({ kind: 'raw' as const, r: { ...r, cgroup: { ...r.cgroup, path } } }))) },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 80 }).map((u) => ({ kind: 'bytes' as const, b: Buffer.from(u) })) },
  { weight: 1, arbitrary: fc.constantFrom(null, Buffer.alloc(0)).map((b) => ({ kind: 'empty' as const, b })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((u) => ({ kind: 'bytes' as const, b: Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytesLE(raw.fingerprint), Buffer.from(u)]) })) },
  { weight: 1, arbitrary: fc.constantFrom(...[...codec.set.current.keys()].filter((n) => n !== 'RawConnectEvent'))
    .chain((name) => avroArb(codec.set.get(name).type).map((v) => ({ kind: 'other' as const, name, b: codec.encode(name, v as never) }))) },
);

const meta = fc.record({
  runtime: fc.constantFrom('docker', 'containerd', 'cri-o'),
  name: fc.option(fc.string()), image: fc.option(fc.string()), hostname: fc.option(fc.string()),
  isSandbox: fc.boolean(), sandboxId: fc.option(fc.constantFrom(A, S)),
  pod: fc.option(fc.record({ name: fc.string(), namespace: fc.string(), uid: fc.oneof(fc.constant(''), fc.uuid(), fc.string()),
    labels: fc.dictionary(fc.string(), fc.string()), annotations: fc.dictionary(fc.string(), fc.string()), hostNetwork: fc.boolean() })),
  networkMode: fc.option(fc.constantFrom('host', `container:${S}`, 'none', '')), utsMode: fc.option(fc.constantFrom('host', '')),
});
const answer: fc.Arbitrary<ResolveResult | 'throw'> = fc.oneof(
  meta.map((m) => ({ ok: true as const, meta: { id: A, ...m } as never, source: 'fuzz' })),
  fc.constantFrom('NOT_FOUND', 'BAD_JSON', 'IO', 'OUTSIDE_ROOT').map((code) => ({ ok: false as const, code: code as never, reason: `fuzz ${code}` })),
  fc.constant('throw' as const),
);

function resolverFrom(answers: (ResolveResult | 'throw')[]): MetadataResolver {
  let i = 0;
  const next = (): ResolveResult => {
    const a = answers[i++ % answers.length]!;
    if (a === 'throw') throw new Error('resolver blew up (fuzz)');
    return a;
  };
  return {
    resolve: async () => next(),
    // peek is a cache lookup (CachedResolver's never throws), so a throwing peek is not modelled.
    peek: () => {
      if (i % 3 === 0) return undefined;
      const a = answers[i++ % answers.length]!;
      return a === 'throw' ? undefined : a;
    },
  };
}

fuzzSuite(import.meta.url, {
  'EnrichProcessor.processBatch: garbage to the DLQ once each, every raw record to one audit record, never a throw': {
    runs: 1_500, timeMs: 2_000,
    make: (observe) => fc.asyncProperty(
      fc.array(kinds, { minLength: 1, maxLength: 25 }), fc.array(answer, { minLength: 1, maxLength: 5 }), fc.nat({ max: 63 }), fc.boolean(),
      async (items, answers, partition, sequential) => {
        const base = 1_000_000n;
        const msgs: InMessage[] = items.map((it, i) => {
          const value = it.kind === 'raw'
            ? codec.encode('RawConnectEvent', sequential ? { ...it.r, node: 'n', instance: 'i', seq: BigInt(i + 1), eventId: `n:i:${i + 1}` } : it.r)
            : it.b;
          return { key: Buffer.from(`k${i}`), value, offset: String(base + BigInt(i)) };
        });
        observe({ msgs: msgs.map((m) => m.value), answers, partition });
        const p = new EnrichProcessor(codec, resolverFrom(answers), { concurrency: 4, topic: 'raw.fuzz', gapWindow: 8 }, silent);
        const outs = await timedAsync('processBatch', CALL_MS, () => p.processBatch(partition, msgs));
        const flushed = p.flushLosses();

        const dlq = outs.filter((o) => o.kind === 'dlq');
        const audits = outs.filter((o) => o.kind === 'audit');
        // DNS lookups are raw records too: each comes out as one attributed lookup.
        const attributable = new Set(['RawConnectEvent', 'DnsLookup']);
        const notRaw = msgs.filter((m) => { try { return !attributable.has(codec.decode(m.value!).schema); } catch { return true; } });
        const dlqExpected = notRaw.filter((m) => { try { return codec.decode(m.value!).schema !== 'CaptureLoss'; } catch { return true; } });
        assert.deepEqual(dlq.map((o) => o.headers[DLQ_HEADERS.offset]), dlqExpected.map((m) => m.offset), 'each undecodable message once, in order');
        for (const o of dlq) {
          assert.equal(o.headers[DLQ_HEADERS.partition], String(partition));
          assert.equal(o.headers[DLQ_HEADERS.topic], 'raw.fuzz');
          assert.ok(o.headers[DLQ_HEADERS.code] && o.headers[DLQ_HEADERS.error]);
        }
        const rawIds = msgs.filter((m) => !notRaw.includes(m)).map((m) => (codec.decode(m.value!).value as { eventId: string }).eventId);
        const nonLoss = audits.filter((o) => o.record.attribution.status !== 'LOSS');
        assert.deepEqual(nonLoss.map((o) => o.record.eventId), rawIds, 'one audit record per raw record, in order');
        for (const o of [...audits, ...flushed]) {
          if (o.kind !== 'audit') continue;
          const back = codec.decode(o.value);
          assert.ok(back.schema === ('query' in o.record ? 'AuditDnsLookup' : 'AuditRecord'), back.schema);
          assert.equal((back.value as { eventId: string }).eventId, o.record.eventId, 'the audit record decodes again');
        }
      }),
  },
});

// Found by the property above before seqs were kept >= 0: two forged raw records of one
// capture instance with seqs -1779425566234360767 and 7443946470620415042 make a SEQUENCE_GAP
// of ~9.2e18 connections, more than an Avro long holds, so encoding the LOSS record throws
// EncodeError out of processBatch (or flushLosses): the stage retries that batch forever.
// The fix belongs in src/enrich/loss-tracker.ts (observe: ignore seq < 0n, which capture never
// writes); that file is being changed by someone else now, so it is reported, not edited.
mainTest('regression: forged seqs far apart (one negative) do not stop the batch', async () => {
  const p = new EnrichProcessor(codec, resolverFrom([{ ok: false, code: 'NOT_FOUND', reason: 'none' }]), { concurrency: 1, topic: 'raw.fuzz', gapWindow: 1 }, silent);
  const msgs = [-1779425566234360767n, 7443946470620415042n, 7443946470620415044n].map((seq, i) => ({
    key: null, offset: String(i), value: codec.encode('RawConnectEvent', sampleRaw({ seq, node: 'n', instance: 'i', eventId: `n:i:${seq}` })),
  }));
  const outs = [...await p.processBatch(0, msgs), ...p.flushLosses()];
  assert.equal(outs.filter((o) => o.kind === 'audit' && o.record.attribution.status !== 'LOSS').length, 3);
});
