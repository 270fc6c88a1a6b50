// SPDX-License-Identifier: Apache-2.0
// podtrail ui in a real browser: Debian's headless Chromium driven by puppeteer-core, against
// `podtrail ui` started as users start it, on the real broker, fed by the real pipeline: capture
// and enrich run as stages, and a connect the test makes while the page is open must show up in
// the live view (a HOST record: the test process is not in a pod). The workloads of the map are
// audit records written with the real codec in a Kafka transaction, as enrich writes them (no
// pods run here). Then the test picks a workload, downloads its NetworkPolicy, and takes the
// screenshot the README shows (.tmp/ui-screenshot.png).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { codec } from '../../src/schema/codec.js';
import type { AuditRecord } from '../../src/schema/types.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { hasCommand, skipUnlessCi } from '../helpers/deploy-tools.js';
import { rec } from '../helpers/inventory-records.js';
import { BROKERS, deleteTopics, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { startStage, stopStage, waitForLog, type Stage } from '../helpers/stages.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { connect, createServer, type Socket } from 'node:net';

const CHROMIUM = '/usr/bin/chromium';
const missing = (existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (Debian package chromium; scripts/setup.sh installs it)`) ?? missingKernelPrereq();
// Test traffic stays on loopback. Chromium left to itself resolves names through the host's
// resolver (seen with capture: DNS to the node's resolver from ThreadPoolForeg): every name
// resolves to nothing, the background services are off, and any proxied request goes nowhere.
// What remains is the IPv6 reachability check, a UDP connect() to 2001:4860:4860::8888:443 that
// sends no packet; the test checks that capture saw nothing else from Chromium.
const CHROMIUM_ARGS = [
  '--no-sandbox', // root in CI: Chromium's sandbox needs an unprivileged user
  '--disable-gpu', '--disable-dev-shm-usage',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
  '--disable-features=AsyncDns,DnsOverHttps,OptimizationHints,MediaRouter,Translate',
  '--disable-background-networking', '--disable-component-update', '--disable-domain-reliability', '--disable-breakpad',
  '--disable-sync', '--no-pings', '--dns-prefetch-disable', '--no-first-run',
  '--proxy-server=127.0.0.1:9', '--proxy-bypass-list=<-loopback>;127.0.0.1',
];
const IPV6_PROBE = '2001:4860:4860::8888';
const HOSTILE = '<img src=x onerror="window.__pwned=1">';
const SEC = 1_000_000_000n;
const NOW = BigInt(Date.now()) * 1_000_000n;
const MIN = 60n * SEC;

const pg = { ns: 'shop', kind: 'StatefulSet', wl: 'pg', pod: 'pg-0', labels: { app: 'pg', 'controller-revision-hash': 'pg-5d8' }, ips: ['10.244.1.20'] };
const web = { ns: 'shop', wl: 'web', labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' } };

async function write(kafka: Kafka, topic: string, records: AuditRecord[]): Promise<void> {
  const producer = kafka.producer({ transactionalId: `ui-${randomBytes(4).toString('hex')}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const txn = await producer.transaction();
    await txn.send({ topic, acks: -1, messages: records.map((r) => ({ key: `${r.node}/1`, value: codec().encode('AuditRecord', r) })) });
    await txn.commit();
  } finally {
    await producer.disconnect();
  }
}

