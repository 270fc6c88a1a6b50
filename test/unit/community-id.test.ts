// SPDX-License-Identifier: Apache-2.0
// Community ID v1 against the spec's published vectors (test/fixtures/community-id).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { communityId, unmapV4 } from '../../src/formats/community-id.js';
import { parseAddr } from '../../src/schema/addr.js';
import { REPO_ROOT } from '../helpers/cli.js';

const dir = path.join(REPO_ROOT, 'test/fixtures/community-id');
interface Vector { proto: number; saddr: string; daddr: string; sport: number | null; dport: number | null; communityid: string }
const load = (f: string) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Vector[];
const flowOf = (v: { proto: number; saddr: string; daddr: string; sport: number | null; dport: number | null }) => ({
  proto: v.proto, saddr: parseAddr(v.saddr), daddr: parseAddr(v.daddr),
  ...(v.sport !== null ? { sport: v.sport } : {}), ...(v.dport !== null ? { dport: v.dport } : {}),
});

for (const [file, opts] of [['baseline_deflt.json', {}], ['baseline_seed1.json', { seed: 1 }], ['baseline_nob64.json', { base64: false }]] as const) {
  test(`the spec's baseline vectors: ${file}`, () => {
    const vectors = load(file);
    assert.equal(vectors.length, 23);
    const protos = new Set(vectors.map((v) => v.proto));
    for (const p of [1, 6, 17, 46, 58, 132]) assert.ok(protos.has(p), `vectors cover protocol ${p}`);
    for (const v of vectors) assert.equal(communityId(flowOf(v), opts), v.communityid, JSON.stringify(v));
  });
}

test("the spec README's tables (48 rows, three configurations)", () => {
  const rows = readFileSync(path.join(dir, 'readme-tables.tsv'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  const [header, ...data] = rows;
  assert.match(header!, /^config\tproto_name/);
  assert.equal(data.length, 48);
  for (const line of data) {
    const [config, , proto, saddr, daddr, sport, dport, want] = line.split('\t') as string[];
    const opts = ({ 'seed=0,base64': {}, 'seed=1,base64': { seed: 1 }, 'seed=0,hex': { base64: false } } as Record<string, object>)[config!];
    assert.ok(opts, `unknown config ${config}`);
    const port = (p: string) => (p === '-' ? null : Number(p));
    assert.equal(communityId(flowOf({ proto: Number(proto), saddr: saddr!, daddr: daddr!, sport: port(sport!), dport: port(dport!) }), opts), want, line);
  }
});

test('both directions of a TCP or UDP flow share one ID (property)', () => {
  fc.assert(fc.property(
    fc.constantFrom(6, 17, 132), fc.boolean(), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }),
    fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }),
    (proto, v6, a, b, sp, dp) => {
      const sa = v6 ? a : a.subarray(0, 4);
      const da = v6 ? b : b.subarray(0, 4);
      assert.equal(communityId({ proto, saddr: sa, daddr: da, sport: sp, dport: dp }), communityId({ proto, saddr: da, daddr: sa, sport: dp, dport: sp }));
    },
  ));
});

test('malformed flows are RangeErrors, not wrong IDs', () => {
  const a4 = parseAddr('1.2.3.4');
  const a6 = parseAddr('::1');
  assert.throws(() => communityId({ proto: 6, saddr: a4, daddr: a6, sport: 1, dport: 2 }), /both be 4 or 16 bytes/);
  assert.throws(() => communityId({ proto: 6, saddr: Buffer.alloc(5), daddr: Buffer.alloc(5), sport: 1, dport: 2 }), RangeError);
  assert.throws(() => communityId({ proto: 6, saddr: a4, daddr: a4, sport: 70000, dport: 2 }), /source port/);
  assert.throws(() => communityId({ proto: 6, saddr: a4, daddr: a4, dport: 2 }), /source port/);
  assert.throws(() => communityId({ proto: 256, saddr: a4, daddr: a4 }), /protocol/);
  assert.throws(() => communityId({ proto: 6, saddr: a4, daddr: a4, sport: 1, dport: 2 }, { seed: -1 }), /seed/);
});

test('v4-mapped addresses unmap to their IPv4 bytes; others stay', () => {
  assert.deepEqual([...unmapV4(parseAddr('::ffff:10.1.2.3'))], [10, 1, 2, 3]);
  assert.equal(unmapV4(parseAddr('::1')).length, 16);
  assert.equal(unmapV4(parseAddr('10.1.2.3')).length, 4);
});
