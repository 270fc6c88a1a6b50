// SPDX-License-Identifier: Apache-2.0
// TopicResolver's synchronous path: answers from the metadata table without waiting, one
// answer object per stored version (enrich reuses decisions by identity), and the fallback's
// cached answer for containers already known to be missing from the topic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MetaTable } from '../../src/enrich/meta-table.js';
import { TopicResolver } from '../../src/enrich/topic-resolver.js';
import type { MetadataResolver, ResolveResult } from '../../src/runtime/types.js';
import type { ContainerMeta as MetaRecord } from '../../src/schema/types.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function version(validFrom: bigint, podName: string): MetaRecord {
  return {
    containerId: A, node: 'n1', runtime: 'docker', time: validFrom, firstSeen: validFrom, validFrom, deletedTime: null,
    name: 'app', image: 'img', hostname: podName, isSandbox: false, sandboxId: null,
    pod: { name: podName, namespace: 'ns', uid: 'u', labels: { v: podName }, annotations: {}, hostNetwork: false },
    networkMode: null, utsMode: null, cgroupPaths: [],
  } as unknown as MetaRecord;
}

const v1 = version(100n, 'old');
const v2 = version(200n, 'new');
const table = {
  ready: true,
  caughtUp: Promise.resolve(),
  has: (id: string) => id === A,
  lookup: (id: string, at?: bigint) => (id !== A ? undefined : at !== undefined && at < 200n ? v1 : v2),
  waitFor: async () => false,
} as unknown as MetaTable;

const notFound: ResolveResult = { ok: false, code: 'NOT_FOUND', reason: 'no files' };
const fallback = (withPeek: boolean): MetadataResolver => ({
  resolve: async () => notFound,
  ...(withPeek ? { peek: () => notFound } : {}),
});

test('a container in the table: the same answer object per version, from peek and resolve alike', async () => {
  const r = new TopicResolver(table, { topic: 'meta', waitMs: 5, missTtlMs: 60_000 });
  const p1 = r.peek(A, 'docker', 150n);
  assert.ok(p1?.ok);
  assert.equal(p1.meta.pod?.name, 'old');
  assert.equal(r.peek(A, 'docker', 190n), p1);
  assert.equal(await r.resolve(A, 'docker', 199n), p1);
  const p2 = r.peek(A, 'docker', 250n);
  assert.ok(p2?.ok);
  assert.equal(p2.meta.pod?.name, 'new');
  assert.notEqual(p2, p1);
});

test('an unknown container: no answer until resolve() has waited once; then the fallback\'s cached answer', async () => {
  const r = new TopicResolver(table, { topic: 'meta', waitMs: 5, missTtlMs: 60_000, fallback: fallback(true) });
  assert.equal(r.peek(B), undefined, 'the first event must wait for the topic');
  const res = await r.resolve(B);
  assert.equal(res.ok, false);
  const p = r.peek(B);
  assert.deepEqual(p, res);
  assert.match(p && !p.ok ? p.reason : '', /no metadata for the container in meta within 5 ms; node files: no files/);

  const noPeek = new TopicResolver(table, { topic: 'meta', waitMs: 5, missTtlMs: 60_000, fallback: fallback(false) });
  await noPeek.resolve(B);
  assert.equal(noPeek.peek(B), undefined, 'a fallback without a cache answers asynchronously');

  const none = new TopicResolver(table, { topic: 'meta', waitMs: 5, missTtlMs: 60_000 });
  await none.resolve(B);
  assert.deepEqual(none.peek(B), { ok: false, code: 'NOT_FOUND', reason: 'no metadata for the container in meta within 5 ms' });
});
