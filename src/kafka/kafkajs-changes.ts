// SPDX-License-Identifier: Apache-2.0
// Everything podtrail changes in kafkajs, known in one place:
//  - kafkajs is pinned to exactly KAFKAJS_VERSION (package.json), because
//    patches/kafkajs+2.2.4.patch edits its files; npm's postinstall applies it with
//    patch-package. The patch's hunks say why, and which bench line (or test) justifies each:
//      linear-grouping      src/producer/groupMessagesPerPartition.js    (CPU per event)
//      exact-size-record    src/protocol/recordBatch/record/v0/index.js  (CPU per event)
//      no-negative-timeout  src/network/requestQueue/index.js            (Node 24+'s warning)
//      stable-offset-fetch  src/protocol/requests/offsetFetch/v7/*       (exactly-once across failover)
//      per-partition-retry  src/producer/sendMessages.js                 (no loss, no duplicate when leaders move)
//      aborted-transactions src/consumer/filterAbortedMessages.js        (read_committed with several transactional writers)
//      tls-verify-fatal     src/network/connection.js                    (an untrusted certificate: one clear error at once)
//    Each patched file exports `podtrailPatch`, so a missing patch is seen here.
//  - gzip-level-1 goes through kafkajs's public codec table (CompressionCodecs, the way
//    kafkajs documents for adding codecs), not the patch: only capture wants it, and a
//    patched default would change enrich's and export's compression too.
// createKafka() (src/kafka/client.ts) checks the version and logs what is in force, once
// per process, so every stage says it at startup.
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import kafkajs from 'kafkajs';
import { ConfigError } from '../common/errors.js';
import type { Logger } from '../common/log.js';

const require = createRequire(import.meta.url);

export const KAFKAJS_VERSION = '2.2.4';
export const KAFKAJS_PATCH = `patches/kafkajs+${KAFKAJS_VERSION}.patch`;

/** The patched files, by the name each one's `podtrailPatch` export carries. */
export const PATCHED_FILES = {
  'linear-grouping': 'kafkajs/src/producer/groupMessagesPerPartition.js',
  'exact-size-record': 'kafkajs/src/protocol/recordBatch/record/v0/index.js',
  'no-negative-timeout': 'kafkajs/src/network/requestQueue/index.js',
  'stable-offset-fetch': 'kafkajs/src/protocol/requests/offsetFetch/v7/request.js',
  'per-partition-retry': 'kafkajs/src/producer/sendMessages.js',
  'aborted-transactions': 'kafkajs/src/consumer/filterAbortedMessages.js',
  'tls-verify-fatal': 'kafkajs/src/network/connection.js',
} as const;
export type PatchName = keyof typeof PATCHED_FILES;

/** Files a patch changes besides the one carrying its name. */
export const PATCHED_ALSO: Partial<Record<PatchName, readonly string[]>> = {
  'stable-offset-fetch': ['kafkajs/src/protocol/requests/offsetFetch/index.js', 'kafkajs/src/protocol/requests/offsetFetch/v7/response.js'],
};

export type Change = PatchName | 'gzip-level-1';

/** The installed kafkajs's version, from its package.json. */
export function installedKafkajsVersion(): string {
  return (require('kafkajs/package.json') as { version: string }).version;
}

/** Throws a ConfigError unless the installed kafkajs is the pinned one (the patch fits only it). */
export function checkKafkajsVersion(installed = installedKafkajsVersion()): void {
  if (installed !== KAFKAJS_VERSION) {
    throw new ConfigError(
      `kafkajs ${installed} is installed, but podtrail is pinned to kafkajs ${KAFKAJS_VERSION} and patches it ` +
        `(${KAFKAJS_PATCH}): run npm ci`,
    );
  }
}

/** True when the installed file carries the patch named `name`. */
export function patchApplied(name: PatchName): boolean {
  const mod = require(PATCHED_FILES[name]) as { podtrailPatch?: unknown };
  return mod.podtrailPatch === name;
}

// ---- capture's GZIP codec ----
// kafkajs compresses with zlib's default level (6). Raw events are so alike that level 1
// compresses them nearly as well (about 24x against 23x on a real batch) for a quarter of
// the CPU, and that CPU is taken from the node capture watches (bench/codec.bench.ts).
// Decompression is unchanged.
const { CompressionCodecs, CompressionTypes } = kafkajs;

export const CAPTURE_GZIP_LEVEL = 1;

const gzip = promisify(zlib.gzip);
const unzip = promisify(zlib.unzip);
const fastGzip = () => ({
  compress: (encoder: { buffer: Buffer }) => gzip(encoder.buffer, { level: CAPTURE_GZIP_LEVEL }),
  decompress: (buffer: Buffer) => unzip(buffer),
});

/** Makes this process's kafkajs gzip at CAPTURE_GZIP_LEVEL (capture only). */
export function useFastGzip(): void {
  CompressionCodecs[CompressionTypes.GZIP] = fastGzip;
}

function fastGzipInUse(): boolean {
  return (CompressionCodecs[CompressionTypes.GZIP] as unknown) === fastGzip;
}

/** Which of podtrail's kafkajs changes this process has. */
export function kafkajsChanges(): Record<Change, boolean> {
  return {
    'linear-grouping': patchApplied('linear-grouping'),
    'exact-size-record': patchApplied('exact-size-record'),
    'no-negative-timeout': patchApplied('no-negative-timeout'),
    'stable-offset-fetch': patchApplied('stable-offset-fetch'),
    'per-partition-retry': patchApplied('per-partition-retry'),
    'aborted-transactions': patchApplied('aborted-transactions'),
    'tls-verify-fatal': patchApplied('tls-verify-fatal'),
    'gzip-level-1': fastGzipInUse(),
  };
}

let logged = false;

/**
 * Checks the version (throws ConfigError when it is not the pinned one) and, the first
 * time in this process, logs which changes are in force; a missing patch is a warning:
 * kafkajs then works, only slower.
 */
export function checkAndLogKafkajs(log: Logger): void {
  checkKafkajsVersion();
  if (logged) return;
  logged = true;
  const changes = kafkajsChanges();
  const inForce = (Object.keys(changes) as Change[]).filter((c) => changes[c]);
  log.info({ kafkajs: KAFKAJS_VERSION, changes: inForce }, `kafkajs ${KAFKAJS_VERSION}, podtrail's changes in force: ${inForce.join(', ') || 'none'}`);
  const missing = (Object.keys(PATCHED_FILES) as PatchName[]).filter((p) => !changes[p]);
  if (missing.length) {
    log.warn({ missing }, `kafkajs is not patched (${missing.join(', ')} missing): ${KAFKAJS_PATCH} is applied by npm ci's postinstall; run npm ci. kafkajs works without it, but spends more CPU per record`);
  }
}
