// SPDX-License-Identifier: Apache-2.0
// Generates TypeScript types from the .avsc files, so the types cannot drift from the
// schemas: test/unit/schema-types.test.ts regenerates and compares with the committed file.
// Regenerate with: npm run gen:types
import type avro from 'avsc';
import { SchemaSet } from './registry.js';

type Schema = any;

export function generateTypes(set: SchemaSet): string {
  const decls = new Map<string, string>();

  const ref = (s: Schema): string => {
    if (typeof s === 'string') {
      switch (s) {
        case 'null': return 'null';
        case 'boolean': return 'boolean';
        case 'int': case 'float': case 'double': return 'number';
        case 'long': return 'bigint';
        case 'bytes': return 'Buffer';
        case 'string': return 'string';
        default: return shortName(s);
      }
    }
    if (Array.isArray(s)) return s.map(ref).join(' | ');
    switch (s.type) {
      case 'record': return declare(s, recordDecl(s));
      case 'enum': return declare(s, `export type ${shortName(s.name)} = ${s.symbols.map((x: string) => `'${x}'`).join(' | ')};`);
      case 'fixed': return 'Buffer';
      case 'array': return `Array<${ref(s.items)}>`;
      case 'map': return `Record<string, ${ref(s.values)}>`;
      default: return ref(s.type);
    }
  };

  const declare = (s: Schema, text: string): string => {
    const name = shortName(s.name);
    const prev = decls.get(name);
    if (prev !== undefined && prev !== text) {
      throw new Error(`schema drift: ${name} is defined differently in two .avsc files`);
    }
    decls.set(name, text);
    return name;
  };

  const recordDecl = (s: Schema): string => {
    const lines = s.fields.map((f: Schema) => `  ${f.name}: ${ref(f.type)};`);
    return `export interface ${shortName(s.name)} {\n${lines.join('\n')}\n}`;
  };

  for (const ws of set.current.values()) ref((ws.type as avro.Type).schema());
  const body = [...decls.values()].join('\n\n');
  return `// SPDX-License-Identifier: Apache-2.0\n// GENERATED from src/schema/*.avsc by src/schema/gen-types.ts. Do not edit: npm run gen:types\n\n${body}\n`;
}

function shortName(full: string): string {
  const i = full.lastIndexOf('.');
  return i < 0 ? full : full.slice(i + 1);
}
