// SPDX-License-Identifier: Apache-2.0
// podtrail export --syslog against a real rsyslogd (TCP octet-counted and UDP) on loopback:
// the file rsyslog writes holds every record, in CEF or JSON; while the server is down the
// exporter waits and commits nothing, and delivers everything once it is back.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { auditToJson } from '../../src/schema/json-form.js';
import type { AuditRecord } from '../../src/schema/types.js';
import { spawnCli } from '../helpers/cli.js';
import { BROKERS, createTopics, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { Rsyslog, RSYSLOGD, freePort } from '../helpers/rsyslog.js';
import { parseCef } from '../helpers/cef-parse.js';
import { lossRecord } from '../helpers/audit-arb.js';
import { sampleAudit } from '../helpers/records.js';
import { sleep, terminate } from '../helpers/proc.js';

const codec = new Codec();
const topic = uniqueTopic('export-syslog');
let kafka: Kafka;
let dir: string;
const servers: Rsyslog[] = [];
const children: ChildProcess[] = [];
const missing = RSYSLOGD ? undefined : 'rsyslogd is not installed (apt-get install -y rsyslog)';

function records(from: number, n: number): AuditRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const seq = BigInt(from + i);
    const over = { seq, eventId: `node-a:7f3c2d:${seq}`, time: 1_796_005_677_000_000_000n + seq * 1000n };
    if (i % 5 === 3) return sampleAudit({ ...over, result: { status: 'REFUSED', errno: 111 } });
    return sampleAudit(over);
  });
}

function exporter(args: string[]): { child: ChildProcess; stderr: () => string } {
  const child = spawnCli(['export', '--audit-topic', topic, '--brokers', BROKERS.join(','), ...args], { PODTRAIL_LOG_LEVEL: 'info' });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  children.push(child);
  return { child, stderr: () => err };
}

async function stopExporter(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  if (child.exitCode === null && child.pid) await terminate(child.pid, 15_000);
  return child.exitCode ?? (await exited);
}

async function committed(group: string): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return (t?.partitions ?? []).reduce((s, p) => s + (BigInt(p.offset) < 0n ? 0n : BigInt(p.offset)), 0n);
  } finally {
    await admin.disconnect();
  }
}

before(async () => {
  if (missing && process.env.CI === 'true') throw new Error(`CI: ${missing}`);
  kafka = await requireBroker();
  await createTopics(kafka, [topic], 1);
  dir = await mkdtemp(path.join(os.tmpdir(), 'podtrail-syslog-'));
  const first = records(1, 10);
  first.push(lossRecord({ count: 3n }));
  await produce(kafka, topic, [
    ...first.slice(0, 5).map((r) => ({ key: 'node-a/1234', value: codec.encode('AuditRecord', r) })),
    { key: 'node-a/1234', value: Buffer.from('not avro') },
    ...first.slice(5).map((r) => ({ key: 'node-a/1234', value: codec.encode('AuditRecord', r) })),
  ]);
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.pid) await terminate(c.pid, 10_000);
  for (const s of servers) await s.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (kafka) await deleteTopics(kafka, [topic]);
});

