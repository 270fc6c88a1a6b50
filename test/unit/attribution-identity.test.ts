// SPDX-License-Identifier: Apache-2.0
// The identity caches of enrich (IdentityMemo in transcode.ts, AttributionCache, TopicResolver's
// answers) reuse a decision while the resolver's answer is the same object. The invariant they
// rely on is written at ResolveResult (src/runtime/types.ts); these tests hold both sides to it:
// a changed answer is a new object and changes the next record on either path, an equal but
// distinct answer gives the same record, and an answer handed out again cannot change in place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Codec } from '../../src/schema/codec.js';
import { EnrichProcessor, type InMessage } from '../../src/enrich/processor.js';
import { AttributionCache } from '../../src/enrich/attribution-cache.js';
import { TopicResolver } from '../../src/enrich/topic-resolver.js';
import type { MetaTable } from '../../src/enrich/meta-table.js';
import { CachedResolver } from '../../src/runtime/cache.js';
import type { MetadataResolver, ResolveResult } from '../../src/runtime/types.js';
import type { ContainerMeta as MetaRecord } from '../../src/schema/types.js';
import { sampleRaw } from '../helpers/records.js';

const codec = new Codec();
const ID = 'b5fa49123b796b99fe605af0f8d019f3b3a8cb445b529b892e0d3788682469af';
const POD_UID = '35b82523-06c1-48e7-9e61-2521a89b703b';

const answer = (app: string): ResolveResult => ({
  ok: true, source: 'docker:config.v2.json',
  meta: {
    id: ID, runtime: 'docker', name: 'app', image: 'nginx:1.27', hostname: 'web-7d9f', isSandbox: false, sandboxId: 'f'.repeat(64),
    pod: { name: 'web-7d9f', namespace: 'shop', uid: POD_UID, labels: { app }, annotations: {}, hostNetwork: false },
    networkMode: 'container:' + 'f'.repeat(64), utsMode: null,
  },
});

/** Answers with whatever `current` is, synchronously (peek) and not. */
class SwitchingResolver implements MetadataResolver {
  constructor(public current: () => ResolveResult) {}
  async resolve(): Promise<ResolveResult> {
    return this.current();
  }
  peek(): ResolveResult {
    return this.current();
  }
}

const msg = (seq: bigint): InMessage => ({ key: Buffer.from('node-a/1'), value: codec.encode('RawConnectEvent', sampleRaw({ seq })), offset: String(seq) });
const paths = {
  'the fast path (IdentityMemo)': {},
  'the slow path (decode, AttributionCache, encode)': { encodeAudit: (rec: Parameters<Codec['encode']>[1]) => codec.encode('AuditRecord', rec as never) },
};

async function labelsOf(p: EnrichProcessor, seq: bigint): Promise<Record<string, string> | undefined> {
  const [out] = await p.processBatch(0, [msg(seq)]);
  assert.equal(out?.kind, 'audit');
  if (out?.kind !== 'audit') return undefined;
  const rec = codec.decodeAs('AuditRecord', out.value);
  assert.equal(rec.attribution.status, 'POD');
  return { ...rec.pod?.labels };
}

for (const [name, extra] of Object.entries(paths)) {
  test(`${name}: a changed answer (a new object) changes the next record of the same container`, async () => {
    let now = answer('v1');
    const r = new SwitchingResolver(() => now);
    const p = new EnrichProcessor(codec, r, { concurrency: 2, topic: 'raw', ...extra }, pino({ level: 'silent' }));
    assert.deepEqual(await labelsOf(p, 1n), { app: 'v1' });
    assert.deepEqual(await labelsOf(p, 2n), { app: 'v1' });
    now = answer('v2');
    assert.deepEqual(await labelsOf(p, 3n), { app: 'v2' }, 'the memo of the container\'s identity must not keep the old decision');
    now = answer('v1');
    assert.deepEqual(await labelsOf(p, 4n), { app: 'v1' });
  });

  test(`${name}: an equal but distinct answer for every event gives the same records as one stable answer`, async () => {
    const stable = answer('web');
    const once = new EnrichProcessor(codec, new SwitchingResolver(() => stable), { concurrency: 2, topic: 'raw', ...extra }, pino({ level: 'silent' }));
    const fresh = new EnrichProcessor(codec, new SwitchingResolver(() => answer('web')), { concurrency: 2, topic: 'raw', ...extra }, pino({ level: 'silent' }));
    const batch = [msg(10n), msg(11n), msg(12n)];
    const a = await once.processBatch(0, batch);
    const b = await fresh.processBatch(0, batch);
    assert.equal(a.length, 3);
    assert.deepEqual(b.map((o) => o.value), a.map((o) => o.value));
  });
}

