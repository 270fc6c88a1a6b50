// SPDX-License-Identifier: Apache-2.0
// Output formats shared by tail, replay and export. SIEM formats join this table.
import type { Decoded } from '../schema/codec.js';
import { toJsonForm } from '../schema/json-form.js';
import { toPretty } from '../schema/pretty.js';

export const FORMATS = ['json', 'pretty'] as const;
export type Format = (typeof FORMATS)[number];

export function createFormatter(format: string): (d: Decoded) => string {
  switch (format) {
    case 'json': return (d) => JSON.stringify(toJsonForm(d));
    case 'pretty': return toPretty;
    default: throw new Error(`unknown format ${format}`);
  }
}
