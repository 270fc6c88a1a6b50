// SPDX-License-Identifier: Apache-2.0
// A stand-in for Confluent Schema Registry's REST API, the part podtrail uses: register a
// schema under a subject (same text -> same id) and fetch a schema by id. Used because no
// real registry can run on this machine (see src/schema/confluent.ts tests' notes).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRegistry {
  url: string;
  requests: Array<{ method: string; path: string; body: string; auth: string | undefined }>;
  /** register directly, as another producer would have */
  add(subject: string, schema: string, schemaType?: string): number;
  /** make the next N requests fail with this HTTP status */
  failNext(status: number, n?: number): void;
  close(): Promise<void>;
}

export async function startFakeRegistry(port = 0): Promise<FakeRegistry> {
  const byId = new Map<number, { schema: string; schemaType?: string }>();
  const idByText = new Map<string, number>();
  const subjects = new Map<string, number[]>();
  const requests: FakeRegistry['requests'] = [];
  let fail: { status: number; n: number } | undefined;
  const add = (subject: string, schema: string, schemaType?: string): number => {
    const key = `${schemaType ?? 'AVRO'}\0${schema}`;
    let id = idByText.get(key);
    if (id === undefined) {
      id = byId.size + 1;
      byId.set(id, { schema, ...(schemaType ? { schemaType } : {}) });
      idByText.set(key, id);
    }
    const list = subjects.get(subject) ?? [];
    if (!list.includes(id)) list.push(id);
    subjects.set(subject, list);
    return id;
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', body, auth: req.headers.authorization });
      const send = (status: number, obj: unknown) => {
        res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
        res.end(JSON.stringify(obj));
      };
      if (fail && fail.n > 0) {
        fail.n--;
        return send(fail.status, { error_code: fail.status, message: 'injected failure' });
      }
      const reg = /^\/subjects\/([^/]+)\/versions$/.exec(req.url ?? '');
      if (req.method === 'POST' && reg) {
        let parsed: { schema?: unknown; schemaType?: string };
        try {
          parsed = JSON.parse(body);
          JSON.parse(String(parsed.schema));
        } catch {
          return send(422, { error_code: 42201, message: 'Invalid schema' });
        }
        return send(200, { id: add(decodeURIComponent(reg[1]!), String(parsed.schema), parsed.schemaType) });
      }
      const get = /^\/schemas\/ids\/(\d+)$/.exec(req.url ?? '');
      if (req.method === 'GET' && get) {
        const s = byId.get(Number(get[1]));
        return s ? send(200, s) : send(404, { error_code: 40403, message: 'Schema not found' });
      }
      send(404, { error_code: 404, message: 'not found' });
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    add,
    failNext(status, n = 1) { fail = { status, n }; },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
