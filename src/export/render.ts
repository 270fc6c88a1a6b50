// SPDX-License-Identifier: Apache-2.0
// One decoded audit record -> what export sends: the text in the chosen format, the Kafka
// key (the eventId, stable through replays, so idempotent sinks can deduplicate), and the
// syslog header fields.
import { DecodeError } from '../common/errors.js';
import type { Decoded } from '../schema/codec.js';
import { toJsonForm } from '../schema/json-form.js';
import { decodedToCef } from '../formats/cef.js';
import { decodedToEcs } from '../formats/ecs.js';
import { decodedToOcsf } from '../formats/ocsf.js';
import { outcomeOf } from '../formats/record.js';
import type { Severity } from './syslog-message.js';

export const EXPORT_FORMATS = ['json', 'ocsf', 'ecs', 'cef'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface Rendered {
  key: string;
  text: string;
  timeNs: bigint;
  node: string;
  msgId: 'connect' | 'loss' | 'dns';
  severity: Severity;
}

/** Export takes connection records (audit, raw) and losses; ContainerMeta is refused. */
export function createRenderer(format: ExportFormat): (d: Decoded) => Rendered {
  const text: (d: Decoded) => string =
    format === 'json' ? (d) => JSON.stringify(toJsonForm(d))
      : format === 'ocsf' ? (d) => JSON.stringify(decodedToOcsf(d))
        : format === 'ecs' ? (d) => JSON.stringify(decodedToEcs(d))
          : decodedToCef;
  return (d) => {
    if (d.schema === 'ContainerMeta') throw new DecodeError('a ContainerMeta record does not belong on the audit topic', 'INVALID');
    const v = d.value;
    const loss = d.schema === 'CaptureLoss' || (d.schema === 'AuditRecord' && d.value.attribution.status === 'LOSS');
    const lookup = d.schema === 'DnsLookup' || d.schema === 'AuditDnsLookup';
    const status = d.schema === 'CaptureLoss' || lookup ? undefined : d.value.result?.status;
    return {
      key: v.eventId,
      text: text(d),
      timeNs: v.time,
      node: v.node,
      msgId: loss ? 'loss' : lookup ? 'dns' : 'connect',
      severity: loss ? 'warning' : outcomeOf(status) === 'failure' ? 'notice' : 'info',
    };
  };
}
