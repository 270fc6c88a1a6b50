// SPDX-License-Identifier: Apache-2.0
// Enrich's side of destinations: pod IPs from ContainerMeta versions, point in time (IP reuse,
// pod deletion, sandbox recreation, container restarts), cluster service names, CIDRs, scope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { DestinationIndex, serviceOfName } from '../../src/enrich/destination.js';
import { MetaTable } from '../../src/enrich/meta-table.js';
import { inCidr, isLoopback, parseCidr } from '../../src/enrich/cidr.js';
import { ConfigError } from '../../src/common/errors.js';
import { parseAddr } from '../../src/schema/addr.js';
import type { ContainerMeta } from '../../src/schema/types.js';

const S = 1_000_000_000n;
const T0 = 1_765_000_000n * S;
const at = (sec: number): bigint => T0 + BigInt(sec) * S;

let n = 0;
function meta(o: { pod: string; ns?: string; uid?: string; ips?: string[]; sandbox?: boolean; id?: string; from: number; deleted?: number; hostNetwork?: boolean; labels?: Record<string, string> }): ContainerMeta {
  return {
    containerId: o.id ?? `c${n++}`.padEnd(64, '0'), node: 'node-a', runtime: 'containerd', time: at(o.from), firstSeen: at(o.from), validFrom: at(o.from),
    deletedTime: o.deleted === undefined ? null : at(o.deleted), name: o.sandbox ? 'POD' : 'app', image: 'busybox', hostname: o.pod, isSandbox: o.sandbox ?? false,
    sandboxId: null, networkMode: null, utsMode: null, cgroupPaths: [], origin: null, bounded: null, note: null,
    pod: {
      name: o.pod, namespace: o.ns ?? 'shop', uid: o.uid ?? `uid-${o.pod}`, labels: o.labels ?? { app: o.pod }, annotations: {},
      hostNetwork: o.hostNetwork ?? false, workload: { kind: 'Deployment', name: o.pod.replace(/-[a-z0-9]+-[a-z0-9]+$/, '') }, ips: o.ips ?? [],
    },
  };
}

const ip = parseAddr;

test('a destination IP names the pod that had it at the time, before and after reuse', () => {
  const d = new DestinationIndex({ earlyMs: 0 });
  d.add(meta({ pod: 'web-7d9f-abcde', ips: ['10.244.1.5'], sandbox: true, id: 'sb1', from: 100 }));
  d.add(meta({ pod: 'web-7d9f-abcde', ips: ['10.244.1.5'], sandbox: true, id: 'sb1', from: 100, deleted: 200 }));
  d.add(meta({ pod: 'db-0', uid: 'uid-db', ips: ['10.244.1.5'], sandbox: true, id: 'sb2', from: 250 }));
  const r1 = d.resolve(ip('10.244.1.5'), at(150));
  assert.equal(r1.scope, 'pod');
  assert.deepEqual(r1.pod, { name: 'web-7d9f-abcde', namespace: 'shop', uid: 'uid-web-7d9f-abcde', workload: { kind: 'Deployment', name: 'web' }, labels: { app: 'web-7d9f-abcde' } });
  assert.equal(d.resolve(ip('10.244.1.5'), at(220)).scope, 'external', 'between the two owners the IP is no pod');
  assert.equal(d.resolve(ip('10.244.1.5'), at(300)).pod!.name, 'db-0');
  assert.equal(d.resolve(ip('10.244.1.5'), at(50)).pod, null, 'before anyone had it');
  // A v4-mapped destination (an IPv6 socket) is the same address.
  assert.equal(d.resolve(ip('::ffff:10.244.1.5'), at(150)).pod!.name, 'web-7d9f-abcde');
});

