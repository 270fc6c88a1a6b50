// SPDX-License-Identifier: Apache-2.0
// How the enrich stage hands its outputs to kafkajs: in requests the broker accepts whatever
// the key spread, and partitioned without recomputing murmur2 for keys it has seen.
import { Partitioners, type ICustomPartitioner, type Message, type TopicMessages } from 'kafkajs';

/**
 * Largest produce request we send, in estimated record bytes. An audit record is about twice
 * its raw record, so one fetched batch can exceed the broker's per-partition batch limit
 * (message.max.bytes, 1 MiB by default) when its keys land on few audit partitions; the
 * broker then refuses it (MESSAGE_TOO_LARGE) on every retry. Below that limit whatever the
 * key spread; a transaction simply carries several requests.
 */
export const STAGE_MAX_REQUEST_BYTES = 1_000_000;

const len = (b: Buffer | string | null | undefined): number => (b == null ? 0 : typeof b === 'string' ? Buffer.byteLength(b) : b.length);

/** Splits outputs into produce requests of at most maxBytes (estimated), in order. */
export function bySize(outputs: Array<[string, Message[]]>, maxBytes: number): TopicMessages[][] {
  const requests: TopicMessages[][] = [];
  let current: TopicMessages[] = [];
  let bytes = 0;
  for (const [topic, messages] of outputs) {
    let run: Message[] = [];
    for (const m of messages) {
      // Record overhead: length, attributes, deltas, key/value lengths, header count.
      let size = 24 + len(m.key) + len(m.value as Buffer | null);
      if (m.headers) for (const [k, v] of Object.entries(m.headers)) size += 8 + Buffer.byteLength(k) + len(v as Buffer | string);
      if (bytes + size > maxBytes && bytes > 0) {
        if (run.length) current.push({ topic, messages: run });
        requests.push(current);
        current = [];
        run = [];
        bytes = 0;
      }
      run.push(m);
      bytes += size;
    }
    if (run.length) current.push({ topic, messages: run });
  }
  if (current.length) requests.push(current);
  return requests;
}

/**
 * kafkajs's default (Java-compatible murmur2) partitioner, remembered per key: the same few
 * hundred keys (<node>/<cgroupId>) recur, and kafkajs computes murmur2 with a 64-bit Long
 * class and filters the partition list per message. Recomputed when a topic's partition
 * count changes.
 */
export function memoKeyPartitioner(maxKeys = 100_000): ICustomPartitioner {
  return () => {
    const dflt = Partitioners.DefaultPartitioner();
    const memo = new Map<string, { n: number; byKey: Map<string, number> }>();
    return (args) => {
      const { topic, partitionMetadata, message } = args;
      if (message.partition != null || message.key == null) return dflt(args);
      const n = partitionMetadata.length;
      let t = memo.get(topic);
      if (t === undefined || t.n !== n) memo.set(topic, (t = { n, byKey: new Map() }));
      // Typed, so a string and a Buffer that murmur2 reads differently never share an entry.
      const k = typeof message.key === 'string' ? `s${message.key}` : `b${message.key.toString('latin1')}`;
      let p = t.byKey.get(k);
      if (p === undefined) {
        p = dflt(args);
        if (t.byKey.size >= maxKeys) t.byKey.clear();
        t.byKey.set(k, p);
      }
      return p;
    };
  };
}
