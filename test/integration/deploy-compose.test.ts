// SPDX-License-Identifier: Apache-2.0
// docker-compose.yml through Debian's docker-compose (`config` validates the file against
// the Compose schema and prints it resolved; it never talks to an engine, and DOCKER_HOST
// points at nothing to make sure). Then what the schema cannot say: a KRaft combined-mode
// broker that hangs together, capture's privileges and read-only mounts, and commands
// that podtrail's own parser accepts. No container is ever started.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/cli.js';
import { dockerCompose, ensureValidatorVenv, hasCommand, parseCli, skipUnlessCi, yamlDocs } from '../helpers/deploy-tools.js';
import { CAPTURE_NODE_FLAGS } from '../../src/capture/node-flags.js';

const missing = !hasCommand('docker-compose')
  ? 'docker-compose is missing (apt-get install -y docker-compose)'
  : ensureValidatorVenv();

describe('docker-compose.yml', { skip: skipUnlessCi(missing) }, () => {
  let services: Record<string, any> = {};
  let tmp = '';

  before(() => {
    if (missing) throw new Error(missing);
    const r = dockerCompose(['-f', 'docker-compose.yml', 'config']);
    assert.equal(r.status, 0, r.stderr);
    services = yamlDocs([], r.stdout)[0].services;
    tmp = mkdtempSync(path.join(tmpdir(), 'podtrail-compose-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('has exactly kafka, capture, enrich and export', () => {
    assert.deepEqual(Object.keys(services).sort(), ['capture', 'enrich', 'export', 'kafka']);
  });

  test('kafka: the apache/kafka image of the broker version the tests use, in KRaft combined mode', () => {
    const k = services.kafka;
    const pom = readFileSync(path.join(REPO_ROOT, 'scripts/kafka/pom.xml'), 'utf8');
    const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1];
    assert.equal(k.image, `apache/kafka:${version}`);
    const env = k.environment as Record<string, string | number>;
    assert.equal(env.KAFKA_PROCESS_ROLES, 'broker,controller');
    const listeners = new Map(String(env.KAFKA_LISTENERS).split(',').map((l) => {
      const m = /^([A-Z_]+):\/\/[^:]*:(\d+)$/.exec(l);
      assert.ok(m, `listener ${l}`);
      return [m[1]!, Number(m[2])] as const;
    }));
    const protocols = new Set(String(env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP).split(',').map((p) => p.split(':')[0]));
    for (const name of listeners.keys()) assert.ok(protocols.has(name), `${name} has no security protocol`);
    const controller = String(env.KAFKA_CONTROLLER_LISTENER_NAMES);
    assert.ok(listeners.has(controller));
    // The one voter is this node, on its controller listener, by the service's name.
    assert.equal(env.KAFKA_CONTROLLER_QUORUM_VOTERS, `${env.KAFKA_NODE_ID}@kafka:${listeners.get(controller)}`);
    const advertised = String(env.KAFKA_ADVERTISED_LISTENERS).split(',');
    assert.ok(!advertised.some((a) => a.startsWith(`${controller}:`)), 'controllers are not advertised');
    assert.ok(advertised.includes(`${env.KAFKA_INTER_BROKER_LISTENER_NAME}://kafka:9092`));
    assert.match(String(env.CLUSTER_ID), /^[A-Za-z0-9_-]{22}$/, 'a base64 UUID');
    // enrich's exactly-once producer needs a transaction log one node can hold.
    for (const k2 of ['KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR']) {
      assert.equal(Number(env[k2]), 1, k2);
    }
    assert.ok(k.healthcheck?.test, 'a healthcheck that the others wait on');
    for (const p of k.ports ?? []) assert.match(String(p.host_ip ?? p), /^127\.0\.0\.1/, 'published on loopback only');
  });

  test('capture: privileged, pid host, uid 0, the host paths it reads mounted read-only', () => {
    const c = services.capture;
    assert.equal(c.privileged, true);
    assert.equal(c.pid, 'host');
    assert.equal(String(c.user), '0');
    const mounts = (c.volumes as string[]).map((v) => v.split(':'));
    // Every host path read-only, but capture's own instance state (it must write it).
    for (const [host, inside, mode] of mounts) {
      if (host === '/run/podtrail') assert.equal(inside, '/run/podtrail');
      else assert.equal(mode, 'ro', `${host} -> ${inside} must be read-only`);
    }
    assert.ok(mounts.some(([host]) => host === '/run/podtrail'), 'capture keeps its instance state on the host');
    // V8 reads heap limits only at startup: the image's capture gets them through NODE_OPTIONS.
    assert.deepEqual(String((c.environment as Record<string, string>).NODE_OPTIONS).split(/\s+/), [...CAPTURE_NODE_FLAGS]);
    assert.deepEqual(mounts.map(([h, i]) => `${h}:${i}`), [
      '/sys:/sys', '/sys/kernel/tracing:/sys/kernel/tracing', '/sys/fs/cgroup:/sys/fs/cgroup',
      '/var/lib/docker:/var/lib/docker', '/etc/docker:/etc/docker', '/run/podtrail:/run/podtrail',
    ]);
  });

  test('enrich and export: the image\'s unprivileged user, no host mounts', () => {
    for (const name of ['enrich', 'export']) {
      const s = services[name];
      assert.ok(!s.privileged && !s.pid && !s.volumes && s.user === undefined, name);
    }
  });

  test('every podtrail service: one image built here, waits for a healthy Kafka, a /healthz check', () => {
    for (const name of ['capture', 'enrich', 'export']) {
      const s = services[name];
      assert.equal(s.image, 'podtrail:local', name);
      assert.equal(s.build.context, REPO_ROOT, name);
      assert.equal(s.depends_on.kafka.condition, 'service_healthy', name);
      assert.match(s.healthcheck.test.join(' '), /127\.0\.0\.1:9464\/healthz/, name);
      assert.equal(s.environment.PODTRAIL_BROKERS, 'kafka:9092', name);
    }
  });

  test('each command and environment parses with podtrail\'s own option parser', async () => {
    for (const name of ['capture', 'enrich', 'export']) {
      const s = services[name];
      const v = await parseCli(s.command, s.environment);
      assert.deepEqual(v.brokers, ['kafka:9092'], name);
      assert.equal(v['metrics-port'], 9464, `${name}: serves the port its healthcheck asks`);
    }
    assert.deepEqual(services.export.command.slice(0, 5), ['export', '--format', 'ocsf', '--to-topic', 'podtrail.ocsf.v1']);
  });

  test('docker-compose config rejects a malformed file (bad input is caught)', () => {
    const good = readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
    const cases: Array<[string, string, RegExp]> = [
      ['type', good.replace('privileged: true', 'privileged: "very"'), /privileged/],
      ['unknown key', good.replace('pid: host', 'pid: host\n    pidd: host'), /pidd/],
      ['bad yaml', `${good}\n  broken: [\n`, /yaml|expected|while parsing/i],
    ];
    for (const [what, text, why] of cases) {
      assert.notEqual(text, good, `${what}: the mutation did not apply`);
      const f = path.join(tmp, 'docker-compose.yml');
      writeFileSync(f, text);
      const r = dockerCompose(['-f', f, 'config'], tmp);
      assert.notEqual(r.status, 0, `${what}: accepted`);
      assert.match(r.stderr, why, what);
    }
  });
});
