// SPDX-License-Identifier: Apache-2.0
// Kafka as production runs it: TLS and SCRAM-SHA-512 on the client listener, the
// StandardAuthorizer with allow.everyone.if.no.acl.found=false, and one principal per stage with
// only the ACLs of deploy/kafka/acls.tsv. A real broker (scripts/kafka-local.sh with
// PODTRAIL_KAFKA_SECURITY=sasl_ssl: certificates from openssl, users from kafka-storage
// --add-scram). The whole pipeline runs on those credentials, started together on the empty
// cluster; a capture credential cannot write the audit topic; a wrong password and an untrusted
// CA are one line and exit 2; no password, key or certificate reaches a log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import kafkajs, { Kafka, logLevel, type AclEntry } from 'kafkajs';
import { byPid, readAuditUntil } from '../helpers/audit-account.js';
import { CaptureProc } from '../helpers/capture-proc.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { runCli } from '../helpers/cli.js';
import { buildGenerator, ConnectGenerator } from '../helpers/connect-gen.js';
import { repoRoot } from '../helpers/ns.js';
import { keepLogs, PrivateBroker } from '../helpers/private-broker.js';
import { startStage, stopStage, type Stage } from '../helpers/stages.js';

const missing = missingKernelPrereq();
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;
const run = promisify(execFile);
// kafkajs's enums exist at run time on its default export only (it is CommonJS).
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;
const USERS = ['capture', 'enrich', 'export', 'reader'] as const;
const T = { raw: 'podtrail.raw.v1', audit: 'podtrail.audit.v1', containers: 'podtrail.containers.v1', dlq: 'podtrail.dlq.v1', exported: 'podtrail.export.v1' };

/** deploy/kafka/acls.tsv with acls.sh's defaults, as kafkajs ACL entries. */
function aclTable(): AclEntry[] {
  const vars: Record<string, string> = {
    CAPTURE_USER: 'capture', ENRICH_USER: 'enrich', EXPORT_USER: 'export', READER_USER: 'reader', RAW_TOPIC: T.raw, AUDIT_TOPIC: T.audit,
    CONTAINERS_TOPIC: T.containers, DLQ_TOPIC: T.dlq, EXPORT_TOPIC: T.exported, ENRICH_GROUP: 'podtrail-enrich',
  };
  const expand = (s: string) => s.replace(/\$\{([A-Z_]+)\}/g, (_m, v: string) => {
    if (!(v in vars)) throw new Error(`acls.tsv names an unknown variable ${v}`);
    return vars[v]!;
  });
  const resource: Record<string, number> = { topic: AclResourceTypes.TOPIC, group: AclResourceTypes.GROUP, 'transactional-id': AclResourceTypes.TRANSACTIONAL_ID };
  const op: Record<string, number> = { Read: AclOperationTypes.READ, Write: AclOperationTypes.WRITE, Create: AclOperationTypes.CREATE, Describe: AclOperationTypes.DESCRIBE, Delete: AclOperationTypes.DELETE };
  const out: AclEntry[] = [];
  for (const line of readFileSync(join(repoRoot, 'deploy/kafka/acls.tsv'), 'utf8').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [principal, pattern, res, name, ops] = line.split('\t');
    assert.ok(principal && pattern && res && name && ops, `a whole line: ${line}`);
    for (const o of ops.split(',')) {
      assert.ok(op[o] !== undefined && resource[res] !== undefined, `known operation and resource: ${line}`);
      out.push({
        principal: `User:${expand(principal)}`, host: '*', operation: op[o]!, permissionType: AclPermissionTypes.ALLOW,
        resourceType: resource[res]!, resourceName: expand(name),
        resourcePatternType: pattern === 'prefixed' ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
      });
    }
  }
  return out;
}

