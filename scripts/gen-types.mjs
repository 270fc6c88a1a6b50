// SPDX-License-Identifier: Apache-2.0
// Regenerates src/schema/types.generated.ts from the .avsc files (run after build:ts).
import { writeFileSync } from 'node:fs';
import { generateTypes } from '../dist/src/schema/gen-types.js';
import { SchemaSet } from '../dist/src/schema/registry.js';

const out = new URL('../src/schema/types.generated.ts', import.meta.url);
writeFileSync(out, generateTypes(new SchemaSet()));
console.error(`wrote ${out.pathname}`);
