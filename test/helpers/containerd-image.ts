// SPDX-License-Identifier: Apache-2.0
// The containerd test image: busybox-static as a docker-archive tar (manifest.json,
// config.json, one layer), for `ctr images import`, because nothing can be pulled here.
// Named localhost/..., so a name that misses never sends containerd to a registry.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildBusyboxTar } from './busybox-image.js';
import { HarnessError, run } from './proc.js';

export const CTR_IMAGE = 'localhost/podtrail/busybox:test';

/** Builds <workDir>/image.tar; returns its path. The image's default command sleeps, so it also serves as the sandbox (pause) image. */
export async function buildContainerdImage(busybox: string, workDir: string): Promise<string> {
  const layer = await buildBusyboxTar(busybox, workDir);
  const diffId = `sha256:${createHash('sha256').update(await readFile(layer)).digest('hex')}`;
  const config = {
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['sleep', '2147483647'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created_by: 'podtrail test harness: busybox-static' }],
  };
  const dir = join(workDir, 'archive');
  await run(busybox, ['mkdir', '-p', dir]);
  await run(busybox, ['cp', layer, join(dir, 'layer.tar')]);
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: [CTR_IMAGE], Layers: ['layer.tar'] }]));
  const tar = join(workDir, 'image.tar');
  const r = await run(busybox, ['tar', '-C', dir, '-cf', tar, 'manifest.json', 'config.json', 'layer.tar']);
  if (r.code !== 0) throw new HarnessError(`building ${tar} failed: ${r.stderr}`);
  return tar;
}
