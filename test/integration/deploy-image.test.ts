// SPDX-License-Identifier: Apache-2.0
// The Dockerfile without an engine: scripts/docker-build-steps.sh runs its RUN lines as
// plain shell on a copy of the repository (npm ci builds the BPF object, the addon and
// the TypeScript; npm prune drops the dev packages; the runtime tree is staged and
// checked). Then the runtime tree is used on its own: --help, and a capture that loads
// the tree's addon and BPF object (not the repository's) and records a connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/cli.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { hasCommand, skipUnlessCi } from '../helpers/deploy-tools.js';

const STEPS = path.join(REPO_ROOT, 'scripts/docker-build-steps.sh');
const BUILD = path.join(REPO_ROOT, 'scripts/build-in-image.sh');
const missing = missingKernelPrereq() ?? (['git', 'npm', 'python3', 'ldd', 'dpkg-query'].find((c) => !hasCommand(c))
  ? 'git, npm, python3, ldd or dpkg-query is missing' : undefined);

describe('container image build steps (Dockerfile as shell)', { skip: skipUnlessCi(missing) }, () => {
  let work = '';
  let out = '';
  let log = '';
  // No override may point the tree back at the repository's addon or BPF object.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['PODTRAIL_NATIVE_ADDON', 'PODTRAIL_BPF_OBJECT'].includes(k)));

  before(() => {
    if (missing) throw new Error(`prerequisites: ${missing}`);
    work = mkdtempSync(path.join(tmpdir(), 'podtrail-image-'));
    const r = spawnSync('bash', [STEPS, '--workdir', work], { encoding: 'utf8', env, timeout: 900_000, maxBuffer: 64 << 20 });
    log = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, `docker-build-steps.sh failed:\n${log.slice(-6000)}`);
    out = path.join(work, 'out');
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('the Dockerfile: node:26-bookworm builds, node:26-bookworm-slim runs, without build packages or sources', () => {
    const df = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    const stages = df.split(/^FROM /m).slice(1);
    assert.equal(stages.length, 2);
    assert.match(stages[0]!, /^node:26-bookworm AS build\n/);
    assert.match(stages[1]!, /^node:26-bookworm-slim AS runtime\n/);
    assert.doesNotMatch(stages[1]!, /install build|COPY \. |npm /, 'the runtime stage installs or builds nothing');
    assert.match(stages[1]!, /^COPY --from=build \/out \/opt\/podtrail$/m);
    assert.match(stages[1]!, /^USER node$/m);
  });

  test('every RUN step ran, the runtime checks passed, and doctor worked from the runtime tree', () => {
    for (const step of ['verify build', 'build /src', 'stage /src /out', 'check /out', 'verify runtime', 'check /opt/podtrail']) {
      assert.match(log, new RegExp(`RUN build-in-image\\.sh ${step} `), step);
    }
    assert.match(log, /has no compiler/);
    assert.match(log, /addon links libbpf\.so\.1 from libbpf1/);
    assert.match(log, /--attach auto will use \w+/);
  });

  test('the runtime tree: the artifacts, no dev packages, no tests, no C sources', () => {
    for (const f of ['bin/podtrail.js', 'dist/src/cli/main.js', 'bpf/.output/podtrail.bpf.o', 'native/build/Release/podtrail.node',
      'src/schema/raw-connect-event.avsc', 'src/schema/audit-record.avsc', 'src/schema/history', 'package.json', 'node_modules/kafkajs',
      'src/runtime/cri/cri.proto', 'node_modules/@grpc/grpc-js']) {
      assert.ok(existsSync(path.join(out, f)), f);
    }
    for (const f of ['node_modules/typescript', 'node_modules/node-gyp', 'node_modules/fast-check', 'node_modules/patch-package', 'dist/test', 'native/src', 'bpf/podtrail.bpf.c', 'src/cli']) {
      assert.ok(!existsSync(path.join(out, f)), `${f} should not be there`);
    }
    // npm ci's postinstall patched kafkajs in the build stage; pruning patch-package keeps the patch.
    for (const [f, name] of [['src/producer/groupMessagesPerPartition.js', 'linear-grouping'], ['src/protocol/recordBatch/record/v0/index.js', 'exact-size-record']]) {
      assert.match(readFileSync(path.join(out, 'node_modules/kafkajs', f!), 'utf8'), new RegExp(`podtrailPatch = '${name}'`), f);
    }
    // The build context is git's index, so compare with the staged package.json.
    const staged = spawnSync('git', ['show', ':package.json'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout;
    assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'package.json'), 'utf8')), JSON.parse(staged));
  });

  test("the CRI client loads the tree's cri.proto", () => {
    const code = `const m = await import(${JSON.stringify(path.join(out, 'dist/src/runtime/cri/proto.js'))}); m.runtimeServiceClient(); console.log(m.protoPath());`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: '/', encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), path.join(out, 'src/runtime/cri/cri.proto'));
  });

  test('podtrail --help runs from the runtime tree alone', () => {
    const r = spawnSync(process.execPath, [path.join(out, 'bin/podtrail.js'), '--help'], { cwd: '/', encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    for (const c of ['capture', 'doctor', 'enrich', 'export', 'tail']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
  });

  test('capture from the runtime tree maps the tree\'s addon and records a connection', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const child = spawn(process.execPath, [path.join(out, 'bin/podtrail.js'), 'capture', '--stdout', '--log-level', 'warn', '--publish-metadata', 'off'],
      { cwd: '/', env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const mine = () => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((e) => e.dst?.port === port);
    try {
      const deadline = Date.now() + 30_000;
      while (!mine() && Date.now() < deadline && child.exitCode === null) {
        await new Promise<void>((resolve) => connect(port, '127.0.0.1').on('error', () => resolve()));
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(mine(), `no event for 127.0.0.1:${port}:\n${stderr}`);
      const maps = readFileSync(`/proc/${child.pid}/maps`, 'utf8');
      const addons = [...new Set(maps.split('\n').filter((l) => l.endsWith('podtrail.node')).map((l) => l.split(/\s+/).at(-1)))];
      assert.deepEqual(addons, [path.join(out, 'native/build/Release/podtrail.node')]);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  test('bad input: an unknown argument, a non-empty workdir, a tree with a compiler in it', () => {
    const bad = spawnSync('bash', [STEPS, '--frobnicate'], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /unknown argument --frobnicate/);
    const busy = mkdtempSync(path.join(tmpdir(), 'podtrail-busy-'));
    try {
      writeFileSync(path.join(busy, 'x'), '');
      const r = spawnSync('bash', [STEPS, '--workdir', busy], { encoding: 'utf8' });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /is not empty/);
    } finally {
      rmSync(busy, { recursive: true, force: true });
    }
    const cc = path.join(out, 'node_modules/.bin/gcc');
    mkdirSync(path.dirname(cc), { recursive: true });
    writeFileSync(cc, '#!/bin/sh\n');
    chmodSync(cc, 0o755);
    const r = spawnSync('bash', [BUILD, 'check', out], { encoding: 'utf8' });
    rmSync(cc);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /carries build tools/);
    const again = spawnSync('bash', [BUILD, 'check', out], { encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    const stage = spawnSync('bash', [BUILD, 'frob'], { encoding: 'utf8' });
    assert.notEqual(stage.status, 0);
    assert.match(stage.stderr, /usage:/);
  });
});
