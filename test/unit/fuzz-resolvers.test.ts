// SPDX-License-Identifier: Apache-2.0
// Property tests of the runtime-file resolvers (Docker, containerd, CRI-O through
// createResolver) over random host roots (test/helpers/host-tree.ts): every lookup answers
// (never throws, never an untyped "unexpected" failure), in bounded time, without leaking
// descriptors, and without reading anything outside the root: every open and lookup is
// checked against the kernel's view of its descriptor (test/helpers/open-watch.ts), and
// no answer ever carries the marker of the valid metadata kept outside the root.
// test/unit/fuzz-strace.test.ts checks the same with strace, from outside the process.
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { ConfigError } from '../../src/common/errors.js';
import { createResolver } from '../../src/runtime/index.js';
import type { ResolveResult, Runtime, RuntimeHint } from '../../src/runtime/types.js';
import { fuzzSuite, timedAsync } from '../helpers/fuzz.js';
import { A, C, OUTSIDE_MARKER, S, buildTree, treeBase, treeArb } from '../helpers/host-tree.js';
import { assertWatchWorks, watchFsReads } from '../helpers/open-watch.js';

const CALL_MS = 5_000; // a lookup takes ms; this is slack for a loaded 2-core CI box, a hang hits the deadline
const CODES = new Set(['NOT_FOUND', 'TOO_LARGE', 'BAD_JSON', 'OUTSIDE_ROOT', 'BAD_ID', 'BAD_PATH', 'IO']);
const IDS = [A, S, C, `../${A}`];
const HINTS: (RuntimeHint | undefined)[] = [undefined, 'docker', 'containerd', 'cri-o', 'podman'];
const silent = pino({ level: 'silent' });

function checkResult(r: ResolveResult): void {
  const text = JSON.stringify(r);
  assert.ok(!text.includes(OUTSIDE_MARKER), `an answer carries metadata from outside the root: ${text.slice(0, 500)}`);
  if (r.ok) {
    assert.ok(['docker', 'containerd', 'cri-o'].includes(r.meta.runtime));
    assert.ok(typeof r.source === 'string');
    if (r.meta.pod) assert.equal(typeof r.meta.pod.name, 'string');
    return;
  }
  assert.ok(CODES.has(r.code), `unknown code ${r.code}`);
  // common.ts's failure() says "unexpected" for anything that is not a MetadataError.
  assert.ok(!/unexpected|resolver error/.test(r.reason), `an untyped error inside a resolver: ${r.reason}`);
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

const optionsArb = fc.record({
  maxFileBytes: fc.constantFrom(undefined, 64, 4096),
  runtimes: fc.shuffledSubarray(['docker', 'containerd', 'cri-o'] as Runtime[], { minLength: 1 }),
  cacheTtlMs: fc.constantFrom(undefined, 0),
});

fuzzSuite(import.meta.url, {
  'createResolver over random host roots: answers only typed results, in bounded time, reading nothing outside the root': {
    runs: 400, timeMs: 4_000,
    make: (observe) => {
      const watch = watchFsReads();
      const base = treeBase('podtrail-fuzz-res-');
      let n = 0;
      let watchChecked = false;
      return fc.asyncProperty(treeArb, optionsArb, async (entries, opts) => {
        if (!watchChecked) {
          await assertWatchWorks(watch, base);
          watchChecked = true;
        }
        observe({ entries, opts });
        const dir = path.join(base, String(n++));
        try {
          const root = buildTree(dir, entries);
          const resolver = createResolver({ hostRoot: root, logger: silent, ...opts } as Parameters<typeof createResolver>[0]);
          const fds = openFds();
          watch.arm(root);
          try {
            for (const id of IDS) {
              for (const hint of HINTS) checkResult(await timedAsync(`resolve(${id.slice(0, 8)}, ${hint})`, CALL_MS, () => resolver.resolve(id, hint)));
            }
          } finally {
            const violations = watch.disarm();
            assert.deepEqual(violations, [], 'every read stays under the root');
          }
          assert.equal(openFds(), fds, 'no descriptor leaked');
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    },
  },
  // Options as config sources give them (flags, env, a config file): strings, numbers, string
  // lists, of any content. Values of the wrong JS type are the compiler's job (see the report).
  'createResolver: any options of the right shape are accepted or refused with a ConfigError': {
    runs: 3_000, timeMs: 300,
    make: (observe) => {
      const num = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 2 ** 53, -1));
      return fc.property(
        fc.record({
          hostRoot: fc.oneof(fc.constantFrom('/', '/tmp', 'relative', '', 'a\0b', '/x/../y'), fc.string({ unit: 'binary' })),
          dockerConfigPath: fc.oneof(fc.constantFrom('/etc/docker/daemon.json', '', 'daemon.json', '\0'), fc.string({ unit: 'binary' })),
          cacheTtlMs: num,
          negativeTtlMs: num,
          // Huge sizes too: createResolver refuses them before lru-cache allocates its table.
          cacheSize: fc.oneof(fc.integer({ max: 1_000_000 }), fc.double({ max: 1_000_000 }), fc.constantFrom(1_000_001, 2 ** 31, 2 ** 53 - 1)),
          maxFileBytes: num,
          runtimes: fc.array(fc.oneof(fc.constantFrom('docker', 'containerd', 'cri-o', 'podman', ''), fc.string())),
          containerdNamespaces: fc.array(fc.oneof(fc.constantFrom('k8s.io', 'default', '../x', 'a/b', '', 'a'.repeat(80)), fc.string({ unit: 'binary' }))),
        }, { requiredKeys: [] }),
        (opts) => {
          observe(opts);
          try {
            createResolver({ ...opts, logger: silent } as Parameters<typeof createResolver>[0]);
          } catch (err) {
            if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError: ${(err as Error)?.stack ?? String(err)}`);
          }
        });
    },
  },
});
