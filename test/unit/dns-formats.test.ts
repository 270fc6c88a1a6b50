// SPDX-License-Identifier: Apache-2.0
// The formats render destinations (dst.name/pod/service/scope) and DNS lookups: OCSF Network
// Activity with dst_endpoint.hostname/domain, OCSF DNS Activity (4003) checked against the OCSF
// rules, ECS destination.domain and dns.*, CEF dhost, through tail/export's entry points
// (decodedTo*); odd bytes in names come out escaped, never raw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodedToOcsf } from '../../src/formats/ocsf.js';
import { decodedToEcs } from '../../src/formats/ecs.js';
import { decodedToCef } from '../../src/formats/cef.js';
import { createRenderer } from '../../src/export/render.js';
import { toPretty } from '../../src/schema/pretty.js';
import { safeDnsName } from '../../src/schema/dns-text.js';
import type { Decoded } from '../../src/schema/codec.js';
import { OcsfSchema } from '../helpers/ocsf-schema.js';
import { parseCef } from '../helpers/cef-parse.js';
import { SAMPLE_NAME, sampleAudit, sampleAuditLookup, sampleLookup } from '../helpers/records.js';

const schema = new OcsfSchema();
const PEER = { name: 'db-0', namespace: 'data', uid: '0b9e6c1e-8a4b-4c36-9c55-5d2e8e0a7f11', workload: { kind: 'StatefulSet', name: 'db' }, labels: { app: 'db' } };
const audit = (over: Parameters<typeof sampleAudit>[0]): Decoded => ({ schema: 'AuditRecord', value: sampleAudit(over), writerVersion: 'current' });
const lookup = (over: Parameters<typeof sampleAuditLookup>[0] = {}): Decoded => ({ schema: 'AuditDnsLookup', value: sampleAuditLookup(over), writerVersion: 'current' });

test('a connect with dst.name, pod, service and scope: OCSF, ECS and CEF carry them', () => {
  const d = audit({ dst: { ...sampleAudit().dst!, name: { ...SAMPLE_NAME, name: 'db-0.db.data.svc.cluster.local' }, pod: PEER, service: { name: 'db', namespace: 'data' }, scope: 'pod' } });
  const o = decodedToOcsf(d) as any;
  assert.deepEqual(schema.validateEvent(o), []);
  assert.equal(o.dst_endpoint.hostname, 'db-0.db.data.svc.cluster.local');
  assert.equal(o.dst_endpoint.domain, 'db.data.svc.cluster.local');
  assert.equal(o.dst_endpoint.svc_name, 'db.data');
  assert.equal(o.dst_endpoint.network_scope_id, 1);
  assert.equal(o.unmapped.dst.pod.name, 'db-0');
  const e = decodedToEcs(d) as any;
  assert.equal(e.destination.domain, 'db-0.db.data.svc.cluster.local');
  assert.equal(e.podtrail.destination.scope, 'pod');
  assert.equal(parseCef(decodedToCef(d)).ext.dhost, 'db-0.db.data.svc.cluster.local');
  // No name: no hostname, domain or dhost.
  const bare = audit({});
  assert.equal((decodedToOcsf(bare) as any).dst_endpoint.hostname, undefined);
  assert.equal(parseCef(decodedToCef(bare)).ext.dhost, undefined);
});

