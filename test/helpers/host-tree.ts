// SPDX-License-Identifier: Apache-2.0
// Random host roots for the resolver fuzz tests: the runtimes' real metadata layout (Docker,
// containerd, CRI-O) for a sandbox S and an app container A, then random changes at the
// paths that matter: files with mutated or garbage JSON, symlinks (inside, re-rooted,
// escaping with .., loops, to devices), directories, FIFOs, a character device, huge sparse
// files. Beside the root sits `outside/`, a complete and valid copy of the same metadata
// naming OUTSIDE_MARKER: any answer carrying that name was read outside the root.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';

export const OUTSIDE_MARKER = 'OUTSIDE-MARKER-7c1e';
export const A = 'a1'.repeat(32);
export const S = 'b2'.repeat(32);
export const C = 'c3'.repeat(32);
const UID = '35b82523-06c1-48e7-9e61-2521a89b703b';

const DOCKER = 'var/lib/docker/containers';
const TASK = 'run/containerd/io.containerd.runtime.v2.task/k8s.io';
const CRIO = 'var/lib/containers/storage/overlay-containers';

type Json = Record<string, unknown>;

/** Valid metadata of pod `pod` for all three runtimes, relative path -> document. */
export function metadataDocs(pod: string): Record<string, Json> {
  const kube = { 'io.kubernetes.pod.name': pod, 'io.kubernetes.pod.namespace': 'ns', 'io.kubernetes.pod.uid': UID };
  const cri = { 'io.kubernetes.cri.sandbox-id': S, 'io.kubernetes.cri.sandbox-name': pod, 'io.kubernetes.cri.sandbox-namespace': 'ns', 'io.kubernetes.cri.sandbox-uid': UID };
  const ns = { namespaces: [{ type: 'network' }, { type: 'uts' }], cgroupsPath: `/kubepods/burstable/pod${UID}/${A}` };
  return {
    [`${DOCKER}/${A}/config.v2.json`]: { ID: A, Name: '/k8s_app', Created: '2026-01-01T00:00:00Z', Config: { Image: 'img', Hostname: pod, Labels: { ...kube, 'io.kubernetes.container.name': 'app', 'io.kubernetes.docker.type': 'container', 'io.kubernetes.sandbox.id': S } } },
    [`${DOCKER}/${A}/hostconfig.json`]: { NetworkMode: `container:${S}`, UTSMode: '' },
    [`${DOCKER}/${S}/config.v2.json`]: { ID: S, Name: '/k8s_POD', Config: { Image: 'pause', Labels: { ...kube, 'io.kubernetes.container.name': 'POD', 'io.kubernetes.docker.type': 'podsandbox', app: pod } } },
    [`${DOCKER}/${S}/hostconfig.json`]: { NetworkMode: 'none' },
    [`${TASK}/${A}/config.json`]: { hostname: pod, linux: ns, annotations: { ...cri, 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.container-name': 'app', 'io.kubernetes.cri.image-name': 'img' } },
    [`${TASK}/${S}/config.json`]: { hostname: pod, linux: ns, annotations: { ...cri, 'io.kubernetes.cri.container-type': 'sandbox', note: pod } },
    [`${CRIO}/${A}/userdata/config.json`]: { hostname: pod, linux: ns, annotations: { ...kube, 'io.container.manager': 'cri-o', 'io.kubernetes.container.name': 'app', 'io.kubernetes.cri-o.ContainerID': A, 'io.kubernetes.cri-o.ContainerType': 'container', 'io.kubernetes.cri-o.SandboxID': S } },
    [`${CRIO}/${S}/userdata/config.json`]: { hostname: pod, linux: ns, annotations: { ...kube, 'io.container.manager': 'cri-o', 'io.kubernetes.cri-o.ContainerID': S, 'io.kubernetes.cri-o.ContainerType': 'sandbox', 'io.kubernetes.cri-o.Labels': JSON.stringify({ app: pod }), 'io.kubernetes.cri-o.HostNetwork': 'false' } },
    'etc/docker/daemon.json': { 'log-driver': 'json-file' },
  };
}

const FILES = Object.keys(metadataDocs('x'));
const dirsOf = (p: string): string[] => { const out: string[] = []; for (let d = path.dirname(p); d !== '.'; d = path.dirname(d)) out.push(d); return out; };
const DIRS = [...new Set([...FILES.flatMap(dirsOf), 'mnt/disk/docker', 'mnt/disk/docker/containers', `mnt/disk/docker/containers/${A}`,
  'run/containerd/io.containerd.runtime.v1.linux/k8s.io', `run/containers/storage/overlay-containers/${A}/userdata`, 'dev', 'proc'])];
const PLACES = [...FILES, ...DIRS, `mnt/disk/docker/containers/${A}/config.v2.json`, `run/containers/storage/overlay-containers/${A}/userdata/config.json`];

const KEYS = ['ID', 'Name', 'Config', 'Labels', 'Image', 'Hostname', 'NetworkMode', 'UTSMode', 'Created', 'annotations', 'linux', 'namespaces',
  'cgroupsPath', 'hostname', 'process', 'env', 'type', 'data-root', 'graph', '__proto__', 'constructor', 'toString', '0',
  'io.kubernetes.pod.name', 'io.kubernetes.pod.uid', 'io.kubernetes.docker.type', 'io.kubernetes.sandbox.id', 'io.kubernetes.container.name',
  'io.kubernetes.cri.sandbox-id', 'io.kubernetes.cri.container-type', 'io.kubernetes.cri.sandbox-name', 'io.kubernetes.cri.sandbox-namespace',
  'io.container.manager', 'io.kubernetes.cri-o.ContainerID', 'io.kubernetes.cri-o.SandboxID', 'io.kubernetes.cri-o.ContainerType',
  'io.kubernetes.cri-o.Labels', 'io.kubernetes.cri-o.Annotations', 'io.kubernetes.cri-o.HostNetwork'];
const VALUES = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(A, S, C, `container:${S}`, `container:${A}`, 'host', 'podsandbox', 'sandbox', 'cri-o', 'podman', '', '/', '../../../outside',
    '/../outside', '/mnt/disk/docker', '/var/lib/docker', `/kubepods/burstable/pod${UID}/${A}`, 'kubepods-pod1.slice:crio:' + A, '{"app":"x"}', '{bad', '[]',
    '{"__proto__":{"polluted":"yes"}}', 'HOSTNAME=', 'HOSTNAME=h', [{ type: 'network' }], [{ type: 'uts' }, null, 7], {}, null),
);
const edit = fc.record({ keys: fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 3 }), value: VALUES });

