// SPDX-License-Identifier: Apache-2.0
// ECS documents: every field name and value type checked against ECS's field definitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { DecodeError } from '../../src/common/errors.js';
import type { Decoded } from '../../src/schema/codec.js';
import { decodedToEcs, toEcs } from '../../src/formats/ecs.js';
import { communityId } from '../../src/formats/community-id.js';
import { parseAddr } from '../../src/schema/addr.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { auditArb, lossRecord } from '../helpers/audit-arb.js';
import { sampleAudit, sampleRaw } from '../helpers/records.js';
import { BARE_ENDPOINT } from '../../src/schema/endpoint.js';

interface EcsField { type: string; normalize?: string[]; required?: boolean; allowed_values?: Array<{ name: string; expected_event_types: string[] | null }>; expected_values?: string[] }
const ECS_FIELDS = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'test/fixtures/ecs/ecs_fields.subset.json'), 'utf8')) as { fields: Record<string, EcsField> }).fields;
// Not ECS: the kubernetes.* fields Elastic Agent's kubernetes processor writes (see the fixture's README).
const K8S_FIELDS = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'test/fixtures/ecs/kubernetes_fields.json'), 'utf8')) as { fields: Record<string, EcsField> }).fields;
const FIELDS: Record<string, EcsField> = { ...ECS_FIELDS, ...K8S_FIELDS };
// Our own fields, outside ECS by design (ECS reserves no top-level "podtrail").
const CUSTOM = /^podtrail\./;

/** Problems with a document, as "field: what"; empty when it conforms. */
function validateEcs(doc: Record<string, unknown>): string[] {
  const errors: string[] = [];
  for (const [name, f] of Object.entries(FIELDS)) if (f.required && !(name in flat(doc))) errors.push(`${name}: required`);
  for (const [name, value] of Object.entries(flat(doc))) {
    if (CUSTOM.test(name)) continue;
    const f = FIELDS[name];
    if (!f) { errors.push(`${name}: not an ECS field`); continue; }
    const isArray = Array.isArray(value);
    if (isArray && !f.normalize?.includes('array')) errors.push(`${name}: ECS does not make it an array`);
    for (const v of isArray ? (value as unknown[]) : [value]) {
      const bad = typeProblem(f.type, v);
      if (bad) errors.push(`${name}: ${bad}`);
      if (f.allowed_values && !f.allowed_values.some((a) => a.name === v)) errors.push(`${name}: ${JSON.stringify(v)} is not an allowed value`);
      if (f.expected_values && !f.expected_values.includes(v as string)) errors.push(`${name}: ${JSON.stringify(v)} is not an expected value`);
    }
  }
  // event.type values must be among those ECS expects for each event.category.
  const ev = doc.event as { category?: string[]; type?: string[] } | undefined;
  for (const cat of ev?.category ?? []) {
    const expected = FIELDS['event.category']!.allowed_values!.find((a) => a.name === cat)?.expected_event_types ?? [];
    for (const t of ev?.type ?? []) if (!expected.includes(t)) errors.push(`event.type: ${t} is not expected with category ${cat}`);
  }
  return errors;
}

/** Dotted leaf names; objects typed `object` in ECS (labels) are leaves. */
function flat(o: Record<string, unknown>, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(o)) {
    const name = `${prefix}${k}`;
    if (v && typeof v === 'object' && !Array.isArray(v) && FIELDS[name]?.type !== 'object') flat(v as Record<string, unknown>, `${name}.`, out);
    else out[name] = v;
  }
  return out;
}

function typeProblem(type: string, v: unknown): string | undefined {
  switch (type) {
    case 'keyword': case 'constant_keyword': case 'wildcard': case 'match_only_text': case 'text':
      return typeof v === 'string' ? undefined : `${type} wants a string, got ${typeof v}`;
    case 'long':
      return typeof v === 'number' && Number.isSafeInteger(v) ? undefined : `long wants an integer, got ${JSON.stringify(v)}`;
    case 'ip':
      return typeof v === 'string' && isIP(v) ? undefined : `not an IP: ${JSON.stringify(v)}`;
    case 'date':
      return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/.test(v) && !Number.isNaN(Date.parse(v)) ? undefined : `not an ISO date: ${JSON.stringify(v)}`;
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'not a boolean';
    case 'object':
      return v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string') ? undefined : 'not an object of strings';
    default:
      return `type ${type} not handled by this check`;
  }
}