test('a container restart does not end the pod; the sandbox does; with no sandbox record, the last container does', () => {
  const d = new DestinationIndex({ earlyMs: 0 });
  d.add(meta({ pod: 'api', ips: ['10.244.2.2'], sandbox: true, id: 'sbA', from: 0 }));
  d.add(meta({ pod: 'api', ips: ['10.244.2.2'], id: 'app1', from: 1 }));
  d.add(meta({ pod: 'api', ips: ['10.244.2.2'], id: 'app1', from: 1, deleted: 50 }));
  d.add(meta({ pod: 'api', ips: ['10.244.2.2'], id: 'app2', from: 51 }));
  assert.equal(d.resolve(ip('10.244.2.2'), at(60)).pod!.name, 'api');
  d.add(meta({ pod: 'api', ips: ['10.244.2.2'], sandbox: true, id: 'sbA', from: 0, deleted: 70 }));
  assert.equal(d.resolve(ip('10.244.2.2'), at(69)).scope, 'pod');
  assert.equal(d.resolve(ip('10.244.2.2'), at(70)).scope, 'external');
  // CRI-less view: only app containers (each carrying the pod's IPs).
  d.add(meta({ pod: 'solo', ips: ['10.244.3.3'], id: 'x1', from: 0 }));
  d.add(meta({ pod: 'solo', ips: ['10.244.3.3'], id: 'x2', from: 0 }));
  d.add(meta({ pod: 'solo', ips: ['10.244.3.3'], id: 'x1', from: 0, deleted: 10 }));
  assert.equal(d.resolve(ip('10.244.3.3'), at(20)).scope, 'pod', 'x2 still runs');
  d.add(meta({ pod: 'solo', ips: ['10.244.3.3'], id: 'x2', from: 0, deleted: 30 }));
  assert.equal(d.resolve(ip('10.244.3.3'), at(29)).scope, 'pod');
  assert.equal(d.resolve(ip('10.244.3.3'), at(31)).scope, 'external');
});

test('a recreated sandbox keeps the pod alive; records in any order; labels as they were then', () => {
  const d = new DestinationIndex({ earlyMs: 0 });
  d.add(meta({ pod: 'p', ips: ['10.244.4.4'], sandbox: true, id: 'sb2', from: 100, labels: { v: '2' } }));
  d.add(meta({ pod: 'p', ips: ['10.244.4.4'], sandbox: true, id: 'sb1', from: 0, deleted: 90, labels: { v: '1' } }));
  d.add(meta({ pod: 'p', ips: ['10.244.4.4'], sandbox: true, id: 'sb1', from: 0, labels: { v: '1' } }));
  assert.deepEqual(d.resolve(ip('10.244.4.4'), at(50)).pod!.labels, { v: '1' });
  assert.deepEqual(d.resolve(ip('10.244.4.4'), at(95)).pod!.labels, { v: '1' });
  assert.deepEqual(d.resolve(ip('10.244.4.4'), at(150)).pod!.labels, { v: '2' });
});

test('records that lag: a connect just before the first record names the first owner, never across an earlier one', () => {
  const d = new DestinationIndex({ earlyMs: 5_000 });
  d.add(meta({ pod: 'new', ips: ['10.244.5.5'], sandbox: true, id: 's', from: 100 }));
  assert.equal(d.resolve(ip('10.244.5.5'), at(97)).pod!.name, 'new');
  assert.equal(d.resolve(ip('10.244.5.5'), at(90)).pod, null);
  d.add(meta({ pod: 'old', ips: ['10.244.5.5'], sandbox: true, id: 'o', from: 10, deleted: 96 }));
  assert.equal(d.resolve(ip('10.244.5.5'), at(97)).pod, null, 'the IP had an owner before: no guessing');
});

test('hostNetwork pods make their IPs node addresses (not dst.pod), also after they end', () => {
  const d = new DestinationIndex();
  d.add(meta({ pod: 'kube-proxy-x', ns: 'kube-system', ips: ['192.168.0.10'], sandbox: true, id: 'h', from: 0, hostNetwork: true }));
  d.add(meta({ pod: 'kube-proxy-x', ns: 'kube-system', ips: ['192.168.0.10'], sandbox: true, id: 'h', from: 0, deleted: 10, hostNetwork: true }));
  assert.deepEqual(d.resolve(ip('192.168.0.10'), at(5)), { scope: 'node', pod: null, service: null });
  assert.equal(d.resolve(ip('192.168.0.10'), at(500)).scope, 'node');
  const c = new DestinationIndex({ nodeCidrs: ['192.168.1.0/24', '192.168.2.7'] });
  assert.equal(c.resolve(ip('192.168.1.77'), at(0)).scope, 'node');
  assert.equal(c.resolve(ip('192.168.2.7'), at(0)).scope, 'node');
  assert.equal(c.resolve(ip('192.168.2.8'), at(0)).scope, 'external');
});

