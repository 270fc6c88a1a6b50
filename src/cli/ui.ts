// SPDX-License-Identifier: Apache-2.0
// podtrail ui: a local web page with the live audit stream, an egress map per namespace, and
// each workload's inventory and policy advice with downloads.
import { ConfigError } from '../common/errors.js';
import { kafkaConfigFrom } from '../common/config.js';
import { moduleLogger } from '../common/log.js';
import { createKafka } from '../kafka/client.js';
import { codec } from '../schema/codec.js';
import type { Inventory } from '../inventory/model.js';
import { LiveFeed } from '../ui/live.js';
import { startUiServer } from '../ui/server.js';
import { defineCommand } from './command.js';
import { INVENTORY_OPTIONS, inventoryFrom } from './inventory-options.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

const options = {
  listen: { type: 'string', arg: 'HOST:PORT', default: '127.0.0.1:8088', desc: 'where to serve the page (loopback unless --allow-remote)', env: 'PODTRAIL_UI_LISTEN' },
  'allow-remote': { type: 'boolean', desc: 'allow a --listen address other than loopback: put it behind authentication, the page has none' },
  'public-name': { type: 'list', arg: 'HOST', desc: 'host names the page may be reached as besides the --listen address (e.g. behind a proxy)' },
  'live-keep': { type: 'int', min: 1, max: 100_000, default: 2000, desc: 'records of the live feed a newly opened page starts with' },
  'cache-ms': { type: 'int', min: 0, default: 15_000, desc: 'how long an inventory is reused before the window is read again' },
  ...INVENTORY_OPTIONS,
} as const;

export default defineCommand({
  name: 'ui',
  summary: 'serve a local web page: live audit stream, egress map, inventory and policy advice per workload',
  usage: 'Usage: podtrail ui [--listen 127.0.0.1:8088] [--allow-remote] [--since ISO] [--compare-since ISO] [inventory options]',
  options,
  async run(v) {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:[\]]+):(\d{1,5})$/.exec(v.listen as string);
    if (!m || Number(m[2]) > 65535) throw new ConfigError(`podtrail ui: --listen: expected HOST:PORT, got ${JSON.stringify(v.listen)}`);
    const host = (m[1] as string).replace(/^\[|\]$/g, '');
    if (!LOOPBACK.has(host) && !v['allow-remote']) {
      throw new ConfigError(`podtrail ui: --listen ${v.listen} is not loopback: the page has no authentication; add --allow-remote and put it behind an authenticating proxy`);
    }
    const log = moduleLogger('ui');
    const kafka = createKafka(kafkaConfigFrom(v));
    const feed = new LiveFeed(kafka, codec(), v['audit-topic'] as string, v['live-keep'], log);
    const cache = new Map<string, { at: number; inv: Promise<Inventory> }>();
    const inventory = (ns: string) => {
      const hit = cache.get(ns);
      if (hit && Date.now() - hit.at < v['cache-ms']) return hit.inv;
      const inv = inventoryFrom('ui', { ...v, namespace: ns ? [ns] : v.namespace });
      cache.set(ns, { at: Date.now(), inv });
      inv.catch(() => cache.delete(ns));
      return inv;
    };
    await feed.start();
    const server = await startUiServer({ host, port: Number(m[2]), allowedHosts: [...(LOOPBACK.has(host) ? ['localhost', '127.0.0.1'] : []), ...v['public-name']], feed, inventory, log });
    const addr = server.address() as { address: string; port: number };
    log.info({ address: addr.address, port: addr.port }, `ui listening on http://${host.includes(':') ? `[${host}]` : host}:${addr.port}/`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await feed.stop();
    return 0;
  },
});