const valid = (doc: Record<string, unknown>) => assert.deepEqual(validateEcs(doc), [], JSON.stringify(doc));

test('a pod record carries the ECS fields the issue lists, all of them real ECS fields', () => {
  const d = toEcs(sampleAudit()) as any;
  valid(d);
  assert.equal(d['@timestamp'], '2026-11-30T02:27:57.612560689Z');
  assert.deepEqual(d.source, { ip: '10.0.0.5', address: '10.0.0.5', port: 41234 });
  assert.deepEqual(d.destination, { ip: '93.184.216.34', address: '93.184.216.34', port: 443 });
  assert.equal(d.network.transport, 'tcp');
  assert.equal(d.network.type, 'ipv4');
  assert.equal(d.network.direction, 'egress');
  assert.equal(d.network.community_id, communityId({ proto: 6, saddr: parseAddr('10.0.0.5'), daddr: parseAddr('93.184.216.34'), sport: 41234, dport: 443 }));
  assert.equal(d.process.pid, 5113);
  assert.equal(d.process.name, 'curl');
  assert.equal(d.process.parent.pid, 5100);
  assert.equal(d.user.id, '0');
  assert.equal(d.container.id, sampleAudit().container!.id);
  assert.equal(d.container.name, 'app');
  assert.equal(d.container.image.name, 'nginx');
  assert.deepEqual(d.container.labels, { app: 'web' });
  assert.equal(d.container.runtime, 'docker');
  assert.equal(d.orchestrator.type, 'kubernetes');
  assert.equal(d.orchestrator.namespace, 'shop');
  assert.equal(d.orchestrator.resource.name, 'web-7d9f');
  assert.equal(d.orchestrator.resource.type, 'pod');
  assert.deepEqual(d.event.category, ['network']);
  assert.deepEqual(d.event.type, ['connection', 'start']);
  assert.equal(d.event.outcome, 'success');
  assert.equal(d.podtrail.attribution.status, 'POD');
});

test('event.outcome follows the connect result', () => {
  const want = { OK: 'success', INPROGRESS: 'unknown', REFUSED: 'failure', TIMEOUT: 'failure', UNREACHABLE: 'failure', ERROR: 'failure' } as const;
  for (const [status, outcome] of Object.entries(want)) {
    const d = toEcs(sampleAudit({ result: { status: status as keyof typeof want, errno: status === 'OK' ? 0 : 113 } })) as any;
    assert.equal(d.event.outcome, outcome, status);
    if (status !== 'OK') assert.match(d.event.reason, /EHOSTUNREACH/);
    valid(d);
  }
});

test('IPv6 and v4-mapped flows: network.type and a wire-level Community ID', () => {
  const v6 = toEcs(sampleAudit({ family: 'IPv6', src: { ...BARE_ENDPOINT, addr: parseAddr('::1'), port: 5000 }, dst: { ...BARE_ENDPOINT, addr: parseAddr('::1'), port: 80 } })) as any;
  assert.equal(v6.network.type, 'ipv6');
  valid(v6);
  const mapped = toEcs(sampleAudit({ family: 'IPv6', src: { ...BARE_ENDPOINT, addr: parseAddr('::ffff:10.0.0.5'), port: 41234 }, dst: { ...BARE_ENDPOINT, addr: parseAddr('::ffff:93.184.216.34'), port: 443 } })) as any;
  assert.equal(mapped.network.community_id, (toEcs(sampleAudit()) as any).network.community_id);
  assert.equal(mapped.source.ip, '::ffff:10.0.0.5');
  valid(mapped);
});

test('LOSS, raw and host records conform; ContainerMeta is a DecodeError', () => {
  const loss = toEcs(lossRecord({ count: 5n })) as any;
  valid(loss);
  assert.equal(loss.event.outcome, 'failure');
  assert.deepEqual(loss.event.type, ['info']);
  assert.equal(loss.podtrail.loss.count, 5);
  assert.equal(loss.source, undefined);
  const raw = decodedToEcs({ schema: 'RawConnectEvent', value: sampleRaw(), writerVersion: 'current' }) as any;
  valid(raw);
  assert.equal(raw.podtrail.attribution, undefined);
  valid(toEcs(sampleAudit({ container: null, pod: null, attribution: { status: 'HOST', source: 'cgroup', reason: null } })));
  assert.throws(() => decodedToEcs({ schema: 'ContainerMeta', value: {}, writerVersion: 'current' } as unknown as Decoded), DecodeError);
});