test('a DNS lookup is OCSF DNS Activity (4003), conforming; rcodes and truncation map', () => {
  for (const d of [lookup(), lookup({ rcode: 3, answers: [] }), lookup({ rcode: 42, truncated: true, count: 5n, firstTime: 1n, lastTime: 2_000_000n }),
    { schema: 'DnsLookup', value: sampleLookup(), writerVersion: 'current' } as Decoded]) {
    const o = decodedToOcsf(d) as any;
    assert.deepEqual(schema.validateEvent(o), [], JSON.stringify(o));
    assert.equal(o.class_uid, 4003);
    assert.equal(o.type_uid, 400302);
  }
  const o = decodedToOcsf(lookup()) as any;
  assert.deepEqual(o.query, { hostname: 'www.example.com', type: 'A', class: 'IN' });
  assert.deepEqual(o.answers, [{ class: 'IN', type: 'CNAME', rdata: 'edge.example.net', ttl: 300 }, { class: 'IN', type: 'A', rdata: '93.184.216.34', ttl: 60 }]);
  assert.deepEqual([o.rcode_id, o.rcode, o.status], [0, 'NoError', 'Success']);
  assert.equal(o.actor.process.name, 'curl');
  assert.equal(o.dst_endpoint.ip, '10.96.0.10');
  const nx = decodedToOcsf(lookup({ rcode: 3, answers: [] })) as any;
  assert.deepEqual([nx.rcode_id, nx.rcode, nx.status], [3, 'NXDomain', 'Failure']);
  const odd = decodedToOcsf(lookup({ rcode: 42, truncated: true, count: 5n })) as any;
  assert.deepEqual([odd.rcode_id, odd.rcode, odd.flag_ids, odd.count], [99, 'RCODE42', [2], 5]);
  // A schema break is caught: a query without its class.
  assert.notDeepEqual(schema.validateEvent({ ...o, query: { hostname: 'x' } }), []);
});

test('a DNS lookup in ECS: dns.* as a full exchange, resolved_ip, event.type protocol', () => {
  const e = decodedToEcs(lookup()) as any;
  assert.equal(e.dns.type, 'answer');
  assert.deepEqual(e.dns.question, { name: 'www.example.com', type: 'A', class: 'IN' });
  assert.equal(e.dns.response_code, 'NOERROR');
  assert.deepEqual(e.dns.resolved_ip, ['93.184.216.34']);
  assert.deepEqual(e.dns.answers[0], { name: 'www.example.com', type: 'CNAME', class: 'IN', data: 'edge.example.net', ttl: 300 });
  assert.deepEqual(e.event.type, ['protocol', 'info']);
  assert.equal(e.event.action, 'dns-lookup');
  assert.equal(e.network.protocol, 'dns');
  assert.ok(e.related.ip.includes('93.184.216.34'));
  const c = parseCef(decodedToCef(lookup()));
  assert.equal(c.ext.cat, 'podtrail/dns');
  assert.match(c.ext.msg ?? '', /A www\.example\.com NOERROR: CNAME edge\.example\.net, A 93\.184\.216\.34/);
  // export's renderer: one line, msgId dns.
  for (const f of ['json', 'ocsf', 'ecs', 'cef'] as const) {
    const r = createRenderer(f)(lookup());
    assert.equal(r.msgId, 'dns');
    assert.ok(!r.text.includes('\n'));
  }
});

test('odd bytes in names: escaped as \\DDD in every format, never raw', () => {
  assert.equal(safeDnsName('www.example.com'), 'www.example.com');
  assert.equal(safeDnsName('a\\000b.example'), 'a\\000b.example');
  assert.equal(safeDnsName('a\nb|c=d\\e.ex'), 'a\\010b\\124c\\061d\\092e.ex');
  assert.equal(safeDnsName('é\u202e.x'), '\\195\\169\\226\\128\\174.x');
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
    const safe = safeDnsName(s);
    assert.match(safe, /^[A-Za-z0-9_*.\\-]*$/);
    assert.equal(safeDnsName(safe), safe, 'idempotent');
    const d = lookup({ query: s, answers: [{ name: s, type: 5, data: s, ttl: 1 }] });
    const a = audit({ dst: { ...sampleAudit().dst!, name: { ...SAMPLE_NAME, name: s } } });
    for (const text of [decodedToCef(d), decodedToCef(a), toPretty(d), toPretty(a), JSON.stringify(decodedToOcsf(d)), JSON.stringify(decodedToEcs(a))]) {
      assert.ok(!/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/.test(text), JSON.stringify(text));
    }
  }), { numRuns: 300 });
});
