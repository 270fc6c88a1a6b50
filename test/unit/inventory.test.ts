// SPDX-License-Identifier: Apache-2.0
// The inventory's aggregation, classes, filters, comparison and renderers, on records built
// with the real schema types (pure logic: the Kafka side is test/integration/inventory.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../src/inventory/aggregate.js';
import { buildFilter } from '../../src/inventory/filter.js';
import { exactCidrs, collapseCidrs, formatCidr, parseCidr, parseIp, type Ip } from '../../src/inventory/ip.js';
import type { Inventory } from '../../src/inventory/model.js';
import { renderInventory } from '../../src/inventory/render.js';
import { parseSelector } from '../../src/inventory/selector.js';
import type { AuditRecord } from '../../src/schema/types.js';
import { plain, sampleAudit, sampleRaw } from '../helpers/records.js';
import { Codec } from '../../src/schema/codec.js';
import { DecodeError } from '../../src/common/errors.js';
import { AuditProjection } from '../../src/inventory/projection.js';

import { T0, SEC, rec, hostRec, lossRec } from '../helpers/inventory-records.js';

const WIN = { since: null, until: null };
const NOFILTER = { namespaces: [], workloads: [], selector: null };

function inventoryOf(records: AuditRecord[], opts: ConstructorParameters<typeof Aggregator>[0] = {}, compare: Inventory['summary']['compareWindow'] = null): Inventory {
  const a = new Aggregator(opts);
  for (const r of records) a.addRecord(r);
  return a.finish(WIN, compare, NOFILTER);
}

const wl = (inv: Inventory, name: string) => {
  const w = inv.workloads.find((x) => x.name === name);
  assert.ok(w, `workload ${name} in ${inv.workloads.map((x) => x.name).join(',')}`);
  return w;
};

describe('aggregation', () => {
  test('one entry per workload and destination, with counts, failures, pods, executables and times', () => {
    const a = { wl: 'web', pod: 'web-7d9f8b6c5d-aaaaa' };
    const b = { wl: 'web', pod: 'web-7d9f8b6c5d-bbbbb', node: 'node-b', image: 'nginx:1.28' };
    const inv = inventoryOf([
      rec(a, '93.184.216.34', 443, { t: 5n }),
      rec(b, '93.184.216.34', 443, { t: 1n, comm: 'python3' }),
      rec(a, '93.184.216.34', 443, { t: 9n, status: 'REFUSED' }),
      rec(a, '93.184.216.34', 80, { t: 3n }),
    ]);
    assert.equal(inv.workloads.length, 1);
    const w = inv.workloads[0]!;
    assert.deepEqual([w.namespace, w.kind, w.name, w.pods, w.connections, w.failures], ['shop', 'Deployment', 'web', 2, 4, 1]);
    assert.deepEqual(w.nodes, ['node-a', 'node-b']);
    assert.deepEqual(w.images, ['nginx:1.27', 'nginx:1.28']);
    // pod-template-hash differs per ReplicaSet; here both pods share it, so it stays in the common labels
    assert.deepEqual(w.labels, { app: 'web', 'pod-template-hash': '7d9f8b6c5d' });
    assert.equal(w.serviceAccount, null);
    assert.deepEqual(w.destinations.map((d) => [d.class, d.ips.join(), d.port, d.connections, d.failures, d.pods, d.executables.join()]), [
      ['public', '93.184.216.34', 80, 1, 0, 1, 'curl'],
      ['public', '93.184.216.34', 443, 3, 1, 2, 'curl,python3'],
    ]);
    const d443 = w.destinations[1]!;
    assert.equal(d443.firstSeen, '2026-11-30T02:27:58.000000000Z');
    assert.equal(d443.lastSeen, '2026-11-30T02:28:06.000000000Z');
  });

  test('process.exe is used when the record has it, comm otherwise; both through the codec and the projection', () => {
    const r = rec({}, '1.1.1.1', 443, { comm: 'curl' });
    r.process = { ...r.process!, exe: '/usr/bin/curl' };
    const c = new Codec();
    const p = new AuditProjection(c.set);
    const through = [r, rec({}, '1.1.1.1', 443, { comm: 'wget' })].map((x) => p.decode(c.encode('AuditRecord', x)));
    assert.equal(through[0]!.process?.exe, '/usr/bin/curl');
    const inv = inventoryOf(through);
    assert.deepEqual(inv.workloads[0]!.destinations[0]!.executables, ['/usr/bin/curl', 'wget']);
  });

  test('the output is the same bytes whatever order the records came in', () => {
    const recs = [
      rec({ wl: 'web' }, '93.184.216.34', 443, { t: 1n }), rec({ wl: 'api', ns: 'shop' }, '10.1.0.9', 5432, { t: 2n }),
      rec({ wl: 'web' }, '8.8.8.8', 53, { t: 3n, proto: 'UDP' }), rec({ wl: 'db', ns: 'data', ips: ['10.1.0.9'] }, '1.2.3.4', 443, { t: 4n }),
      rec({ wl: 'web' }, '2606:2800:220:1::1', 443, { t: 5n, comm: 'b' }), rec({ wl: 'web' }, '2606:2800:220:1::1', 443, { t: 6n, comm: 'a' }),
    ];
    const one = renderInventory(inventoryOf(recs), 'json');
    for (let i = 0; i < 5; i++) {
      const shuffled = [...recs].sort(() => Math.random() - 0.5);
      assert.equal(renderInventory(inventoryOf(shuffled), 'json'), one);
    }
  });
});

