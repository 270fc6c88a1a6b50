// SPDX-License-Identifier: Apache-2.0
// End to end on a real Docker engine: the real `podtrail capture` and `podtrail enrich`
// CLIs, kubelet-shaped pods on a private dockerd whose daemon.json moves the data root,
// loopback connects inside each container's own netns, and the audit topic read back
// with `podtrail tail --format json`. Other processes on the machine connect too, so
// records are matched by pid, comm and cgroup path, never by count.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import { startStage, stopStage, tailUntil, waitForLog, type J, type Stage } from '../helpers/stages.js';
import { connectFrom, freePort, listenTcp, type ConnectResult } from '../helpers/container-net.js';
import { type Dockerd, checkPrerequisites, startDockerd } from '../helpers/dockerd.js';
import { createTopics, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { type PlainContainer, type Pod, createPlainContainer, createPod } from '../helpers/pods.js';
import { nsLink, waitGone } from '../helpers/proc.js';
import { sampleRaw } from '../helpers/records.js';

const pre = await checkPrerequisites();
const kernelMissing = missingKernelPrereq();
const missing = [...pre.missing, ...(kernelMissing ? [kernelMissing] : [])];
const NODE = hostname();
const codec = new Codec();

/** The one record of a connect made by `pid` with `comm` from `cgroupPath` (host: any path). */
function recordOf(recs: J[], pid: number, comm: string, cgroupPath?: string): J {
  const mine = recs.filter((r) => r.process?.pid === pid && r.process?.comm === comm && (cgroupPath === undefined || r.cgroup?.path === cgroupPath));
  assert.equal(mine.length, 1, `one record for ${comm}[${pid}] in ${cgroupPath ?? 'any cgroup'}, got ${JSON.stringify(mine)}`);
  return mine[0]!;
}

const netnsIno = async (pid: number): Promise<number> => Number(/\[(\d+)\]/.exec((await nsLink(pid, 'net')) ?? '')?.[1]);

if (missing.length > 0) {
  test('e2e on Docker: prerequisites', { skip: process.env.CI === 'true' ? false : missing.join('; ') }, () => {
    assert.fail(`missing: ${missing.join('; ')}`);
  });
} else {
  describe('e2e: capture -> enrich -> tail on a real dockerd', { concurrency: false }, () => {
    const t = { raw: uniqueTopic('e2e-raw'), audit: uniqueTopic('e2e-audit'), dlq: uniqueTopic('e2e-dlq'), audit2: uniqueTopic('e2e-audit2'), dlq2: uniqueTopic('e2e-dlq2') };
    const group = uniqueTopic('e2e-group');
    let kafka: Kafka;
    let d: Dockerd;
    let web: Pod, db: Pod, hn: Pod, flood: Pod, plain: PlainContainer;
    const stages: Stage[] = [];
    let brokenRoot = '';
    let hostServer: Server | undefined;
    const c: Record<'webOk' | 'webRefused' | 'db' | 'hn' | 'flood' | 'plain', ConnectResult> = {} as never;
    let hostPid = 0;
    const badEventId = `${NODE}:e2e-bad:1`;
    let recs: J[] = [];
    let recs2: J[] = [];

    before(async () => {
      kafka = await requireBroker();
      await createTopics(kafka, [t.raw, t.audit, t.audit2], 3);
      await createTopics(kafka, [t.dlq, t.dlq2], 1);
      d = await startDockerd();
      web = await createPod(d, { name: 'web-7d9f8b6c5d-x2k4q', namespace: 'shop', qos: 'burstable', labels: { app: 'web', tier: 'front', 'pod-template-hash': '7d9f8b6c5d' }, annotations: { owner: 'payments', 'vault.example.com/token': 's3cret' }, containers: [{ name: 'app', cmd: ['sleep', '100000'] }] });
      db = await createPod(d, { name: 'db-0', namespace: 'data', qos: 'guaranteed', labels: { app: 'db', 'controller-revision-hash': 'db-5c7f9d8b4', 'statefulset.kubernetes.io/pod-name': 'db-0' }, containers: [{ name: 'postgres', cmd: ['sleep', '100000'] }] });
      hn = await createPod(d, { name: 'node-agent-x7k2p', namespace: 'kube-system', qos: 'besteffort', hostNetwork: true, labels: { app: 'node-agent', 'controller-revision-hash': '6b8d9c7f5', 'pod-template-generation': '1' }, containers: [{ name: 'agent', cmd: ['sleep', '100000'] }] });
      // A hostile pod: 10,000 labels and one 100 KiB value (argv caps one argument at 128 KiB).
      const floodLabels: Record<string, string> = { app: 'flood', 'pod-template-hash': '6c9b8d7f5', big: 'x'.repeat(100 * 1024) };
      for (let i = 0; i < 10_000; i++) floodLabels[`example.com/l${i}`] = `v${i}`;
      flood = await createPod(d, { name: 'flood-6c9b8d7f5-k2m9p', namespace: 'shop', qos: 'besteffort', labels: floodLabels, containers: [{ name: 'app', cmd: ['sleep', '100000'] }] });
      plain = await createPlainContainer(d, 'plain-worker', ['sleep', '100000']);

      // A second node view whose copy of db-0's config.v2.json is corrupt; everything else is intact.
      brokenRoot = await mkdtemp(join(tmpdir(), 'pt-e2e-root-'));
      await cp(join(d.hostRoot, 'etc'), join(brokenRoot, 'etc'), { recursive: true });
      const rel = d.dataRoot.slice(d.hostRoot.length);
      for (const id of [web.sandboxId, web.container('app').id, db.sandboxId, db.container('postgres').id, hn.sandboxId, hn.container('agent').id, plain.id]) {
        const dir = join(brokenRoot, rel, 'containers', id);
        await mkdir(dir, { recursive: true });
        for (const f of ['config.v2.json', 'hostconfig.json']) await cp(join(d.dataRoot, 'containers', id, f), join(dir, f));
      }
      await writeFile(join(brokenRoot, rel, 'containers', db.container('postgres').id, 'config.v2.json'), '{"ID":"truncated by a full disk", "Config": {"Labels": {');

      const capture = startStage('capture', ['capture', '--raw-topic', t.raw, '--node', NODE]);
      stages.push(capture);
      await waitForLog(capture, 'kernel capture attached', 30_000);
      // Node files only: this test is about the file resolvers (the containers topic has its own test).
      const common = ['--raw-topic', t.raw, '--transaction-timeout', '5000', '--metadata', 'files'];
      // Keeps the owner annotation only: the token annotation must never reach a record.
      stages.push(startStage('enrich', ['enrich', ...common, '--audit-topic', t.audit, '--dlq-topic', t.dlq, '--group', `${group}-a`, '--host-root', d.hostRoot, '--pod-annotations', 'own*']));
      stages.push(startStage('enrich (broken root)', ['enrich', ...common, '--audit-topic', t.audit2, '--dlq-topic', t.dlq2, '--group', `${group}-b`, '--host-root', brokenRoot]));

      // A forged raw record: its cgroup path climbs out with '..'. It must not become a file path.
      const forged = sampleRaw({ eventId: badEventId, node: NODE, cgroup: { id: 1n, path: `/kubepods/burstable/pod${web.uid}/../../../../etc/${'a'.repeat(64)}` } });
      await produce(kafka, t.raw, [{ key: `${NODE}/1`, value: codec.encode('RawConnectEvent', forged) }]);

      const app = web.container('app');
      const webPort = (await listenTcp(d, app)).port;
      c.webOk = await connectFrom(d, app, { port: webPort });
      c.webRefused = await connectFrom(d, app, { port: await freePort(app) });
      c.db = await connectFrom(d, db.container('postgres'), { port: (await listenTcp(d, db.container('postgres'))).port });
      c.hn = await connectFrom(d, hn.container('agent'), { port: (await listenTcp(d, hn.container('agent'))).port });
      c.flood = await connectFrom(d, flood.container('app'), { port: (await listenTcp(d, flood.container('app'))).port });
      c.plain = await connectFrom(d, plain, { port: (await listenTcp(d, plain)).port });
      hostServer = createServer((s) => s.destroy());
      await new Promise<void>((r) => hostServer!.listen(0, '127.0.0.1', r));
      const hostPort = (hostServer.address() as { port: number }).port;
      const nc = spawn(pre.bins.busybox!, ['nc', '-w', '2', '127.0.0.1', String(hostPort)], { stdio: 'ignore' });
      hostPid = nc.pid!;
      await new Promise((r) => nc.once('exit', r));

      const want = (rs: J[]) => [c.webOk, c.webRefused, c.db, c.hn, c.flood, c.plain].every((x) => rs.some((r) => r.process?.pid === x.hostPid))
        && rs.some((r) => r.process?.pid === hostPid) && rs.some((r) => r.eventId === badEventId);
      recs = await tailUntil(t.audit, want, 90_000);
      recs2 = await tailUntil(t.audit2, want, 60_000);
    });

    after(async () => {
      for (const s of stages) await stopStage(s);
      hostServer?.close();
      await d?.stop();
      if (brokenRoot) await rm(brokenRoot, { recursive: true, force: true });
      if (kafka) await deleteTopics(kafka, Object.values(t));
    });

    test('the connects themselves happened as planned', () => {
      for (const k of ['webOk', 'db', 'hn', 'flood', 'plain'] as const) assert.equal(c[k].ok, true, `${k}: ${c[k].stderr}`);
      assert.equal(c.webRefused.refused, true, c.webRefused.stderr);
    });

    test('(a) burstable pod: POD with pod identity and the sandbox\'s labels; the refused connect says REFUSED', async () => {
      const app = web.container('app');
      const path = `/kubepods/burstable/pod${web.uid}/${app.id}`;
      for (const [conn, status, errno] of [[c.webOk, 'OK', 0], [c.webRefused, 'REFUSED', 111]] as const) {
        const r = recordOf(recs, conn.hostPid, 'nc', path);
        assert.deepEqual(r.attribution, { status: 'POD', source: 'docker', reason: null });
        assert.deepEqual(r.pod, {
          name: web.name, namespace: 'shop', uid: web.uid, labels: { app: 'web', tier: 'front', 'pod-template-hash': '7d9f8b6c5d' }, hostNetwork: false,
          workload: { kind: 'Deployment', name: 'web' }, annotations: { owner: 'payments' }, ips: [],
        });
        assert.equal(recs.some((x) => JSON.stringify(x).includes('s3cret')), false, 'an annotation not asked for never reaches a record');
        assert.deepEqual(r.container, { id: app.id, runtime: 'docker', name: 'app', image: d.image });
        assert.deepEqual(r.result, { status, errno });
        assert.equal(r.process.nsPid, conn.nsPid);
        assert.deepEqual(r.dst, { addr: '127.0.0.1', port: conn.port, name: null, pod: null, service: null, scope: null }, '--metadata files: no containers topic to join destinations from');
        assert.equal(r.protocol, 'TCP');
        assert.equal(r.node, NODE);
        assert.equal(r.utsName, web.name);
        assert.equal(r.netns, await netnsIno(app.pid));
      }
    });

    test('(b) guaranteed pod: POD, cgroup directly under /kubepods', async () => {
      const pg = db.container('postgres');
      const r = recordOf(recs, c.db.hostPid, 'nc', `/kubepods/pod${db.uid}/${pg.id}`);
      assert.deepEqual(r.attribution, { status: 'POD', source: 'docker', reason: null });
      assert.deepEqual(r.pod, {
        name: 'db-0', namespace: 'data', uid: db.uid, labels: { app: 'db', 'controller-revision-hash': 'db-5c7f9d8b4', 'statefulset.kubernetes.io/pod-name': 'db-0' },
        hostNetwork: false, workload: { kind: 'StatefulSet', name: 'db' }, annotations: {}, ips: [],
      });
      assert.deepEqual(r.container, { id: pg.id, runtime: 'docker', name: 'postgres', image: d.image });
      assert.deepEqual(r.result, { status: 'OK', errno: 0 });
      assert.equal(r.netns, await netnsIno(pg.pid));
    });

    test('(c) hostNetwork pod: POD with hostNetwork true, although its UTS name is the node\'s', async () => {
      const agent = hn.container('agent');
      const r = recordOf(recs, c.hn.hostPid, 'nc', `/kubepods/besteffort/pod${hn.uid}/${agent.id}`);
      assert.deepEqual(r.attribution, { status: 'POD', source: 'docker', reason: null });
      assert.deepEqual(r.pod, {
        name: hn.name, namespace: 'kube-system', uid: hn.uid, labels: { app: 'node-agent', 'controller-revision-hash': '6b8d9c7f5', 'pod-template-generation': '1' },
        hostNetwork: true, workload: { kind: 'DaemonSet', name: 'node-agent' }, annotations: {}, ips: [],
      });
      assert.deepEqual(r.container, { id: agent.id, runtime: 'docker', name: 'agent', image: d.image });
      assert.equal(r.utsName, NODE);
      assert.equal(r.netns, await netnsIno(process.pid));
    });

    test('(c2) hostile pod, 10,000 labels and a 100 KiB value: POD, labels bounded with the reason, nothing else lost', () => {
      const app = flood.container('app');
      const r = recordOf(recs, c.flood.hostPid, 'nc', `/kubepods/besteffort/pod${flood.uid}/${app.id}`);
      assert.equal(r.attribution.status, 'POD');
      assert.equal(r.attribution.source, 'docker');
      assert.match(r.attribution.reason, /^pod labels bounded: kept 256 of 10003 \(1 over 317-byte keys or 1024-byte values; 9746 past 256 entries or 65536 bytes\)$/);
      assert.equal(Object.keys(r.pod.labels).length, 256);
      assert.equal(r.pod.labels.big, undefined);
      assert.deepEqual([r.pod.name, r.pod.namespace, r.pod.uid], [flood.name, 'shop', flood.uid]);
      assert.deepEqual(r.pod.workload, { kind: 'Deployment', name: 'flood' });
      assert.deepEqual(r.container, { id: app.id, runtime: 'docker', name: 'app', image: d.image });
      assert.deepEqual(r.result, { status: 'OK', errno: 0 });
    });

    test('(d) plain container: CONTAINER, no pod', async () => {
      const r = recordOf(recs, c.plain.hostPid, 'nc', `/docker/${plain.id}`);
      assert.deepEqual(r.attribution, { status: 'CONTAINER', source: 'docker', reason: null });
      assert.equal(r.pod, null);
      assert.deepEqual(r.container, { id: plain.id, runtime: 'docker', name: 'plain-worker', image: d.image });
      assert.deepEqual(r.result, { status: 'OK', errno: 0 });
      assert.equal(r.netns, await netnsIno(plain.pid));
    });

    test('a process on the host: HOST, no container, no pod', () => {
      const r = recordOf(recs, hostPid, basename(pre.bins.busybox!));
      assert.equal(r.attribution.status, 'HOST');
      assert.equal(r.container, null);
      assert.equal(r.pod, null);
      assert.equal(r.process.ppid, process.pid);
      assert.deepEqual(r.result, { status: 'OK', errno: 0 });
    });

    test("a forged '..' cgroup path comes out UNRESOLVED, without container or pod, and the stage goes on", () => {
      const bad = recs.filter((r) => r.eventId === badEventId);
      assert.equal(bad.length, 1);
      assert.equal(bad[0]!.attribution.status, 'UNRESOLVED');
      assert.equal(bad[0]!.attribution.source, null);
      assert.match(bad[0]!.attribution.reason, /^BAD_PATH: .*'\.\.' component/);
      assert.equal(bad[0]!.container, null);
      assert.equal(bad[0]!.pod, null);
      // Produced before every real connect, yet all of them were attributed after it.
      assert.ok(recs.some((r) => r.process?.pid === c.plain.hostPid));
    });

    test('a corrupt config.v2.json: that container is UNRESOLVED with the reason, its neighbours still POD', () => {
      const pg = db.container('postgres');
      const r = recordOf(recs2, c.db.hostPid, 'nc', `/kubepods/pod${db.uid}/${pg.id}`);
      assert.equal(r.attribution.status, 'UNRESOLVED');
      // No metadata, so the pod's name is only the UTS hint (the pod has its own UTS name).
      assert.equal(r.attribution.source, 'uts');
      assert.match(r.attribution.reason, /^BAD_JSON: .*config\.v2\.json: bad JSON .*; pod name from UTS hint$/);
      // kubepods' cgroupfs layout is shared by docker and containerd: the path alone names no runtime.
      assert.deepEqual(r.container, { id: pg.id, runtime: null, name: null, image: null });
      assert.deepEqual(r.pod, { name: 'db-0', namespace: null, uid: db.uid, labels: {}, hostNetwork: false, workload: null, annotations: {}, ips: [] });
      const ok = recordOf(recs2, c.webOk.hostPid, 'nc', `/kubepods/burstable/pod${web.uid}/${web.container('app').id}`);
      assert.equal(ok.attribution.status, 'POD');
      assert.equal(recordOf(recs2, c.plain.hostPid, 'nc').attribution.status, 'CONTAINER');
    });

    test('capture and both enrich stages are still running, and stop cleanly', async () => {
      for (const s of stages) assert.equal(s.child.exitCode, null, `${s.name} died: ${s.log().slice(-2000)}`);
      // kafkajs logs its own retries (coordinator loading, CONCURRENT_TRANSACTIONS) as errors; ours are module enrich*.
      const ownErrors = stages[1]!.log().split('\n').filter((l) => /"level":(50|60)/.test(l) && !/"module":"kafka"/.test(l));
      assert.deepEqual(ownErrors, [], 'no error logged by enrich itself');
      assert.match(stages[2]!.log(), /container metadata unresolved/);
      for (const s of stages) assert.equal(await stopStage(s), 0, `${s.name}: ${s.log().slice(-2000)}`);
      for (const s of stages) assert.ok(await waitGone(s.child.pid!, 5000));
    });
  });
}
