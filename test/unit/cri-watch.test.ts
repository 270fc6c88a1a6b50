// SPDX-License-Identifier: Apache-2.0
// The CRI watcher against an in-process runtime that streams GetContainerEvents (as containerd
// 1.7 and CRI-O do; the real containerd 1.6 here has none, see cri-containerd.test.ts), and
// what it does when the relist fails: nothing known is taken for deleted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CriClient } from '../../src/runtime/cri/client.js';
import { CriWatcher } from '../../src/runtime/cri/watch.js';
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
