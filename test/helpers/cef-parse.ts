// SPDX-License-Identifier: Apache-2.0
// An independent CEF reader for tests, written to the CEF rules (not to our writer).
import assert from 'node:assert/strict';

/** CEF:0|v|p|ver|sig|name|sev|ext -> header fields and extension map, undoing the escapes. */
export function parseCef(line: string): { header: string[]; ext: Record<string, string> } {
  assert.ok(line.startsWith('CEF:0|'), line);
  assert.ok(!/[\r\n]/.test(line), 'one line');
  const header: string[] = [];
  let cur = '';
  let i = 0;
  for (; i < line.length && header.length < 7; i++) {
    const c = line[i]!;
    if (c === '\\' && (line[i + 1] === '|' || line[i + 1] === '\\')) { cur += line[++i]; continue; }
    if (c === '|') { header.push(cur); cur = ''; continue; }
    cur += c;
  }
  const rest = line.slice(i);
  const ext: Record<string, string> = {};
  // A key starts after a space (or at the start) and ends at the first unescaped '='.
  const re = /(?:^| )([A-Za-z0-9_]+)=((?:\\.|[^\\=])*?)(?= [A-Za-z0-9_]+=|$)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(rest))) {
    ext[m[1]!] = m[2]!.replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch === 'r' ? '\r' : ch));
    consumed += m[0].length;
  }
  assert.equal(consumed, rest.length, `whole extension parsed: ${rest}`);
  return { header, ext };
}
