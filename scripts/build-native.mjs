// SPDX-License-Identifier: Apache-2.0
// Builds native/ against the headers of the node that runs this script, found
// from process.execPath (…/bin/node -> …/include/node), so no header download.
// The addon compiles against bpf/.output/podtrail.skel.h, so the BPF build comes first.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const prefix = resolve(dirname(process.execPath), '..');
const candidates = [process.env.npm_config_nodedir, prefix, '/usr', '/usr/local'].filter(Boolean);
const nodedir = candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
if (!nodedir) {
  console.error(`build-native: no Node headers (include/node/node_api.h) under ${candidates.join(', ')}`);
  process.exit(1);
}
const bpf = spawnSync('make', ['-C', join(root, 'bpf')], { stdio: 'inherit', cwd: root });
if (bpf.status !== 0) {
  console.error('build-native: make -C bpf failed (the skeleton header comes from it)');
  process.exit(bpf.status ?? 1);
}
const gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
const r = spawnSync(process.execPath, [gyp, 'rebuild', '--directory', join(root, 'native'), `--nodedir=${nodedir}`], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
