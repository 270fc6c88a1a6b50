// SPDX-License-Identifier: Apache-2.0
// Confluent framing: register under <topic>-value, frame 0x00 + id, read both framings.
// Against an in-test stand-in of the registry's REST API: neither Apicurio nor Karapace can
// run on this machine: Apicurio's app jar needs Java 21 (3.x) and a dependency Maven Central
// does not serve (apicurio-registry-schema-util-provider); Karapace is not on PyPI.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, DecodeError } from '../../src/common/errors.js';
import { Codec } from '../../src/schema/codec.js';
import { ConfluentDecoder, ConfluentEncoder, SchemaRegistryClient, SchemaRegistryError, confluentFrame, schemaText } from '../../src/schema/confluent.js';
import { parseSchema, schemaDir } from '../../src/schema/registry.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { freePort } from '../helpers/rsyslog.js';
import { plain, sampleAudit, sampleRaw } from '../helpers/records.js';

const codec = new Codec();
let reg: FakeRegistry;
before(async () => { reg = await startFakeRegistry(); });
after(async () => { await reg.close(); });

test('encode registers the .avsc text under <topic>-value once and frames 0x00 + id + Avro body', async () => {
  const enc = new ConfluentEncoder(codec, new SchemaRegistryClient(reg.url));
  const before = reg.requests.length;
  const a = sampleAudit();
  const buf = await enc.encode('podtrail.audit.v1', 'AuditRecord', a);
  await enc.encode('podtrail.audit.v1', 'AuditRecord', a);
  const posts = reg.requests.slice(before).filter((r) => r.method === 'POST');
  assert.equal(posts.length, 1, 'registered once');
  assert.equal(posts[0]!.path, '/subjects/podtrail.audit.v1-value/versions');
  const registered = JSON.parse(JSON.parse(posts[0]!.body).schema);
  assert.deepEqual(registered, JSON.parse(readFileSync(path.join(schemaDir(), 'audit-record.avsc'), 'utf8')));
  assert.equal(buf[0], 0x00);
  const id = buf.readUInt32BE(1);
  assert.ok(id > 0);
  // The body is plain Avro of the registered schema, as any Confluent deserializer reads it.
  const type = parseSchema(registered);
  assert.deepEqual(plain(type.fromBuffer(buf.subarray(5))), plain(a));
  assert.throws(() => enc.encodeSync('other.topic', 'AuditRecord', a), /prepare\(\) first/);
});

test('the decoder reads both framings, and asks the registry once per id', async () => {
  const dec = new ConfluentDecoder(codec, new SchemaRegistryClient(reg.url));
  const enc = new ConfluentEncoder(codec, new SchemaRegistryClient(reg.url));
  const a = sampleAudit({ seq: 7n, eventId: 'node-a:7f3c2d:7' });
  const conf = await enc.encode('t1', 'AuditRecord', a);
  const gets = () => reg.requests.filter((r) => r.method === 'GET').length;
  const g0 = gets();
  const d1 = await dec.decode(conf);
  const d2 = await dec.decode(conf);
  assert.equal(gets() - g0, 1);
  assert.equal(d1.schema, 'AuditRecord');
  assert.deepEqual(plain(d1.value), plain(a));
  assert.deepEqual(plain(d2.value), plain(a));
  const native = dec.decode(codec.encode('AuditRecord', a));
  assert.ok(!(native instanceof Promise), 'our framing needs no I/O');
  assert.deepEqual(plain((native as { value: unknown }).value), plain(a));
});

test('an older writer schema from the registry resolves to the current reader', async () => {
  const v0 = readFileSync(path.join(schemaDir(), 'history/RawConnectEvent.v0.avsc'), 'utf8');
  const id = reg.add('old-value', JSON.stringify(JSON.parse(v0)));
  const type = parseSchema(JSON.parse(v0));
  const raw = sampleRaw();
  const v0Value = type.clone(Object.fromEntries(Object.entries(raw).filter(([k]) => (type as any).fields.some((f: { name: string }) => f.name === k))), { wrapUnions: false } as never);
  const d = await new ConfluentDecoder(codec, new SchemaRegistryClient(reg.url)).decode(confluentFrame(id, type.toBuffer(v0Value)));
  assert.equal(d.schema, 'RawConnectEvent');
  assert.equal(d.writerVersion, `registry:${id}`);
  assert.equal((d.value as { eventId: string }).eventId, raw.eventId);
});