/** Every record the ui's live feed sends, from now on (the test's own view of the pipeline). */
function collectLive(base: string): { records: Array<Record<string, any>>; stop: () => void } {
  const records: Array<Record<string, any>> = [];
  let buf = '';
  const req = request(new URL('/api/live', base), (res) => {
    res.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (ev.startsWith('data: ')) records.push(JSON.parse(ev.slice(6)) as Record<string, any>);
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return { records, stop: () => req.destroy() };
}

/** The pids under `root` now (Chromium's browser, renderers, network service, ...). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i] && !out.includes(pid)) out.push(pid);
  return out;
}

async function waitFor(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('podtrail ui in headless Chromium', { skip: skipUnlessCi(missing) }, () => {
  let kafka: Kafka;
  let ui: Stage | undefined;
  const pipeline: Stage[] = [];
  let browser: Browser | undefined;
  let page: Page;
  let url = '';
  let live: ReturnType<typeof collectLive> | undefined;
  const chromiumPids = new Set<number>();
  let sampler: NodeJS.Timeout | undefined;
  const topic = uniqueTopic('ui-audit');
  const t = { raw: uniqueTopic('ui-raw'), meta: uniqueTopic('ui-meta'), dlq: uniqueTopic('ui-dlq') };
  const downloads = mkdtempSync(path.join(tmpdir(), 'podtrail-ui-dl-'));

  before(async () => {
    if (missing) throw new Error(missing);
    assert.ok(hasCommand('chromium'));
    kafka = await requireBroker();
    const common = ['--raw-topic', t.raw, '--containers-topic', t.meta, '--audit-topic', topic];
    const capture = startStage('capture', ['capture', ...common, '--node', 'ui-node', '--state-dir', 'off']);
    pipeline.push(capture);
    await waitForLog(capture, 'capture started', 30_000);
    const enrich = startStage('enrich', ['enrich', ...common, '--dlq-topic', t.dlq, '--group', uniqueTopic('ui-g'), '--host-root', '/nonexistent', '--file-fallback', 'off']);
    pipeline.push(enrich);
    await waitForLog(enrich, 'enrich running', 30_000);
    // The stages made their topics, as on a new cluster; the map's workloads join the audit topic.
    const at = (r: AuditRecord, when: bigint) => ({ ...r, time: when });
    await write(kafka, topic, [
      ...Array.from({ length: 6 }, (_, i) => at(rec(web, '10.244.1.20', 5432, { comm: 'node' }), NOW - 5n * MIN + BigInt(i) * SEC)),
      at(rec(web, '93.184.216.34', 443, { comm: 'node', status: 'TIMEOUT' }), NOW - 4n * MIN),
      at(rec(web, '93.184.216.34', 443, { comm: 'node' }), NOW - 30n * MIN),
      at(rec(web, '1.1.1.1', 443, { comm: 'curl' }), NOW - 3n * MIN),
      at(rec(pg, '52.216.8.10', 443, { comm: 'wal-g' }), NOW - 2n * MIN),
      // a hostile name: must reach the page as text
      at(rec({ ns: 'shop', wl: HOSTILE, labels: { app: 'x' } }, '9.9.9.9', 443, { comm: HOSTILE }), NOW - 2n * MIN),
    ]);
    ui = startStage('ui', ['ui', '--listen', '127.0.0.1:0', '--audit-topic', topic, '--pod-addresses', 'off',
      '--cache-ms', '0', '--since', new Date(Number((NOW - 10n * MIN) / 1_000_000n)).toISOString(), '--compare-since', new Date(Number((NOW - 60n * MIN) / 1_000_000n)).toISOString()]);
    await waitFor('ui listening', 30_000, async () => {
      const m = /"msg":"ui listening on (http:\/\/127\.0\.0\.1:\d+\/)"/.exec(ui!.log());
      if (ui!.child.exitCode !== null) throw new Error(`ui exited: ${ui!.log()}`);
      if (m) url = m[1]!;
      return m !== null && ui!.log().includes('"msg":"ui live feed joined"');
    });
    live = collectLive(url);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM, headless: true,
      args: CHROMIUM_ARGS,
      downloadBehavior: { policy: 'allow', downloadPath: downloads },
    });
    const root = browser.process()?.pid;
    assert.ok(root, 'Chromium runs as a child process');
    const sample = () => { for (const p of descendants(root)) chromiumPids.add(p); };
    sample();
    sampler = setInterval(sample, 100);
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1100 });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 }).catch((err: Error) => {
      throw new Error(`the page did not get ready: ${err.message}; ui log: ${ui!.log().slice(-3000)}`);
    });
    assert.deepEqual(requests.filter((u) => !u.startsWith(url)), [], 'the page loads nothing from anywhere else (no CDN)');
  });

  after(async () => {
    if (sampler) clearInterval(sampler);
    live?.stop();
    await browser?.close().catch(() => undefined);
    if (ui) await stopStage(ui);
    for (const st of pipeline) await stopStage(st);
    if (kafka) await deleteTopics(kafka, [topic, ...Object.values(t)]);
    rmSync(downloads, { recursive: true, force: true });
  });

  test('the live view shows a connect made while the page is open (capture, enrich, ui), and its filter finds it', async () => {
    const srv = createServer((so) => so.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((resolve, reject) => { const c: Socket = connect(port, '127.0.0.1', () => { c.destroy(); resolve(); }); c.on('error', reject); });
    srv.close();
    const filter = await page.$('#live .tabulator-col[tabulator-field="dst"] input');
    assert.ok(filter, 'the destination column has a filter');
    // Capture sees every connection on the machine: the filter picks ours out of the stream.
    await filter.type(`127.0.0.1:${port}/`);
    // The header filter applies after a short debounce: wait for the filtered table.
    await waitFor('the connect in the live view, filtered', 60_000, async () => {
      const shown = await page.$$eval('#live .tabulator-row', (rs) => rs.map((r) => r.textContent ?? ''));
      return shown.length > 0 && shown.every((x) => x.includes(`127.0.0.1:${port}/TCP`));
    });
    const rows = await page.$$eval('#live .tabulator-row', (rs) => rs.map((r) => r.textContent ?? ''));
    assert.equal(rows.length, 1, rows.join('\n'));
    assert.match(rows[0]!, /HOST/);
    assert.match(rows[0]!, /OK/);
  });

  test('bad requests get a clear status, never a crash: wrong Host, unknown workload, bad flavour, POST', async () => {
    const port = new URL(url).port;
    const get = (p: string) => fetch(new URL(p, url));
    // fetch may not set Host; node:http can, as a rebinding page's request would carry it
    const rebound = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: Number(port), path: '/', headers: { Host: `attacker.example:${port}` } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject).end();
    });
    assert.equal(rebound, 421);
    assert.equal((await get('/api/advice?namespace=shop&workload=shop/Deployment/nope')).status, 404);
    const flavour = await get('/api/advice?namespace=shop&workload=shop/Deployment/web&flavour=%3Cscript%3E');
    assert.equal(flavour.status, 400);
    assert.equal((await get('/api/inventory?format=exe')).status, 400);
    assert.equal((await fetch(new URL('/api/inventory', url), { method: 'POST' })).status, 405);
    assert.equal((await get('/../../etc/passwd')).status, 404);
    const ok = await get('/api/inventory?namespace=shop');
    assert.equal(ok.headers.get('content-security-policy')?.startsWith("default-src 'self'"), true);
  });

  test('a --listen address other than loopback needs --allow-remote; a missing topic is named', async () => {
    const r = await runCli(['ui', '--listen', '0.0.0.0:0', '--audit-topic', topic, '--brokers', BROKERS.join(',')], { timeoutMs: 30_000 });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not loopback: the page has no authentication; add --allow-remote/);
    const none = await runCli(['ui', '--listen', '127.0.0.1:0', '--audit-topic', uniqueTopic('ui-missing'), '--brokers', BROKERS.join(',')], { timeoutMs: 30_000 });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /does not exist on this cluster/);
  });

  test('the egress map draws the namespace; a workload opens its inventory and its policy downloads', async () => {
    assert.ok(await page.$('#map canvas'), 'Cytoscape drew the map');
    const names = await page.$$eval('#workloads button', (bs) => bs.map((b) => b.textContent));
    assert.ok(names.includes(`shop/Deployment/${HOSTILE}`), names.join('\n'));
    await page.click(`button[data-workload="shop/Deployment/${HOSTILE.replace(/"/g, '\\"')}"]`);
    await page.waitForFunction((t) => document.getElementById('detail-title')?.textContent === t, { timeout: 10_000 }, `shop/Deployment/${HOSTILE}`);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, 'the hostile name ran nothing');
    assert.equal(await page.$$eval('img', (xs) => xs.length), 0, 'and made no element');
    await page.click('button[data-workload="shop/Deployment/web"]');
    await page.waitForFunction(() => document.getElementById('detail-title')?.textContent === 'shop/Deployment/web', { timeout: 10_000 });
    await page.waitForFunction(() => (document.getElementById('advice')?.textContent ?? '').includes('NetworkPolicy'), { timeout: 15_000 });
    const detail = await page.$eval('#detail', (e) => e.textContent ?? '');
    assert.match(detail, /shop\/StatefulSet\/pg 5432\/TCP/);
    assert.match(detail, /new/, 'the destinations first seen in this window are marked new');
    await page.click('#dl-np');
    const file = path.join(downloads, 'shop_Deployment_web-networkpolicy.yaml');
    await waitFor('the download', 15_000, async () => existsSync(file) && statSync(file).size > 0 && !readdirSync(downloads).some((f) => f.endsWith('.crdownload')));
    const yaml = readFileSync(file, 'utf8');
    assert.match(yaml, /kind: "NetworkPolicy"/);
    assert.match(yaml, /A quiet window is not a denial/);
    assert.doesNotMatch(yaml, /pod-template-hash/);
    mkdirSync(path.join(REPO_ROOT, '.tmp'), { recursive: true });
    const shot = path.join(REPO_ROOT, '.tmp', 'ui-screenshot.png');
    await page.screenshot({ path: shot as `${string}.png`, fullPage: true });
    assert.ok(statSync(shot).size > 10_000, 'a screenshot with something in it');
  });

  test('capture saw Chromium reach nothing beyond loopback (but its IPv6 check, which sends nothing)', async () => {
    // Its connects to the page itself prove that capture saw its processes at all.
    const mine = live!.records.filter((r) => r.node === 'ui-node' && r.process && (chromiumPids.has(r.process.pid) || chromiumPids.has(r.process.ppid)));
    assert.ok(mine.some((r) => r.dst?.addr === '127.0.0.1'), `capture saw Chromium's connects to the page (${live!.records.length} records, ${chromiumPids.size} Chromium pids)`);
    const away = mine.filter((r) => !/^127\./.test(r.dst.addr) && r.dst.addr !== '::1' && !(r.dst.addr === IPV6_PROBE && r.protocol === 'UDP'));
    assert.deepEqual(away.map((r) => `${r.process.comm} ${r.dst.addr}:${r.dst.port}/${r.protocol}`), []);
  });
});
