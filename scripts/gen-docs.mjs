#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Writes the generated reference pages (src/docs/reference.ts) after `npm run build:ts`:
//   npm run docs
// test/unit/reference-docs.test.ts fails when a committed page differs from what this writes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCommands } from '../dist/src/cli/commands.js';
import { renderCliReference, renderMetricsReference } from '../dist/src/docs/reference.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'docs', 'reference');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'cli.md'), renderCliReference(await loadCommands()));
writeFileSync(join(dir, 'metrics.md'), renderMetricsReference());
console.log('gen-docs: wrote docs/reference/cli.md and docs/reference/metrics.md');