test('bad Confluent input is a DecodeError with a code, never a crash', async () => {
  const client = new SchemaRegistryClient(reg.url);
  const dec = new ConfluentDecoder(codec, client);
  const body = (await new ConfluentEncoder(codec, client).encode('t2', 'AuditRecord', sampleAudit())).subarray(5);
  const code = async (f: () => unknown) => { try { await f(); return 'none'; } catch (e) { assert.ok(e instanceof DecodeError, String(e)); return e.code; } };
  assert.equal(await code(() => dec.decode(Buffer.from([0, 0, 0]))), 'TRUNCATED');
  assert.equal(await code(() => dec.decode(confluentFrame(9999, body))), 'UNKNOWN_SCHEMA_ID');
  assert.equal(await code(() => new ConfluentDecoder(codec).decode(confluentFrame(1, body))), 'UNKNOWN_SCHEMA_ID');
  const foreign = reg.add('x-value', JSON.stringify({ type: 'record', name: 'Other', namespace: 'com.example', fields: [{ name: 'a', type: 'int' }] }));
  assert.equal(await code(() => dec.decode(confluentFrame(foreign, Buffer.from([2])))), 'UNKNOWN_SCHEMA_ID');
  const proto = reg.add('p-value', '"syntax = proto3;"', 'PROTOBUF');
  assert.equal(await code(() => dec.decode(confluentFrame(proto, body))), 'UNKNOWN_SCHEMA_ID');
  const good = (await new ConfluentEncoder(codec, client).encode('t2', 'AuditRecord', sampleAudit())).readUInt32BE(1);
  assert.equal(await code(() => dec.decode(confluentFrame(good, Buffer.from([0xff, 0xff, 0xff])))), 'TRUNCATED');
  assert.equal(await code(() => dec.decode(confluentFrame(good, Buffer.concat([body, Buffer.from([0])])))), 'INVALID');
  assert.equal(await code(() => dec.decode(Buffer.from('garbage'))), 'BAD_MAGIC');
});

test('an unreachable registry is a retriable SchemaRegistryError, not a DecodeError, and is asked again later', async () => {
  const port = await freePort();
  const dec = new ConfluentDecoder(codec, new SchemaRegistryClient(`http://127.0.0.1:${port}`, 2000));
  const frame = confluentFrame(1, Buffer.alloc(10));
  await assert.rejects(Promise.resolve(dec.decode(frame)), (e: unknown) => e instanceof SchemaRegistryError && e.retriable && !(e instanceof DecodeError));
  const late = await startFakeRegistry(port);
  try {
    const enc = new ConfluentEncoder(codec, new SchemaRegistryClient(late.url));
    const buf = await enc.encode('t3', 'AuditRecord', sampleAudit());
    assert.equal(buf.readUInt32BE(1), 1);
    assert.equal((await dec.decode(buf)).schema, 'AuditRecord');
  } finally {
    await late.close();
  }
  reg.failNext(500);
  await assert.rejects(new SchemaRegistryClient(reg.url).register('s-value', schemaText('AuditRecord')), (e: unknown) => e instanceof SchemaRegistryError && e.retriable && e.status === 500);
  reg.failNext(409);
  await assert.rejects(new SchemaRegistryClient(reg.url).register('s-value', schemaText('AuditRecord')), (e: unknown) => e instanceof SchemaRegistryError && !e.retriable && e.status === 409);
});

test('credentials in the URL become Basic auth; bad URLs are ConfigErrors', async () => {
  const u = new URL(reg.url);
  await new SchemaRegistryClient(`http://key:s%40cret@${u.host}`).register('auth-value', schemaText('AuditRecord'));
  assert.equal(reg.requests.at(-1)!.auth, `Basic ${Buffer.from('key:s@cret').toString('base64')}`);
  assert.throws(() => new SchemaRegistryClient('registry:8081'), ConfigError);
  assert.throws(() => new SchemaRegistryClient('ftp://registry:8081'), ConfigError);
  assert.throws(() => new SchemaRegistryClient('not a url'), ConfigError);
});
