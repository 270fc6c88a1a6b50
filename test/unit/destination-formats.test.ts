// SPDX-License-Identifier: Apache-2.0
// Where destinations go in OCSF, ECS and CEF: checked against the OCSF schema files and the
// ECS field definitions, merged into what the formats write today for a sample record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cefDestination, domainOf, ecsDestination, ocsfDestination, type DestinationView } from '../../src/formats/destination.js';
import { toOcsf } from '../../src/formats/ocsf.js';
import { toCef } from '../../src/formats/cef.js';
import { OcsfSchema } from '../helpers/ocsf-schema.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { parseCef } from '../helpers/cef-parse.js';
import { sampleAudit } from '../helpers/records.js';

const S = 1_000_000_000n;
const external: DestinationView = {
  name: { name: 'api.eu.example.com', cnames: ['edge.cdn.example.net'], answeredAt: 1_765_000_000n * S + 5n, ttl: 30, server: '10.96.0.10', trust: 'resolver' },
  scope: 'external', pod: null, service: null, encryptedDns: false,
};
const inCluster: DestinationView = {
  name: { name: 'db-0.db.data.svc.cluster.local', cnames: [], answeredAt: 1_765_000_000n * S, ttl: 5, server: '10.96.0.10', trust: 'matched' },
  scope: 'pod', pod: { name: 'db-0', namespace: 'data', uid: '0b9e6c1e-8a4b-4c36-9c55-5d2e8e0a7f11', workload: { kind: 'StatefulSet', name: 'db' }, labels: { app: 'db' } },
  service: { name: 'db', namespace: 'data' }, encryptedDns: false,
};
const bare: DestinationView = { name: null, scope: null, pod: null, service: null, encryptedDns: false };

test('domainOf: the name without its host label; short names are their own domain', () => {
  assert.equal(domainOf('api.eu.example.com'), 'eu.example.com');
  assert.equal(domainOf('example.com'), 'example.com');
  assert.equal(domainOf('localhost'), 'localhost');
});

test('OCSF: hostname, domain, svc_name and network scope in dst_endpoint, the rest in unmapped; schema-valid', () => {
  const schema = new OcsfSchema();
  for (const d of [external, inCluster, bare]) {
    const ev = toOcsf(sampleAudit());
    const o = ocsfDestination(d);
    ev.dst_endpoint = { ...(ev.dst_endpoint as object), ...o.endpoint };
    (ev.unmapped as Record<string, unknown>).dst = o.unmapped;
    assert.deepEqual(schema.validateEvent(ev), [], JSON.stringify(ev.dst_endpoint));
  }
  const e = ocsfDestination(external);
  assert.deepEqual(e.endpoint, { hostname: 'api.eu.example.com', domain: 'eu.example.com', network_scope_id: 2, network_scope: 'External' });
  assert.deepEqual(e.unmapped, {
    scope: 'external',
    name: { name: 'api.eu.example.com', cnames: ['edge.cdn.example.net'], answeredAt: '2025-12-06T05:46:40.000000005Z', ttl: 30, server: '10.96.0.10', trust: 'resolver' },
  });
  const c = ocsfDestination(inCluster);
  assert.equal(c.endpoint.svc_name, 'db.data');
  assert.equal(c.endpoint.network_scope_id, 1);
  assert.deepEqual((c.unmapped.pod as { workload: unknown }).workload, { kind: 'StatefulSet', name: 'db' });
  assert.deepEqual(ocsfDestination(bare), { endpoint: {}, unmapped: {} }, 'no name is invented');
});

test('ECS: destination.domain is an ECS keyword field; the rest under podtrail.destination', () => {
  const fields = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'test/fixtures/ecs/ecs_fields.subset.json'), 'utf8')) as { fields: Record<string, { type: string }> }).fields;
  assert.equal(fields['destination.domain']?.type, 'keyword');
  const e = ecsDestination(external);
  assert.deepEqual(e.destination, { domain: 'api.eu.example.com' });
  assert.equal(e.podtrail.scope, 'external');
  const c = ecsDestination({ ...inCluster, encryptedDns: true });
  assert.deepEqual(c.podtrail.service, { name: 'db', namespace: 'data' });
  assert.equal(c.podtrail.encryptedDns, true);
  assert.deepEqual(ecsDestination(bare), { destination: {}, podtrail: {} });
});

test('CEF: dhost carries the name and survives the extension escaping', () => {
  assert.deepEqual(cefDestination(external), [['dhost', 'api.eu.example.com']]);
  assert.deepEqual(cefDestination(bare), []);
  // What the CEF line will hold once wired: the existing line plus dhost, parsed back.
  const line = `${toCef(sampleAudit())} dhost=${cefDestination(external)[0]![1]}`;
  assert.equal(parseCef(line).ext.dhost, 'api.eu.example.com');
});
