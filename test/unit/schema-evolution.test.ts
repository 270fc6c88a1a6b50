// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Codec } from '../../src/schema/codec.js';
import { fingerprintBytesLE } from '../../src/schema/rabin.js';
import { fingerprintOf, parseSchema, schemaDir, SchemaSet } from '../../src/schema/registry.js';
import { sampleRaw } from '../helpers/records.js';

const codec = new Codec();

test('a record written with RawConnectEvent v0 is read by the current reader', () => {
  const v0 = parseSchema(JSON.parse(readFileSync(path.join(schemaDir(), 'history/RawConnectEvent.v0.avsc'), 'utf8')));
  const { instance: _i, mntns: _m, pidns: _p, ...rest } = sampleRaw();
  const { startTime: _s, nsPid: _n, ...process } = rest.process;
  const old = { ...rest, process };
  const framed = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytesLE(fingerprintOf(v0)), v0.toBuffer(old)]);
  const d = codec.decode(framed);
  assert.equal(d.schema, 'RawConnectEvent');
  assert.equal(d.writerVersion, 'v0');
  const v = d.value as ReturnType<typeof sampleRaw>;
  assert.equal(v.eventId, old.eventId);
  assert.equal(v.process.comm, 'curl');
  // Fields added later take their defaults.
  assert.equal(v.instance, '');
  assert.equal(v.mntns, 0n);
  assert.equal(v.process.nsPid, 0);
});

test('every current schema can read its own history (backward compatible)', () => {
  const set = new SchemaSet();
  const history = [...set.byFingerprint.values()].filter((w) => w.version !== 'current');
  assert.ok(history.length >= 1, 'history/ holds at least one older writer schema');
  for (const w of history) {
    const reader = set.get(w.name).type;
    assert.doesNotThrow(() => reader.createResolver(w.type), `${w.name} ${w.version} resolves`);
  }
});

test('an incompatible change is caught by the resolver', () => {
  const current = new SchemaSet().get('RawConnectEvent').type;
  const schema = JSON.parse(readFileSync(path.join(schemaDir(), 'raw-connect-event.avsc'), 'utf8'));
  schema.fields = schema.fields.filter((f: { name: string }) => f.name !== 'eventId');
  // An old writer without eventId cannot be read: eventId has no default.
  assert.throws(() => current.createResolver(parseSchema(schema)));
});
