// SPDX-License-Identifier: Apache-2.0
// Property tests of the cgroup-path parser: any input gives a consistent ParsedCgroup or a
// MetadataError(BAD_PATH); tryParseCgroupPath never throws; what it extracts really is in the
// path; the leaf alone decides the container. Seeds: the real paths of
// test/fixtures/cgroup-paths.tsv and kubelet/runtime naming pieces.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { MetadataError } from '../../src/common/errors.js';
import { parseCgroupPath, tryParseCgroupPath, type ParsedCgroup } from '../../src/runtime/cgroup-path.js';
import { fuzzSuite, timed } from '../helpers/fuzz.js';

const CALL_MS = 500;
const FIXTURE = new URL('../../../test/fixtures/cgroup-paths.tsv', import.meta.url);
const REAL = readFileSync(FIXTURE, 'utf8').split('\n')
  .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('path\t'))
  .map((l) => l.split('\t')[0]!);
const REAL_PARTS = [...new Set(REAL.flatMap((p) => p.split('/')).filter((c) => c !== ''))];

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const uid = fc.tuple(hex(8), hex(4), hex(4), hex(4), hex(12));
// Pieces kubelet and the runtimes put in cgroup names, real ones, and hostile ones.
const component = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...REAL_PARTS) },
  { weight: 2, arbitrary: fc.constantFrom('kubepods', 'burstable', 'besteffort', 'kubepods.slice', 'docker', 'k8s.io', 'system.slice', 'docker.service', 'kubelet.slice', 'container', 'libpod_parent', 'runtime', 'podman-42.scope') },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('docker-', 'cri-containerd-', 'crio-', 'libpod-', 'nerdctl-', 'crio-conmon-', 'libpod-conmon-', 'libpod-payload-', ''), hex(64), fc.constantFrom('.scope', '', '.scope.x')).map((a) => a.join('')) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('pod', 'kubepods-burstable-pod', 'kubepods-besteffort-pod', 'kubepods-pod', 'kubelet-kubepods-pod', 'Burstable-pod', 'BestEffort-pod'), uid, fc.constantFrom('-', '_'), fc.constantFrom('', '.slice'))
    .map(([p, u, sep, s]) => `${p}${u.join(sep)}${s}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('kubepods-burstable-pod1.slice', 'x.slice', ':.slice'), fc.constantFrom('cri-containerd', 'crio', 'docker', 'bogus'), hex(64)).map((a) => a.join(':')) },
  { weight: 1, arbitrary: fc.constantFrom('.', '..', '', ' ', '\n', '\0', '\u007f', 'a'.repeat(256), 'é'.repeat(128)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);
const structured = fc.tuple(fc.array(component, { maxLength: 8 }), fc.constantFrom('/', '', '//'), fc.boolean())
  .map(([parts, lead, trail]) => `${lead}${parts.join('/')}${trail ? '/' : ''}`);
const mutatedReal = fc.tuple(fc.constantFrom(...REAL), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.string({ unit: 'binary', maxLength: 3 })), { maxLength: 3 }))
  .map(([p, edits]) => edits.reduce((s, [at, del, ins]) => { const i = at % (s.length + 1); return s.slice(0, i) + ins + s.slice(i + del); }, p));
const anyPath = fc.oneof(structured, mutatedReal, fc.string({ unit: 'binary', maxLength: 200 }), fc.constantFrom(...REAL),
  fc.string({ unit: fc.constantFrom('a', '/'), minLength: 4000, maxLength: 4200 }));

const KINDS = new Set(['pod-container', 'container', 'host', 'pod-other']);
const UID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;

/** What a successful parse promises. */
function consistent(path: string, r: ParsedCgroup): void {
  assert.ok(KINDS.has(r.kind));
  const parts = path.split('/');
  // crun's subgroup: <scope>/container is the scope's container.
  const leaf = parts.at(-1) === 'container' && parts.length > 2 ? parts.at(-2)! : parts.at(-1)!;
  if (r.containerId !== undefined) {
    assert.match(r.containerId, /^[0-9a-f]{64}$/);
    assert.ok(leaf.includes(r.containerId), 'the container ID comes from the leaf (or the scope above crun\'s subgroup)');
    assert.equal(r.monitor, false);
  }
  if (r.podUid !== undefined) {
    assert.match(r.podUid, UID);
    assert.ok(path.includes(r.podUid) || path.includes(r.podUid.replaceAll('-', '_')), 'the pod UID is in the path');
    assert.ok(r.qos === 'guaranteed' || r.qos === 'burstable' || r.qos === 'besteffort');
  } else {
    assert.equal(r.qos, undefined);
  }
  const expected = r.containerId ? (r.podUid ? 'pod-container' : 'container') : (r.podUid ? 'pod-other' : 'host');
  assert.equal(r.kind, expected);
  if (r.kind === 'host') assert.equal(r.runtime === undefined || r.monitor, true);
}

/** parse and tryParse agree; only MetadataError(BAD_PATH) is thrown. */
function parseBoth(path: unknown): ParsedCgroup | undefined {
  const t = timed('tryParseCgroupPath', CALL_MS, () => tryParseCgroupPath(path as string));
  let r: ParsedCgroup | undefined;
  try {
    r = timed('parseCgroupPath', CALL_MS, () => parseCgroupPath(path as string));
  } catch (err) {
    if (!(err instanceof MetadataError) || err.code !== 'BAD_PATH') throw new Error(`not a typed error: ${(err as Error)?.stack ?? String(err)}`);
  }
  assert.equal(t.ok, r !== undefined, 'tryParseCgroupPath agrees with parseCgroupPath');
  if (!t.ok) assert.ok(t.error instanceof MetadataError && t.error.code === 'BAD_PATH');
  else assert.deepEqual(t.value, r);
  return r;
}

fuzzSuite(import.meta.url, {
  'parseCgroupPath: any string gives a consistent result or MetadataError(BAD_PATH), and tryParse agrees': {
    runs: 30_000, timeMs: 1_200,
    make: (observe) => fc.property(anyPath, (path) => {
      observe(path);
      const r = parseBoth(path);
      if (r) consistent(path, r);
      const hostile = !path.startsWith('/') || /[\u0000-\u001f\u007f]/.test(path) || path.length > 4096
        || (path !== '/' && path.slice(1).split('/').some((c) => c === '' || c === '.' || c === '..' || Buffer.byteLength(c) > 255));
      assert.equal(r === undefined, hostile, hostile ? 'a malformed path is refused' : 'a well-formed path is accepted');
    }),
  },
  'tryParseCgroupPath: non-string input (a forged record) is a BAD_PATH result, never a throw': {
    runs: 2_000, timeMs: 300,
    make: (observe) => fc.property(fc.anything(), (v) => {
      observe(v);
      if (typeof v === 'string') return;
      assert.equal(parseBoth(v), undefined);
    }),
  },
  'parseCgroupPath: the leaf alone decides the container ID (nesting under other cgroups keeps it)': {
    runs: 5_000, timeMs: 500,
    make: (observe) => fc.property(structured, fc.array(fc.constantFrom('docker', 'system.slice', 'a1b2', 'node-1', 'x.slice'), { minLength: 1, maxLength: 3 }), (path, prefix) => {
      observe({ path, prefix });
      const r = parseBoth(path);
      if (!r || path === '/') return;
      const nested = parseBoth(`/${prefix.join('/')}${path}`);
      assert.ok(nested);
      assert.equal(nested.containerId, r.containerId);
      assert.equal(nested.monitor, r.monitor);
    }),
  },
});
