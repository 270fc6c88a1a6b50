// SPDX-License-Identifier: Apache-2.0
// The CRI watcher against an in-process runtime that streams GetContainerEvents (as containerd
// 1.7 and CRI-O do; the real containerd 1.6 here has none, see cri-containerd.test.ts), what
// it does when the relist fails (nothing known is taken for deleted) or answers from before an
// event, and capture's metadata publisher following it: a version per container created, a
// deletion version per container gone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CriClient } from '../../src/runtime/cri/client.js';
import { CriWatcher } from '../../src/runtime/cri/watch.js';
import { CriResolver } from '../../src/runtime/cri/resolver.js';
import { CriWithFiles } from '../../src/runtime/cri/with-files.js';
import { MetadataPublisher } from '../../src/capture/metadata-publisher.js';
import type { MetadataResolver } from '../../src/runtime/types.js';
import type { ContainerMeta as MetaRecord } from '../../src/schema/types.js';
import { createRootLogger } from '../../src/common/log.js';
import { CriStatusError, startFakeCri, type FakeCri } from '../helpers/cri-server.js';

const log = createRootLogger('silent', false);
const hex = (c: string): string => c.repeat(64);
let dir: string;
let srv: FakeCri;
let failLists = false;
/** while set, ListContainers answers only when it is resolved (a relist in flight) */
let holdLists: Promise<void> | undefined;
const containers = new Map<string, Record<string, unknown>>();

