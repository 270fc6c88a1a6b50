// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAddr, parseAddr } from '../../src/schema/addr.js';
import { auditToJson, isoNanos, parseIsoNanos, rawToJson } from '../../src/schema/json-form.js';
import { sampleAudit, sampleRaw } from '../helpers/records.js';

test('addresses print as text (RFC 5952 for IPv6)', () => {
  const cases: Array<[string, string]> = [
    ['10.0.0.5', '10.0.0.5'],
    ['::1', '::1'],
    ['::', '::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['fe80::1:2', 'fe80::1:2'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ];
  for (const [input, want] of cases) assert.equal(formatAddr(parseAddr(input)), want, input);
  assert.throws(() => parseAddr('1.2.3.256'));
  assert.throws(() => parseAddr('1::2::3'));
  assert.match(formatAddr(Buffer.from([1, 2, 3])), /^invalid/);
});

test('time is ISO-8601 with nanoseconds, and parses back', () => {
  assert.equal(isoNanos(1_796_005_677_612_560_689n), '2026-11-30T02:27:57.612560689Z');
  assert.equal(isoNanos(0n), '1970-01-01T00:00:00.000000000Z');
  assert.equal(parseIsoNanos('2026-11-30T02:27:57.612560689Z'), 1_796_005_677_612_560_689n);
  assert.equal(parseIsoNanos('2026-11-30T02:27:57Z'), 1_796_005_677_000_000_000n);
  assert.equal(parseIsoNanos('2026-11-30T03:27:57.5+01:00'), 1_796_005_677_500_000_000n);
  assert.throws(() => parseIsoNanos('yesterday'));
});

test('raw JSON form has the contract names and no attribution', () => {
  const j = rawToJson(sampleRaw());
  assert.equal(j.eventId, 'node-a:7f3c2d:123456');
  assert.equal(j.seq, 123456);
  assert.equal(j.time, '2026-11-30T02:27:57.612560689Z');
  assert.deepEqual(j.src, { addr: '10.0.0.5', port: 41234 });
  assert.deepEqual(j.dst, { addr: '93.184.216.34', port: 443, name: null });
  assert.equal(j.encryptedDns, false);
  assert.deepEqual(j.result, { status: 'OK', errno: 0 });
  assert.equal((j.process as { comm: string }).comm, 'curl');
  assert.equal(j.netns, 4026532181);
  assert.equal(j.utsName, 'web-7d9f');
  assert.deepEqual(Object.keys(j.cgroup as object), ['id', 'path']);
  for (const k of ['container', 'pod', 'attribution']) assert.equal(k in j, false, k);
  // It is plain JSON: no bigint leaks through.
  assert.doesNotThrow(() => JSON.stringify(j));
});

test('audit JSON form adds container, pod and attribution', () => {
  const j = auditToJson(sampleAudit());
  assert.deepEqual(j.container, { id: 'b5fa49123b796b99fe605af0f8d019f3b3a8cb445b529b892e0d3788682469af', runtime: 'docker', name: 'app', image: 'nginx:1.27' });
  assert.deepEqual(j.pod, { name: 'web-7d9f', namespace: 'shop', uid: '35b82523-06c1-48e7-9e61-2521a89b703b', labels: { app: 'web' }, hostNetwork: false, workload: { kind: 'Pod', name: 'web-7d9f' }, annotations: {}, ips: [] });
  assert.deepEqual(j.attribution, { status: 'POD', source: 'docker', reason: null });
  const keys = Object.keys(j);
  for (const k of ['eventId', 'seq', 'time', 'node', 'protocol', 'family', 'src', 'dst', 'result', 'process', 'netns', 'utsName', 'cgroup', 'container', 'pod', 'attribution']) {
    assert.ok(keys.includes(k), k);
  }
});
