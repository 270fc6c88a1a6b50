// SPDX-License-Identifier: Apache-2.0
// Kubernetes label selectors as kubectl takes them (-l): `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
// `k notin (a,b)`, `k`, `!k`, joined by commas, all of which must hold.
import { ConfigError } from '../common/errors.js';

type Req =
  | { op: 'exists' | 'absent'; key: string }
  | { op: 'in' | 'notin'; key: string; values: Set<string> };

export type Selector = (labels: Record<string, string>) => boolean;

const KEY = '[A-Za-z0-9][-A-Za-z0-9_./]*';
const VALUE = '[-A-Za-z0-9_.]*';

export function parseSelector(text: string): Selector {
  const reqs: Req[] = [];
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { parts.push(cur); cur = ''; } else cur += ch;
  }
  parts.push(cur);
  const bad = (why: string): never => {
    throw new ConfigError(`label selector ${JSON.stringify(text)}: ${why}`);
  };
  if (depth !== 0) bad('unbalanced parentheses');
  for (const raw of parts) {
    const p = raw.trim();
    if (!p) bad('empty requirement');
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`).exec(p))) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      reqs.push({ op: op === '!=' ? 'notin' : 'in', key, values: new Set([value]) });
    } else if ((m = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^()]*)\\)$`).exec(p))) {
      const [, key, op, list] = m as unknown as [string, string, 'in' | 'notin', string];
      const values = list.split(',').map((v) => v.trim());
      if (values.some((v) => !new RegExp(`^${VALUE}$`).test(v))) bad(`bad value in ${JSON.stringify(p)}`);
      reqs.push({ op, key, values: new Set(values) });
    } else if ((m = new RegExp(`^!\\s*(${KEY})$`).exec(p))) {
      reqs.push({ op: 'absent', key: m[1] as string });
    } else if ((m = new RegExp(`^(${KEY})$`).exec(p))) {
      reqs.push({ op: 'exists', key: m[1] as string });
    } else {
      bad(`cannot read ${JSON.stringify(p)}`);
    }
  }
  return (labels) => reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'exists': return has;
      case 'absent': return !has;
      case 'in': return has && r.values.has(labels[r.key] as string);
      case 'notin': return !has || !r.values.has(labels[r.key] as string);
    }
  });
}
