// SPDX-License-Identifier: Apache-2.0
// Property tests of safe-fs's readFileInRoot/readJsonInRoot over random host roots
// (test/helpers/host-tree.ts) and random paths ('..', '.', empty and symlinked components,
// NUL): the answer is the file's bytes or a MetadataError; every open and lookup stays under
// the root (test/helpers/open-watch.ts); the outside's marker never comes back; no
// descriptor leaks; and a path without symlinks reads exactly what fs.readFileSync reads.
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { MetadataError } from '../../src/common/errors.js';
import { readFileInRoot, readJsonInRoot } from '../../src/runtime/safe-fs.js';
import { fuzzSuite, timedAsync } from '../helpers/fuzz.js';
import { A, OUTSIDE_MARKER, buildTree, treeBase, metadataDocs, treeArb } from '../helpers/host-tree.js';
import { assertWatchWorks, watchFsReads } from '../helpers/open-watch.js';

const CALL_MS = 5_000; // a lookup takes ms; this is slack for a loaded 2-core CI box, a hang hits the deadline
const CODES = new Set(['NOT_FOUND', 'TOO_LARGE', 'BAD_JSON', 'OUTSIDE_ROOT', 'BAD_PATH', 'IO']);
const PARTS = [...new Set(Object.keys(metadataDocs('x')).flatMap((p) => p.split('/')))];
const component = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PARTS) },
  { weight: 2, arbitrary: fc.constantFrom('..', '.', '', 'outside', 'secret', 'mnt', 'disk', 'dev', 'zero', 'proc', 'self', A) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
// Mostly real metadata paths, some with .. and friends spliced in.
const pathArb = fc.oneof(
  fc.constantFrom(...Object.keys(metadataDocs('x'))).map((p) => `/${p}`),
  fc.tuple(fc.constantFrom(...Object.keys(metadataDocs('x'))), fc.nat(), fc.array(component, { minLength: 1, maxLength: 3 }))
    .map(([p, at, ins]) => { const c = p.split('/'); c.splice(at % (c.length + 1), 0, ...ins); return `/${c.join('/')}`; }),
  fc.array(component, { maxLength: 10 }).map((c) => c.join('/')),
  fc.constantFrom('/', '', '\0', '/etc/docker/daemon.json\0', '../outside/secret', '/../../outside/secret'),
);

function typedOnly(err: unknown): void {
  if (err instanceof MetadataError && CODES.has(err.code)) return;
  throw new Error(`not a typed MetadataError: ${(err as Error)?.stack ?? String(err)}`);
}

/** Is `rel` under root reachable without a symlink, as a regular file? */
function plainFile(root: string, rel: string): boolean {
  // safe-fs ignores a trailing slash (the kernel would say ENOTDIR): no expectation there.
  if (rel.endsWith('/')) return false;
  let cur = root;
  for (const c of rel.split('/').filter((x) => x !== '')) {
    if (c === '.' || c === '..') return false;
    cur = path.join(cur, c);
    try {
      if (lstatSync(cur).isSymbolicLink()) return false;
    } catch {
      return false;
    }
  }
  const st = lstatSync(cur);
  return st.isFile() && st.size <= 8 * 1024 * 1024; // not the sparse terabyte
}

fuzzSuite(import.meta.url, {
  'readFileInRoot/readJsonInRoot over random roots and paths: bytes or MetadataError, never outside the root': {
    runs: 400, timeMs: 2_500,
    make: (observe) => {
      const watch = watchFsReads();
      const base = treeBase('podtrail-fuzz-fs-');
      let n = 0;
      let watchChecked = false;
      return fc.asyncProperty(treeArb, fc.array(pathArb, { minLength: 1, maxLength: 12 }), fc.constantFrom(undefined, 16, 4096), async (entries, paths, maxBytes) => {
        if (!watchChecked) {
          await assertWatchWorks(watch, base);
          watchChecked = true;
        }
        observe({ entries, paths, maxBytes });
        const dir = path.join(base, String(n++));
        try {
          const root = buildTree(dir, entries);
          const fds = readdirSync('/proc/self/fd').length;
          // What a plain read gives, for paths that involve no symlink (computed before arming).
          const expected = new Map(paths.filter((p) => !p.includes('\0') && plainFile(root, p)).map((p) => [p, readFileSync(path.join(root, p))]));
          const got = new Map<string, Buffer>();
          watch.arm(root);
          try {
            for (const p of paths) {
              const opts = maxBytes ? { maxBytes } : {};
              try {
                const buf = await timedAsync(`readFileInRoot(${p})`, CALL_MS, () => readFileInRoot(root, p, opts));
                assert.ok(!buf.includes(OUTSIDE_MARKER), `read the outside's data through ${p}`);
                got.set(p, buf);
              } catch (err) {
                typedOnly(err);
              }
              try {
                const doc = await timedAsync(`readJsonInRoot(${p})`, CALL_MS, () => readJsonInRoot(root, p, opts));
                assert.ok(!JSON.stringify(doc ?? null).includes(OUTSIDE_MARKER));
              } catch (err) {
                typedOnly(err);
              }
            }
          } finally {
            assert.deepEqual(watch.disarm(), [], 'every read stays under the root');
          }
          for (const [p, want] of expected) {
            if (want.length <= (maxBytes ?? 4 * 1024 * 1024)) assert.ok(got.get(p)?.equals(want), `${p} reads as fs.readFileSync does`);
            else assert.equal(got.has(p), false, `${p} is over the limit`);
          }
          assert.equal(readdirSync('/proc/self/fd').length, fds, 'no descriptor leaked');
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    },
  },
});
