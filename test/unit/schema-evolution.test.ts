// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Codec } from '../../src/schema/codec.js';
import { fingerprintBytesLE } from '../../src/schema/rabin.js';
import { fingerprintOf, parseSchema, schemaDir, SchemaSet } from '../../src/schema/registry.js';
import { sampleAudit, sampleRaw } from '../helpers/records.js';

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

/** Frames a value written with a history schema, as an old writer would have. */
function framedWith(file: string, value: unknown): Buffer {
  const t = parseSchema(JSON.parse(readFileSync(path.join(schemaDir(), 'history', file), 'utf8')));
  return Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytesLE(fingerprintOf(t)), t.toBuffer(value)]);
}

test('an AuditRecord written before pod.workload/annotations/ips (v1) reads with their defaults', () => {
  const { workload: _w, annotations: _a, ips: _i, ...oldPod } = sampleAudit().pod!;
  const old = { ...sampleAudit(), pod: oldPod };
  const d = codec.decode(framedWith('AuditRecord.v1.avsc', old));
  assert.equal(d.schema, 'AuditRecord');
  assert.equal(d.writerVersion, 'v1');
  const v = d.value as ReturnType<typeof sampleAudit>;
  assert.equal(v.pod?.name, 'web-7d9f');
  assert.deepEqual(v.pod?.labels, { app: 'web' });
  assert.equal(v.pod?.workload, null);
  assert.deepEqual(v.pod?.annotations, {});
  assert.deepEqual(v.pod?.ips, []);
  // And the current writer round-trips the new fields.
  const now = sampleAudit({ pod: { ...sampleAudit().pod!, workload: { kind: 'CronJob', name: 'backup' }, annotations: { 'a/b': 'c' }, ips: ['10.0.0.1', 'fd00::1'] } });
  const back = codec.decode(codec.encode('AuditRecord', now)).value as typeof now;
  assert.deepEqual({ ...back.pod!.workload! }, { kind: 'CronJob', name: 'backup' });
  assert.deepEqual([...back.pod!.ips], ['10.0.0.1', 'fd00::1']);
});

test('a ContainerMeta written before workload/ips/origin/bounded (v0) reads with their defaults', () => {
  const old = {
    containerId: 'a'.repeat(64), node: 'node-a', runtime: 'containerd', time: 1n, firstSeen: 1n, validFrom: 1n, deletedTime: null,
    name: 'app', image: 'nginx', hostname: null, isSandbox: false, sandboxId: null,
    pod: { name: 'web-7d9f8b6c5d-x2k4q', namespace: 'shop', uid: 'u', labels: { 'pod-template-hash': '7d9f8b6c5d' }, annotations: {}, hostNetwork: false },
    networkMode: null, utsMode: null, cgroupPaths: [],
  };
  const d = codec.decode(framedWith('ContainerMeta.v0.avsc', old));
  assert.equal(d.schema, 'ContainerMeta');
  assert.equal(d.writerVersion, 'v0');
  const v = d.value as Record<string, any>;
  assert.equal(v.origin, null);
  assert.equal(v.bounded, null);
  assert.equal(v.note, null);
  assert.equal(v.pod.workload, null);
  assert.deepEqual(v.pod.ips, []);
  assert.equal(v.pod.name, 'web-7d9f8b6c5d-x2k4q');
});

test('a ContainerMeta written before note (v1) reads with note null, and its CRI fallback note in bounded gives the same reason', async () => {
  const { toMetaRecord, fromMetaRecord } = await import('../../src/runtime/meta-record.js');
  const { attribute } = await import('../../src/enrich/attribute.js');
  const fallback = 'CRI failed (CRI Version on /run/containerd/containerd.sock: no answer within 2000 ms); from the runtime files; pod labels and workload unknown: containerd gives pod labels only through its CRI socket';
  const cut = 'pod labels bounded: kept 256 of 10002 (9746 past 256 entries or 65536 bytes)';
  const id = 'b'.repeat(64);
  const meta = {
    id, runtime: 'containerd' as const, name: 'app', image: 'img', hostname: null, isSandbox: false, sandboxId: 'c'.repeat(64),
    pod: { name: 'web-0', namespace: 'shop', uid: '35b82523-0000-4000-8000-000000000001', labels: {}, annotations: {}, hostNetwork: false },
    networkMode: null, utsMode: null, origin: 'files' as const,
  };
  const times = { node: 'node-a', time: 5n, firstSeen: 5n, validFrom: 5n };
  // What a v1 writer published: the fallback note at the front of bounded, no note field.
  const { note: _n, ...v1 } = toMetaRecord({ ...meta, bounded: `${fallback}; ${cut}` }, times);
  const d = codec.decode(framedWith('ContainerMeta.v1.avsc', v1));
  assert.equal(d.schema, 'ContainerMeta');
  assert.equal(d.writerVersion, 'v1');
  const old = d.value as Parameters<typeof fromMetaRecord>[0];
  assert.equal(old.note, null);
  assert.equal(old.bounded, `${fallback}; ${cut}`);
  // What the current writer publishes: each in its own field.
  const now = codec.decode(codec.encode('ContainerMeta', toMetaRecord({ ...meta, note: fallback, bounded: cut }, times)));
  assert.equal(now.writerVersion, 'current');
  const cur = now.value as typeof old;
  assert.equal(cur.note, fallback);
  assert.equal(cur.bounded, cut);
  // Replaying either version gives the same attribution.reason: history keeps its meaning.
  const path = `/kubepods/burstable/pod${meta.pod.uid}/${id}`;
  const reasonOf = (r: typeof old) => attribute({ cgroupPath: path, node: { hostname: 'node-a' }, resolved: { ok: true, meta: fromMetaRecord(r), source: 'topic' } }).reason;
  assert.equal(reasonOf(old), `${fallback}; ${cut}`);
  assert.equal(reasonOf(cur), reasonOf(old));
  // A note alone (nothing cut) is the reason alone.
  const onlyNote = codec.decode(codec.encode('ContainerMeta', toMetaRecord({ ...meta, note: fallback }, times))).value as typeof old;
  assert.equal(onlyNote.bounded, null);
  assert.equal(reasonOf(onlyNote), fallback);
});