test('services: from the resolved name, or the service range; headless names keep the pod scope', () => {
  assert.deepEqual(serviceOfName('web.shop.svc.cluster.local'), { name: 'web', namespace: 'shop' });
  assert.deepEqual(serviceOfName('WEB.Shop.svc.cluster.local.'), { name: 'web', namespace: 'shop' });
  assert.deepEqual(serviceOfName('db-0.db.data.svc.cluster.local'), { name: 'db', namespace: 'data' }, 'a headless per-pod name');
  assert.deepEqual(serviceOfName('_http._tcp.web.shop.svc.cluster.local'), { name: 'web', namespace: 'shop' }, 'an SRV name');
  assert.deepEqual(serviceOfName('web.shop.svc.corp.internal', ['corp.internal']), { name: 'web', namespace: 'shop' });
  assert.equal(serviceOfName('web.shop.svc.corp.internal'), null, 'not the cluster domain');
  assert.equal(serviceOfName('shop.svc.cluster.local'), null);
  assert.equal(serviceOfName('10-244-1-5.shop.pod.cluster.local'), null, 'a pod name, not a service');
  assert.equal(serviceOfName('1web.shop.svc.cluster.local'), null, 'service names start with a letter');
  assert.equal(serviceOfName('we\\000b.shop.svc.cluster.local'), null, 'escaped bytes are not a label');
  assert.equal(serviceOfName('www.example.com'), null);
  const d = new DestinationIndex({ serviceCidrs: ['10.96.0.0/12'] });
  assert.deepEqual(d.resolve(ip('10.96.0.10'), at(0), 'kube-dns.kube-system.svc.cluster.local'), { scope: 'service', pod: null, service: { name: 'kube-dns', namespace: 'kube-system' } });
  assert.deepEqual(d.resolve(ip('10.100.3.4'), at(0)), { scope: 'service', pod: null, service: null }, 'a ClusterIP with no name');
  d.add(meta({ pod: 'db-0', ns: 'data', ips: ['10.244.9.9'], sandbox: true, id: 'd', from: 0 }));
  const h = d.resolve(ip('10.244.9.9'), at(1), 'db-0.db.data.svc.cluster.local');
  assert.equal(h.scope, 'pod');
  assert.equal(h.pod!.name, 'db-0');
  assert.deepEqual(h.service, { name: 'db', namespace: 'data' });
});

test('loopback and external', () => {
  const d = new DestinationIndex();
  for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) assert.equal(d.resolve(ip(a), at(0), 'web.shop.svc.cluster.local').scope, 'loopback', a);
  assert.deepEqual(d.resolve(ip('93.184.216.34'), at(0), 'example.com'), { scope: 'external', pod: null, service: null });
  assert.equal(d.resolve(ip('2001:db8::1'), at(0)).scope, 'external');
});

