// SPDX-License-Identifier: Apache-2.0
// podtrail inventory against the real broker, started as users start it. The audit topic is
// written as enrich writes it (the real codec, in Kafka transactions, one of them aborted), with
// a LOSS record and a message that is not Avro; the containers topic holds a pod that never
// connects out. The window's edges, read_committed, the throwaway group, the filters and
// --compare-since are checked in the printed output.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Kafka, Message } from 'kafkajs';
import { codec } from '../../src/schema/codec.js';
import { isoNanos } from '../../src/schema/json-form.js';
import { parseAddr } from '../../src/schema/addr.js';
import type { AuditRecord, ContainerMeta } from '../../src/schema/types.js';
import type { Inventory } from '../../src/inventory/model.js';
import { runCli } from '../helpers/cli.js';
import { BROKERS, createTopics, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { sampleAudit } from '../helpers/records.js';
import { BARE_ENDPOINT } from '../../src/schema/endpoint.js';

const MIN = 60_000_000_000n;
const NOW = BigInt(Date.now()) * 1_000_000n;
const CUR = NOW - 5n * MIN; // the current window: [NOW - 10 min, NOW)
const OLD = NOW - 15n * MIN; // the earlier window: [NOW - 20 min, NOW - 10 min)
let seq = 0n;

function audit(wl: string, dst: string, port: number, time: bigint, status: 'OK' | 'REFUSED' = 'OK', labels?: Record<string, string>): AuditRecord {
  seq++;
  const base = sampleAudit({ seq, eventId: `node-a:inv:${seq}` });
  const pod = `${wl}-6b7c9d-${seq}`;
  return {
    ...base, time, dst: { ...BARE_ENDPOINT, addr: parseAddr(dst), port }, result: { status, errno: status === 'OK' ? 0 : 111 },
    pod: { ...base.pod!, name: pod, uid: `uid-${pod}`, labels: labels ?? { app: wl, 'pod-template-hash': '6b7c9d' }, workload: { kind: 'Deployment', name: wl }, ips: [`10.244.0.${Number(seq % 200n) + 2}`] },
  };
}

function loss(time: bigint): AuditRecord {
  return {
    ...sampleAudit({ seq: ++seq, eventId: `node-a:inv:loss` , time }),
    protocol: null, family: null, src: null, dst: null, result: null, process: null, netns: null, mntns: null, pidns: null,
    utsName: null, cgroup: null, container: null, pod: null,
    attribution: { status: 'LOSS', source: 'capture', reason: 'ring buffer full' },
    loss: { instance: 'inv', fromSeq: 100n, toSeq: 104n, count: 5n, cause: 'KERNEL_RING_BUFFER', firstTime: time, lastTime: time },
  };
}

function dbMeta(): ContainerMeta {
  return {
    containerId: 'c0ffee', node: 'node-b', runtime: 'containerd', time: OLD - MIN, firstSeen: OLD - MIN, validFrom: OLD - MIN, deletedTime: null,
    name: 'pg', image: 'postgres:16', hostname: 'pg-0', isSandbox: false, sandboxId: 'sb',
    pod: { name: 'pg-0', namespace: 'data', uid: 'uid-pg-0', labels: { app: 'pg', 'controller-revision-hash': 'pg-5d8', 'statefulset.kubernetes.io/pod-name': 'pg-0' }, annotations: {}, hostNetwork: false, workload: { kind: 'StatefulSet', name: 'pg' }, ips: ['10.244.1.20'] },
    networkMode: null, utsMode: null, cgroupPaths: [], origin: 'cri', bounded: null, note: null,
  };
}

const msg = (r: AuditRecord): Message => ({ key: `${r.node}/1234`, value: codec().encode('AuditRecord', r) });

describe('podtrail inventory on a real broker', () => {
  let kafka: Kafka;
  const auditTopic = uniqueTopic('inv-audit');
  const containersTopic = uniqueTopic('inv-containers');
  const common = () => ['--audit-topic', auditTopic, '--containers-topic', containersTopic, '--brokers', BROKERS.join(',')];
  const run = async (args: string[]) => {
    const r = await runCli(['inventory', ...common(), ...args], { timeoutMs: 60_000 });
    return r;
  };

  before(async () => {
    kafka = await requireBroker();
    await createTopics(kafka, [auditTopic], 2);
    await createTopics(kafka, [containersTopic], 1);
    await produce(kafka, containersTopic, [{ key: 'c0ffee', value: codec().encode('ContainerMeta', dbMeta()) }]);
    const producer = kafka.producer({ transactionalId: `inv-${randomBytes(4).toString('hex')}`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const committed = [
        audit('web', '93.184.216.34', 443, CUR), audit('web', '93.184.216.34', 443, CUR + 1n), audit('web', '93.184.216.34', 443, CUR + 2n, 'REFUSED'),
        audit('web', '10.244.1.20', 5432, CUR + 3n),
        audit('web', '169.254.169.254', 80, CUR + 4n),
        audit('api', '1.1.1.1', 443, OLD, 'OK', { app: 'api' }), audit('api', '1.1.1.1', 443, CUR, 'OK', { app: 'api' }),
        audit('api', '2.2.2.2', 443, CUR, 'OK', { app: 'api' }), audit('api', '3.3.3.3', 443, OLD, 'OK', { app: 'api' }),
        // outside every window asked for: before the earlier window, and after --until
        audit('web', '4.4.4.4', 443, NOW - 60n * MIN), audit('web', '5.5.5.5', 443, NOW + 10n * MIN),
        loss(CUR),
      ];
      const txn = await producer.transaction();
      await txn.send({ topic: auditTopic, acks: -1, messages: committed.map(msg) });
      await txn.commit();
      const aborted = await producer.transaction();
      await aborted.send({ topic: auditTopic, acks: -1, messages: [msg(audit('web', '6.6.6.6', 443, CUR))] });
      await aborted.abort();
    } finally {
      await producer.disconnect();
    }
    await produce(kafka, auditTopic, [{ key: 'node-a/1', value: Buffer.from('not avro at all'), partition: 0 }]);
  });

  after(async () => {
    if (kafka) await deleteTopics(kafka, [auditTopic, containersTopic]);
  });

  const since = isoNanos(NOW - 10n * MIN);
  const until = isoNanos(NOW);
  const compare = isoNanos(NOW - 20n * MIN);

  test('json: the window\'s committed records, classes, counts and new/gone; the throwaway group is deleted', async () => {
    const groupsBefore = new Set((await listGroups(kafka)).filter((g) => g.startsWith('podtrail-inventory-')));
    const r = await run(['--since', since, '--until', until, '--compare-since', compare, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const inv = JSON.parse(r.stdout) as Inventory;
    assert.equal(inv.summary.undecodable, 1);
    assert.match(r.stderr, /skipped undecodable message/);
    assert.equal(inv.summary.loss.records, 1);
    assert.deepEqual(inv.workloads.map((w) => `${w.namespace}/${w.kind}/${w.name}`), ['shop/Deployment/api', 'shop/Deployment/web']);
    const web = inv.workloads[1]!;
    const rows = web.destinations.map((d) => [d.class, d.ips.join(), d.port, d.connections, d.failures, d.change]);
    assert.deepEqual(rows, [
      ['in-cluster-workload', '10.244.1.20', 5432, 1, 0, 'new'],
      ['cloud-metadata', '169.254.169.254', 80, 1, 0, 'new'],
      ['public', '93.184.216.34', 443, 3, 1, 'new'],
    ], 'the aborted 6.6.6.6 and the out-of-window 4.4.4.4 and 5.5.5.5 are absent');
    assert.deepEqual(web.destinations[0]!.peer, { namespace: 'data', kind: 'StatefulSet', name: 'pg', labels: { app: 'pg', 'controller-revision-hash': 'pg-5d8', 'statefulset.kubernetes.io/pod-name': 'pg-0' } });
    const api = inv.workloads[0]!;
    assert.deepEqual(api.destinations.map((d) => [d.ips[0], d.change, d.connections]), [['1.1.1.1', 'kept', 1], ['2.2.2.2', 'new', 1], ['3.3.3.3', 'gone', 1]]);
    const left = (await listGroups(kafka)).filter((g) => g.startsWith('podtrail-inventory-') && !groupsBefore.has(g));
    assert.deepEqual(left, [], 'the throwaway consumer groups are deleted');
  });

  test('markdown with namespace and selector filters; two runs print the same bytes', async () => {
    const args = ['--since', since, '--until', until, '--namespace', 'shop', '--selector', 'app=web', '--format', 'markdown'];
    const a = await run(args);
    const b = await run(args);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /^## shop\/Deployment\/web$/m);
    assert.doesNotMatch(a.stdout, /Deployment\/api/);
    assert.match(a.stdout, /\| public \| 93\.184\.216\.34 \| 443\/TCP \| 3 \| 1 \| 3 \| curl \|/);
  });

  test('a selector that matches nothing, and an empty window, say so', async () => {
    const none = await run(['--since', since, '--until', until, '--selector', 'app=nothing', '--format', 'markdown']);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /No connection matched the namespace, workload or label filters/);
    const future = await run(['--since', isoNanos(NOW + 60n * MIN), '--format', 'html']);
    assert.equal(future.code, 0, future.stderr);
    assert.match(future.stdout, /The window holds no audit records/);
  });

  test('--whole-topic finds records whose publish time is far from their event time (a replay\'s output)', async () => {
    const args = ['--since', isoNanos(NOW - 90n * MIN), '--until', isoNanos(NOW - 50n * MIN), '--format', 'json'];
    const positioned = JSON.parse((await run(args)).stdout) as Inventory;
    assert.equal(positioned.summary.records, 0, 'published now: positioning by publish time skips them');
    const whole = JSON.parse((await run([...args, '--whole-topic'])).stdout) as Inventory;
    assert.deepEqual(whole.workloads.flatMap((w) => w.destinations.map((d) => d.ips[0])), ['4.4.4.4']);
  });

  test('--input: the JSON lines tail prints give the same inventory as the topic; bad lines are counted and named', async () => {
    const tail = await runCli(['tail', '--topic', auditTopic, '--from-beginning', '--format', 'json', '--idle-exit', '3000', '--brokers', BROKERS.join(',')], { timeoutMs: 60_000 });
    assert.equal(tail.code, 0, tail.stderr);
    const args = ['--since', since, '--until', until, '--compare-since', compare, '--format', 'json'];
    const fromTopic = JSON.parse((await run(['--pod-addresses', 'off', ...args])).stdout) as Inventory;
    const input = `${tail.stdout}not json\n{"time":"x"}\n`;
    const fromJson = await runCli(['inventory', '--input', '-', ...args], { input, timeoutMs: 60_000 });
    assert.equal(fromJson.code, 0, fromJson.stderr);
    const inv = JSON.parse(fromJson.stdout) as Inventory;
    assert.deepEqual(inv.workloads, fromTopic.workloads);
    assert.equal(inv.summary.undecodable, 2);
    assert.match(fromJson.stderr, /skipped input line \d+: not JSON/);
    const missingFile = await runCli(['inventory', '--input', '/nonexistent/podtrail.jsonl'], { timeoutMs: 30_000 });
    assert.equal(missingFile.code, 2);
    assert.match(missingFile.stderr, /--input: cannot read/);
  });

  test('bad input: a missing topic, a bad selector and a reversed window exit 2 with the reason', async () => {
    const missing = await runCli(['inventory', '--audit-topic', uniqueTopic('inv-missing'), '--pod-addresses', 'off', '--brokers', BROKERS.join(',')], { timeoutMs: 60_000 });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /does not exist on this cluster/);
    const sel = await run(['--selector', 'app in (a']);
    assert.equal(sel.code, 2);
    assert.match(sel.stderr, /--selector: label selector "app in \(a": unbalanced parentheses/);
    const rev = await run(['--since', until, '--until', since]);
    assert.equal(rev.code, 2);
    assert.match(rev.stderr, /--until must be after --since/);
  });
});

async function listGroups(kafka: Kafka): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.listGroups()).groups.map((g) => g.groupId);
  } finally {
    await admin.disconnect();
  }
}
