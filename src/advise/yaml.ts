// SPDX-License-Identifier: Apache-2.0
// A small YAML writer for the policies: block style, every string double-quoted with JSON's
// escapes (a valid YAML double-quoted scalar, so no name can turn into YAML syntax), and
// comments attached to mappings under the COMMENT symbol, which JSON and validators never see.
import { visible } from '../inventory/text.js';

export const COMMENT = Symbol('yaml comment');
export type Commented = { [COMMENT]?: string[] };

const scalar = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  throw new Error(`yaml: cannot write ${typeof v}`);
};

/** Keys are ours (field names, label keys we checked); quoted anyway when not plainly safe. */
const key = (k: string): string => (/^[A-Za-z][A-Za-z0-9_./-]*$/.test(k) ? k : JSON.stringify(k));

const isBlock = (v: unknown) => typeof v === 'object' && v !== null && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0);

/** One line per comment line, each made visible: a name cannot end the comment early. */
export function commentLines(lines: readonly string[] | undefined, pad: string): string[] {
  return (lines ?? []).flatMap((l) => visible(l).split('\n')).map((l) => `${pad}# ${l}`.trimEnd());
}

function write(v: unknown, indent: number, out: string[]): void {
  const pad = ' '.repeat(indent);
  if (Array.isArray(v)) {
    for (const item of v) {
      out.push(...commentLines((item as Commented)?.[COMMENT], pad));
      if (!isBlock(item)) { out.push(`${pad}- ${inline(item)}`); continue; }
      const sub: string[] = [];
      write(item, indent + 2, sub);
      // The first line of the item goes on the dash's line.
      out.push(`${pad}- ${(sub[0] as string).slice(indent + 2)}`, ...sub.slice(1));
    }
    return;
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    out.push(...commentLines((x as Commented)?.[COMMENT], pad));
    if (isBlock(x)) {
      out.push(`${pad}${key(k)}:`);
      write(x, Array.isArray(x) ? indent : indent + 2, out);
    } else {
      out.push(`${pad}${key(k)}: ${inline(x)}`);
    }
  }
}

function inline(v: unknown): string {
  if (Array.isArray(v)) return '[]';
  if (typeof v === 'object' && v !== null) return '{}';
  return scalar(v);
}

/** A YAML document: its header comment lines, then the value. */
export function yamlDocument(header: readonly string[], value: object): string {
  const out = ['---', ...commentLines(header, '')];
  write(value, 0, out);
  return `${out.join('\n')}\n`;
}