test('CIDRs: v4, v6, mapped, odd prefixes; bad ranges are configuration errors', () => {
  assert.ok(inCidr(ip('10.111.2.3'), parseCidr('10.96.0.0/12')));
  assert.ok(!inCidr(ip('10.112.0.0'), parseCidr('10.96.0.0/12')));
  assert.ok(inCidr(ip('::ffff:10.100.0.1'), parseCidr('10.96.0.0/12')));
  assert.ok(inCidr(ip('fd00:10:96::a'), parseCidr('fd00:10:96::/112')));
  assert.ok(!inCidr(ip('fd00:10:97::a'), parseCidr('fd00:10:96::/112')));
  assert.ok(inCidr(ip('1.2.3.4'), parseCidr('0.0.0.0/0')));
  assert.ok(!inCidr(ip('2001:db8::1'), parseCidr('0.0.0.0/0')), 'families do not mix');
  for (const bad of ['10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'x/8', '10.0.0.300/8']) assert.throws(() => parseCidr(bad), ConfigError, bad);
  assert.throws(() => new DestinationIndex({ serviceCidrs: ['nope'] }), ConfigError);
  assert.ok(isLoopback(ip('127.0.0.1')) && !isLoopback(ip('::2')) && !isLoopback(Buffer.from([1, 2])));
});

test('bounded: IPs whose owners all ended go first; owners per IP are capped', () => {
  const d = new DestinationIndex({ maxIps: 2, maxOwnersPerIp: 2, earlyMs: 0 });
  d.add(meta({ pod: 'a', ips: ['10.0.0.1'], sandbox: true, id: 'a', from: 0, deleted: 5 }));
  d.add(meta({ pod: 'b', ips: ['10.0.0.2'], sandbox: true, id: 'b', from: 0 }));
  d.add(meta({ pod: 'c', ips: ['10.0.0.3'], sandbox: true, id: 'c', from: 0 }));
  assert.equal(d.size, 2);
  assert.equal(d.evicted, 1);
  assert.equal(d.resolve(ip('10.0.0.1'), at(1)).pod, null, 'the ended one went');
  assert.equal(d.resolve(ip('10.0.0.2'), at(1)).pod!.name, 'b');
  for (const [i, p] of ['p1', 'p2', 'p3'].entries()) d.add(meta({ pod: p, ips: ['10.0.0.3'], sandbox: true, id: p, from: 10 * (i + 1), deleted: 10 * (i + 1) + 5 }));
  assert.equal(d.resolve(ip('10.0.0.3'), at(31)).pod!.name, 'p3');
  assert.equal(d.resolve(ip('10.0.0.3'), at(21)).pod!.name, 'p2');
  // a records with hostile IP text is skipped, not thrown
  d.add(meta({ pod: 'bad', ips: ['not-an-ip', '10.0.0.999'], sandbox: true, id: 'bad', from: 0 }));
  assert.equal(d.size, 2);
});

test('fed from the metadata table: every record the table adds reaches the index', async () => {
  const table = new MetaTable({} as never, { topic: 't', maxContainers: 1, maxVersionsPerContainer: 2 }, pino({ level: 'silent' }));
  const d = new DestinationIndex({ earlyMs: 0 });
  table.onRecord((r) => d.add(r));
  table.add(meta({ pod: 'a', ips: ['10.1.0.1'], sandbox: true, id: 'sa', from: 0 }));
  // The table evicts 'sa' for 'sb' (cap 1); the index has its own bounds and keeps both.
  table.add(meta({ pod: 'b', ips: ['10.1.0.2'], sandbox: true, id: 'sb', from: 0 }));
  assert.equal(table.size, 1);
  assert.equal(d.resolve(ip('10.1.0.1'), at(1)).pod!.name, 'a');
  assert.equal(d.resolve(ip('10.1.0.2'), at(1)).pod!.name, 'b');
});

test('property: in any record order, an IP names the pod with the latest start that had not ended', async () => {
  const fc = (await import('fast-check')).default;
  const podArb = fc.record({ ip: fc.nat(2), from: fc.nat(100), life: fc.option(fc.integer({ min: 1, max: 60 }), { nil: null }) });
  fc.assert(fc.property(fc.uniqueArray(podArb, { maxLength: 8, selector: (p) => p.from }), fc.infiniteStream(fc.nat()), fc.array(fc.nat(180), { minLength: 1, maxLength: 10 }), (pods, order, probes) => {
    const recs: ContainerMeta[] = [];
    pods.forEach((p, k) => {
      const base = { pod: `p${k}`, ips: [`10.9.0.${p.ip}`], sandbox: true, id: `s${k}`, from: p.from };
      recs.push(meta(base));
      if (p.life !== null) recs.push(meta({ ...base, deleted: p.from + p.life }));
    });
    // shuffle by the stream
    const it = order[Symbol.iterator]();
    for (let i = recs.length - 1; i > 0; i--) {
      const j = (it.next().value as number) % (i + 1);
      [recs[i], recs[j]] = [recs[j]!, recs[i]!];
    }
    const d = new DestinationIndex({ earlyMs: 0 });
    for (const r of recs) d.add(r);
    for (const sec of probes) {
      for (let a = 0; a < 3; a++) {
        const live = pods.map((p, k) => ({ ...p, k })).filter((p) => p.ip === a && p.from <= sec && (p.life === null || sec < p.from + p.life));
        const want = live.sort((x, y) => y.from - x.from)[0];
        const got = d.resolve(ip(`10.9.0.${a}`), at(sec));
        assert.equal(got.pod?.name ?? null, want ? `p${want.k}` : null, `ip .${a} at ${sec}`);
        assert.equal(got.scope, want ? 'pod' : 'external');
      }
    }
  }), { numRuns: 300 });
});