describe('destination classes from the address, the window and the hints', () => {
  const kubeDns = { ns: 'kube-system', kind: 'Deployment', wl: 'coredns', labels: { 'k8s-app': 'kube-dns' }, ips: ['10.244.0.10'] };
  const db = { ns: 'data', kind: 'StatefulSet', wl: 'pg', pod: 'pg-0', labels: { app: 'pg', 'controller-revision-hash': 'pg-5d8' }, ips: ['10.244.1.20'] };
  const inv = inventoryOf([
    rec({}, '10.244.1.20', 5432, { t: 1n }), // before any record from pg-0: classified at the end
    rec(db, '1.2.3.4', 443, { t: 2n }),
    rec(kubeDns, '8.8.8.8', 53, { t: 0n, proto: 'UDP' }),
    rec({}, '10.244.0.10', 53, { proto: 'UDP' }),
    rec({}, '169.254.169.254', 80),
    rec({}, '169.254.20.10', 53, { proto: 'UDP' }),
    rec({}, '10.96.0.1', 443),
    rec({}, '10.96.12.7', 8080),
    rec({}, '192.168.5.5', 22),
    rec({}, '127.0.0.1', 8080),
    rec({}, '172.18.0.2', 10250),
    hostRec('node-b', '172.18.0.2', '1.1.1.1', 443),
    rec({}, '93.184.216.34', 443),
  ], { hints: { serviceCidrs: [parseCidr('10.96.0.0/12')!], podCidrs: [], apiServers: [], dnsIps: [] } });
  const web = wl(inv, 'web');
  const byIp = (ip: string) => web.destinations.find((d) => d.ips.includes(ip));

  for (const [ip, cls] of [
    ['10.244.1.20', 'in-cluster-workload'], ['10.244.0.10', 'cluster-dns'], ['169.254.169.254', 'cloud-metadata'],
    ['169.254.20.10', 'cluster-dns'], ['10.96.0.1', 'kube-apiserver'], ['10.96.12.7', 'in-cluster-service'],
    ['192.168.5.5', 'private-unknown'], ['127.0.0.1', 'loopback'], ['172.18.0.2', 'node'], ['93.184.216.34', 'public'],
  ] as const) {
    test(`${ip} is ${cls}`, () => assert.equal(byIp(ip)?.class, cls, JSON.stringify(byIp(ip))));
  }

  test('a pod peer is named with its workload and labels; a node with its name', () => {
    assert.deepEqual(byIp('10.244.1.20')!.peer, { namespace: 'data', kind: 'StatefulSet', name: 'pg', labels: { app: 'pg', 'controller-revision-hash': 'pg-5d8' } });
    assert.equal(byIp('172.18.0.2')!.node, 'node-b');
    assert.equal(byIp('10.244.0.10')!.resolver, true);
  });

  test('pod addresses from the containers topic name pods that never connected out', () => {
    const a = new Aggregator();
    a.addPodFacts({ ips: ['10.244.2.2'], workload: { namespace: 'data', kind: 'Deployment', name: 'redis' }, labels: { app: 'redis' }, hostNetwork: false, node: 'n', from: T0 - 100n * SEC, to: undefined });
    // the address was someone else's before: point in time, the owner at the connection wins
    a.addPodFacts({ ips: ['10.244.2.2'], workload: { namespace: 'old', kind: 'Deployment', name: 'gone' }, labels: {}, hostNetwork: false, node: 'n', from: T0 - 1000n * SEC, to: T0 - 200n * SEC });
    a.addRecord(rec({}, '10.244.2.2', 6379));
    const d = a.finish(WIN, null, NOFILTER).workloads[0]!.destinations[0]!;
    assert.equal(d.class, 'in-cluster-workload');
    assert.equal(d.peer?.name, 'redis');
  });
});

