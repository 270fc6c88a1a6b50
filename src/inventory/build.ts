// SPDX-License-Identifier: Apache-2.0
// One inventory from Kafka: the containers topic first (pod addresses, for pods that never
// connect out), then one pass over the audit window. With --compare-since the pass starts at
// the earlier window and each record counts in the window its event time falls in.
import type { Kafka } from 'kafkajs';
import { ConfigError, DecodeError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Codec } from '../schema/codec.js';
import { isoNanos } from '../schema/json-form.js';
import { Aggregator } from './aggregate.js';
import type { ClusterHints } from './destination.js';
import { buildFilter, type FilterSpec } from './filter.js';
import type { Inventory } from './model.js';
import { AuditProjection } from './projection.js';
import { readWindow } from './window.js';
import { readJsonLines } from './json-input.js';
import type { Readable } from 'node:stream';

export interface BuildOptions {
  auditTopic: string;
  /** read pod addresses from here first; undefined: do not */
  containersTopic: string | undefined;
  sinceNs: bigint | undefined;
  untilNs: bigint | undefined;
  compareSinceNs: bigint | undefined;
  filters: FilterSpec;
  hints: ClusterHints;
  maxDestinations: number;
  slackMs: number;
  /** position by event time only: read everything (replay output) */
  wholeTopic?: boolean;
}

function aggregator(o: BuildOptions): Aggregator {
  return new Aggregator({
    hints: o.hints, filter: buildFilter(o.filters), maxDestinations: o.maxDestinations,
    ...(o.compareSinceNs !== undefined ? { splitNs: o.sinceNs } : {}),
  });
}

function finish(agg: Aggregator, o: BuildOptions): Inventory {
  const iso = (ns: bigint | undefined) => (ns === undefined ? null : isoNanos(ns));
  return agg.finish(
    { since: iso(o.sinceNs), until: iso(o.untilNs) },
    o.compareSinceNs !== undefined && o.sinceNs !== undefined ? { since: isoNanos(o.compareSinceNs), until: isoNanos(o.sinceNs) } : null,
    { namespaces: o.filters.namespaces, workloads: o.filters.workloads, selector: o.filters.selector ?? null },
  );
}

/** The inventory of JSON lines (tail's or replay's --format json output) instead of a topic. */
export async function buildInventoryFromJson(input: Readable, o: BuildOptions, log: Logger): Promise<Inventory> {
  const agg = aggregator(o);
  const lo = o.compareSinceNs ?? o.sinceNs;
  await readJsonLines(input, (rec) => {
    if ((lo !== undefined && rec.time < lo) || (o.untilNs !== undefined && rec.time >= o.untilNs)) return;
    agg.addRecord(rec);
  }, (line, why) => {
    agg.noteUndecodable();
    log.warn({ line }, `skipped input line ${line}: ${why}`);
  });
  return finish(agg, o);
}

export async function buildInventory(kafka: Kafka, codec: Codec, o: BuildOptions, log: Logger): Promise<Inventory> {
  const agg = aggregator(o);
  if (o.containersTopic) {
    let skipped = 0;
    try {
      await readWindow(kafka, { topic: o.containersTopic, sinceNs: undefined, untilNs: undefined, slackMs: 0 }, (value) => {
        if (!value) return;
        try {
          const m = codec.decodeAs('ContainerMeta', value);
          if (!m.pod || m.pod.ips.length === 0) return;
          agg.addPodFacts({
            ips: m.pod.ips, workload: { namespace: m.pod.namespace, kind: m.pod.workload?.kind ?? 'Pod', name: m.pod.workload?.name ?? m.pod.name },
            labels: m.pod.labels, hostNetwork: m.pod.hostNetwork, node: m.node, from: m.validFrom, to: m.deletedTime ?? undefined,
          });
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          skipped++;
        }
      }, log);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      log.warn({ topic: o.containersTopic }, 'no containers topic: pods that never connected out are not recognised as destinations');
    }
    if (skipped) log.warn({ skipped, topic: o.containersTopic }, 'skipped undecodable container metadata');
  }
  const projection = new AuditProjection(codec.set);
  const lo = o.compareSinceNs ?? o.sinceNs;
  const positions = o.wholeTopic ? { sinceNs: undefined, untilNs: undefined } : { sinceNs: lo, untilNs: o.untilNs };
  await readWindow(kafka, { topic: o.auditTopic, ...positions, slackMs: o.slackMs, progressMs: 5000 }, (value, partition, offset) => {
    if (!value) return;
    // DNS lookups (issue 15) share the audit topic; the inventory lists connections.
    if (projection.isLookup(value)) return;
    let rec;
    try {
      rec = projection.decode(value);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      agg.noteUndecodable();
      log.warn({ topic: o.auditTopic, partition, offset, code: err.code }, `skipped undecodable message at ${o.auditTopic}/${partition}@${offset}: ${err.message}`);
      return;
    }
    if ((lo !== undefined && rec.time < lo) || (o.untilNs !== undefined && rec.time >= o.untilNs)) return;
    agg.addRecord(rec);
  }, log);
  return finish(agg, o);
}
