// SPDX-License-Identifier: Apache-2.0
// The docs a newcomer reads: the generated reference pages match the code (rerun
// `npm run docs` when this fails), every page under docs/ is linked from the README, and
// every relative link in the README and docs/ names a file that exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { loadCommands } from '../../src/cli/commands.js';
import { renderCliReference, renderMetricsReference } from '../../src/docs/reference.js';
import { repoRoot } from '../helpers/ns.js';

const read = (p: string) => readFileSync(join(repoRoot, p), 'utf8');

function markdownUnder(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? markdownUnder(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : []);
}

/** Relative link targets in a markdown file, without their #anchor. */
function links(md: string): string[] {
  const out: string[] = [];
  for (const m of md.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!;
    if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
    out.push(target.replace(/#.*$/, ''));
  }
  return out;
}

test('docs/reference/cli.md is what the option tables render', async () => {
  assert.equal(read('docs/reference/cli.md'), renderCliReference(await loadCommands()), 'stale: run npm run docs');
});

test('docs/reference/metrics.md is what the stages register', () => {
  assert.equal(read('docs/reference/metrics.md'), renderMetricsReference(), 'stale: run npm run docs');
});

test('the reference lists every command and option, and each metric once per stage', async () => {
  const cli = renderCliReference(await loadCommands());
  for (const c of await loadCommands()) {
    assert.match(cli, new RegExp(`^## podtrail ${c.name}$`, 'm'));
    for (const [name, s] of Object.entries(c.options)) if (!s.hidden) assert.ok(cli.includes(`\`--${name}`), `--${name} of ${c.name}`);
  }
  const metrics = renderMetricsReference();
  for (const name of ['podtrail_capture_events_total', 'podtrail_enrich_attribution_total', 'podtrail_export_records_in_total', 'podtrail_kafka_retries_total']) {
    assert.ok(metrics.includes(`\`${name}\``), name);
  }
});

test('every page under docs/ is linked from the README', () => {
  const readme = links(read('README.md'));
  const missing = markdownUnder('docs').filter((p) => !readme.includes(p));
  assert.deepEqual(missing, []);
});

test('every relative link in the README and docs/ names a file that exists', () => {
  const broken: string[] = [];
  for (const file of ['README.md', ...markdownUnder('docs')]) {
    for (const target of links(read(file))) {
      const p = join(dirname(join(repoRoot, file)), target);
      if (!existsSync(p)) broken.push(`${file} -> ${target} (${relative(repoRoot, p)})`);
    }
  }
  assert.deepEqual(broken, []);
});
