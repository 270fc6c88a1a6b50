// SPDX-License-Identifier: Apache-2.0
// Readiness probe for kafka-local.sh: exits 0 once the broker at 127.0.0.1:PORT
// answers a Metadata request that lists at least one broker, 1 if PID dies first,
// 2 on timeout. Usage: node probe.mjs PORT TIMEOUT_MS [PID]
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';

const [portArg, timeoutArg, pidArg] = process.argv.slice(2);
const port = Number(portArg);
const timeoutMs = Number(timeoutArg);
const pid = pidArg === undefined ? undefined : Number(pidArg);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !(timeoutMs > 0)) {
  console.error('usage: probe.mjs PORT TIMEOUT_MS [PID]');
  process.exit(64);
}

function alive(p) {
  try {
    process.kill(p, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

// PODTRAIL_KAFKA_SECURITY=sasl_ssl: kafka-local.sh passes its TLS dir; the probe is the admin.
const tlsDir = process.env.KAFKA_LOCAL_TLS;
const secure = tlsDir
  ? {
    ssl: { ca: [readFileSync(`${tlsDir}/ca.crt`, 'utf8')] },
    sasl: { mechanism: 'scram-sha-512', username: 'admin', password: readFileSync(`${tlsDir}/admin.password`, 'utf8').trim() },
  }
  : {};

const deadline = Date.now() + timeoutMs;
let lastError = 'no attempt';
while (Date.now() < deadline) {
  if (pid !== undefined && !alive(pid)) {
    console.error(`broker process ${pid} exited during startup`);
    process.exit(1);
  }
  // A fresh client per attempt: kafkajs keeps a failed seed connection's state.
  const kafka = new Kafka({
    clientId: 'podtrail-kafka-local-probe',
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
    ...secure,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length > 0) {
      console.log(`cluster ${cluster.clusterId} broker(s) ${cluster.brokers.map((b) => `${b.host}:${b.port}`).join(',')}`);
      await admin.disconnect();
      process.exit(0);
    }
    lastError = 'metadata lists no brokers yet';
  } catch (err) {
    lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  await admin.disconnect().catch(() => {});
  await new Promise((r) => setTimeout(r, 250));
}
console.error(`no metadata answer from 127.0.0.1:${port} within ${timeoutMs} ms (last: ${lastError})`);
process.exit(2);
