// SPDX-License-Identifier: Apache-2.0
// The destination join at enrich: dst.pod, dst.service and dst.scope of a connect (or of a DNS
// lookup's server) from the DestinationIndex, which the metadata table feeds with every
// ContainerMeta version it reads from the containers topic. Point in time: the pod that held
// the address at the event's time, also in a replay after that pod is gone.
//
// Two forms of the same answer: an Endpoint for the general path, and the Avro bytes of the
// Endpoint's last three fields for the transcoding fast path (transcode.ts), which copies the
// raw dst and puts these bytes where capture wrote three nulls. The bytes are cached by the
// index's shared pod facts, so a connect to a known pod costs a map lookup, not an encode.
import type avro from 'avsc';
import type { Codec } from '../schema/codec.js';
import { parseSchema } from '../schema/registry.js';
import type { Endpoint } from '../schema/types.js';
import { DestinationIndex, type Destination, type DestinationPod, type DestinationScope } from './destination.js';

/** The fields enrich fills, in the order the Endpoint schema has them (last). */
export const JOINED_FIELDS = ['pod', 'service', 'scope'] as const;

export class DestinationJoin {
  private readonly tailType: avro.Type;
  private readonly byScope = new Map<DestinationScope, Buffer>();
  private readonly byPod = new WeakMap<DestinationPod, Buffer>();
  /** joins by scope, for the metric */
  readonly counts: Record<DestinationScope, number> = { pod: 0, service: 0, node: 0, external: 0, loopback: 0 };

  constructor(codec: Codec, readonly index: DestinationIndex = new DestinationIndex()) {
    const endpoint = endpointType(codec);
    const fields = (endpoint.schema() as { fields: Array<{ name: string }> }).fields;
    const names = fields.slice(-JOINED_FIELDS.length).map((f) => f.name);
    if (names.join() !== JOINED_FIELDS.join()) throw new Error(`podtrail: Endpoint does not end with ${JOINED_FIELDS.join(', ')} (${names.join(', ')})`);
    this.tailType = parseSchema({ type: 'record', name: 'io.podtrail.v1.EndpointJoined', fields: fields.slice(-JOINED_FIELDS.length) });
  }

  resolve(addr: Uint8Array, at: bigint, name: string | null): Destination {
    const d = this.index.resolve(addr, at, name);
    this.counts[d.scope]++;
    return d;
  }

  /** The audit form of a raw destination. */
  endpoint(dst: Endpoint, at: bigint): Endpoint {
    const d = this.resolve(dst.addr, at, dst.name?.name ?? null);
    return { ...dst, pod: d.pod, service: d.service, scope: d.scope };
  }

  /** pod, service and scope as Avro writes them inside an Endpoint. */
  bytes(addr: Uint8Array, at: bigint, name: string | null): Buffer {
    const d = this.resolve(addr, at, name);
    if (d.service === null) {
      if (d.pod === null) {
        let b = this.byScope.get(d.scope);
        if (b === undefined) this.byScope.set(d.scope, (b = this.encode(d)));
        return b;
      }
      let b = this.byPod.get(d.pod);
      if (b === undefined) this.byPod.set(d.pod, (b = this.encode(d)));
      return b;
    }
    return this.encode(d);
  }

  private encode(d: Destination): Buffer {
    return this.tailType.toBuffer({ pod: d.pod, service: d.service, scope: d.scope });
  }
}

/** The Endpoint record type of the current AuditRecord (dst's non-null branch). */
export function endpointType(codec: Codec): avro.Type {
  const audit = codec.set.get('AuditRecord').type as unknown as { fields: Array<{ name: string; type: avro.Type & { types?: avro.Type[] } }> };
  const dst = audit.fields.find((f) => f.name === 'dst');
  const t = dst?.type.types?.[1];
  if (!t) throw new Error('podtrail: AuditRecord.dst is not ["null", Endpoint]');
  return t;
}