describe('names from the destinations issue (dst.name), when records carry them', () => {
  test('addresses under one name are one destination, collapsed to CIDRs; dst.pod and dst.service win', () => {
    const name = { name: 'api.example.com', cnames: ['edge.example.net'] };
    const recs = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.9', '198.51.100.7'].map((ip) => rec({}, ip, 443, { dstExtra: { name } }));
    recs.push(rec({}, '10.0.0.7', 80, { dstExtra: { service: { name: 'cart', namespace: 'shop' } } }));
    recs.push(rec({}, '10.0.0.8', 80, { dstExtra: { pod: { name: 'x-1', namespace: 'ops', workload: { kind: 'Deployment', name: 'x' }, labels: { app: 'x' } } } }));
    const w = inventoryOf(recs).workloads[0]!;
    const named = w.destinations.find((d) => d.names[0] === 'api.example.com')!;
    assert.equal(named.class, 'public');
    assert.deepEqual(named.cnames, ['edge.example.net']);
    assert.equal(named.ips.length, 5);
    assert.deepEqual(named.cidrs, ['198.51.100.7/32', '203.0.113.0/24']);
    assert.equal(named.cidrsWidened, true);
    assert.equal(w.destinations.find((d) => d.service)?.class, 'in-cluster-service');
    assert.equal(w.destinations.find((d) => d.peer)?.peer?.name, 'x');
  });
});

describe('filters', () => {
  const recs = [rec({ ns: 'shop', wl: 'web', labels: { app: 'web', tier: 'front' } }, '1.1.1.1', 443), rec({ ns: 'shop', wl: 'api', labels: { app: 'api', tier: 'back' } }, '1.1.1.1', 443), rec({ ns: 'ops', wl: 'web', labels: { app: 'web' } }, '1.1.1.1', 443)];
  const names = (f: Parameters<typeof buildFilter>[0]) => inventoryOf(recs, { filter: buildFilter(f) }).workloads.map((w) => `${w.namespace}/${w.name}`);
  test('namespace, workload and selector', () => {
    assert.deepEqual(names({ namespaces: ['shop'], workloads: [], selector: undefined }), ['shop/api', 'shop/web']);
    assert.deepEqual(names({ namespaces: [], workloads: ['deployment/web'], selector: undefined }), ['ops/web', 'shop/web']);
    assert.deepEqual(names({ namespaces: [], workloads: [], selector: 'tier in (front,back),app!=api' }), ['shop/web']);
    assert.deepEqual(names({ namespaces: [], workloads: [], selector: '!tier' }), ['ops/web']);
  });
  test('a selector that matches nothing says so', () => {
    const inv = inventoryOf(recs, { filter: buildFilter({ namespaces: [], workloads: [], selector: 'app=nothing' }) });
    assert.equal(inv.workloads.length, 0);
    assert.match(inv.summary.notes.join(' '), /No connection matched the namespace, workload or label filters/);
    assert.match(renderInventory(inv, 'markdown'), /No connection matched/);
    assert.match(renderInventory(inv, 'html'), /No connection matched/);
  });
  test('bad selectors are refused with the reason', () => {
    assert.throws(() => parseSelector('app in (a,b'), /unbalanced/);
    assert.throws(() => parseSelector('app=a,,b=c'), /empty requirement/);
    assert.throws(() => parseSelector('app=<x>'), /cannot read/);
    assert.equal(parseSelector('a==b, c')({ a: 'b', c: '' }), true);
  });
});

