// SPDX-License-Identifier: Apache-2.0
// CEF lines parse back (by an independent parser written to the CEF rules) to the record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../src/common/errors.js';
import type { Decoded } from '../../src/schema/codec.js';
import { decodedToCef, POD_UID_KEY, toCef } from '../../src/formats/cef.js';
import { parseAddr } from '../../src/schema/addr.js';
import { lossRecord } from '../helpers/audit-arb.js';
import { sampleAudit } from '../helpers/records.js';
import { parseCef } from '../helpers/cef-parse.js';
import { BARE_ENDPOINT } from '../../src/schema/endpoint.js';

test('a pod record: header, flow, process, pod and container fields', () => {
  const { header, ext } = parseCef(toCef(sampleAudit()));
  assert.deepEqual(header.slice(0, 3), ['CEF:0', 'podtrail', 'podtrail']);
  assert.deepEqual(header.slice(4), ['connect:OK', 'Outbound connection', '1']);
  assert.equal(ext.rt, '1796005677612');
  assert.equal(ext.src, '10.0.0.5');
  assert.equal(ext.spt, '41234');
  assert.equal(ext.dst, '93.184.216.34');
  assert.equal(ext.dpt, '443');
  assert.equal(ext.proto, 'TCP');
  assert.equal(ext.spid, '5113');
  assert.equal(ext.sproc, 'curl');
  assert.equal(ext.suid, '0');
  assert.equal(ext.cn1, '5100');
  assert.equal(ext.cs1Label, 'k8sNamespace');
  assert.equal(ext.cs1, 'shop');
  assert.equal(ext.cs2, 'web-7d9f');
  // The pod UID, in a custom extension since cs6 holds the command line.
  assert.ok(sampleAudit().pod!.uid);
  assert.equal(ext[POD_UID_KEY], sampleAudit().pod!.uid);
  assert.match(POD_UID_KEY, /^[A-Za-z0-9]+$/);
  assert.equal(ext.cs3, sampleAudit().container!.id);
  assert.equal(ext.cs5, 'nginx:1.27');
  assert.equal(ext.flexString1, 'POD/docker');
  assert.equal(ext.externalId, 'node-a:7f3c2d:123456');
  assert.equal(ext.outcome, 'success');
});

test('IPv6 goes in c6a2/c6a3, failures raise the severity, LOSS is severity 7 with a count', () => {
  const v6 = parseCef(toCef(sampleAudit({ family: 'IPv6', src: { ...BARE_ENDPOINT, addr: parseAddr('::1'), port: 1 }, dst: { ...BARE_ENDPOINT, addr: parseAddr('2001:db8::2'), port: 2 }, result: { status: 'REFUSED', errno: 111 } })));
  assert.equal(v6.ext.c6a3, '2001:db8::2');
  assert.equal(v6.ext.dst, undefined);
  assert.equal(v6.header[6], '3');
  assert.equal(v6.header[4], 'connect:REFUSED');
  assert.equal(v6.ext.reason, 'REFUSED ECONNREFUSED');
  const loss = parseCef(toCef(lossRecord({ count: 9n })));
  assert.equal(loss.header[4], 'capture:LOSS');
  assert.equal(loss.header[6], '7');
  assert.equal(loss.ext.cnt, '9');
  assert.match(loss.ext.msg!, /9 connection\(s\) not captured, seq 100\.\.108/);
  assert.throws(() => decodedToCef({ schema: 'ContainerMeta', value: {}, writerVersion: 'current' } as unknown as Decoded), DecodeError);
});

test('hostile names survive: =, \\, |, newlines and spaces round-trip (property)', () => {
  const nasty = fc.string({ unit: fc.constantFrom('a', '=', '\\', '|', '\n', '\r', ' ', 'x=y', 'é') , minLength: 1, maxLength: 30 });
  fc.assert(fc.property(nasty, nasty, nasty, (comm, ns, name) => {
    const a = sampleAudit({ process: { ...sampleAudit().process!, comm }, pod: { ...sampleAudit().pod!, namespace: ns, name } });
    const { ext } = parseCef(toCef(a));
    assert.equal(ext.sproc, comm);
    assert.equal(ext.cs1, ns);
    assert.equal(ext.cs2, name);
  }), { numRuns: 300 });
});

test('a capture restart LOSS says how many is unknown, with no count', () => {
  const r = parseCef(toCef(lossRecord({ restart: true })));
  assert.equal(r.ext.cnt, undefined);
  assert.equal(r.ext.cn2, '100');
  assert.match(r.ext.msg!, /an unknown number of connections not captured, from seq 100 on, CAPTURE_RESTART/);
  assert.doesNotMatch(r.ext.msg!, /\b0 connection/);
});

test('a record without a pod UID (a host process, or a pod known by name only) has no pod UID key', () => {
  assert.equal(parseCef(toCef(sampleAudit({ pod: { ...sampleAudit().pod!, uid: null } }))).ext[POD_UID_KEY], undefined);
  assert.equal(parseCef(toCef(sampleAudit({ pod: null }))).ext[POD_UID_KEY], undefined);
});

test('the pod\'s workload goes in flexString2; a pod without one has no flexString2', () => {
  const pod = {
  ...sampleAudit().pod!,
  name: 'web-7d9f8b6c5d-x2k4q',
  labels: { app: 'web', 'app.kubernetes.io/name': 'web', 'pod-template-hash': '7d9f8b6c5d' },
  workload: { kind: 'Deployment', name: 'web' },
  annotations: { 'team.example.com/owner': 'payments' },
  ips: ['10.244.1.17', 'fd00:10:244::17'],
};
  const { ext } = parseCef(toCef(sampleAudit({ pod })));
  assert.equal(ext.flexString2Label, 'k8sWorkload');
  assert.equal(ext.flexString2, 'Deployment/web');
  assert.equal(parseCef(toCef(sampleAudit({ pod: { ...pod, workload: null } }))).ext.flexString2, undefined);
});
