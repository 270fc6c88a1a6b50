// SPDX-License-Identifier: Apache-2.0
// podtrail ui's HTTP server: the page and its two libraries from this package (no CDN, works
// offline), the live feed as server-sent events, and the inventory and policy advice as JSON
// and downloads. It binds to loopback unless told otherwise (the CLI insists on a flag for
// anything wider) and answers only requests addressed to the host it listens as, so a web page
// elsewhere cannot reach it through DNS rebinding. It has no authentication of its own.
import { createReadStream, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../common/log.js';
import { advise, FLAVOURS, type Flavour } from '../advise/render.js';
import type { Inventory } from '../inventory/model.js';
import { renderInventory, workloadTitle } from '../inventory/render.js';
import type { LiveFeed } from './live.js';

export interface UiOptions {
  host: string;
  port: number;
  /** names the Host header may carry besides host:port */
  allowedHosts: string[];
  feed: LiveFeed;
  /** the inventory for a namespace ('' for all); cached by the caller */
  inventory: (namespace: string) => Promise<Inventory>;
  log: Logger;
}

const require = createRequire(import.meta.url);
function staticDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const d of [path.join(here, 'static'), path.resolve(here, '../../../src/ui/static')]) if (existsSync(path.join(d, 'index.html'))) return d;
  throw new Error('podtrail ui: cannot find the page (src/ui/static)');
}

/** The files the page loads: ours, and the two libraries' builds from node_modules. */
function files(): Map<string, { file: string; type: string }> {
  const dir = staticDir();
  return new Map([
    ['/', { file: path.join(dir, 'index.html'), type: 'text/html; charset=utf-8' }],
    ['/app.js', { file: path.join(dir, 'app.js'), type: 'text/javascript; charset=utf-8' }],
    ['/app.css', { file: path.join(dir, 'app.css'), type: 'text/css; charset=utf-8' }],
    ['/vendor/cytoscape.min.js', { file: require.resolve('cytoscape/dist/cytoscape.min.js'), type: 'text/javascript; charset=utf-8' }],
    ['/vendor/tabulator.min.js', { file: require.resolve('tabulator-tables/dist/js/tabulator.min.js'), type: 'text/javascript; charset=utf-8' }],
    ['/vendor/tabulator.min.css', { file: require.resolve('tabulator-tables/dist/css/tabulator.min.css'), type: 'text/css; charset=utf-8' }],
  ]);
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

export function startUiServer(o: UiOptions): Promise<Server> {
  const table = files();
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      o.log.error({ err }, 'ui request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `podtrail ui: ${(err as Error).message}\n`);
      else res.end();
    });
  });
  const send = (res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, ...extra });
    res.end(body);
  };
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = (req.headers.host ?? '').toLowerCase();
    const port = (server.address() as { port: number } | null)?.port;
    const ok = [o.host, ...o.allowedHosts].some((h) => host === `${h}:${port}` || host === `[${h}]:${port}`);
    if (!ok) return send(res, 421, 'text/plain; charset=utf-8', 'podtrail ui: unexpected Host header\n');
    if (req.method !== 'GET') return send(res, 405, 'text/plain; charset=utf-8', 'GET only\n');
    const url = new URL(req.url ?? '/', 'http://ui.invalid');
    const f = table.get(url.pathname);
    if (f) {
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': f.type });
      createReadStream(f.file).pipe(res);
      return;
    }
    const ns = url.searchParams.get('namespace') ?? '';
    switch (url.pathname) {
      case '/api/live': {
        res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream' });
        res.write(': podtrail live feed\n\n');
        const off = o.feed.subscribe((json) => res.write(`data: ${json}\n\n`));
        req.on('close', off);
        return;
      }
      case '/api/inventory': {
        const inv = await o.inventory(ns);
        const w = url.searchParams.get('workload');
        const picked = w ? { ...inv, workloads: inv.workloads.filter((x) => workloadTitle(x) === w) } : inv;
        const format = url.searchParams.get('format') ?? 'json';
        if (format !== 'json' && format !== 'markdown' && format !== 'html') return send(res, 400, 'text/plain; charset=utf-8', 'format: json, markdown or html\n');
        const download: Record<string, string> = url.searchParams.has('download') ? { 'Content-Disposition': `attachment; filename="${fileName(w ?? (ns || 'all'))}-inventory.${format === 'markdown' ? 'md' : format}"` } : {};
        return send(res, 200, format === 'json' ? 'application/json' : format === 'html' ? 'text/html; charset=utf-8' : 'text/markdown; charset=utf-8', renderInventory(picked, format), download);
      }
      case '/api/advice': {
        const w = url.searchParams.get('workload') ?? '';
        const flavour = (url.searchParams.get('flavour') ?? 'kubernetes') as Flavour;
        if (!FLAVOURS.includes(flavour)) return send(res, 400, 'text/plain; charset=utf-8', `flavour: ${FLAVOURS.join(', ')}\n`);
        const inv = await o.inventory(ns);
        const picked = { ...inv, workloads: inv.workloads.filter((x) => workloadTitle(x) === w) };
        if (picked.workloads.length === 0) return send(res, 404, 'text/plain; charset=utf-8', 'no such workload in this inventory\n');
        return send(res, 200, 'application/yaml; charset=utf-8', advise(picked, flavour).yaml,
          { 'Content-Disposition': `attachment; filename="${fileName(w)}-${flavour === 'cilium' ? 'ciliumnetworkpolicy' : flavour === 'both' ? 'policies' : 'networkpolicy'}.yaml"` });
      }
      default:
        return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve(server));
  });
}

/** A download's file name: the workload's title with anything but [A-Za-z0-9._-] as '_'. */
function fileName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120) || 'podtrail';
}
