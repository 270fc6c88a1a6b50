// SPDX-License-Identifier: Apache-2.0
// The CRI runtimes of a node, opened together: one client, resolver and watcher per socket,
// and the resolver that asks them before the runtime files.
import type { Logger } from '../../common/log.js';
import type { MetadataResolver } from '../types.js';
import { CriClient } from './client.js';
import { CriResolver } from './resolver.js';
import { criSockets, type CriSocket } from './sockets.js';
import { CriWatcher } from './watch.js';
import { CriWithFiles } from './with-files.js';

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
  const clients = sockets.map((s) => new CriClient(s.path, o.deadlineMs !== undefined ? { deadlineMs: o.deadlineMs } : {}));
  const resolvers = clients.map((c, i) => new CriResolver(c, {
    ...(sockets[i]!.runtime ? { defaultRuntime: sockets[i]!.runtime } : {}),
    ...(o.keepAnnotation ? { keepAnnotation: o.keepAnnotation } : {}),
  }));
  const watchers = clients.map((c) => new CriWatcher(c, o.log, o.pollMs !== undefined ? { pollMs: o.pollMs } : {}));
  return {
    sockets, resolvers, watchers,
    resolver: resolvers.length > 0 ? new CriWithFiles(resolvers, o.files, o.log) : o.files,
    forget: (id) => resolvers.forEach((r) => r.forget(id)),
    close: () => clients.forEach((c) => c.close()),
  };
}
