// SPDX-License-Identifier: Apache-2.0
// Run under strace by test/unit/fuzz-resolvers-strace.test.ts: resolves containers and reads
// paths in each of the given host roots, announcing each root by a failed open of a marker
// path, so the trace tells which root every open belongs to. Prints a summary as JSON.
import { openSync, readFileSync } from 'node:fs';
import { pino } from 'pino';
import { createResolver } from '../../src/runtime/index.js';
import { readFileInRoot } from '../../src/runtime/safe-fs.js';
import type { RuntimeHint } from '../../src/runtime/types.js';

interface Spec { marker: string; roots: string[]; ids: string[]; hints: (RuntimeHint | null)[]; paths: string[] }

function mark(what: string): void {
  try {
    openSync(`${spec.marker}/${what}`, 'r');
  } catch {
    // the failed openat is the marker
  }
}

async function inRoot(root: string, spec: Spec, tally: Record<string, number>): Promise<void> {
  const resolver = createResolver({ hostRoot: root, logger: pino({ level: 'silent' }) });
  for (const id of spec.ids) {
    for (const hint of spec.hints) {
      const r = await resolver.resolve(id, hint ?? undefined);
      const k = r.ok ? 'ok' : r.code;
      tally[k] = (tally[k] ?? 0) + 1;
    }
  }
  for (const p of spec.paths) {
    await readFileInRoot(root, p).then(() => { tally.read = (tally.read ?? 0) + 1; }, () => { tally.refused = (tally.refused ?? 0) + 1; });
  }
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec;
const tally: Record<string, number> = {};
// Warm up on the first root: modules load lazily, and their opens are not the resolvers'.
await inRoot(spec.roots[0]!, spec, {});
for (const [i, root] of spec.roots.entries()) {
  mark(`root-${i}`);
  await inRoot(root, spec, tally);
}
mark('end');
process.stdout.write(`${JSON.stringify(tally)}\n`);