test('AttributionCache: the same answer object reuses the decision; a new object, equal or not, decides again', () => {
  const c = new AttributionCache();
  const e = { cgroupPath: `/kubepods/burstable/pod${POD_UID}/${ID}`, utsName: 'web-7d9f', netns: 4026532000n, node: 'node-a' };
  const plan = c.plan(e.cgroupPath);
  const r1 = answer('v1');
  const a1 = c.attribute(e, plan, r1);
  assert.equal(c.attribute(e, plan, r1), a1, 'same answer object: same decision object');
  const equal = c.attribute(e, plan, answer('v1'));
  assert.notEqual(equal, a1, 'an equal but distinct answer is decided again');
  assert.deepEqual(equal, a1, 'and the decision is the same');
  const changed = c.attribute(e, plan, answer('v2'));
  assert.deepEqual(changed.pod?.labels, { app: 'v2' });
  assert.ok(Object.isFrozen(a1) && Object.isFrozen(a1.pod) && Object.isFrozen(a1.pod?.labels), 'a shared decision is frozen');
  assert.throws(() => { (a1 as { reason: string | null }).reason = 'x'; }, TypeError);
});

test('CachedResolver: the answer it hands out again is the same object, and frozen to the leaves', async () => {
  const inner: MetadataResolver = { resolve: async () => answer('v1') };
  let t = 0;
  const c = new CachedResolver(inner, { ttlMs: 1000, negativeTtlMs: 10, size: 10, clock: () => t });
  const r1 = await c.resolve(ID);
  assert.equal(await c.resolve(ID), r1);
  assert.equal(c.peek(ID), r1);
  assert.ok(r1.ok);
  assert.throws(() => { (r1.meta.pod!.labels as Record<string, string>).app = 'changed'; }, TypeError);
  assert.throws(() => { (r1.meta as { name: string }).name = 'changed'; }, TypeError);
  assert.deepEqual(r1.meta.pod?.labels, { app: 'v1' });
  t = 2000; // expired: a new lookup, a new object
  const r2 = await c.resolve(ID);
  assert.notEqual(r2, r1);
  assert.deepEqual(r2, r1);
});

test('TopicResolver: one frozen answer per stored version, a new one for a new version', () => {
  const version = (validFrom: bigint, app: string) => ({
    containerId: ID, node: 'n1', runtime: 'docker', time: validFrom, firstSeen: validFrom, validFrom, deletedTime: null,
    name: 'app', image: 'img', hostname: 'web', isSandbox: false, sandboxId: null,
    pod: { name: 'web', namespace: 'shop', uid: POD_UID, labels: { app }, annotations: {}, hostNetwork: false },
    networkMode: null, utsMode: null, cgroupPaths: [],
  }) as unknown as MetaRecord;
  const v1 = version(100n, 'v1');
  const v2 = version(200n, 'v2');
  const table = { ready: true, caughtUp: Promise.resolve(), has: () => true, waitFor: async () => true,
    lookup: (_id: string, at?: bigint) => (at !== undefined && at < 200n ? v1 : v2) } as unknown as MetaTable;
  const r = new TopicResolver(table, { topic: 'meta', waitMs: 5, missTtlMs: 1000 });
  const a = r.peek(ID, 'docker', 150n);
  assert.equal(r.peek(ID, 'docker', 160n), a);
  assert.ok(a?.ok);
  assert.throws(() => { (a.meta.pod!.labels as Record<string, string>).app = 'changed'; }, TypeError);
  const b = r.peek(ID, 'docker', 250n);
  assert.ok(b?.ok);
  assert.notEqual(b, a);
  assert.deepEqual(b.meta.pod?.labels, { app: 'v2' });
  assert.deepEqual({ ...v1.pod?.labels }, { app: 'v1' }, 'the stored record is left as it was');
});