test('TCP + CEF: every record arrives as one RFC 5424 message; garbage is reported and skipped; a server outage loses nothing', { skip: missing }, async () => {
  const rs = new Rsyslog(await mkdtemp(path.join(dir, 'tcp-')), await freePort());
  servers.push(rs);
  await rs.start();
  const group = `test-export-tcp-${Date.now()}`;
  const ex = exporter(['--syslog', `tcp://127.0.0.1:${rs.port}`, '--format', 'cef', '--group', group]);
  const lines = await rs.waitFor(11);
  await sleep(1000);
  const all = await rs.lines();
  assert.equal(all.length, 11, 'no duplicates');
  for (const l of all) {
    assert.equal(l.input, 'imtcp');
    assert.equal(l.app, 'podtrail');
    assert.equal(l.hostname, 'node-a');
    assert.equal(l.facility, 'local0');
    assert.match(l.timestamp, /^2026-11-30T\d\d:\d\d:\d\d\.\d{6}Z$/);
  }
  const cef = lines.map((l) => parseCef(l.msg));
  const ids = cef.map((c) => c.ext.externalId);
  assert.deepEqual(ids.slice(0, 10), Array.from({ length: 10 }, (_, i) => `node-a:7f3c2d:${i + 1}`));
  assert.equal(cef[10]!.header[4], 'capture:LOSS');
  assert.equal(lines[10]!.msgid, 'loss');
  assert.equal(lines[10]!.severity, 'warning');
  assert.equal(lines[3]!.severity, 'notice');
  assert.equal(cef[3]!.ext.reason, 'REFUSED ECONNREFUSED');
  assert.equal(cef[0]!.ext.cs2, 'web-7d9f');
  assert.equal(cef[0]!.ext.spid, '5113');
  assert.match(ex.stderr(), new RegExp(`undecodable message at ${topic.replace(/\./g, '\\.')}/0@5`));
  // Offsets cover all 12 messages, garbage included.
  for (let i = 0; (await committed(group)) < 12n; i++) { assert.ok(i < 50, 'offsets committed'); await sleep(200); }

  // The server goes away: records produced meanwhile wait, with nothing committed past them.
  await rs.stop();
  await sleep(500);
  await produce(kafka, topic, records(11, 6).map((r) => ({ key: 'node-a/1234', value: codec.encode('AuditRecord', r) })));
  await sleep(3000);
  assert.equal(ex.child.exitCode, null, `exporter still running: ${ex.stderr()}`);
  assert.equal(await committed(group), 12n, 'nothing committed while the server is down');
  assert.match(ex.stderr(), /syslog connection lost|syslog server unreachable/);
  await rs.start();
  const after = await rs.waitFor(17, 40_000);
  const ids2 = after.map((l) => parseCef(l.msg).ext.externalId);
  for (let s = 11; s <= 16; s++) assert.ok(ids2.includes(`node-a:7f3c2d:${s}`), `record ${s} delivered after the outage`);
  for (let i = 0; (await committed(group)) < 18n; i++) { assert.ok(i < 50, 'offsets committed after delivery'); await sleep(200); }
  assert.equal(await stopExporter(ex.child), 0, ex.stderr());
});

test('UDP + JSON: the JSON form in each datagram', { skip: missing }, async () => {
  const rs = new Rsyslog(await mkdtemp(path.join(dir, 'udp-')), await freePort());
  servers.push(rs);
  await rs.start();
  const ex = exporter(['--syslog', `udp://127.0.0.1:${rs.port}`, '--format', 'json', '--group', `test-export-udp-${Date.now()}`, '--syslog-facility', 'authpriv']);
  const lines = await rs.waitFor(17);
  await sleep(500);
  const byId = new Map((await rs.lines()).map((l) => [JSON.parse(l.msg).eventId as string, l]));
  assert.equal(byId.size, 17);
  for (const l of byId.values()) {
    assert.equal(l.input, 'imudp');
    assert.equal(l.facility, 'authpriv');
  }
  const one = JSON.parse(byId.get('node-a:7f3c2d:2')!.msg);
  assert.deepEqual(one, JSON.parse(JSON.stringify(auditToJson(records(2, 1)[0]!))));
  assert.equal(lines.length >= 17, true);
  assert.equal(await stopExporter(ex.child), 0, ex.stderr());
});

test('a server that is down from the start: the exporter waits, commits nothing, then delivers', { skip: missing }, async () => {
  const port = await freePort();
  const group = `test-export-late-${Date.now()}`;
  const ex = exporter(['--syslog', `tcp://127.0.0.1:${port}`, '--format', 'cef', '--group', group]);
  await sleep(4000);
  assert.equal(ex.child.exitCode, null, ex.stderr());
  assert.equal(await committed(group), 0n);
  const rs = new Rsyslog(await mkdtemp(path.join(dir, 'late-')), port);
  servers.push(rs);
  await rs.start();
  await rs.waitFor(17, 40_000);
  assert.equal(await stopExporter(ex.child), 0, ex.stderr());
});

test('SIGTERM while the server is down: a prompt, clean exit with nothing committed', { skip: missing }, async () => {
  const group = `test-export-term-${Date.now()}`;
  const ex = exporter(['--syslog', `tcp://127.0.0.1:${await freePort()}`, '--group', group]);
  await sleep(3000);
  const t0 = Date.now();
  assert.equal(await stopExporter(ex.child), 0, ex.stderr());
  assert.ok(Date.now() - t0 < 10_000, `exited in ${Date.now() - t0} ms`);
  assert.equal(await committed(group), 0n);
});

test('bad --syslog values are refused with exit code 2', async () => {
  const { runCli } = await import('../helpers/cli.js');
  for (const bad of ['syslog.example:514', 'tcp://host', 'tcp://127.0.0.1:99999', 'http://127.0.0.1:514']) {
    const r = await runCli(['export', '--syslog', bad]);
    assert.equal(r.code, 2, bad);
    assert.match(r.stderr, /--syslog: /);
  }
  const both = await runCli(['export', '--syslog', 'tcp://127.0.0.1:514', '--to-topic', 'x']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /exactly one of/);
});
