// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generateTypes } from '../../src/schema/gen-types.js';
import { schemaDir, SchemaSet } from '../../src/schema/registry.js';

test('src/schema/types.generated.ts matches the .avsc files (run npm run gen:types)', () => {
  const committed = readFileSync(path.join(schemaDir(), 'types.generated.ts'), 'utf8');
  assert.equal(generateTypes(new SchemaSet()), committed);
});

test('AuditRecord carries every RawConnectEvent field', () => {
  const set = new SchemaSet();
  const rawFields = (set.get('RawConnectEvent').type.schema() as { fields: { name: string }[] }).fields.map((f) => f.name);
  const auditFields = (set.get('AuditRecord').type.schema() as { fields: { name: string }[] }).fields.map((f) => f.name);
  for (const f of rawFields) assert.ok(auditFields.includes(f), `AuditRecord lacks ${f}`);
  for (const f of ['container', 'pod', 'attribution']) assert.ok(auditFields.includes(f));
});
