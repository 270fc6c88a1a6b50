// SPDX-License-Identifier: Apache-2.0
// Issue 15's schema: dst.name and encryptedDns on raw connects, dst.pod/service/scope on audit
// records, and the DNS lookup records (DnsLookup on the raw topic, AuditDnsLookup on the
// audit topic). Round trips, both directions of compatibility, and damaged bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Codec } from '../../src/schema/codec.js';
import { DecodeError } from '../../src/common/errors.js';
import { fingerprintBytesLE } from '../../src/schema/rabin.js';
import { fingerprintOf, parseSchema, schemaDir, SchemaSet } from '../../src/schema/registry.js';
import { schemaText } from '../../src/schema/confluent.js';
import { auditToJson, lookupToJson, rawToJson } from '../../src/schema/json-form.js';
import { toPretty } from '../../src/schema/pretty.js';
import { RawWriter } from '../../src/capture/raw-writer.js';
import type { Endpoint } from '../../src/schema/types.js';
import { plain, SAMPLE_NAME, sampleAudit, sampleAuditLookup, sampleLookup, sampleRaw } from '../helpers/records.js';

const codec = new Codec();
const set = new SchemaSet();
const history = (file: string) => parseSchema(JSON.parse(readFileSync(path.join(schemaDir(), 'history', file), 'utf8')));
const framed = (t: ReturnType<typeof parseSchema>, value: unknown) =>
  Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytesLE(fingerprintOf(t)), t.toBuffer(value)]);
const json = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : Buffer.isBuffer(x) ? x.toString('hex') : x)));

const PEER = { name: 'db-0', namespace: 'shop', uid: 'c0ffee00-0000-4000-8000-000000000001', workload: { kind: 'StatefulSet', name: 'db' }, labels: { app: 'db' } };

test('a raw connect with dst.name and encryptedDns round-trips, and the hand-written raw writer writes the same bytes', () => {
  const raw = sampleRaw({ dst: { ...sampleRaw().dst, name: SAMPLE_NAME }, encryptedDns: true });
  const bytes = codec.encode('RawConnectEvent', raw);
  const back = codec.decode(bytes);
  assert.equal(back.schema, 'RawConnectEvent');
  assert.deepEqual(json(plain(back.value)), json(raw));
  const w = new RawWriter(codec);
  assert.equal(w.fast, true, 'the raw writer follows the current RawConnectEvent');
  assert.deepEqual(w.encode(raw), bytes);
  assert.deepEqual(w.encode(sampleRaw()), codec.encode('RawConnectEvent', sampleRaw()));
  // A name with odd bytes (as the parser escapes them) and a long chain still match.
  const odd = sampleRaw({ dst: { ...sampleRaw().dst, name: { ...SAMPLE_NAME, name: 'a\\000b\\255.example', cnames: Array.from({ length: 16 }, (_, i) => `c${i}.example`), trust: 'unmatched' } } });
  assert.deepEqual(w.encode(odd), codec.encode('RawConnectEvent', odd));
  // pod/service/scope are enrich's: a raw event carrying them goes the general way, same bytes.
  const scoped = sampleRaw({ dst: { ...sampleRaw().dst, scope: 'external' } });
  assert.deepEqual(w.encode(scoped), codec.encode('RawConnectEvent', scoped));
  const j = rawToJson(raw);
  assert.deepEqual(j.dst, { addr: '93.184.216.34', port: 443, name: { name: 'www.example.com', cnames: ['edge.example.net'], answeredAt: '2026-11-30T02:27:57.607560689Z', ttl: 60, server: '10.96.0.10', trust: 'resolver' } });
  assert.equal(j.encryptedDns, true);
});

test('an audit record with dst.name, dst.pod, dst.service and dst.scope round-trips; JSON and pretty show them', () => {
  const rec = sampleAudit({ dst: { ...sampleAudit().dst!, name: { ...SAMPLE_NAME, name: 'db.shop.svc.cluster.local', cnames: [] }, pod: PEER, service: { name: 'db', namespace: 'shop' }, scope: 'pod' } });
  const back = codec.decode(codec.encode('AuditRecord', rec));
  assert.deepEqual(json(plain(back.value)), json(rec));
  const j = auditToJson(rec) as { dst: Record<string, unknown> };
  assert.deepEqual(j.dst.pod, PEER);
  assert.deepEqual(j.dst.service, { name: 'db', namespace: 'shop' });
  assert.equal(j.dst.scope, 'pod');
  assert.equal((j.dst.name as { name: string }).name, 'db.shop.svc.cluster.local');
  // Without a name or peer the keys are there, null: one shape for consumers.
  const bare = auditToJson(sampleAudit()) as { dst: Record<string, unknown> };
  assert.deepEqual(Object.keys(bare.dst), ['addr', 'port', 'name', 'pod', 'service', 'scope']);
  assert.equal(bare.dst.scope, null);
  assert.match(toPretty(back), /-> 93\.184\.216\.34:443 \(db\.shop\.svc\.cluster\.local, resolver\) pod shop\/db-0 \[pod\]/);
});

