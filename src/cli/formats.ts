// SPDX-License-Identifier: Apache-2.0
// Output formats shared by tail, replay and export. SIEM formats join this table.
import type { Decoded } from '../schema/codec.js';
import { toJsonForm } from '../schema/json-form.js';
import { toPretty } from '../schema/pretty.js';
import { decodedToOcsf } from '../formats/ocsf.js';
import { decodedToEcs } from '../formats/ecs.js';

export const FORMATS = ['json', 'pretty', 'ocsf', 'ecs'] as const;
export type Format = (typeof FORMATS)[number];

/**
 * One line per record. The SIEM formats throw DecodeError for a record they have no form
 * for (ContainerMeta), which tail and export report and skip like undecodable bytes.
 */
export function createFormatter(format: string): (d: Decoded) => string {
  switch (format) {
    case 'json': return (d) => JSON.stringify(toJsonForm(d));
    case 'pretty': return toPretty;
    case 'ocsf': return (d) => JSON.stringify(decodedToOcsf(d));
    case 'ecs': return (d) => JSON.stringify(decodedToEcs(d));
    default: throw new Error(`unknown format ${format}`);
  }
}
