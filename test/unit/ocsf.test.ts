// SPDX-License-Identifier: Apache-2.0
// OCSF Network Activity mapping, checked against the OCSF schema's own files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../src/common/errors.js';
import type { Decoded } from '../../src/schema/codec.js';
import { decodedToOcsf, splitImage, toOcsf, OCSF_VERSION } from '../../src/formats/ocsf.js';
import { parseAddr } from '../../src/schema/addr.js';
import { OcsfSchema } from '../helpers/ocsf-schema.js';
import { auditArb, lossRecord } from '../helpers/audit-arb.js';
import { sampleAudit, sampleRaw } from '../helpers/records.js';
import { BARE_ENDPOINT } from '../../src/schema/endpoint.js';

const schema = new OcsfSchema();
const valid = (ev: Record<string, unknown>) => assert.deepEqual(schema.validateEvent(ev), [], JSON.stringify(ev, null, 1));

test('the schema files say what Network Activity requires, and a pod record has all of it', () => {
  const cls = schema.networkActivity(['host', 'container']);
  assert.equal(cls.classUid, 4001);
  const required = Object.entries(cls.attributes).filter(([, a]) => a.requirement === 'required').map(([k]) => k).sort();
  assert.deepEqual(required, ['activity_id', 'category_uid', 'class_uid', 'metadata', 'severity_id', 'time', 'type_uid']);
  const ev = toOcsf(sampleAudit());
  for (const k of required) assert.notEqual(ev[k], undefined, k);
  assert.equal(schema.version, OCSF_VERSION);
  valid(ev);
});

test('a pod record maps to the fields the issue names', () => {
  const ev = toOcsf(sampleAudit()) as any;
  assert.equal(ev.class_uid, 4001);
  assert.equal(ev.activity_id, 1);
  assert.equal(ev.type_uid, 400101);
  assert.equal(ev.severity_id, 1);
  assert.equal(ev.time, 1_796_005_677_612);
  assert.deepEqual(ev.metadata.product, { name: 'podtrail', vendor_name: 'podtrail', version: ev.metadata.product.version });
  assert.match(ev.metadata.product.version, /^\d+\.\d+\.\d+/);
  assert.deepEqual(ev.src_endpoint, { ip: '10.0.0.5', port: 41234 });
  assert.deepEqual(ev.dst_endpoint, { ip: '93.184.216.34', port: 443 });
  assert.equal(ev.connection_info.direction_id, 2);
  assert.equal(ev.connection_info.protocol_name, 'tcp');
  assert.equal(ev.connection_info.protocol_num, 6);
  assert.match(ev.connection_info.community_uid, /^1:[A-Za-z0-9+/]{27}=$/);
  const p = ev.actor.process;
  assert.equal(p.pid, 5113);
  assert.equal(p.name, 'curl');
  assert.equal(p.user.uid, '0');
  assert.equal(p.parent_process.pid, 5100);
  assert.equal(p.namespace_pid, 1);
  assert.deepEqual(p.container, {
    uid: 'b5fa49123b796b99fe605af0f8d019f3b3a8cb445b529b892e0d3788682469af', name: 'app',
    image: { name: 'nginx', tag: '1.27', uid: 'nginx:1.27' }, runtime: 'docker', orchestrator: 'Kubernetes',
    pod_uuid: '35b82523-06c1-48e7-9e61-2521a89b703b', labels: ['app=web'],
  });
  assert.equal(ev.unmapped.pod.name, 'web-7d9f');
  assert.equal(ev.unmapped.pod.namespace, 'shop');
  assert.deepEqual(ev.unmapped.attribution, { status: 'POD', source: 'docker', reason: null });
});

test('activity follows the connect result: Open, Refuse or Fail', () => {
  const want = { OK: [1, 1], INPROGRESS: [1, 0], REFUSED: [5, 2], TIMEOUT: [4, 2], UNREACHABLE: [4, 2], ERROR: [4, 2] } as const;
  for (const [status, [activity, statusId]] of Object.entries(want)) {
    const ev = toOcsf(sampleAudit({ result: { status: status as keyof typeof want, errno: status === 'REFUSED' ? 111 : 0 } })) as any;
    assert.equal(ev.activity_id, activity, status);
    assert.equal(ev.type_uid, 400100 + activity, status);
    assert.equal(ev.status_id, statusId, status);
    valid(ev);
  }
  const refused = toOcsf(sampleAudit({ result: { status: 'REFUSED', errno: 111 } })) as any;
  assert.equal(refused.status_code, 'ECONNREFUSED');
  assert.equal(refused.activity_name, 'Refuse');
});

test('IPv6, host, container-only, unresolved and static-pod records conform', () => {
  const v6 = toOcsf(sampleAudit({ family: 'IPv6', src: { ...BARE_ENDPOINT, addr: parseAddr('::1'), port: 5000 }, dst: { ...BARE_ENDPOINT, addr: parseAddr('2001:db8::1'), port: 80 } })) as any;
  assert.equal(v6.connection_info.protocol_ver_id, 6);
  assert.equal(v6.dst_endpoint.ip, '2001:db8::1');
  valid(v6);
  const host = toOcsf(sampleAudit({ container: null, pod: null, attribution: { status: 'HOST', source: 'cgroup', reason: null } })) as any;
  assert.equal(host.actor.process.container, undefined);
  valid(host);
  const ctr = toOcsf(sampleAudit({ pod: null, attribution: { status: 'CONTAINER', source: 'docker', reason: null } })) as any;
  assert.equal(ctr.actor.process.container.orchestrator, undefined);
  valid(ctr);
  const staticPod = toOcsf(sampleAudit({ pod: { ...sampleAudit().pod!, uid: '6db2f5a1b7a6e1a0f04b3ef3d2a2a1c5' } })) as any;
  assert.equal(staticPod.actor.process.container.pod_uuid, undefined);
  assert.equal(staticPod.unmapped.pod.uid, '6db2f5a1b7a6e1a0f04b3ef3d2a2a1c5');
  valid(staticPod);
});

