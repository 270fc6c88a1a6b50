// SPDX-License-Identifier: Apache-2.0
// A broker certificate the client does not trust (a wrong CA, a self-signed certificate) fails
// the same way on every attempt. kafkajs 2.2.4 retries it like a refused connection, so the
// operator's one clear error came only after the whole retry schedule (~20 s at podtrail's
// settings). The patch (tls-verify-fatal, src/network/connection.js) marks TLS verification
// failures not retriable. A real TLS listener on loopback counts the client's connections; the
// same connect goes through kafkajs as published, to show the test sees the difference.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { kafkaCondition } from '../../src/kafka/conditions.js';
import { pristineKafkajsDir } from '../helpers/kafkajs-pristine.js';

const require = createRequire(import.meta.url);
type KafkaCtor = new (c: object) => { admin(): { connect(): Promise<void>; disconnect(): Promise<void> } };

let dir = '';
let server: tls.Server;
let port = 0;
let connections = 0;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pt-tls-verify-'));
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl: ${r.stderr}`);
  server = tls.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) });
  server.on('connection', () => connections++);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Connects an admin with the system's CAs (which did not sign the self-signed certificate). */
async function connect(Kafka: KafkaCtor): Promise<{ err: unknown; attempts: number; ms: number }> {
  const before = connections;
  const t0 = Date.now();
  const kafka = new Kafka({
    clientId: 'tls-verify-test', brokers: [`127.0.0.1:${port}`], ssl: true, connectionTimeout: 3000,
    retry: { initialRetryTime: 50, maxRetryTime: 200, retries: 3 }, logCreator: () => () => undefined,
  });
  const admin = kafka.admin();
  let err: unknown;
  try {
    await admin.connect();
  } catch (e) {
    err = e;
  }
  await admin.disconnect().catch(() => undefined);
  return { err, attempts: connections - before, ms: Date.now() - t0 };
}

test('patched: an untrusted broker certificate fails at the first attempt, not retriable, classified as access', async () => {
  const { Kafka } = require('kafkajs') as { Kafka: KafkaCtor };
  const r = await connect(Kafka);
  assert.ok(r.err, 'the connect must fail');
  assert.equal(r.attempts, 1, `one TLS connection, no retries (saw ${r.attempts})`);
  const c = kafkaCondition(r.err);
  assert.equal(c.kind, 'fatal');
  assert.equal(c.access, true);
  assert.match(c.type, /SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/);
});

test("kafkajs as published retries the same certificate error (the test sees the patch's effect)", async () => {
  const { Kafka } = require(path.join(pristineKafkajsDir(), 'index.js')) as { Kafka: KafkaCtor };
  const r = await connect(Kafka);
  assert.ok(r.err, 'the connect must fail');
  assert.ok(r.attempts > 1, `published kafkajs retries (saw ${r.attempts} connection)`);
});
