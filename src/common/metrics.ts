// SPDX-License-Identifier: Apache-2.0
// Prometheus metrics (prom-client) and the health endpoints every stage serves with
// --metrics-port: /metrics, /healthz (the process is alive and not wedged), /readyz (the
// stage is doing its job: attached, joined, caught up).
import http from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from './log.js';
import { registerKafkaRetryMetrics } from '../kafka/retry.js';

export const METRICS_OPTIONS = {
  'metrics-port': { type: 'int', arg: 'PORT', min: 0, max: 65535, desc: 'serve /metrics, /healthz and /readyz on this port (0: off)', env: 'PODTRAIL_METRICS_PORT', default: 0 },
  'metrics-host': { type: 'string', arg: 'ADDR', default: '0.0.0.0', desc: 'address for the metrics server', env: 'PODTRAIL_METRICS_HOST' },
} as const;

export function createRegistry(stage: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ stage });
  collectDefaultMetrics({ register: registry, prefix: 'podtrail_' });
  registerKafkaRetryMetrics(registry);
  return registry;
}

export interface Health {
  /** why the stage is not ready, or null when ready */
  notReady(): string | null;
  /** why the stage is unhealthy (should be restarted), or null */
  unhealthy(): string | null;
}

export class MetricsServer {
  private server: http.Server | undefined;

  constructor(private readonly registry: Registry, private readonly health: Health, private readonly log: Logger) {}

  async start(port: number, host: string): Promise<number> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address();
    const bound = typeof addr === 'object' && addr ? addr.port : port;
    this.log.info({ port: bound, host }, 'metrics server listening');
    return bound;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (url === '/metrics') {
        const body = await this.registry.metrics();
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
      } else if (url === '/healthz') {
        const why = this.health.unhealthy();
        res.writeHead(why ? 503 : 200, { 'content-type': 'text/plain' }).end(why ? `unhealthy: ${why}\n` : 'ok\n');
      } else if (url === '/readyz') {
        const why = this.health.notReady();
        res.writeHead(why ? 503 : 200, { 'content-type': 'text/plain' }).end(why ? `not ready: ${why}\n` : 'ready\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz\n');
      }
    } catch (err) {
      this.log.error({ err }, 'metrics request failed');
      if (!res.headersSent) res.writeHead(500).end();
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections?.();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** Starts the server when port > 0. */
export async function serveMetrics(port: number, host: string, registry: Registry, health: Health, log: Logger): Promise<MetricsServer | undefined> {
  if (!port) return undefined;
  const m = new MetricsServer(registry, health, log);
  await m.start(port, host);
  return m;
}