/** Sets doc[keys...] = value as own properties (so `__proto__` becomes a real key, as in JSON text). */
function setPath(doc: unknown, keys: string[], value: unknown): unknown {
  const root: Json = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? { ...(doc as Json) } : {};
  let cur = root;
  keys.forEach((k, i) => {
    const last = i === keys.length - 1;
    const next = last ? value : (typeof cur[k] === 'object' && cur[k] !== null && !Array.isArray(cur[k]) ? { ...(cur[k] as Json) } : {});
    Object.defineProperty(cur, k, { value: next, enumerable: true, writable: true, configurable: true });
    if (!last) cur = next as Json;
  });
  return root;
}

export type Content = { kind: 'doc'; edits: { keys: string[]; value: unknown }[] } | { kind: 'json'; value: unknown } | { kind: 'text'; text: string } | { kind: 'bytes'; data: Uint8Array };
export type Node =
  | { t: 'file'; content: Content }
  | { t: 'sparse'; size: number }
  | { t: 'dir' }
  | { t: 'link'; target: string }
  | { t: 'fifo' }
  | { t: 'dev' };
export interface Entry { place: string; node: Node }

const content: fc.Arbitrary<Content> = fc.oneof(
  { weight: 5, arbitrary: fc.array(edit, { maxLength: 4 }).map((edits) => ({ kind: 'doc' as const, edits })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'json' as const, value })) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', 'null', '"str"', '\ufeff{}', '['.repeat(5000) + ']'.repeat(5000), '{"a":1}{"b":2}', '\u0000').map((text) => ({ kind: 'text' as const, text })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((data) => ({ kind: 'bytes' as const, data })) },
);

