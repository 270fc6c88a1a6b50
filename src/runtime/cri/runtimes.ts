// SPDX-License-Identifier: Apache-2.0
// The CRI runtimes of a node, opened together: one client, resolver and watcher per socket,
// and the resolver that asks them before the runtime files. gRPC is loaded only when a socket
// is there to dial: it costs a process about 17 MiB of RSS (measured in bench/README.md), which
// a Docker-only node, or enrich off the node, would pay for nothing.
import type { Logger } from '../../common/log.js';
import type { MetadataResolver } from '../types.js';
import type { CriResolver } from './resolver.js';
import { criSockets, type CriSocket } from './sockets.js';
import type { CriWatcher } from './watch.js';

export interface CriRuntimes {
  sockets: CriSocket[];
  resolvers: CriResolver[];
  watchers: CriWatcher[];
  /** CRI first, then `files` */
  resolver: MetadataResolver;
  forget(sandboxId: string): void;
  close(): void;
}

export async function openCriRuntimes(o: {
  hostRoot: string;
  sockets?: readonly string[];
  deadlineMs?: number;
  pollMs?: number;
  files: MetadataResolver;
  keepAnnotation?: (key: string) => boolean;
  log: Logger;
}): Promise<CriRuntimes> {
  const sockets = await criSockets(o.hostRoot, o.sockets ?? []);
  if (sockets.length === 0) return { sockets, resolvers: [], watchers: [], resolver: o.files, forget: () => {}, close: () => {} };
  const [{ CriClient }, { CriResolver }, { CriWatcher }, { CriWithFiles }] = await Promise.all([
    import('./client.js'), import('./resolver.js'), import('./watch.js'), import('./with-files.js'),
  ]);
  const clients = sockets.map((s) => new CriClient(s.path, o.deadlineMs !== undefined ? { deadlineMs: o.deadlineMs } : {}));
  const resolvers = clients.map((c, i) => new CriResolver(c, {
    ...(sockets[i]!.runtime ? { defaultRuntime: sockets[i]!.runtime } : {}),
    ...(o.keepAnnotation ? { keepAnnotation: o.keepAnnotation } : {}),
  }));
  const watchers = clients.map((c) => new CriWatcher(c, o.log, o.pollMs !== undefined ? { pollMs: o.pollMs } : {}));
  return {
    sockets, resolvers, watchers,
    resolver: new CriWithFiles(resolvers, o.files, o.log),
    forget: (id) => resolvers.forEach((r) => r.forget(id)),
    close: () => clients.forEach((c) => c.close()),
  };
}
