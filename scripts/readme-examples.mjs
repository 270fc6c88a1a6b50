#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Regenerates the README's worked examples from real output: a private dockerd with a
// kubelet-shaped pod, the real capture and enrich stages on a local broker, one connect from
// the pod, and the resulting audit record in every format. Run as root after `npm ci`:
//   PODTRAIL_BROKERS=127.0.0.1:9092 node scripts/readme-examples.mjs
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { hostname } from 'node:os';
import { startDockerd } from '../dist/test/helpers/dockerd.js';
import { createPod } from '../dist/test/helpers/pods.js';
import { connectFrom, listenTcp } from '../dist/test/helpers/container-net.js';
import { startStage, stopStage, waitForLog, tailUntil } from '../dist/test/helpers/stages.js';
import { runCli } from '../dist/test/helpers/cli.js';

const brokers = process.env.PODTRAIL_BROKERS ?? '127.0.0.1:9092';
const id = Date.now().toString(36);
const t = { raw: `readme.raw.${id}`, audit: `readme.audit.${id}`, meta: `readme.meta.${id}`, dlq: `readme.dlq.${id}` };
const d = await startDockerd();
const stages = [];
try {
  const web = await createPod(d, { name: 'web-7d9f8b6c5d-x2k4q', namespace: 'shop', qos: 'burstable', labels: { app: 'web', tier: 'front', 'pod-template-hash': '7d9f8b6c5d' }, containers: [{ name: 'app', cmd: ['sleep', '100000'] }] });
  const common = ['--raw-topic', t.raw, '--containers-topic', t.meta, '--audit-topic', t.audit, '--dlq-topic', t.dlq, '--brokers', brokers];
  const capture = startStage('capture', ['capture', ...common, '--node', hostname(), '--host-root', d.hostRoot]);
  stages.push(capture);
  await waitForLog(capture, 'capture started', 30_000);
  const enrich = startStage('enrich', ['enrich', ...common, '--group', `readme-${id}`, '--host-root', d.hostRoot]);
  stages.push(enrich);
  await waitForLog(enrich, 'enrich running', 30_000);
  const app = web.container('app');
  const conn = await connectFrom(d, app, { port: (await listenTcp(d, app)).port });
  const recs = await tailUntil(t.audit, (rs) => rs.some((r) => r.process?.pid === conn.hostPid), 60_000);
  const rec = recs.find((r) => r.process?.pid === conn.hostPid);
  if (!rec) {
    const raw = await runCli(['tail', '--topic', t.raw, '--from-beginning', '--idle-exit', '3000', '--brokers', brokers]);
    throw new Error(`no audit record for pid ${conn.hostPid} (ok=${conn.ok}) among ${recs.length}; raw has it: ${raw.stdout.includes(`"pid":${conn.hostPid}`)}; enrich log: ${enrich.log().slice(-1500)}`);
  }
  console.log('## json\n' + JSON.stringify(rec));
  for (const f of ['pretty', 'ocsf', 'ecs']) {
    const r = await runCli(['tail', '--topic', t.audit, '--from-beginning', '--idle-exit', '3000', '--format', f, '--brokers', brokers]);
    const line = r.stdout.split("\n").find((l) => l.includes(`"${rec.eventId}"`) || (f === 'pretty' && l.includes(`[${conn.hostPid}]`)));
    console.log(`## ${f}\n${line}`);
  }
  // CEF over syslog (UDP here; TCP uses octet counting), as a SIEM's collector receives it.
  const sock = createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const got = new Promise((resolve) => sock.on('message', (m) => { if (m.toString().includes(rec.eventId + ' ') || m.toString().includes(`externalId=${rec.eventId} `)) resolve(m.toString()); }));
  const exp = startStage('export', ['export', '--syslog', `udp://127.0.0.1:${sock.address().port}`, '--format', 'cef', '--audit-topic', t.audit, '--dlq-topic', t.dlq, '--group', `readme-x-${id}`, '--brokers', brokers]);
  stages.push(exp);
  console.log('## cef (syslog)\n' + (await Promise.race([got, new Promise((r) => setTimeout(() => r('(timeout)'), 60_000))])));
  sock.close();
} finally {
  for (const s of stages) await stopStage(s);
  await d.stop();
  const del = spawn(process.execPath, ['-e', `
    const { Kafka, logLevel } = require('kafkajs');
    const a = new Kafka({ brokers: ${JSON.stringify(brokers.split(','))}, logLevel: logLevel.NOTHING }).admin();
    a.connect().then(() => a.deleteTopics({ topics: ${JSON.stringify(Object.values(t))} })).finally(() => a.disconnect());`], { stdio: 'inherit' });
  await new Promise((r) => del.on('exit', r));
}