test('a LOSS record stays in class 4001 as activity Other, with the count and span', () => {
  const ev = toOcsf(lossRecord({ count: 17n })) as any;
  valid(ev);
  assert.equal(ev.activity_id, 99);
  assert.equal(ev.type_uid, 400199);
  assert.equal(ev.status_id, 2);
  assert.equal(ev.severity_id, 3);
  assert.equal(ev.count, 17);
  assert.equal(ev.end_time - ev.start_time, 5);
  assert.equal(ev.unmapped.loss.count, 17);
  assert.deepEqual(ev.src_endpoint, { hostname: 'node-a', name: 'node-a' });
  assert.match(ev.message, /17 connection\(s\) not captured/);
});

test('raw events and capture losses map too; ContainerMeta is a DecodeError', () => {
  const raw = decodedToOcsf({ schema: 'RawConnectEvent', value: sampleRaw(), writerVersion: 'current' }) as any;
  valid(raw);
  assert.equal(raw.unmapped.attribution, undefined);
  const l = lossRecord().loss!;
  const cl = decodedToOcsf({ schema: 'CaptureLoss', value: { eventId: 'e', time: 1n, node: 'n', instance: 'i', fromSeq: l.fromSeq, toSeq: l.toSeq, count: l.count, cause: l.cause, firstTime: 0n, lastTime: 1n }, writerVersion: 'current' }) as any;
  valid(cl);
  assert.equal(cl.activity_id, 99);
  assert.throws(() => decodedToOcsf({ schema: 'ContainerMeta', value: {}, writerVersion: 'current' } as unknown as Decoded), DecodeError);
});

test('the validator is not a rubber stamp', () => {
  const ev = toOcsf(sampleAudit()) as any;
  const broken = structuredClone(ev);
  delete broken.metadata.product;
  broken.src_endpoint.port = 70000;
  broken.actor.process.container.pod_uuid = 'not-a-uuid';
  broken.connection_info.bogus = 1;
  broken.activity_name = 'Close';
  delete broken.connection_info.direction_id;
  const errs = schema.validateEvent(broken).join('\n');
  assert.match(errs, /metadata\.product: required/);
  assert.match(errs, /src_endpoint\.port: 70000 outside/);
  assert.match(errs, /pod_uuid: "not-a-uuid" does not match/);
  assert.match(errs, /connection_info\.bogus: not an attribute/);
  assert.match(errs, /activity_name: want the caption "Open"/);
  assert.match(errs, /connection_info\.direction_id: required/);
  const noProfiles = structuredClone(ev);
  noProfiles.metadata.profiles = [];
  assert.match(schema.validateEvent(noProfiles).join('\n'), /actor: not an attribute of network_activity/);
});

test('any audit record maps to a conforming event (property)', () => {
  fc.assert(fc.property(auditArb, (a) => {
    const errs = schema.validateEvent(toOcsf(a));
    assert.deepEqual(errs, []);
  }), { numRuns: 300 });
});

test('image references split into name, tag and uid', () => {
  assert.deepEqual(splitImage('nginx:1.27'), { name: 'nginx', tag: '1.27', uid: 'nginx:1.27' });
  assert.deepEqual(splitImage('registry:5000/app'), { name: 'registry:5000/app', uid: 'registry:5000/app' });
  assert.deepEqual(splitImage('registry:5000/app:v2@sha256:ab'), { name: 'registry:5000/app', tag: 'v2', uid: 'sha256:ab' });
  assert.deepEqual(splitImage(`sha256:${'a'.repeat(64)}`), { uid: `sha256:${'a'.repeat(64)}` });
});

test('a capture restart LOSS validates, with no count and an unknown number in the message', () => {
  const ev = toOcsf(lossRecord({ restart: true })) as any;
  valid(ev);
  assert.equal(ev.count, undefined);
  assert.match(ev.message, /an unknown number of connections not captured on node-a, from seq 100 on \(CAPTURE_RESTART\)/);
});

test('labels in container.labels, orchestrator Kubernetes; workload, annotations and IPs in unmapped.pod', () => {
  const ev = toOcsf(sampleAudit({ pod: {
  ...sampleAudit().pod!,
  name: 'web-7d9f8b6c5d-x2k4q',
  labels: { app: 'web', 'app.kubernetes.io/name': 'web', 'pod-template-hash': '7d9f8b6c5d' },
  workload: { kind: 'Deployment', name: 'web' },
  annotations: { 'team.example.com/owner': 'payments' },
  ips: ['10.244.1.17', 'fd00:10:244::17'],
} }));
  valid(ev);
  const c = (ev.actor as any).process.container;
  assert.equal(c.orchestrator, 'Kubernetes');
  assert.deepEqual(c.labels, ['app=web', 'app.kubernetes.io/name=web', 'pod-template-hash=7d9f8b6c5d']);
  const pod = (ev.unmapped as any).pod;
  assert.deepEqual(pod.workload, { kind: 'Deployment', name: 'web' });
  assert.deepEqual(pod.annotations, { 'team.example.com/owner': 'payments' });
  assert.deepEqual(pod.ips, ['10.244.1.17', 'fd00:10:244::17']);
});
