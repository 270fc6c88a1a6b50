// SPDX-License-Identifier: Apache-2.0
// A fast-check arbitrary for any value of an avsc Type, read off the type itself, so the
// fuzz tests follow the schemas as they grow (and shrink reproducibly, unlike Type#random).
import fc from 'fast-check';
import type avro from 'avsc';

type T = avro.Type & {
  typeName: string;
  fields?: { name: string; type: T }[];
  symbols?: string[];
  size?: number;
  types?: T[];
  itemsType?: T;
  valuesType?: T;
  underlyingType?: T;
};

const INT32 = { min: -0x80000000, max: 0x7fffffff };
const text = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.constantFrom('', '/', '/kubepods/burstable/pod35b82523-06c1-48e7-9e61-2521a89b703b/' + 'b5'.repeat(32)),
);
const bytes = fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u));

export function avroArb(type: avro.Type, depth = 0): fc.Arbitrary<unknown> {
  const t = type as T;
  switch (t.typeName) {
    case 'null': return fc.constant(null);
    case 'boolean': return fc.boolean();
    case 'int': return fc.integer(INT32);
    case 'long':
    case 'abstract:long': return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case 'float': return fc.float({ noNaN: true }).map((x) => Math.fround(x));
    case 'double': return fc.double({ noNaN: true });
    case 'string': return text;
    case 'bytes': return bytes;
    case 'fixed': return fc.uint8Array({ minLength: t.size!, maxLength: t.size! }).map((u) => Buffer.from(u));
    case 'enum': return fc.constantFrom(...t.symbols!);
    case 'array': return fc.array(avroArb(t.itemsType!, depth + 1), { maxLength: depth > 2 ? 0 : 4 });
    case 'map': return fc.dictionary(fc.string({ maxLength: 12 }), avroArb(t.valuesType!, depth + 1), { maxKeys: depth > 2 ? 0 : 4 })
      .map((d) => Object.fromEntries(Object.entries(d)));
    case 'record':
    case 'error': {
      const shape: Record<string, fc.Arbitrary<unknown>> = {};
      for (const f of t.fields!) shape[f.name] = avroArb(f.type, depth + 1);
      return fc.record(shape);
    }
    default:
      if (t.typeName.startsWith('union')) return fc.oneof(...t.types!.map((b) => avroArb(b, depth + 1)));
      if (t.typeName.startsWith('logical:')) return avroArb(t.underlyingType!, depth);
      throw new Error(`avroArb: no arbitrary for ${t.typeName}`);
  }
}
