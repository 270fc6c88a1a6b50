// SPDX-License-Identifier: Apache-2.0
// Configuration files for the harness's containerd and dockerd.
//
// daemon.json exists in two views of one settings object, differing only in the
// root prefix of paths:
//   <hostRoot>/etc/docker/daemon.json  "data-root": "/var/lib/<name>"
//     what enrich reads with --host-root <hostRoot>, exactly like a node's /etc/docker
//     seen through a host mount;
//   <tmp>/dockerd/daemon.json          "data-root": "<hostRoot>/var/lib/<name>"
//     what dockerd reads (--config-file). dockerd refuses data-root given both as flag
//     and in the file, and resolves it against "/", so it needs the absolute view. It is
//     also what enrich reads with --host-root / --docker-config <this file>.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface DaemonConfigPaths {
  daemonJsonPath: string;
  dockerdConfigPath: string;
  containerdConfigPath: string;
}

const SNAPSHOTTERS_OFF = ['io.containerd.snapshotter.v1.aufs', 'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.devmapper'];

/**
 * A private containerd's config.toml: its own root, state, socket and opt directory, no
 * TCP, debug or metrics endpoint, and only the overlayfs-capable snapshotters. `cri` false
 * disables the CRI plugin; `extra` is appended (the CRI plugin's own settings).
 */
export function containerdToml(o: { root: string; state: string; socket: string; optDir: string; cri: boolean; extra?: string[] }): string {
  const q = JSON.stringify;
  const off = o.cri ? SNAPSHOTTERS_OFF : ['io.containerd.grpc.v1.cri', ...SNAPSHOTTERS_OFF];
  return [
    'version = 2',
    `root = ${q(o.root)}`,
    `state = ${q(o.state)}`,
    `disabled_plugins = [${off.map((p) => q(p)).join(', ')}]`,
    '[grpc]',
    `  address = ${q(o.socket)}`,
    '[ttrpc]',
    '  address = ""',
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(o.optDir)}`,
    ...(o.extra ?? []),
    '',
  ].join('\n');
}

export function dockerSettings(root: string, dataRootName: string): Record<string, unknown> {
  return {
    'data-root': join(root, 'var/lib', dataRootName),
    'exec-opts': ['native.cgroupdriver=cgroupfs'],
    'storage-driver': 'overlay2',
    'log-driver': 'json-file',
  };
}

export async function writeDaemonConfigs(o: {
  tmpDir: string;
  hostRoot: string;
  dataRootName: string;
  containerdDir: string;
  containerdSocket: string;
}): Promise<DaemonConfigPaths> {
  const daemonJsonPath = join(o.hostRoot, 'etc/docker/daemon.json');
  const dockerdConfigPath = join(o.tmpDir, 'dockerd/daemon.json');
  const containerdConfigPath = join(o.tmpDir, 'containerd.toml');
  await writeFile(daemonJsonPath, JSON.stringify(dockerSettings('/', o.dataRootName), null, 2) + '\n');
  const own = {
    ...dockerSettings(o.hostRoot, o.dataRootName),
    // dockerd 20.10 otherwise writes its trust key to the host's /etc/docker/key.json.
    'deprecated-key-path': join(o.tmpDir, 'key.json'),
  };
  await writeFile(dockerdConfigPath, JSON.stringify(own, null, 2) + '\n');
  // Our own containerd rather than dockerd's managed one: dockerd silently uses a system
  // containerd whenever /run/containerd/containerd.sock exists, and the managed config
  // leaves containerd's opt plugin writing /opt/containerd. CRI is off (no CNI, no
  // listeners), no TCP/debug/metrics endpoints.
  await writeFile(containerdConfigPath, containerdToml({
    root: join(o.containerdDir, 'root'), state: join(o.containerdDir, 'state'), socket: o.containerdSocket, optDir: join(o.tmpDir, 'opt'), cri: false,
  }));
  return { daemonJsonPath, dockerdConfigPath, containerdConfigPath };
}
