// SPDX-License-Identifier: Apache-2.0
// The CRI client and resolver against in-process runtimes (test/helpers/cri-server.ts): a
// CRI-O-shaped one (no CRI-O package exists here), and broken or hostile ones. The real
// containerd is in test/integration/cri-containerd.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CriClient } from '../../src/runtime/cri/client.js';
import { CriResolver } from '../../src/runtime/cri/resolver.js';
import { CriWithFiles } from '../../src/runtime/cri/with-files.js';
import { POD_FACT_LIMITS, annotationFilter } from '../../src/runtime/pod-facts.js';
import type { ContainerMeta, MetadataResolver } from '../../src/runtime/types.js';
import { CONTAINERD_LABELS_UNKNOWN } from '../../src/runtime/containerd.js';
import { CriStatusError, startFakeCri, startRawServer, type FakeCri } from '../helpers/cri-server.js';

const hex = (c: string): string => c.repeat(64);
const SB = hex('a');
const APP = hex('b');
const HN_SB = hex('c');
const HN_APP = hex('d');
const BIG_SB = hex('e');
const BIG_APP = hex('f');
const HUGE_SB = hex('1');
const HUGE_APP = hex('2');
const ENUM_SB = hex('3');
const ENUM_APP = hex('4');
const GONE_APP = hex('5');
const EXITED_APP = 'ab'.repeat(32);

type Obj = Record<string, unknown>;