describe('Kafka with TLS, SCRAM-SHA-512 and least-privilege ACLs (real broker, real kernel)', { skip }, () => {
  let broker: PrivateBroker | undefined;
  let gen: ConnectGenerator | undefined;
  let cap: CaptureProc | undefined;
  const stages: Stage[] = [];
  const dir = join(repoRoot, '.tmp', `kafka-secure-${process.pid}-${randomBytes(3).toString('hex')}`);
  const users = join(dir, 'users');
  const passwords: Record<string, string> = {};
  let admin: Kafka;
  let ca: string;

  /** The flags of a stage's credentials: TLS with the broker's CA, SCRAM with its password file. */
  const creds = (user: string, caFile = ca, passwordFile = join(users, `${user}.password`)) => [
    '--brokers', broker!.address, '--ssl', '--ssl-ca', caFile, '--sasl-mechanism', 'scram-sha-512', '--sasl-username', user, '--sasl-password-file', passwordFile,
  ];
  const client = (user: string) => new Kafka({
    clientId: `secure-test-${user}`, brokers: [broker!.address], logLevel: logLevel.NOTHING, ssl: { ca: [readFileSync(ca, 'utf8')] },
    sasl: { mechanism: 'scram-sha-512', username: user, password: user === 'admin' ? readFileSync(join(broker!.dir, 'tls/admin.password'), 'utf8').trim() : passwords[user]! },
    retry: { retries: 2 },
  });

  before(async () => {
    if (missing) throw new Error(`kernel capture prerequisites missing: ${missing}`);
    mkdirSync(users, { recursive: true });
    for (const u of USERS) {
      passwords[u] = randomBytes(18).toString('base64url');
      writeFileSync(join(users, `${u}.password`), `${passwords[u]}\n`, { mode: 0o600 });
    }
    gen = new ConnectGenerator(await buildGenerator(), 10, 50);
    broker = await PrivateBroker.create('secure', { PODTRAIL_KAFKA_SECURITY: 'sasl_ssl', PODTRAIL_KAFKA_USERS_DIR: users });
    await broker.start();
    ca = join(broker.dir, 'tls/ca.crt');
    admin = client('admin');
    // The published script's commands are what an operator runs: one of them through Kafka's own
    // kafka-acls (AclCommand) proves their form; the table is granted whole through the admin API.
    const { stdout } = await run('bash', [join(repoRoot, 'deploy/kafka/acls.sh'), '--bootstrap-server', broker.address, '--command-config', join(broker.dir, 'admin.properties'), '--dry-run']);
    const lines = stdout.trim().split('\n');
    const tableLines = readFileSync(join(repoRoot, 'deploy/kafka/acls.tsv'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    assert.equal(lines.length, tableLines.length, 'one kafka-acls command per table line');
    const libs = join(repoRoot, 'scripts/kafka/libs');
    const first = lines[0]!.replace(/^kafka-acls\.sh /, '');
    await run('bash', ['-c', `java -Xmx128m -Dlog4j2.configurationFile=file:${join(repoRoot, 'scripts/kafka/log4j2.properties')} -cp '${libs}/*' org.apache.kafka.tools.AclCommand ${first}`], { timeout: 120_000 });
    const a = admin.admin();
    await a.connect();
    try {
      await a.createAcls({ acl: aclTable() });
    } finally {
      await a.disconnect();
    }
  }, { timeout: 240_000 });

  after(async () => {
    await gen?.stop().catch(() => undefined);
    await cap?.kill();
    for (const s of stages) await stopStage(s);
    keepLogs('kafka-secure', { capture: cap?.stderr, ...Object.fromEntries(stages.map((s) => [s.name, s.log()])) });
    await broker?.discard();
    rmSync(dir, { recursive: true, force: true });
    if (gen) assert.deepEqual(await gen.cleanup(), [], 'cgroups left behind');
  }, { timeout: 120_000 });

  test('the pipeline runs on per-stage credentials, started together on the empty cluster', { timeout: 240_000 }, async () => {
    const enrich = startStage('enrich', ['enrich', ...creds('enrich'), '--host-root', '/nonexistent-host-root', '--file-fallback', 'off']);
    const exp = startStage('export', ['export', ...creds('export'), '--to-topic', T.exported, '--format', 'json']);
    stages.push(enrich, exp);
    cap = await CaptureProc.start([...creds('capture'), '--node', 'secure-node', '--state-dir', 'off']);
    for (let k = 0; k < 3; k++) await gen!.once();
    const total = gen!.runs.reduce((n, r) => n + r.count, 0);
    const recs = await readAuditUntil(admin, T.audit, (rs) => [...byPid(rs, gen!.path).values()].reduce((n, l) => n + l.length, 0) >= total, 120_000);
    const pids = byPid(recs, gen!.path);
    for (const r of gen!.runs) assert.equal(pids.get(r.pid)?.length, r.count, `connects of pid ${r.pid} in the audit topic: ${enrich.log().slice(-3000)}`);
    // The reader principal tails the audit topic.
    const tail = await runCli(['tail', ...creds('reader'), '--topic', T.audit, '--from-beginning', '--max', '1', '--format', 'json'], { timeoutMs: 60_000 });
    assert.equal(tail.code, 0, tail.stderr);
    assert.equal(JSON.parse(tail.stdout.trim().split('\n')[0]!).node, 'secure-node');
    // export wrote its target topic with its own principal.
    const exported = await countJson(admin, T.exported, (j) => j.node === 'secure-node', total);
    assert.ok(exported >= total, `export's topic holds the records (${exported} of ${total})`);
    for (const s of [enrich, exp]) assert.equal(s.child.exitCode, null, `${s.name} runs: ${s.log().slice(-2000)}`);
    const logs = [cap.stderr, enrich.log(), exp.log(), tail.stderr].join('\n');
    for (const [u, p] of Object.entries(passwords)) assert.ok(!logs.includes(p), `${u}'s password is in a log`);
    assert.ok(!logs.includes(readFileSync(join(broker!.dir, 'tls/admin.password'), 'utf8').trim()), 'the admin password is in a log');
    assert.doesNotMatch(logs, /BEGIN (CERTIFICATE|PRIVATE KEY|RSA)/, 'a certificate or key is in a log');
  });

  test('a capture credential cannot write the audit topic: a node cannot forge audit records', async () => {
    const p = client('capture').producer({ idempotent: false, allowAutoTopicCreation: false });
    await p.connect();
    try {
      await assert.rejects(p.send({ topic: T.audit, acks: -1, messages: [{ value: 'forged' }] }),
        (e: any) => /TOPIC_AUTHORIZATION_FAILED|Not authorized/i.test(`${e.type ?? ''} ${e.message} ${e.cause?.type ?? ''}`));
    } finally {
      await p.disconnect();
    }
  });

  test('a wrong password is one line and exit 2, not a retry loop', async () => {
    const wrong = join(dir, 'wrong.password');
    writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
    const t0 = Date.now();
    const r = await runCli(['tail', ...creds('reader', ca, wrong), '--topic', T.audit], { timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, JSON.stringify(r.stderr));
    assert.match(lines[0]!, /refused access.*(SASL|authentication)/i);
    assert.ok(Date.now() - t0 < 30_000, 'it does not retry for long');
    assert.ok(!r.stderr.includes('not-the-password') && !r.stderr.includes(passwords.reader!));
  });

  test('a CA that did not sign the broker is one line and exit 2; capture says so too', async () => {
    const other = join(dir, 'other-ca.crt');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'other-ca.key'), '-out', other, '-days', '1', '-subj', '/CN=not-the-ca']);
    const r = await runCli(['tail', ...creds('reader', other), '--topic', T.audit], { timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /refused access.*(certificate|CERT)/i);
    // capture attaches first, then meets the same refusal: exit 2, one error-level line.
    const c = await runCli(['capture', ...creds('capture', other), '--node', 'secure-node-2', '--state-dir', 'off'], { timeoutMs: 90_000, env: { PODTRAIL_LOG_LEVEL: 'info' } });
    assert.equal(c.code, 2, c.stderr.slice(-3000));
    // One line says why; the only other error-level line counts what was captured and never
    // published (no loss is silent).
    const errors = c.stderr.split('\n').filter((l) => /^\{"level":(50|60),/.test(l));
    assert.match(errors[0] ?? '', /"level":60.*refused access.*(certificate|CERT)/i, c.stderr.slice(-3000));
    assert.ok(errors.length <= 2, c.stderr.slice(-3000));
    if (errors[1]) assert.match(errors[1], /stopping with unsent raw events/);
  });
});

/** Reads `topic` from the beginning (read_committed) until `min` JSON records match `pick`, or 60 s pass; returns how many did. */
async function countJson(kafka: Kafka, topic: string, pick: (j: Record<string, unknown>) => boolean, min: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `secure-test-read-${randomBytes(4).toString('hex')}`, readUncommitted: false, maxWaitTimeInMs: 500 });
  let n = 0;
  let done!: () => void;
  const enough = new Promise<void>((r) => (done = r));
  const timer = setTimeout(() => done(), 60_000);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value && pick(JSON.parse(message.value.toString('utf8')) as Record<string, unknown>)) n++;
        if (n >= min) done();
      },
    });
    await enough;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return n;
}
