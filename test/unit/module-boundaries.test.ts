// SPDX-License-Identifier: Apache-2.0
// The node side (src/capture) and the consumer side (src/enrich) share runtime knowledge only
// through src/runtime: neither imports the other, and src/runtime imports neither. Scans the
// TypeScript sources (not dist/, where `import type` has vanished) for every static import,
// re-export and dynamic import().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

// `import x from '...'`, `import type {...} from '...'` (multi-line too), `export * from '...'`,
// side-effect `import '...'` and `import('...')`.
const SPECIFIER_RE = /(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])([^'"\n]+)\1/g;

function specifiers(source: string): string[] {
  return [...source.matchAll(SPECIFIER_RE)].map((m) => m[2]!);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The top-level folder under src/ that a relative specifier in `file` lands in, else undefined. */
function targetArea(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const rel = path.relative(SRC, path.resolve(path.dirname(file), spec));
  if (rel.startsWith('..')) return undefined;
  return rel.split(path.sep)[0];
}

/** Which folders each area must never import. */
const FORBIDDEN: Record<string, readonly string[]> = {
  capture: ['enrich'],
  enrich: ['capture'],
  runtime: ['capture', 'enrich', 'cli', 'export'],
};

function violations(files: readonly string[], read: (f: string) => string): string[] {
  const out: string[] = [];
  for (const f of files) {
    const area = path.relative(SRC, f).split(path.sep)[0]!;
    const banned = FORBIDDEN[area];
    if (!banned) continue;
    for (const spec of specifiers(read(f))) {
      const to = targetArea(f, spec);
      if (to !== undefined && banned.includes(to)) out.push(`src/${path.relative(SRC, f)} imports ${spec}`);
    }
  }
  return out;
}

test('the scanner sees every import form', () => {
  const src = [
    "import { a } from '../enrich/a.js';",
    "import type {\n  B,\n  C,\n} from \"../enrich/b.js\";",
    "export { d } from '../enrich/d.js';",
    "export * from '../enrich/e.js';",
    "import '../enrich/side.js';",
    "const m = await import('../enrich/lazy.js');",
  ].join('\n');
  const fake = path.join(SRC, 'capture', 'fake.ts');
  assert.deepEqual(violations([fake], () => src), [
    'src/capture/fake.ts imports ../enrich/a.js',
    'src/capture/fake.ts imports ../enrich/b.js',
    'src/capture/fake.ts imports ../enrich/d.js',
    'src/capture/fake.ts imports ../enrich/e.js',
    'src/capture/fake.ts imports ../enrich/side.js',
    'src/capture/fake.ts imports ../enrich/lazy.js',
  ]);
  // Within its own area, and to shared areas, imports are fine.
  assert.deepEqual(violations([fake], () => "import { x } from './x.js';\nimport { y } from '../runtime/y.js';"), []);
});

test('src/capture, src/enrich and src/runtime keep to their side', () => {
  const files = tsFiles(SRC);
  assert.ok(files.some((f) => f.includes(`${path.sep}runtime${path.sep}`)), 'src/runtime found');
  assert.ok(files.length > 50, `only ${files.length} source files found under ${SRC}`);
  assert.deepEqual(violations(files, (f) => readFileSync(f, 'utf8')), []);
});