function sandbox(id: string, name: string, o: { labels?: Obj; mode?: string | number; ips?: string[] } = {}): Obj {
  const ips = o.ips ?? ['10.88.0.7', 'fd00::7'];
  return {
    id, metadata: { name, uid: `uid-${name}`, namespace: 'shop', attempt: 0 }, state: 'SANDBOX_READY', created_at: '1700000000000000000',
    network: { ip: ips[0] ?? '', additional_ips: ips.slice(1).map((ip) => ({ ip })) },
    linux: { namespaces: { options: { network: o.mode ?? 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    labels: { app: name, 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'shop', 'io.kubernetes.pod.uid': `uid-${name}`, ...o.labels },
    annotations: { 'kubernetes.io/config.source': 'api' },
    // Not in podtrail's subset: must be skipped.
    runtime_handler: 'crun',
  };
}

function container(id: string, sb: string, name: string): Obj {
  return {
    id, pod_sandbox_id: sb, metadata: { name, attempt: 0 }, image: { image: 'quay.io/shop/web:1.2', annotations: { x: 'y' }, user_specified_image: 'web:1.2' },
    image_ref: 'quay.io/shop/web@sha256:' + hex('9'), state: 'CONTAINER_RUNNING', created_at: '1700000000123456789',
    labels: { 'io.kubernetes.container.name': name }, annotations: {},
  };
}

describe('CRI client and resolver against in-process runtimes', () => {
  let dir: string;
  let crio: FakeCri;
  const sandboxes = new Map<string, Obj>();
  const containers = new Map<string, Obj>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ptcri-'));
    sandboxes.set(SB, sandbox(SB, 'web-7d9f8b6c5d-x2k4q', { labels: { 'pod-template-hash': '7d9f8b6c5d' } }));
    sandboxes.set(HN_SB, sandbox(HN_SB, 'node-agent-abcde', { mode: 'NODE', ips: ['192.168.1.10'] }));
    // 10,000 small labels, and three of 1 MiB: bounded, the pod still named.
    const many: Obj = {};
    for (let i = 0; i < 10_000; i++) many[`l${String(i).padStart(5, '0')}`] = `v${i}`;
    for (let i = 0; i < 3; i++) many[`big${i}`] = 'x'.repeat(1024 * 1024);
    sandboxes.set(BIG_SB, sandbox(BIG_SB, 'hostile-1', { labels: many }));
    // More than the 4 MiB a CRI answer may have.
    const huge: Obj = {};
    for (let i = 0; i < 5; i++) huge[`huge${i}`] = 'y'.repeat(1024 * 1024);
    sandboxes.set(HUGE_SB, sandbox(HUGE_SB, 'hostile-2', { labels: huge }));
    sandboxes.set(ENUM_SB, sandbox(ENUM_SB, 'future-1', { mode: 7 }));
    for (const [id, sb, name] of [[APP, SB, 'web'], [HN_APP, HN_SB, 'agent'], [BIG_APP, BIG_SB, 'big'], [HUGE_APP, HUGE_SB, 'huge'], [ENUM_APP, ENUM_SB, 'future'], [GONE_APP, hex('6'), 'orphan']] as const) {
      containers.set(id, container(id, sb, name));
    }
    // Created by image ID as kubelet does (so ContainerStatus is asked for the name), in a
    // state this subset does not name, and gone by the time ContainerStatus is asked.
    containers.set(EXITED_APP, { ...container(EXITED_APP, SB, 'oneshot'), image: { image: `sha256:${hex('9')}` }, state: 9 });
    crio = await startFakeCri(join(dir, 'crio.sock'), {
      Version: () => ({ version: '0.1.0', runtime_name: 'cri-o', runtime_version: '1.28.1', runtime_api_version: 'v1' }),
      ListContainers: (req) => {
        const id = (req.filter as Obj | null)?.id as string | undefined;
        return { containers: id ? [containers.get(id)].filter(Boolean) : [...containers.values()] };
      },
      ContainerStatus: (req) => {
        throw new CriStatusError(grpc.status.NOT_FOUND, `an error occurred when try to find container ${String(req.container_id)}: not found`);
      },
      PodSandboxStatus: (req) => {
        const s = sandboxes.get(req.pod_sandbox_id as string);
        if (!s) throw new CriStatusError(grpc.status.NOT_FOUND, `an error occurred when try to find sandbox ${String(req.pod_sandbox_id)}: not found`);
        return { status: s, info: { extra: 'skipped' } };
      },
    });
  });

  after(async () => {
    await crio?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const resolver = (socket: string, deadlineMs = 2_000, globs: string[] = []): CriResolver =>
    new CriResolver(new CriClient(socket, { deadlineMs }), { keepAnnotation: annotationFilter(globs) });

  test('CRI-O: a container is resolved whole from ListContainers + PodSandboxStatus; kubelet keys are not labels', async () => {
    const r = resolver(crio.socket, 2_000, ['kubernetes.io/*']);
    const res = await r.resolve(APP);
    assert.ok(res.ok, JSON.stringify(res));
    const want: ContainerMeta = {
      id: APP, runtime: 'cri-o', name: 'web', image: 'quay.io/shop/web:1.2', hostname: null, isSandbox: false, sandboxId: SB,
      pod: {
        name: 'web-7d9f8b6c5d-x2k4q', namespace: 'shop', uid: 'uid-web-7d9f8b6c5d-x2k4q', labels: { app: 'web-7d9f8b6c5d-x2k4q', 'pod-template-hash': '7d9f8b6c5d' },
        annotations: { 'kubernetes.io/config.source': 'api' }, hostNetwork: false, ips: ['10.88.0.7', 'fd00::7'], workload: { kind: 'Deployment', name: 'web' },
      },
      networkMode: null, utsMode: null, created: '2023-11-14T22:13:20.123456789Z', origin: 'cri', bounded: null,
    };
    assert.deepEqual(res.meta, want);
    assert.equal(res.source, `cri:${crio.socket}`);
    assert.equal(res.warning, undefined);
    r.client.close();
  });

  test('a sandbox ID resolves as the pod\'s POD container; a NODE network namespace is hostNetwork', async () => {
    const r = resolver(crio.socket);
    const sb = await r.resolve(HN_SB);
    assert.ok(sb.ok);
    assert.equal(sb.meta.isSandbox, true);
    assert.equal(sb.meta.name, 'POD');
    assert.equal(sb.meta.pod?.hostNetwork, true);
    const app = await r.resolve(HN_APP);
    assert.ok(app.ok);
    assert.deepEqual([app.meta.pod?.hostNetwork, app.meta.networkMode, app.meta.utsMode], [true, 'host', 'host']);
    r.client.close();
  });

  test('the sandbox is asked once for all its containers (cached per sandbox); forget() asks again', async () => {
    const r = resolver(crio.socket);
    const count = (): number => crio.calls.filter((c) => c.method === 'PodSandboxStatus' && c.req.pod_sandbox_id === SB).length;
    const before = count();
    await Promise.all([r.resolve(APP), r.resolve(APP), r.resolve(SB)]);
    assert.equal(count() - before, 1);
    r.forget(SB);
    await r.resolve(APP);
    assert.equal(count() - before, 2);
    r.client.close();
  });

  test('hostile sandbox: 10,000 labels and 1 MiB values are bounded, the reason says so, the pod is still named', async () => {
    const r = resolver(crio.socket);
    const res = await r.resolve(BIG_APP);
    assert.ok(res.ok, JSON.stringify(res).slice(0, 500));
    assert.equal(res.meta.pod?.name, 'hostile-1');
    assert.equal(Object.keys(res.meta.pod!.labels).length, POD_FACT_LIMITS.labels.maxEntries);
    assert.ok(!('big0' in res.meta.pod!.labels));
    assert.equal(res.meta.bounded, 'pod labels bounded: kept 256 of 10004 (3 over 317-byte keys or 1024-byte values; 9745 past 256 entries or 65536 bytes)');
    // Annotations are not asked for (no --pod-annotations): none kept, nothing to bound.
    assert.deepEqual(res.meta.pod?.annotations, {});
    r.client.close();
  });

  test('an answer over 4 MiB is refused (TOO_LARGE) and nothing else is lost: the next lookup on the same socket works', async () => {
    const r = resolver(crio.socket);
    const res = await r.resolve(HUGE_APP);
    assert.ok(res.ok, 'the container itself is still known');
    assert.equal(res.meta.pod, null);
    assert.match(res.warning ?? '', /pod sandbox unreadable: CRI PodSandboxStatus on .*: answer too large/);
    const sb = await r.resolve(HUGE_SB);
    assert.equal(sb.ok, false);
    assert.equal(!sb.ok && sb.code, 'TOO_LARGE');
    const ok = await r.resolve(APP);
    assert.ok(ok.ok && ok.meta.pod?.name === 'web-7d9f8b6c5d-x2k4q');
    r.client.close();
  });

  test('an unknown enum value (network mode 7) is not hostNetwork, and the warning says so', async () => {
    const r = resolver(crio.socket);
    const res = await r.resolve(ENUM_APP);
    assert.ok(res.ok);
    assert.equal(res.meta.pod?.hostNetwork, false);
    assert.match(res.warning ?? '', /network mode 7 unknown; hostNetwork taken as false/);
    r.client.close();
  });

  test('NotFound: a container whose sandbox is already gone keeps its own facts; an unknown ID is NOT_FOUND', async () => {
    const r = resolver(crio.socket);
    const res = await r.resolve(GONE_APP);
    assert.ok(res.ok);
    assert.equal(res.meta.name, 'orphan');
    assert.equal(res.meta.pod, null);
    assert.match(res.warning ?? '', /pod sandbox unreadable: CRI PodSandboxStatus .*not found/);
    const none = await r.resolve(hex('7'));
    assert.deepEqual(none.ok ? null : none.code, 'NOT_FOUND');
    const bad = await r.resolve('../../etc/passwd');
    assert.deepEqual(bad.ok ? null : bad.code, 'BAD_ID');
    r.client.close();
  });

  test('a container that just exited: ContainerStatus answers NotFound, state enum unknown; pod and labels kept, the warning says what is missing', async () => {
    const r = resolver(crio.socket);
    const res = await r.resolve(EXITED_APP);
    assert.ok(res.ok, JSON.stringify(res));
    assert.equal(res.meta.name, 'oneshot');
    assert.equal(res.meta.origin, 'cri');
    assert.equal(res.meta.pod?.name, 'web-7d9f8b6c5d-x2k4q');
    assert.deepEqual(res.meta.pod?.labels, { app: 'web-7d9f8b6c5d-x2k4q', 'pod-template-hash': '7d9f8b6c5d' });
    assert.deepEqual(res.meta.pod?.workload, { kind: 'Deployment', name: 'web' });
    // The image ID stays where its name is unknown, and the warning says why.
    assert.equal(res.meta.image, `sha256:${hex('9')}`);
    assert.match(res.warning ?? '', /^image name unknown \(CRI ContainerStatus on .*crio\.sock: not found/);
    r.client.close();
  });

  test('no socket: an IO failure with the reason, within the deadline', async () => {
    const r = resolver(join(dir, 'absent.sock'), 1_000);
    const t0 = Date.now();
    const res = await r.resolve(APP);
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.code, 'IO');
    assert.match(!res.ok ? res.reason : '', /absent\.sock: (unavailable|no answer)/);
    assert.ok(Date.now() - t0 < 1_900, `took ${Date.now() - t0} ms`);
    r.client.close();
  });

  const broken: Array<[string, (s: import('node:net').Socket) => void, RegExp]> = [
    ['a socket that accepts and never answers', () => {}, /no answer within 300 ms/],
    ['a non-gRPC server (HTTP/1.1)', (s) => s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')), /unavailable \(No connection established\. Last error: Protocol error/],
    ['garbage frames', (s) => s.write(Buffer.from('00000a04ffffffff0102030405060708090a0b0c0d0e0f', 'hex')), /unavailable \(No connection established\. Last error: Protocol error/],
  ];
  for (const [what, behave, reason] of broken) {
    test(`${what}: IO with the reason after at most the deadline, and the process goes on`, async () => {
      const srv = await startRawServer(join(dir, 'raw.sock'), behave);
      try {
        const r = resolver(srv.socket, 300);
        const t0 = Date.now();
        const res = await r.resolve(APP);
        const took = Date.now() - t0;
        assert.equal(res.ok, false);
        assert.equal(!res.ok && res.code, 'IO');
        assert.match(!res.ok ? res.reason : '', reason);
        // Version and ListContainers: two deadlines at most.
        assert.ok(took < 1_000, `took ${took} ms`);
        assert.ok(srv.connections >= 1, 'the client did connect');
        r.client.close();
      } finally {
        await srv.stop();
      }
    });
  }

  test('a gRPC server whose answers are not protobuf (garbage inside valid gRPC frames): IO with the reason, nothing thrown', async () => {
    const server = new grpc.Server();
    const garbage = Buffer.from('ffffffffffffffffff0a05', 'hex');
    for (const m of ['Version', 'ListContainers']) {
      server.register(`/runtime.v1.RuntimeService/${m}`, (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, garbage), (b: Buffer) => b, (b: Buffer) => b, 'unary');
    }
    const socket = join(dir, 'garbage-grpc.sock');
    await new Promise<void>((res, rej) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
    try {
      const r = resolver(socket, 1_000);
      const res = await r.resolve(APP);
      assert.equal(res.ok, false);
      assert.equal(!res.ok && res.code, 'IO');
      assert.match(!res.ok ? res.reason : '', /^CRI Version on .*garbage-grpc\.sock: INTERNAL \(.*pars/i);
      r.client.close();
    } finally {
      server.forceShutdown();
    }
  });

  test('CRI failing falls back to the files, and the warning says why and that labels are unknown', async () => {
    const files: MetadataResolver = {
      resolve: async (id) => ({
        ok: true, source: '/run/containerd/io.containerd.runtime.v2.task/k8s.io/x/config.json',
        meta: { id, runtime: 'containerd', name: 'web', image: 'img', hostname: null, isSandbox: false, sandboxId: SB, pod: { name: 'p', namespace: 'n', uid: 'u', labels: {}, annotations: {}, hostNetwork: false }, networkMode: null, utsMode: null, note: CONTAINERD_LABELS_UNKNOWN },
      }),
    };
    const dead = resolver(join(dir, 'absent.sock'), 500);
    const both = new CriWithFiles([dead], files);
    const res = await both.resolve(APP);
    assert.ok(res.ok);
    assert.equal(res.meta.pod?.name, 'p');
    // Why CRI did not answer, then what the files (containerd's here) say they lack.
    assert.match(res.warning ?? '', /^CRI failed \(CRI Version on .*absent\.sock: .*\); from the runtime files; pod labels and workload unknown: containerd gives pod labels only through its CRI socket$/);
    // The same note travels with the version (meta.note, its own field: nothing was bounded)
    // and so reaches attribution.reason.
    assert.equal(res.meta.note, res.warning);
    assert.equal(res.meta.bounded ?? null, null);
    // A runtime that does not know the container is not a failure: the files answer without a warning.
    const live = new CriWithFiles([resolver(crio.socket)], files);
    const other = await live.resolve(hex('8'));
    assert.ok(other.ok);
    assert.equal(other.warning, undefined);
    dead.client.close();
    live.cri[0]!.client.close();
  });

  test('events: a runtime without GetContainerEvents ends the stream with UNIMPLEMENTED', async () => {
    const c = new CriClient(crio.socket);
    const err = await new Promise<import('../../src/common/errors.js').CriError>((resolve) => c.events(() => assert.fail('no events expected'), resolve));
    assert.equal(err.code, 'UNIMPLEMENTED');
    c.close();
  });
});