describe('--compare-since', () => {
  test('destinations are new, gone or kept against the earlier window', () => {
    const split = T0 + 100n * SEC;
    const inv = inventoryOf([
      rec({}, '1.1.1.1', 443, { t: 10n }), rec({}, '1.1.1.1', 443, { t: 110n }),
      rec({}, '2.2.2.2', 443, { t: 20n }),
      rec({}, '3.3.3.3', 443, { t: 120n }),
    ], { splitNs: split }, { since: 'a', until: 'b' });
    const d = inv.workloads[0]!.destinations.map((x) => [x.ips[0], x.change, x.connections]);
    assert.deepEqual(d, [['1.1.1.1', 'kept', 1], ['2.2.2.2', 'gone', 1], ['3.3.3.3', 'new', 1]]);
    assert.equal(inv.workloads[0]!.connections, 2, 'workload counts are the current window\'s');
    assert.match(renderInventory(inv, 'markdown'), /\| new \| public \| 3\.3\.3\.3 \|/);
  });
});

describe('bad input', () => {
  test('an empty window says so in every format', () => {
    const inv = inventoryOf([]);
    assert.match(inv.summary.notes[0]!, /no audit records/);
    for (const f of ['json', 'markdown', 'html'] as const) assert.match(renderInventory(inv, f), /no audit records/);
  });

  test('a window of only LOSS records says that connections were missed', () => {
    const inv = inventoryOf([lossRec(5n), lossRec(7n)]);
    assert.equal(inv.summary.loss.records, 2);
    assert.equal(inv.summary.loss.missedConnections, 12);
    assert.match(inv.summary.notes.join(' '), /only LOSS records \(2\)/);
    assert.match(renderInventory(inv, 'markdown'), /only LOSS records/);
  });

  test('LOSS among connections is reported as possibly incomplete', () => {
    const inv = inventoryOf([rec({}, '1.1.1.1', 443), lossRec(3n)]);
    assert.match(inv.summary.notes.join(' '), /at least 3 connection\(s\) were missed/);
  });

  test('a namespace with 10,000 destinations lists all of them, in order', () => {
    const recs: AuditRecord[] = [];
    for (let i = 0; i < 10_000; i++) recs.push(rec({}, `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, 443));
    const inv = inventoryOf(recs.reverse());
    const ds = inv.workloads[0]!.destinations;
    assert.equal(ds.length, 10_000);
    assert.equal(ds[0]!.ips[0], '100.64.0.0');
    assert.equal(ds[9_999]!.ips[0], '100.64.39.15');
    const md = renderInventory(inv, 'markdown');
    assert.equal(md.split('\n').filter((l) => l.startsWith('| private-unknown')).length, 10_000);
  });

  test('past --max-destinations connections are counted, not listed, and the output says so', () => {
    const recs: AuditRecord[] = [];
    for (let i = 0; i < 50; i++) recs.push(rec({}, `8.8.${i}.1`, 443));
    const inv = inventoryOf(recs, { maxDestinations: 20 });
    assert.equal(inv.workloads[0]!.destinations.length, 20);
    assert.equal(inv.workloads[0]!.unlistedConnections, 30);
    assert.equal(inv.summary.limitReached, true);
    assert.match(inv.summary.notes.join(' '), /More than 20 distinct destinations/);
  });

  test('names with odd bytes stay inert: one line per row, no markup, JSON round-trips', () => {
    const odd = 'evil\n| x | <script>alert(1)</script> `rm` \u202e\u0000\u001b[31m';
    const r = rec({ wl: odd, pod: `${odd}-pod`, image: odd, labels: { app: odd } }, '1.1.1.1', 443, { comm: odd });
    const inv = inventoryOf([r]);
    const md = renderInventory(inv, 'markdown');
    const rows = md.split('\n').filter((l) => l.startsWith('| public'));
    assert.equal(rows.length, 1, md);
    assert.equal(rows[0]!.split(/(?<!\\)\|/).length, 11, rows[0]);
    assert.doesNotMatch(md, /<script>|\u202e|\u0000|\u001b/);
    assert.match(md, /evil\\x0a\\\| x \\\| &lt;script&gt;/);
    const html = renderInventory(inv, 'html');
    assert.doesNotMatch(html, /<script>|\u202e|\u0000|\u001b/);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    const back = JSON.parse(renderInventory(inv, 'json')) as Inventory;
    assert.equal(back.workloads[0]!.name, odd);
  });
});

describe('addresses and CIDRs', () => {
  const ips = (...t: string[]) => t.map((x) => parseIp(x) as Ip);
  test('exact CIDRs merge only full aligned blocks', () => {
    assert.deepEqual(exactCidrs(ips('10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.5')).map(formatCidr), ['10.0.0.0/30', '10.0.0.5/32']);
    assert.deepEqual(exactCidrs(ips('10.0.0.1', '10.0.0.2')).map(formatCidr), ['10.0.0.1/32', '10.0.0.2/32']);
    assert.deepEqual(exactCidrs(ips('2001:db8::', '2001:db8::1', '::ffff:1.2.3.4')).map(formatCidr), ['1.2.3.4/32', '2001:db8::/127']);
  });
  test('collapsing widens only blocks with enough addresses of the name', () => {
    const r = collapseCidrs(ips('1.2.3.4', '1.2.3.5', '1.2.3.200', '9.9.9.9'), 3);
    assert.deepEqual(r.cidrs.map(formatCidr), ['1.2.3.0/24', '9.9.9.9/32']);
    assert.equal(r.widened, true);
  });
  test('bad addresses and CIDRs are refused', () => {
    assert.equal(parseIp('1.2.3.256'), undefined);
    assert.equal(parseCidr('10.0.0.0/33'), undefined);
    assert.equal(parseCidr('junk'), undefined);
  });
});

describe('the inventory\'s projection of audit records', () => {
  test('every writer version reads to the fields the inventory uses, as the codec reads them', () => {
    const c = new Codec();
    const p = new AuditProjection(c.set);
    const r = rec({ wl: 'web', labels: { app: 'web' }, ips: ['10.1.1.1'] }, '93.184.216.34', 443, { status: 'REFUSED' });
    const full = c.decodeAs('AuditRecord', c.encode('AuditRecord', r));
    const got = p.decode(c.encode('AuditRecord', r));
    for (const k of ['time', 'node', 'protocol', 'dst', 'result', 'attribution', 'loss'] as const) assert.deepEqual(plain(got[k]), plain(full[k]), k);
    const { annotations: _a, ...podKept } = plain(full.pod!);
    assert.deepEqual(plain(got.pod), podKept, 'pod without its annotations');
    assert.equal(got.process?.comm, 'curl');
    assert.equal(got.container?.image, 'nginx:1.27');
    assert.equal((got as unknown as Record<string, unknown>).cgroup, undefined, 'fields the inventory never reads are skipped');
    // Older writers (src/schema/history) resolve too.
    let versions = 0;
    for (const ws of c.set.byFingerprint.values()) {
      if (ws.name !== 'AuditRecord' || ws.version === 'current') continue;
      const old = ws.type.toBuffer(ws.type.fromBuffer(ws.type.toBuffer(ws.type.random())));
      const framed = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8), old]);
      framed.writeBigUInt64LE(ws.fingerprint, 2);
      try {
        p.decode(framed);
      } catch (err) {
        // random values may break our range checks (enums are fine, ints are not), never the framing
        assert.ok(err instanceof DecodeError && err.code === 'INVALID', String(err));
      }
      versions++;
    }
    assert.ok(versions >= 3, `history versions read: ${versions}`);
  });

  test('garbage is a DecodeError naming what is wrong, never a crash', () => {
    const p = new AuditProjection();
    const good = new Codec().encode('AuditRecord', rec({}, '1.1.1.1', 443));
    assert.throws(() => p.decode(Buffer.from('not avro at all')), (e) => e instanceof DecodeError && e.code === 'BAD_MAGIC');
    assert.throws(() => p.decode(good.subarray(0, 5)), (e) => e instanceof DecodeError && e.code === 'TRUNCATED');
    assert.throws(() => p.decode(good.subarray(0, good.length - 3)), (e) => e instanceof DecodeError);
    assert.throws(() => p.decode(Buffer.concat([good, Buffer.from([0])])), (e) => e instanceof DecodeError && e.code === 'INVALID');
    const raw = new Codec().encode('RawConnectEvent', sampleRaw());
    assert.throws(() => p.decode(raw), (e) => e instanceof DecodeError && e.code === 'UNKNOWN_FINGERPRINT');
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(good);
      for (let k = 0; k < 3; k++) b[10 + Math.floor(Math.random() * (b.length - 10))] = Math.floor(Math.random() * 256);
      try {
        p.decode(b);
      } catch (err) {
        assert.ok(err instanceof DecodeError, String(err));
      }
    }
  });
});
