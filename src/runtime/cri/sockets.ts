// SPDX-License-Identifier: Apache-2.0
// Where CRI runtimes listen by default, and which of those sockets exist under the host root.
// --cri-socket PATH (repeatable) replaces discovery: operator paths are taken as given, not
// joined to the host root, as --docker-config is.
import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../../common/errors.js';
import type { Runtime } from '../types.js';

export interface KnownSocket {
  /** node path */
  path: string;
  /** who listens there by default (Version says for sure) */
  runtime: Runtime;
  label: string;
}

export const DEFAULT_CRI_SOCKETS: readonly KnownSocket[] = [
  { path: '/run/containerd/containerd.sock', runtime: 'containerd', label: 'containerd' },
  { path: '/run/k3s/containerd/containerd.sock', runtime: 'containerd', label: "k3s's containerd" },
  { path: '/run/crio/crio.sock', runtime: 'cri-o', label: 'CRI-O' },
  { path: '/var/run/cri-dockerd.sock', runtime: 'docker', label: 'cri-dockerd' },
];

export interface CriSocket {
  /** path to dial, as this process sees it */
  path: string;
  runtime: Runtime | undefined;
  label: string;
}

export function checkSocketPath(p: unknown): string {
  if (typeof p !== 'string' || !path.isAbsolute(p) || p.includes('\0') || Buffer.byteLength(p) > 107) {
    throw new ConfigError(`--cri-socket must be an absolute path of at most 107 bytes (a unix socket), got ${JSON.stringify(p)}`);
  }
  return path.normalize(p);
}

/**
 * The sockets to use: the operator's (checked, not probed: a runtime may start after us), or
 * the default paths under hostRoot that exist and are sockets.
 */
export async function criSockets(hostRoot: string, explicit: readonly string[] = []): Promise<CriSocket[]> {
  if (explicit.length > 0) {
    return [...new Set(explicit.map(checkSocketPath))].map((p) => {
      const known = DEFAULT_CRI_SOCKETS.find((k) => k.path === p);
      return { path: p, runtime: known?.runtime, label: known?.label ?? 'CRI' };
    });
  }
  const out: CriSocket[] = [];
  const seen = new Set<string>();
  for (const k of DEFAULT_CRI_SOCKETS) {
    const p = await socketIn(hostRoot, k.path);
    if (p === undefined || seen.has(p)) continue;
    seen.add(p);
    out.push({ path: p, runtime: k.runtime, label: k.label });
  }
  return out;
}

/** The real path of a socket at nodePath under hostRoot, links resolved inside the root; else undefined. */
async function socketIn(hostRoot: string, nodePath: string): Promise<string | undefined> {
  const root = path.resolve(hostRoot);
  const inRoot = (p: string): boolean => root === '/' || p === root || p.startsWith(`${root}/`);
  let todo = nodePath.split('/').filter(Boolean);
  let cur = root;
  // /var/run -> /run is common on nodes; an absolute link is taken relative to the host root.
  for (let hops = 0; todo.length > 0 && hops < 64; hops++) {
    const part = todo[0]!;
    if (part === '.' || part === '..') {
      // Never above the host root: '..' at the root stays at the root, as in a chroot.
      if (part === '..' && cur !== root) cur = path.dirname(cur);
      todo = todo.slice(1);
      continue;
    }
    const next = path.join(cur, part);
    const st = await lstat(next).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      const target = await readlink(next).catch(() => undefined);
      if (target === undefined) return undefined;
      const rest = todo.slice(1);
      if (target.startsWith('/')) {
        cur = root;
        todo = [...target.split('/').filter(Boolean), ...rest];
      } else {
        todo = [...target.split('/').filter(Boolean), ...rest];
      }
      continue;
    }
    if (todo.length === 1) return st.isSocket() && inRoot(next) ? next : undefined;
    if (!st.isDirectory()) return undefined;
    cur = next;
    todo = todo.slice(1);
  }
  return undefined;
}