/** Symlink targets: inside (absolute = re-rooted, relative), escaping, loops, devices, /proc. */
function linkTarget(place: string): fc.Arbitrary<string> {
  const here = path.dirname(place);
  return fc.oneof(
    fc.constantFrom(...PLACES).map((p) => `/${p}`),
    fc.constantFrom(...PLACES).map((p) => path.relative(here === '.' ? '' : here, p) || '.'),
    fc.tuple(fc.integer({ min: 1, max: 9 }), fc.constantFrom('', ...PLACES)).map(([k, p]) => `${'../'.repeat(k)}outside${p ? `/${p}` : ''}`),
    fc.tuple(fc.integer({ min: 1, max: 9 }), fc.constantFrom(...PLACES)).map(([k, p]) => `/${'../'.repeat(k)}${p}`),
    fc.constantFrom('/', '.', '..', '../..', path.basename(place), '/dev/zero', '/proc/self/environ', '/proc/self/root/etc/passwd', '/etc/shadow', 'dangling', '/outside'),
  );
}

export const entryArb: fc.Arbitrary<Entry> = fc.constantFrom(...PLACES).chain((place) => fc.record({
  place: fc.constant(place),
  node: fc.oneof(
    { weight: 6, arbitrary: content.map((c) => ({ t: 'file' as const, content: c })) },
    { weight: 5, arbitrary: linkTarget(place).map((target) => ({ t: 'link' as const, target })) },
    { weight: 1, arbitrary: fc.constant({ t: 'dir' as const }) },
    { weight: 1, arbitrary: fc.constantFrom(4096, 4097, 4 * 1024 * 1024 + 1, 2 ** 40).map((size) => ({ t: 'sparse' as const, size })) },
    { weight: 1, arbitrary: fc.constant({ t: 'fifo' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'dev' as const }) },
  ),
}));

export const treeArb = fc.array(entryArb, { maxLength: 12 });

/**
 * A fresh directory for trees, removed at exit. On tmpfs (/dev/shm) when there is one: on
 * the ext4 disk with discard, deleting the sparse terabyte files took ~70 ms a tree.
 */
export function treeBase(prefix: string): string {
  let dir = tmpdir();
  try {
    accessSync('/dev/shm', constants.W_OK);
    dir = '/dev/shm';
  } catch {
    // no tmpfs: the disk is slower, not wrong
  }
  const base = mkdtempSync(path.join(dir, prefix));
  process.once('exit', () => rmSync(base, { recursive: true, force: true }));
  return base;
}

/** Creates `rel` under `root` only if no existing parent is a symlink or a non-directory (never writes through a link). */
function safeParent(root: string, rel: string): boolean {
  let cur = root;
  for (const c of path.dirname(rel).split('/').filter((x) => x !== '.')) {
    cur = path.join(cur, c);
    let st;
    try { st = lstatSync(cur); } catch { mkdirSync(cur); continue; }
    if (!st.isDirectory()) return false;
  }
  return true;
}

function writeDocs(root: string, docs: Record<string, Json>): void {
  for (const [rel, doc] of Object.entries(docs)) {
    mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    writeFileSync(path.join(root, rel), JSON.stringify(doc));
  }
}

/** Builds <dir>/root (baseline + entries) and <dir>/outside (valid, marked); returns the root. */
export function buildTree(dir: string, entries: Entry[]): string {
  const root = path.join(dir, 'root');
  const outside = path.join(dir, 'outside');
  writeDocs(outside, metadataDocs(OUTSIDE_MARKER));
  writeFileSync(path.join(outside, 'secret'), OUTSIDE_MARKER);
  writeDocs(root, metadataDocs('inside-pod'));
  const base = metadataDocs('inside-pod');
  for (const { place, node } of entries) {
    if (!safeParent(root, place)) continue;
    const p = path.join(root, place);
    rmSync(p, { recursive: true, force: true });
    switch (node.t) {
      case 'file': {
        const c = node.content;
        const data = c.kind === 'doc' ? JSON.stringify(c.edits.reduce<unknown>((d, e) => setPath(d, e.keys, e.value), base[place] ?? {}))
          : c.kind === 'json' ? JSON.stringify(c.value) : c.kind === 'text' ? c.text : Buffer.from(c.data);
        writeFileSync(p, data);
        break;
      }
      case 'sparse': writeFileSync(p, '{}'); truncateSync(p, node.size); break;
      case 'dir': mkdirSync(p); break;
      case 'link': symlinkSync(node.target, p); break;
      case 'fifo': execFileSync('mkfifo', [p]); break;
      case 'dev': execFileSync('mknod', [p, 'c', '1', '5']); break; // /dev/zero's numbers: endless bytes if ever opened
    }
  }
  return root;
}
