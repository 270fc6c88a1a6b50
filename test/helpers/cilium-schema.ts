// SPDX-License-Identifier: Apache-2.0
// Cilium's CiliumNetworkPolicy schema (test/fixtures/cilium/, see its README for the source) as
// an ajv validator. The CRD's x-kubernetes-* keywords are annotations for the API server
// (int-or-string is also spelt out as anyOf in the schema), so they are declared, not enforced;
// its formats are checked as the API server would: cidr, int32/int64, date-time, idn-hostname.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseCidr } from '../../src/inventory/ip.js';
import { REPO_ROOT } from './cli.js';

export const CILIUM_SCHEMA = path.join(REPO_ROOT, 'test', 'fixtures', 'cilium', 'ciliumnetworkpolicy_v2.json');

/** The CRD's patterns are Go (RE2) regexps: `\\PC` there is `\\P{C}` in JavaScript. */
function re2(pattern: string, flags: string): RegExp {
  return new RegExp(pattern.replace(/\\([pP])([A-Z][a-z]?)/g, '\\$1{$2}'), flags);
}
re2.code = 're2';

export function ciliumValidator(): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, code: { regExp: re2 } });
  for (const k of ['x-kubernetes-int-or-string', 'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type']) ajv.addKeyword(k);
  ajv.addFormat('cidr', (s: string) => parseCidr(s) !== undefined);
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
  ajv.addFormat('idn-hostname', (s: string) => /^[^\s.]([^\s]{0,252})$/.test(s));
  return ajv.compile(JSON.parse(readFileSync(CILIUM_SCHEMA, 'utf8')) as object);
}