test('the previous readers read records of the current schemas (new fields ignored)', () => {
  // Forward direction, for consumers still on the older schema (Confluent FULL compatibility).
  const set = new SchemaSet();
  for (const [name, file] of [['AuditRecord', 'AuditRecord.v1.avsc'], ['AuditRecord', 'AuditRecord.v2.avsc'], ['AuditRecord', 'AuditRecord.v3.avsc'], ['RawConnectEvent', 'RawConnectEvent.v1.avsc'], ['ContainerMeta', 'ContainerMeta.v0.avsc'], ['ContainerMeta', 'ContainerMeta.v1.avsc']] as const) {
    const older = parseSchema(JSON.parse(readFileSync(path.join(schemaDir(), 'history', file), 'utf8')));
    assert.doesNotThrow(() => older.createResolver(set.get(name).type), `${file} reads current ${name}`);
  }
});

const IDENTITY = {
  key: 5_000_000_123n, exe: '/usr/bin/curl', args: ['curl', '-s', 'https://example.com'], argsTruncated: false,
  parent: { pid: 5100, comm: 'sh', exe: '/bin/busybox' }, ancestry: [{ pid: 5100, comm: 'sh', exe: '/bin/busybox' }, { pid: 1, comm: 'tini', exe: null }], exeFlags: ['UPPER_LAYER'],
};
const NO_IDENTITY = { key: 0n, exe: null, args: [], argsTruncated: false, parent: null, ancestry: [], exeFlags: [] };

test('raw and audit records written before process identity (RawConnectEvent v1, AuditRecord v3) read with it unknown', () => {
  const strip = <T extends { process: unknown }>(r: T) => {
    const { key: _k, exe: _e, args: _a, argsTruncated: _t, parent: _p, ancestry: _n, exeFlags: _f, ...process } = r.process as Record<string, unknown>;
    return { ...r, process };
  };
  const raw = codec.decode(framedWith('RawConnectEvent.v1.avsc', strip(sampleRaw())));
  assert.equal(raw.writerVersion, 'v1');
  assert.deepEqual({ ...(raw.value as ReturnType<typeof sampleRaw>).process }, { ...sampleRaw().process, ...NO_IDENTITY });
  const audit = codec.decode(framedWith('AuditRecord.v3.avsc', strip(sampleAudit())));
  assert.equal(audit.writerVersion, 'v3');
  assert.deepEqual({ ...(audit.value as ReturnType<typeof sampleAudit>).process }, { ...sampleAudit().process, ...NO_IDENTITY });
});

test('the current writers round-trip process identity; the previous readers skip it', () => {
  const raw = sampleRaw({ process: { ...sampleRaw().process, ...IDENTITY } });
  const back = codec.decode(codec.encode('RawConnectEvent', raw)).value as typeof raw;
  assert.deepEqual(JSON.parse(JSON.stringify(back.process, (_k, v) => (typeof v === 'bigint' ? String(v) : v))),
    JSON.parse(JSON.stringify(raw.process, (_k, v) => (typeof v === 'bigint' ? String(v) : v))));
  const v1 = parseSchema(JSON.parse(readFileSync(path.join(schemaDir(), 'history', 'RawConnectEvent.v1.avsc'), 'utf8')));
  const old = v1.fromBuffer(new SchemaSet().get('RawConnectEvent').type.toBuffer(raw), v1.createResolver(new SchemaSet().get('RawConnectEvent').type)) as { process: Record<string, unknown> };
  assert.equal(old.process.comm, 'curl');
  assert.equal(old.process.exe, undefined);
});
