#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Writes docs/siem.md: its prose is below, its examples are real output made here, from a
// private dockerd with a kubelet-shaped pod, the real capture and enrich stages on a broker,
// one connect from the pod, and the resulting audit record in every format. Run as root after
// `npm ci`, and commit the page it writes:
//   PODTRAIL_BROKERS=127.0.0.1:9092 node scripts/readme-examples.mjs
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDockerd } from '../dist/test/helpers/dockerd.js';
import { createPod } from '../dist/test/helpers/pods.js';
import { connectFrom, listenTcp } from '../dist/test/helpers/container-net.js';
import { startStage, stopStage, waitForLog, tailUntil } from '../dist/test/helpers/stages.js';
import { runCli } from '../dist/test/helpers/cli.js';

const brokers = process.env.PODTRAIL_BROKERS ?? '127.0.0.1:9092';
const page = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'docs', 'siem.md');
const out = {};
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
  out.json = JSON.stringify(rec, null, 2);
  for (const f of ['pretty', 'ocsf', 'ecs']) {
    const r = await runCli(['tail', '--topic', t.audit, '--from-beginning', '--idle-exit', '3000', '--format', f, '--brokers', brokers]);
    const line = r.stdout.split("\n").find((l) => l.includes(`"${rec.eventId}"`) || (f === 'pretty' && l.includes(`[${conn.hostPid}]`)));
    if (!line) throw new Error(`no ${f} line for ${rec.eventId}`);
    out[f] = f === 'pretty' ? line : JSON.stringify(JSON.parse(line), null, 2);
  }
  // CEF over syslog (UDP here; TCP uses octet counting), as a SIEM's collector receives it.
  const sock = createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const got = new Promise((resolve) => sock.on('message', (m) => { if (m.toString().includes(rec.eventId + ' ') || m.toString().includes(`externalId=${rec.eventId} `)) resolve(m.toString()); }));
  const exp = startStage('export', ['export', '--syslog', `udp://127.0.0.1:${sock.address().port}`, '--format', 'cef', '--audit-topic', t.audit, '--dlq-topic', t.dlq, '--group', `readme-x-${id}`, '--brokers', brokers]);
  stages.push(exp);
  out.cef = String(await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Error('no CEF message in 60 s')), 60_000))])).trimEnd();
  sock.close();
  writeFileSync(page, render(out));
  console.log(`readme-examples: wrote ${page}`);
} finally {
  for (const s of stages) await stopStage(s);
  await d.stop();
  const del = spawn(process.execPath, ['-e', `
    const { Kafka, logLevel } = require('kafkajs');
    const a = new Kafka({ brokers: ${JSON.stringify(brokers.split(','))}, logLevel: logLevel.NOTHING }).admin();
    a.connect().then(() => a.deleteTopics({ topics: ${JSON.stringify(Object.values(t))} })).finally(() => a.disconnect());`], { stdio: 'inherit' });
  await new Promise((r) => del.on('exit', r));
}

function render(o) {
  const fence = (lang, text) => `\`\`\`${lang}\n${text}\n\`\`\``;
  return `<!-- Written by scripts/readme-examples.mjs: edit the prose there, and run it to refresh the examples. -->

# Plug into your SIEM

Every example below is real output, made by \`scripts/readme-examples.mjs\` (a private dockerd
with a kubelet-shaped pod \`shop/web-7d9f8b6c5d-x2k4q\`, the real capture and enrich stages, and
one connect from the pod's \`app\` container to a listener in its own network namespace). The
fields are described in [the records reference](reference/records.md).

## Three ways out

All three read the audit topic read_committed:

- \`podtrail tail --topic podtrail.audit.v1 --format json|ocsf|ecs\` for a pipe (Vector, Fluent Bit,
  a script).
- \`podtrail export --format json|ocsf|ecs --to-topic T\`: a consumer group (exactly-once by
  default) writing JSON keyed by \`eventId\` for Kafka Connect sinks (Splunk's, Elastic's with
  \`key.ignore=false\`); give the sink \`consumer.override.isolation.level=read_committed\`.
  Undecodable records go to the DLQ with the error in headers.
- \`podtrail export --syslog tcp://HOST:PORT|udp://HOST:PORT --format cef|json\` for QRadar,
  ArcSight, or Sentinel through its agent: RFC 5424 messages, TCP with octet-counting framing
  (RFC 6587), reconnecting with backoff; offsets are committed only once a message is written,
  so a syslog server that goes away delays records, it does not lose them.

## The audit record

\`podtrail tail --topic podtrail.audit.v1 --format json\`:

${fence('json', o.json)}

\`--format pretty\`:

${fence('', o.pretty)}

## OCSF

Network Activity, \`class_uid\` 4001; activity Open, Refuse or Fail from the result; pod name
and namespace in \`unmapped.pod\`; LOSS records are activity Other with \`count\`; the process's
executable in \`actor.process.file\`, its command line in \`cmd_line\`, the parent image in
\`parent_process\`, the ancestry as \`ancestry\` (process entities, nearest first) and as OCSF's
older \`lineage\` (paths, oldest first, ending with the process's own; \`""\` for an ancestor
whose executable is unknown, such as the node's pid 1); \`exeFlags\`, \`argsTruncated\` and the
process key in \`unmapped.process\`:

${fence('json', o.ocsf)}

## ECS

With \`network.community_id\` (Community ID v1, tested against the spec's vectors);
\`process.executable\`, \`args\`, \`args_count\`, \`command_line\` and
\`parent.{pid,name,executable}\`; the ancestry and exe flags, which ECS has no field for, in
\`podtrail.process\`:

${fence('json', o.ecs)}

## CEF over syslog

As the collector receives it. \`sproc\` is the executable's path, \`cs6\` the command line
(\`processCommandLine\`), \`cn3\` the exe flags as bits when there are any (\`exeFlags\`: DELETED 1,
FILELESS 2, MEMFD 4, UPPER_LAYER 8, PATH_TRUNCATED 16, UNREACHABLE 32). All six custom strings
are in use, so the pod UID is not in the CEF line; it is in the JSON, OCSF and ECS forms:

${fence('', o.cef)}

## Confluent Schema Registry

With \`--schema-registry URL\`, capture, enrich and replay write Avro with Confluent's framing
(\`0x00\` + schema id; subject \`<topic>-value\`, and \`<topic>-io.podtrail.v1.CaptureLoss\` for the
raw topic's loss records), and every reader (enrich, export, tail) accepts both framings. It is
tested against a stand-in for the registry's REST API: no real registry server runs where the
tests run (Apicurio 3 needs Java 21 and a module Maven Central does not serve; Karapace is not
on PyPI).
`;
}
