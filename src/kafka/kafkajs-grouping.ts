// SPDX-License-Identifier: Apache-2.0
// kafkajs 2.2.4 (its last release) groups a request's messages per partition with
// `[...current, message]` for every message: quadratic in the messages per partition.
// Capture sends all of a node's events to one partition, so a 500-event request copied
// ~125k array slots and made ~1 MiB of garbage; with capture's small young generation
// (src/capture/node-flags.ts) that cost ~2 us of CPU per event (bench/README.md).
//
// This module puts a linear version with the same result (partition -> messages, in
// order) into the CommonJS cache under kafkajs's own file name, so kafkajs's
// sendMessages.js gets it when it loads. It must be imported before anything imports
// kafkajs: bin/podtrail.js imports it first. Imported later it changes nothing, and
// kafkajs keeps its own version; groupingPatched() tells which one kafkajs got.
import { createRequire } from 'node:module';
import { cachedExports, inCache, putInCache } from './cjs-cache.js';
// Its record encoder goes into the cache the same way, first: see that file.
import './kafkajs-record.js';

const require = createRequire(import.meta.url);

interface GroupArgs<M> {
  topic: string;
  partitionMetadata: unknown[];
  messages: M[];
  partitioner: (a: { topic: string; partitionMetadata: unknown[]; message: M }) => number;
}

/** kafkajs's groupMessagesPerPartition, linear. */
export function groupMessagesPerPartition<M>({ topic, partitionMetadata, messages, partitioner }: GroupArgs<M>): Record<number, M[]> {
  if (partitionMetadata.length === 0) return {};
  const result: Record<number, M[]> = {};
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

export const KAFKAJS_GROUPING_FILE = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');

// Not when kafkajs (or its file) is loaded already.
if (!inCache(KAFKAJS_GROUPING_FILE)) putInCache(KAFKAJS_GROUPING_FILE, groupMessagesPerPartition);

/** True when kafkajs's producer uses the linear grouping. */
export function groupingPatched(): boolean {
  return cachedExports(KAFKAJS_GROUPING_FILE) === groupMessagesPerPartition;
}