test('DNS lookup records round-trip on both topics and have a JSON form with dns.*', () => {
  const raw = sampleLookup({ count: 3n, firstTime: 1n, lastTime: 2n });
  const d = codec.decode(codec.encode('DnsLookup', raw));
  assert.equal(d.schema, 'DnsLookup');
  assert.deepEqual(json(plain(d.value)), json(raw));
  const audit = sampleAuditLookup({ dst: { ...sampleLookup().dst, pod: { ...PEER, name: 'coredns-1', namespace: 'kube-system' }, scope: 'pod' } });
  const a = codec.decode(codec.encode('AuditDnsLookup', audit));
  assert.equal(a.schema, 'AuditDnsLookup');
  assert.deepEqual(json(plain(a.value)), json(audit));
  const j = lookupToJson(audit) as Record<string, any>;
  assert.deepEqual(j.dns.answers, [{ name: 'www.example.com', type: 'CNAME', data: 'edge.example.net', ttl: 300 }, { name: 'edge.example.net', type: 'A', data: '93.184.216.34', ttl: 60 }]);
  assert.equal(j.dns.query, 'www.example.com');
  assert.equal(j.dns.qtype, 'A');
  assert.equal(j.dns.rcode, 'NOERROR');
  assert.equal(j.dns.trust, 'resolver');
  assert.equal(j.dst.pod.name, 'coredns-1');
  assert.equal(j.pod.name, 'web-7d9f');
  assert.equal(j.attribution.status, 'POD');
  const rj = lookupToJson(raw) as Record<string, any>;
  for (const k of ['container', 'pod', 'attribution']) assert.equal(k in rj, false, k);
  assert.equal(rj.dns.count, 3);
  assert.equal(lookupToJson(sampleLookup({ qtype: 99, rcode: 23 })).dns instanceof Object, true);
  assert.deepEqual([(lookupToJson(sampleLookup({ qtype: 99, rcode: 23 })) as any).dns.qtype, (lookupToJson(sampleLookup({ qtype: 99, rcode: 23 })) as any).dns.rcode], ['TYPE99', 'RCODE23']);
  assert.match(toPretty(a), /DNS A www\.example\.com -> NOERROR CNAME edge\.example\.net, A 93\.184\.216\.34 from 10\.96\.0\.10:53 pod kube-system\/coredns-1 \[pod\] resolver curl\[5113\].* pod shop\/web-7d9f \[POD\/docker\]/);
});

test('records written before issue 15 (RawConnectEvent v2, AuditRecord v4) read with no name, peer or scope', () => {
  const strip = (e: Endpoint) => ({ addr: e.addr, port: e.port });
  const { encryptedDns: _e, ...oldRaw } = sampleRaw();
  const r = codec.decode(framed(history('RawConnectEvent.v2.avsc'), { ...oldRaw, src: strip(oldRaw.src), dst: strip(oldRaw.dst) }));
  assert.equal(r.writerVersion, 'v2');
  assert.deepEqual(json(plain(r.value)), json(sampleRaw()));
  const { encryptedDns: _a, ...oldAudit } = sampleAudit();
  const a = codec.decode(framed(history('AuditRecord.v4.avsc'), { ...oldAudit, src: strip(oldAudit.src!), dst: strip(oldAudit.dst!) }));
  assert.equal(a.writerVersion, 'v4');
  assert.deepEqual(json(plain(a.value)), json(sampleAudit()));
});

test('the previous readers (v2, v4) read the new records and skip the new fields', () => {
  for (const [name, file, value] of [
    ['RawConnectEvent', 'RawConnectEvent.v2.avsc', sampleRaw({ dst: { ...sampleRaw().dst, name: SAMPLE_NAME }, encryptedDns: true })],
    ['AuditRecord', 'AuditRecord.v4.avsc', sampleAudit({ dst: { ...sampleAudit().dst!, name: SAMPLE_NAME, pod: PEER, service: { name: 'db', namespace: 'shop' }, scope: 'pod' } })],
  ] as const) {
    const older = history(file);
    const writer = set.get(name).type;
    const old = older.fromBuffer(writer.toBuffer(value), older.createResolver(writer)) as { dst: Record<string, unknown>; eventId: string };
    assert.equal(old.eventId, value.eventId);
    assert.deepEqual(Object.keys(old.dst), ['addr', 'port'], file);
    assert.equal('encryptedDns' in old, false);
  }
});

test('every schema the Confluent encoder registers has its text, and the new types are full podtrail records', () => {
  for (const name of ['DnsLookup', 'AuditDnsLookup'] as const) {
    const t = JSON.parse(schemaText(name));
    assert.equal(`${t.namespace}.${t.name}`, `io.podtrail.v1.${name}`);
    // Every field added later must have a default; these are new, but their own optional fields do.
    for (const f of t.fields as Array<{ name: string; type: unknown; default?: unknown }>) {
      if (['count', 'firstTime', 'lastTime', 'dedupWindowMs', 'answers', 'truncated', 'instance', 'mntns', 'pidns'].includes(f.name)) assert.ok('default' in f, `${name}.${f.name} has a default`);
    }
  }
});

test('damaged DNS lookup bytes are DecodeErrors, never a crash or a half record', () => {
  const good = codec.encode('DnsLookup', sampleLookup());
  let rejected = 0;
  let accepted = 0;
  for (let cut = 10; cut < good.length; cut++) {
    try {
      codec.decode(good.subarray(0, cut));
      accepted++;
    } catch (err) {
      assert.ok(err instanceof DecodeError, `cut at ${cut}: ${String(err)}`);
      rejected++;
    }
  }
  assert.equal(accepted, 0, 'no prefix of a lookup decodes');
  assert.ok(rejected > 50);
  // Any byte overwritten: either a DecodeError or a record that is valid throughout.
  for (let i = 10; i < good.length; i++) {
    const flipped = Buffer.from(good);
    flipped[i] = 0x7f;
    try {
      const d = codec.decode(flipped);
      assert.equal(d.schema, 'DnsLookup');
      assert.ok(set.get('DnsLookup').type.isValid(d.value));
    } catch (err) {
      assert.ok(err instanceof DecodeError, `byte ${i}: ${String(err)}`);
    }
  }
});
