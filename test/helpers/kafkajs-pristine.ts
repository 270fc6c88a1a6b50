// SPDX-License-Identifier: Apache-2.0
// kafkajs exactly as published, to compare podtrail's patched files with kafkajs's own.
// `npm pack` fetches the tarball (from npm's cache when warm, else the registry); its sha512
// must equal package-lock.json's integrity for kafkajs, so this is the release that the
// patch was written against, not node_modules (which holds the patched files). Extracted
// once into the repository's git-ignored .tmp/.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KAFKAJS_VERSION } from '../../src/kafka/kafkajs-changes.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function lockIntegrity(): string {
  const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; integrity?: string }>;
  };
  const entry = lock.packages['node_modules/kafkajs'];
  if (entry?.version !== KAFKAJS_VERSION || !entry.integrity?.startsWith('sha512-')) {
    throw new Error(`package-lock.json does not pin kafkajs ${KAFKAJS_VERSION} with a sha512 integrity`);
  }
  return entry.integrity;
}

/** The directory holding the pristine package (its package.json, src/...). */
export function pristineKafkajsDir(): string {
  const integrity = lockIntegrity();
  const tag = createHash('sha256').update(integrity).digest('hex').slice(0, 12);
  const base = path.join(repoRoot, '.tmp');
  const dir = path.join(base, `kafkajs-${KAFKAJS_VERSION}-pristine-${tag}`);
  if (existsSync(path.join(dir, 'package.json'))) return dir;
  mkdirSync(base, { recursive: true });
  const work = mkdtempSync(path.join(base, 'kafkajs-pack-'));
  try {
    const pack = spawnSync('npm', ['pack', `kafkajs@${KAFKAJS_VERSION}`, '--pack-destination', work, '--prefer-offline', '--silent'], {
      cwd: work, encoding: 'utf8', timeout: 120_000,
    });
    if (pack.status !== 0) throw new Error(`npm pack kafkajs@${KAFKAJS_VERSION} failed (network or npm cache?): ${pack.stderr || pack.error}`);
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error('npm pack wrote no tarball');
    const got = `sha512-${createHash('sha512').update(readFileSync(path.join(work, tgz))).digest('base64')}`;
    if (got !== integrity) throw new Error(`kafkajs tarball's integrity ${got} differs from package-lock.json's ${integrity}`);
    const tar = spawnSync('tar', ['xzf', path.join(work, tgz), '-C', work], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    // Atomic: a concurrent caller either sees the whole package or makes its own.
    try {
      renameSync(path.join(work, 'package'), dir);
    } catch (err) {
      if (!existsSync(path.join(dir, 'package.json'))) throw err;
    }
    return dir;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** require() inside the pristine package: `pristineRequire('./src/producer/...')`. */
export function pristineRequire<T>(rel: string): T {
  return createRequire(path.join(pristineKafkajsDir(), 'package.json'))(rel) as T;
}
