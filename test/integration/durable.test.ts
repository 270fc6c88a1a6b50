// SPDX-License-Identifier: Apache-2.0
// Durable attribution on the real kernel, broker and dockerd: capture publishes container
// metadata to its topic; two enrich members whose host root holds none of the node's files
// attribute from that topic alone; a pod that lives for about a second is attributed live
// and again by a replay after it is gone; a sequence gap gives exactly one LOSS record; and
// replaying the same window twice gives identical records.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { runCli } from '../helpers/cli.js';
import { connectFrom, listenTcp, type ConnectResult } from '../helpers/container-net.js';
import { type Dockerd, checkPrerequisites, startDockerd } from '../helpers/dockerd.js';
import { BROKERS, createTopics, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { type Pod, createPod } from '../helpers/pods.js';
import { sampleRaw } from '../helpers/records.js';
import { startStage, stopStage, tailUntil, waitForLog, type J, type Stage } from '../helpers/stages.js';

const pre = await checkPrerequisites();
const kernelMissing = missingKernelPrereq();
const missing = [...pre.missing, ...(kernelMissing ? [kernelMissing] : [])];
const NODE = hostname();
const codec = new Codec();

if (missing.length > 0) {
  test('durable attribution: prerequisites', { skip: process.env.CI === 'true' ? false : missing.join('; ') }, () => {
    assert.fail(`missing: ${missing.join('; ')}`);
  });
} else {
  describe('durable attribution: containers topic, enrich anywhere, replay, loss', { concurrency: false }, () => {
    const t = { raw: uniqueTopic('du-raw'), audit: uniqueTopic('du-audit'), dlq: uniqueTopic('du-dlq'), meta: uniqueTopic('du-meta') };
    const group = uniqueTopic('du-group');
    let kafka: Kafka;
    let d: Dockerd;
    let web: Pod;
    let blink: Pod;
    let emptyRoot = '';
    const stages: Stage[] = [];
    let webConn: ConnectResult;
    let blinkMs = 0;
    let since = '';
    let until = '';
    let live: J[] = [];
    const GAP_INSTANCE = `gap${Date.now().toString(36)}`;

    before(async () => {
      kafka = await requireBroker();
      await createTopics(kafka, [t.raw, t.audit, t.meta], 3);
      await createTopics(kafka, [t.dlq], 1);
      d = await startDockerd();
      emptyRoot = await mkdtemp(join(tmpdir(), 'pt-empty-root-'));
      web = await createPod(d, { name: 'web-5c8d7f9b4-q7x2m', namespace: 'shop', qos: 'burstable', labels: { app: 'web', 'pod-template-hash': '5c8d7f9b4' }, containers: [{ name: 'app', cmd: ['sleep', '100000'] }] });

      since = new Date().toISOString();
      const capture = startStage('capture', ['capture', '--raw-topic', t.raw, '--containers-topic', t.meta, '--node', NODE, '--host-root', d.hostRoot, '--brokers', BROKERS.join(',')]);
      stages.push(capture);
      await waitForLog(capture, 'kernel capture attached', 30_000);
      for (const name of ['a', 'b']) {
        stages.push(startStage(`enrich ${name}`, ['enrich', '--raw-topic', t.raw, '--audit-topic', t.audit, '--dlq-topic', t.dlq, '--containers-topic', t.meta,
          '--group', group, '--transactional-id', `${group}-${name}`, '--host-root', emptyRoot, '--file-fallback', 'off',
          '--transaction-timeout', '5000', '--gap-window', '20', '--brokers', BROKERS.join(',')]));
      }
      for (const s of stages.slice(1)) await waitForLog(s, 'enrich running', 30_000);

      const app = web.container('app');
      webConn = await connectFrom(d, app, { port: (await listenTcp(d, app)).port });

      // A pod that lives about a second: it connects as it starts, then both its containers go.
      const t0 = Date.now();
      blink = await createPod(d, { name: 'blink-7f6d5', namespace: 'jobs', qos: 'besteffort', labels: { app: 'blink' }, containers: [{ name: 'once', cmd: ['sh', '-c', 'nc 127.0.0.1 1 </dev/null; sleep 60'] }] });
      const rmRes = await d.docker(['rm', '-f', blink.container('once').id, blink.sandboxId]);
      blinkMs = Date.now() - t0;
      assert.equal(rmRes.code, 0, rmRes.stderr);

      // A capture instance whose sequence has a hole (31..35), and capture's own loss record
      // for the same hole arriving after enrich has declared it: one LOSS, not two.
      const now = BigInt(Date.now()) * 1_000_000n;
      const seqs = [...Array.from({ length: 30 }, (_, i) => i + 1), ...Array.from({ length: 45 }, (_, i) => i + 36)];
      const gapRecords = seqs.map((q) => ({
        key: `gap-node/1`,
        partition: 0, // capture partitions by node: one instance, one partition
        value: codec.encode('RawConnectEvent', sampleRaw({ node: 'gap-node', instance: GAP_INSTANCE, seq: BigInt(q), eventId: `gap-node:${GAP_INSTANCE}:${q}`, time: now + BigInt(q), cgroup: { id: 1n, path: '/' } })),
      }));
      const captureLoss = { eventId: `gap-node:${GAP_INSTANCE}:loss:31-35`, time: now + 100n, node: 'gap-node', instance: GAP_INSTANCE, fromSeq: 31n, toSeq: 35n, count: 5n, cause: 'KERNEL_RING_BUFFER' as const, firstTime: now, lastTime: now };
      await produce(kafka, t.raw, [...gapRecords, { key: 'gap-node/loss', partition: 0, value: codec.encode('CaptureLoss', captureLoss) }]);

      const blinkPath = blink.cgroupPath(blink.container('once').id);
      live = await tailUntil(t.audit, (rs) => rs.some((r) => r.process?.pid === webConn.hostPid)
        && rs.some((r) => r.cgroup?.path === blinkPath) && rs.filter((r) => r.node === 'gap-node').length >= seqs.length, 120_000);
      until = new Date(Date.now() + 1000).toISOString();
    });

    after(async () => {
      for (const s of stages) await stopStage(s);
      await d?.stop();
      if (emptyRoot) await rm(emptyRoot, { recursive: true, force: true });
      if (kafka) await deleteTopics(kafka, Object.values(t));
    });

    test('capture published the pods\' metadata to the containers topic', async () => {
      const r = await runCli(['tail', '--topic', t.meta, '--from-beginning', '--idle-exit', '3000', '--brokers', BROKERS.join(',')], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const metas = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as J);
      const app = metas.find((m) => m.containerId === web.container('app').id);
      assert.ok(app, 'the web app container has a metadata record');
      assert.equal(app.pod.name, web.name);
      assert.deepEqual(app.pod.labels, { app: 'web', 'pod-template-hash': '5c8d7f9b4' });
      assert.deepEqual(app.pod.workload, { kind: 'Deployment', name: 'web' });
      assert.equal(app.origin, 'files');
      assert.equal(app.bounded, null);
      const once = metas.filter((m) => m.containerId === blink.container('once').id);
      assert.ok(once.length >= 1, 'the short-lived container was published');
      assert.ok(once.some((m) => m.deletedTime !== null), 'and its deletion too, as a version, not a tombstone');
    });

    test('two enrich members with an empty host root attribute from the topic alone', () => {
      const app = web.container('app');
      const mine = live.filter((r) => r.process?.pid === webConn.hostPid && r.cgroup?.path === web.cgroupPath(app.id));
      assert.equal(mine.length, 1);
      assert.deepEqual(mine[0]!.attribution, { status: 'POD', source: 'docker', reason: null });
      // The workload was inferred on the node and travelled on the containers topic.
      assert.deepEqual(mine[0]!.pod, {
        name: web.name, namespace: 'shop', uid: web.uid, labels: { app: 'web', 'pod-template-hash': '5c8d7f9b4' }, hostNetwork: false,
        workload: { kind: 'Deployment', name: 'web' }, annotations: {}, ips: [],
      });
      assert.deepEqual(mine[0]!.container, { id: app.id, runtime: 'docker', name: 'app', image: d.image });
    });

    test(`a pod created, connected and removed in about a second is attributed POD live`, () => {
      const rec = live.filter((r) => r.cgroup?.path === blink.cgroupPath(blink.container('once').id));
      assert.equal(rec.length, 1, JSON.stringify(rec));
      assert.deepEqual(rec[0]!.attribution, { status: 'POD', source: 'docker', reason: null });
      assert.equal(rec[0]!.pod.name, 'blink-7f6d5');
      assert.equal(rec[0]!.result.status, 'REFUSED');
      assert.ok(blinkMs < 2500, `the pod lived ${blinkMs} ms`);
      process.stderr.write(`# blink pod: created, connected and removed in ${blinkMs} ms\n`);
    });

    test('a sequence gap gives exactly one LOSS record', () => {
      const losses = live.filter((r) => r.attribution?.status === 'LOSS' && r.node === 'gap-node');
      assert.equal(losses.length, 1, JSON.stringify(losses));
      assert.deepEqual({ ...losses[0]!.loss, firstTime: undefined, lastTime: undefined },
        { instance: GAP_INSTANCE, fromSeq: 31, toSeq: 35, count: 5, cause: 'SEQUENCE_GAP', firstTime: undefined, lastTime: undefined });
      assert.equal(live.filter((r) => r.node === 'gap-node' && r.attribution.status === 'HOST').length, 75);
    });

    test('replay after the pod is gone: the same attribution, twice identical, same eventIds', async () => {
      const run = async () => {
        const r = await runCli(['replay', '--since', since, '--until', until, '--raw-topic', t.raw, '--containers-topic', t.meta, '--gap-window', '20', '--stdout', '--format', 'json', '--brokers', BROKERS.join(',')], { timeoutMs: 120_000, env: { PODTRAIL_LOG_LEVEL: 'info' } });
        assert.equal(r.code, 0, r.stderr.slice(-3000));
        assert.match(r.stderr, /replay done/);
        return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as J).sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
      };
      const first = await run();
      const second = await run();
      assert.deepEqual(second, first, 'two replays of the same window are identical');
      const blinkPath = blink.cgroupPath(blink.container('once').id);
      for (const pick of [(r: J) => r.cgroup?.path === blinkPath, (r: J) => r.process?.pid === webConn.hostPid && r.cgroup?.path === web.cgroupPath(web.container('app').id)]) {
        const liveRec = live.filter(pick);
        const replayed = first.filter(pick);
        assert.equal(replayed.length, 1);
        assert.deepEqual(replayed[0], liveRec[0], 'attributed exactly as it was live');
      }
      const losses = first.filter((r) => r.attribution?.status === 'LOSS' && r.node === 'gap-node');
      assert.equal(losses.length, 1);
      assert.equal(losses[0]!.eventId, `gap-node:${GAP_INSTANCE}:gap:31-35`);
    });
  });
}
