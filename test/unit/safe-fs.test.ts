// SPDX-License-Identifier: Apache-2.0
// Bounded, root-confined reads on real temporary directories: symlinks in and out of the
// root, `..`, loops, FIFOs, huge (sparse) files, and no leaked file descriptors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MetadataError } from '../../src/common/errors.js';
import { parseJson, readFileBounded, readFileInRoot, readJsonInRoot } from '../../src/runtime/safe-fs.js';

let base: string;
let root: string;
let outside: string;

const put = (rel: string, content: string): void => {
  const p = path.join(root, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
};
const link = (rel: string, target: string): void => {
  const p = path.join(root, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  symlinkSync(target, p);
};
const code = (c: string) => (e: unknown) => e instanceof MetadataError && e.code === c;
const openFds = (): number => readdirSync('/proc/self/fd').length;

before(() => {
  base = mkdtempSync(path.join(tmpdir(), 'podtrail-safefs-'));
  root = path.join(base, 'root');
  outside = path.join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'secret'), 'SECRET');
  put('etc/hostname', 'node-a\n');
  put('mnt/disk/docker/containers/x/config.v2.json', '{"ID":"x"}');
  link('var/lib/docker', '/mnt/disk/docker');
  link('var/lib/docker-rel', '../../mnt/disk/docker');
  link('abs-out', path.join(outside, 'secret'));
  link('rel-out', '../outside/secret');
  link('deep/rel-out', '../../../outside/secret');
  link('loop-a', 'loop-b');
  link('loop-b', 'loop-a');
  put(path.join(outside.slice(1), 'secret'), 'IN-ROOT COPY');
});

after(() => rmSync(base, { recursive: true, force: true }));

test('reads a regular file under the root, absolute or relative path', async () => {
  assert.equal((await readFileInRoot(root, '/etc/hostname')).toString(), 'node-a\n');
  assert.equal((await readFileInRoot(root, 'etc/./hostname')).toString(), 'node-a\n');
});

test('a symlinked data root that stays inside the root is followed (absolute target re-rooted, relative target)', async () => {
  assert.deepEqual(await readJsonInRoot(root, '/var/lib/docker/containers/x/config.v2.json'), { ID: 'x' });
  assert.deepEqual(await readJsonInRoot(root, '/var/lib/docker-rel/containers/x/config.v2.json'), { ID: 'x' });
});

test('an absolute symlink out of the root is re-rooted: it reads <root>/<target>, never the outside file', async () => {
  const got = (await readFileInRoot(root, '/abs-out')).toString();
  assert.equal(got, 'IN-ROOT COPY');
  rmSync(path.join(root, outside.slice(1), 'secret'));
  await assert.rejects(readFileInRoot(root, '/abs-out'), code('NOT_FOUND'));
  put(path.join(outside.slice(1), 'secret'), 'IN-ROOT COPY');
});

test('a relative symlink or a path climbing out of the root is refused with OUTSIDE_ROOT', async () => {
  await assert.rejects(readFileInRoot(root, '/rel-out'), code('OUTSIDE_ROOT'));
  await assert.rejects(readFileInRoot(root, '/deep/rel-out'), code('OUTSIDE_ROOT'));
  await assert.rejects(readFileInRoot(root, '/../outside/secret'), code('OUTSIDE_ROOT'));
  await assert.rejects(readFileInRoot(root, '/etc/../../outside/secret'), code('OUTSIDE_ROOT'));
});

test('symlink loops, directories, FIFOs and NULs are BAD_PATH; missing files NOT_FOUND', async () => {
  await assert.rejects(readFileInRoot(root, '/loop-a'), code('BAD_PATH'));
  await assert.rejects(readFileInRoot(root, '/etc'), code('BAD_PATH'));
  await assert.rejects(readFileInRoot(root, '/etc/..'), code('BAD_PATH'));
  execFileSync('mkfifo', [path.join(root, 'fifo')]);
  // A FIFO opened for reading would block until a writer came; it must be refused before open.
  await assert.rejects(readFileInRoot(root, '/fifo'), code('BAD_PATH'));
  await assert.rejects(readFileInRoot(root, '/etc/host\0name'), code('BAD_PATH'));
  await assert.rejects(readFileInRoot(root, '/etc/nope'), code('NOT_FOUND'));
  await assert.rejects(readFileInRoot(root, '/etc/hostname/x'), code('NOT_FOUND'));
  await assert.rejects(readFileInRoot(path.join(base, 'no-root'), '/etc/hostname'), code('NOT_FOUND'));
});

test('size bound: exactly the limit is read, one byte more is TOO_LARGE, a sparse 8 GiB file is refused without reading', async () => {
  put('sized', 'x'.repeat(1000));
  assert.equal((await readFileInRoot(root, '/sized', { maxBytes: 1000 })).length, 1000);
  await assert.rejects(readFileInRoot(root, '/sized', { maxBytes: 999 }), code('TOO_LARGE'));
  put('huge', '');
  truncateSync(path.join(root, 'huge'), 8 * 1024 ** 3);
  const rss = process.memoryUsage().rss;
  await assert.rejects(readFileInRoot(root, '/huge'), code('TOO_LARGE'));
  await assert.rejects(readFileBounded(path.join(root, 'huge')), code('TOO_LARGE'));
  assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024, 'no big allocation');
});

test('operator path (readFileBounded): read, missing, directory', async () => {
  assert.equal((await readFileBounded(path.join(root, 'etc/hostname'))).toString(), 'node-a\n');
  await assert.rejects(readFileBounded(path.join(root, 'nope.json')), code('NOT_FOUND'));
  await assert.rejects(readFileBounded(path.join(root, 'etc')), code('BAD_PATH'));
});

test('bad JSON is BAD_JSON', () => {
  assert.throws(() => parseJson(Buffer.from('{"a":'), 'x'), code('BAD_JSON'));
  assert.deepEqual(parseJson(Buffer.from('{"__proto__":{"p":1}}'), 'x'), JSON.parse('{"__proto__":{"p":1}}'));
});

test('no file descriptor leaks, on success or failure', async () => {
  const before = openFds();
  for (let i = 0; i < 50; i++) {
    await readFileInRoot(root, '/var/lib/docker/containers/x/config.v2.json');
    await readFileInRoot(root, '/rel-out').catch(() => undefined);
    await readFileInRoot(root, '/loop-a').catch(() => undefined);
    await readFileInRoot(root, '/huge').catch(() => undefined);
    await readFileInRoot(root, '/etc/nope').catch(() => undefined);
  }
  assert.equal(openFds(), before);
});