async function until(what: string, f: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ptcw-'));
  containers.set(hex('a'), { id: hex('a'), pod_sandbox_id: hex('b'), metadata: { name: 'app' }, state: 'CONTAINER_RUNNING' });
  srv = await startFakeCri(join(dir, 'cri.sock'), {
    events: true,
    ListContainers: async () => {
      if (failLists) throw new CriStatusError(grpc.status.INTERNAL, 'boltdb: database not open');
      // The answer is the state when asked, sent when the hold ends.
      const answer = { containers: [...containers.values()] };
      await holdLists;
      return answer;
    },
    ListPodSandbox: () => {
      if (failLists) throw new CriStatusError(grpc.status.INTERNAL, 'boltdb: database not open');
      return { items: [{ id: hex('b'), metadata: { name: 'p', uid: 'u', namespace: 'n' }, state: 'SANDBOX_READY' }] };
    },
    // For the publisher's lookups (CriResolver): the runtime and the one pod.
    Version: () => ({ version: '0.1.0', runtime_name: 'cri-o', runtime_version: '1.28.1', runtime_api_version: 'v1' }),
    PodSandboxStatus: (req) => {
      if (req.pod_sandbox_id !== hex('b')) throw new CriStatusError(grpc.status.NOT_FOUND, 'sandbox not found');
      return { status: { id: hex('b'), metadata: { name: 'web-7d9f8b6c5d-x2k4q', uid: 'uid-web', namespace: 'shop' }, state: 'SANDBOX_READY', labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' }, linux: { namespaces: { options: { network: 'POD' } } } } };
    },
  });
});

after(async () => {
  await srv?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('with an event stream: created/started are changes, deleted is gone, an unknown type is a change; the relist slows down', async () => {
  const client = new CriClient(srv.socket);
  const w = new CriWatcher(client, log, { pollMs: 50, slowPollMs: 60_000 });
  const changed: string[] = [];
  const gone: string[] = [];
  await w.start({ changed: (id) => changed.push(id), gone: (id) => gone.push(id) });
  assert.deepEqual(changed.sort(), [hex('a'), hex('b')], 'the first relist reports what exists');
  changed.length = 0;
  await until('stream open', () => srv.calls.some((c) => c.method === 'GetContainerEvents'));
  srv.emit({ container_id: hex('c'), container_event_type: 'CONTAINER_CREATED_EVENT', created_at: '1' });
  await until('event seen', () => w.mode === 'events' && changed.includes(hex('c')));
  srv.emit({ container_id: hex('c'), container_event_type: 9 });
  srv.emit({ container_id: 'not-an-id', container_event_type: 'CONTAINER_STARTED_EVENT' });
  srv.emit({ container_id: hex('c'), container_event_type: 'CONTAINER_DELETED_EVENT' });
  await until('deletion seen', () => gone.includes(hex('c')));
  assert.deepEqual(changed, [hex('c'), hex('c')]);
  assert.deepEqual(gone, [hex('c')]);
  // In events mode the 50 ms relist is replaced by the slow one.
  const polls = w.polls;
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(w.polls - polls <= 1, `relisted ${w.polls - polls} times in 300 ms`);
  await w.stop();
  client.close();
});

test('a relist asked before an event does not undo it: a just-created container is not gone, a deleted one does not come back', async () => {
  const client = new CriClient(srv.socket);
  // The stream stays open and the relist is every 20 ms until the first event.
  const w = new CriWatcher(client, log, { pollMs: 20, slowPollMs: 20 });
  const changed: string[] = [];
  const gone: string[] = [];
  await w.start({ changed: (id) => changed.push(id), gone: (id) => gone.push(id) });
  await until('stream open', () => srv.calls.filter((c) => c.method === 'GetContainerEvents').length >= 2);
  changed.length = 0;
  // A relist is asked, and its answer (without the new container) held back...
  let release!: () => void;
  holdLists = new Promise<void>((r) => (release = r));
  const asked = srv.calls.filter((c) => c.method === 'ListContainers').length;
  await until('relist in flight', () => srv.calls.filter((c) => c.method === 'ListContainers').length > asked);
  // ...while the runtime creates a container and says so, and deletes a known one and says so.
  containers.set(hex('e'), { id: hex('e'), pod_sandbox_id: hex('b'), metadata: { name: 'new' }, state: 'CONTAINER_CREATED' });
  srv.emit({ container_id: hex('e'), container_event_type: 'CONTAINER_CREATED_EVENT', created_at: '1' });
  const a = containers.get(hex('a'))!;
  containers.delete(hex('a'));
  srv.emit({ container_id: hex('a'), container_event_type: 'CONTAINER_DELETED_EVENT', created_at: '1' });
  await until('events seen', () => changed.includes(hex('e')) && gone.includes(hex('a')));
  const polls = w.polls;
  release();
  holdLists = undefined;
  await until('held relist answered', () => w.polls > polls);
  assert.ok(!gone.includes(hex('e')), `the stale answer called the new container gone: ${JSON.stringify(gone)}`);
  assert.deepEqual(gone, [hex('a')]);
  assert.ok(w.known().has(hex('e')));
  assert.ok(!w.known().has(hex('a')), 'the stale answer brought the deleted container back');
  await w.stop();
  client.close();
  containers.delete(hex('e'));
  containers.set(hex('a'), a);
});

test('with an event stream, capture\'s publisher puts a version on the containers topic when a container is created, and a deletion version when it goes', async () => {
  const client = new CriClient(srv.socket);
  const cri = new CriResolver(client);
  const files: MetadataResolver = { resolve: async () => ({ ok: false, code: 'NOT_FOUND', reason: 'no files here' }) };
  // The relist is slow (60 s): what happens here is the events' doing.
  const w = new CriWatcher(client, log, { pollMs: 60_000, slowPollMs: 60_000 });
  const sent: MetaRecord[] = [];
  const pub = new MetadataPublisher(new CriWithFiles([cri], files, log), { offerMeta: (r) => sent.push(r) },
    { node: 'n1', hostRoot: dir, scanIntervalMs: 60_000, criWatchers: [w], onSandboxGone: (id) => cri.forget(id) }, log);
  await pub.start();
  const of = (id: string) => sent.filter((r) => r.containerId === id);
  assert.equal(of(hex('a')).length, 1, 'what runs at start is published');
  await until('stream open', () => w.mode === 'events' || srv.calls.filter((c) => c.method === 'GetContainerEvents').length > 0);
  containers.set(hex('f'), { id: hex('f'), pod_sandbox_id: hex('b'), metadata: { name: 'sidecar' }, image: { image: 'quay.io/shop/side:1' }, state: 'CONTAINER_CREATED', created_at: '1700000000000000000' });
  srv.emit({ container_id: hex('f'), container_event_type: 'CONTAINER_CREATED_EVENT', created_at: '1700000000000000000' });
  await until('created version', () => of(hex('f')).length === 1);
  const v = of(hex('f'))[0]!;
  assert.deepEqual([v.origin, v.runtime, v.name, v.deletedTime, v.pod?.name], ['cri', 'cri-o', 'sidecar', null, 'web-7d9f8b6c5d-x2k4q']);
  assert.deepEqual(v.pod?.labels, { app: 'web', 'pod-template-hash': '7d9f8b6c5d' });
  assert.deepEqual(v.pod?.workload, { kind: 'Deployment', name: 'web' });
  // Started: the same facts, so no second version (as for Docker: a version is a change of facts).
  containers.set(hex('f'), { ...containers.get(hex('f'))!, state: 'CONTAINER_RUNNING' });
  srv.emit({ container_id: hex('f'), container_event_type: 'CONTAINER_STARTED_EVENT', created_at: '1700000000100000000' });
  containers.delete(hex('f'));
  srv.emit({ container_id: hex('f'), container_event_type: 'CONTAINER_DELETED_EVENT', created_at: '1700000000200000000' });
  await until('deletion version', () => of(hex('f')).some((r) => r.deletedTime !== null));
  const vs = of(hex('f'));
  assert.equal(vs.length, 2, JSON.stringify(vs, (_k, x) => (typeof x === 'bigint' ? String(x) : x)));
  assert.equal(vs[1]!.pod?.name, 'web-7d9f8b6c5d-x2k4q', 'the deletion version keeps the facts');
  await pub.stop();
  await w.stop();
  client.close();
});

test('a failing relist changes nothing: no container is taken for deleted', async () => {
  const client = new CriClient(srv.socket);
  const w = new CriWatcher(client, log, { pollMs: 30 });
  const gone: string[] = [];
  await w.start({ changed: () => {}, gone: (id) => gone.push(id) });
  assert.deepEqual([...w.known()].sort(), [hex('a'), hex('b')]);
  failLists = true;
  const failures = w.pollFailures;
  await until('relists failing', () => w.pollFailures >= failures + 3);
  assert.deepEqual(gone, []);
  assert.deepEqual([...w.known()].sort(), [hex('a'), hex('b')]);
  failLists = false;
  containers.delete(hex('a'));
  await until('deletion seen after recovery', () => (gone as string[]).includes(hex('a')));
  await w.stop();
  client.close();
});