test('the ECS check is not a rubber stamp', () => {
  const d = toEcs(sampleAudit()) as any;
  d.source.port = '41234';
  d.network.direction = 'sideways';
  d.event.type = ['connection', 'creation'];
  d.container.flavour = 'x';
  delete d.ecs;
  const errs = validateEcs(d).join('\n');
  assert.match(errs, /source\.port: long wants an integer/);
  assert.match(errs, /network\.direction: "sideways" is not an expected value/);
  assert.match(errs, /event\.type: creation is not expected with category network/);
  assert.match(errs, /container\.flavour: not an ECS field/);
  assert.match(errs, /ecs\.version: required/);
});

test('any audit record maps to a conforming document (property)', () => {
  fc.assert(fc.property(auditArb, (a) => assert.deepEqual(validateEcs(toEcs(a)), [])), { numRuns: 300 });
});

test('a capture restart LOSS conforms and says how many is unknown', () => {
  const ev = toEcs(lossRecord({ restart: true })) as any;
  valid(ev);
  assert.match(ev.event.reason, /^an unknown number of connections not captured, from seq 100 on: CAPTURE_RESTART$/);
});

test('orchestrator.resource.* and kubernetes.* as Elastic Agent writes them: workload, annotations, IPs, dedotted labels', () => {
  const pod = {
  ...sampleAudit().pod!,
  name: 'web-7d9f8b6c5d-x2k4q',
  labels: { app: 'web', 'app.kubernetes.io/name': 'web', 'pod-template-hash': '7d9f8b6c5d' },
  workload: { kind: 'Deployment', name: 'web' },
  annotations: { 'team.example.com/owner': 'payments' },
  ips: ['10.244.1.17', 'fd00:10:244::17'],
};
  const doc = toEcs(sampleAudit({ pod }));
  valid(doc);
  const res = (doc.orchestrator as any).resource;
  assert.equal(res.parent.type, 'Deployment');
  assert.deepEqual(res.annotation, ['team.example.com/owner=payments']);
  assert.deepEqual(res.ip, ['10.244.1.17', 'fd00:10:244::17']);
  const k = doc.kubernetes as any;
  assert.deepEqual(k.pod, { name: 'web-7d9f8b6c5d-x2k4q', uid: pod.uid, ip: '10.244.1.17' });
  assert.equal(k.namespace, 'shop');
  assert.deepEqual(k.node, { name: 'node-a' });
  assert.deepEqual(k.container, { name: 'app' });
  assert.deepEqual(k.deployment, { name: 'web' });
  assert.deepEqual(k.replicaset, { name: 'web-7d9f8b6c5d' });
  assert.deepEqual(k.labels, { app: 'web', 'app_kubernetes_io/name': 'web', 'pod-template-hash': '7d9f8b6c5d' });
  assert.deepEqual(k.annotations, { 'team_example_com/owner': 'payments' });
  // Each other kind gets its own name field; a CronJob's pods also name their Job.
  for (const [kind, field] of [['StatefulSet', 'statefulset'], ['DaemonSet', 'daemonset'], ['Job', 'job']] as const) {
    const d = toEcs(sampleAudit({ pod: { ...pod, workload: { kind, name: 'w' } } }));
    valid(d);
    assert.deepEqual((d.kubernetes as any)[field], { name: 'w' });
    assert.equal((d.kubernetes as any).deployment, undefined);
  }
  const cron = toEcs(sampleAudit({ pod: { ...pod, labels: { 'job-name': 'backup-28948930' }, workload: { kind: 'CronJob', name: 'backup' } } }));
  valid(cron);
  assert.deepEqual((cron.kubernetes as any).cronjob, { name: 'backup' });
  assert.deepEqual((cron.kubernetes as any).job, { name: 'backup-28948930' });
  // A bare Pod, no IPs, no annotations: none of those fields.
  const bare = toEcs(sampleAudit());
  valid(bare);
  assert.equal((bare.orchestrator as any).resource.ip, undefined);
  assert.equal((bare.kubernetes as any).annotations, undefined);
  assert.equal((bare.orchestrator as any).resource.parent.type, 'Pod');
});
