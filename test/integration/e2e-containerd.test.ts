// SPDX-License-Identifier: Apache-2.0
// End to end on a real containerd: `podtrail capture` (asking containerd over CRI, with an
// empty host root so no runtime file can help) and `podtrail enrich` (empty host root: the
// containers topic alone), started together against the broker with no topic made
// beforehand, then the audit topic read back whole. Pods are driven through CRI as kubelet
// does (test/helpers/containerd.ts); every connect stays in namespaces the test made.
// Other processes on the machine connect too, so records are matched by cgroup path and comm.
// Destinations (issue 15): db connects to web's pod IP; web's pod is then removed, and the
// replay after that still names it as dst.pod, from the containers topic's history.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { startStage, stopStage, tailUntil, waitForLog, type J, type Stage } from '../helpers/stages.js';
import { checkPrerequisites, startContainerd, type Containerd, type CriPod } from '../helpers/containerd.js';
import { BROKERS, deleteTopics, produce, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { Codec } from '../../src/schema/codec.js';
import { parseAddr } from '../../src/schema/addr.js';
import { SAMPLE_NAME, sampleRaw } from '../helpers/records.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { runCli } from '../helpers/cli.js';
import { waitGone } from '../helpers/proc.js';

const pre = await checkPrerequisites();
const kernelMissing = missingKernelPrereq();
const missing = [...pre.missing, ...(kernelMissing ? [kernelMissing] : [])];
const NODE = hostname();
const JOB_UID = '0d7f6a2e-3c1b-4f5e-9a8d-2b6c4e1f7a90';
/** What the Job controller puts on a CronJob's pod (both the old and the batch.kubernetes.io keys). */
const JOB_LABELS = { 'job-name': 'blink-28012345', 'batch.kubernetes.io/job-name': 'blink-28012345', 'controller-uid': JOB_UID, 'batch.kubernetes.io/controller-uid': JOB_UID };

/** httpd on 127.0.0.1:port in the container's network namespace, then sleep as the main process. */
const serve = (port: number): string[] => ['sh', '-c', `httpd -p 127.0.0.1:${port} -h /www && exec sleep 100000`];

const SERVICE_CIDR = '10.96.0.0/12';
const NAMED_INSTANCE = `named${Date.now().toString(36)}`;
/** dst.name as capture would join it, and what enrich makes of it. */
const NAMED = [
  { addr: '10.96.0.20', name: 'db.data.svc.cluster.local', scope: 'service', service: { name: 'db', namespace: 'data' } },
  { addr: '93.184.216.34', name: 'www.example.com', scope: 'external', service: null },
  { addr: '10.97.3.4', name: null, scope: 'service', service: null },
] as const;

if (missing.length > 0) {
  test('e2e on containerd: prerequisites', { skip: process.env.CI === 'true' ? false : missing.join('; ') }, () => {
    assert.fail(`missing: ${missing.join('; ')}`);
  });
} else {
  describe('e2e: capture (CRI) -> enrich (containers topic, empty host root) -> audit, on a real containerd', { concurrency: false }, () => {
    const t = { raw: uniqueTopic('ctd-raw'), audit: uniqueTopic('ctd-audit'), dlq: uniqueTopic('ctd-dlq'), meta: uniqueTopic('ctd-meta'), audit2: uniqueTopic('ctd-audit2'), dlq2: uniqueTopic('ctd-dlq2') };
    let kafka: Kafka;
    let h: Containerd;
    let emptyRoot = '';
    const stages: Stage[] = [];
    let web: CriPod, db: CriPod, agent: CriPod, blink: CriPod;
    let blinkMs = 0;
    /** the once container's own run, as containerd recorded it (ns) */
    let blinkRun = { state: '', ranNs: 0n };
    let since = '';
    let until = '';
    let live: J[] = [];
    let onNode: J[] = [];
    const paths: Record<'web' | 'db' | 'agent' | 'blink', string> = {} as never;

    before(async () => {
      kafka = await requireBroker();
      h = await startContainerd();
      emptyRoot = await mkdtemp(join(tmpdir(), 'pt-ctd-root-'));
      // Running before capture starts: found by its first relist.
      web = await h.runPod({ name: 'web-7d9f8b6c5d-x2k4q', namespace: 'shop', qos: 'burstable', labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' }, annotations: { owner: 'payments' }, containers: [{ name: 'app', cmd: serve(8080) }] });
      since = new Date().toISOString();
      // Both at once, as a user starts them; neither finds its topics made.
      const capture = startStage('capture', ['capture', '--raw-topic', t.raw, '--containers-topic', t.meta, '--node', NODE, '--host-root', emptyRoot, '--cri-socket', h.socket, '--cri-poll-interval', '500', '--pod-annotations', 'owner']);
      const enrich = startStage('enrich', ['enrich', '--raw-topic', t.raw, '--audit-topic', t.audit, '--dlq-topic', t.dlq, '--containers-topic', t.meta, '--group', uniqueTopic('ctd-group'), '--host-root', emptyRoot, '--pod-annotations', 'owner', '--transaction-timeout', '5000', '--service-cidr', SERVICE_CIDR]);
      // enrich on the node with no topic: its file fallback asks CRI first, as capture does.
      const enrichNode = startStage('enrich (node, CRI)', ['enrich', '--metadata', 'files', '--raw-topic', t.raw, '--audit-topic', t.audit2, '--dlq-topic', t.dlq2, '--group', uniqueTopic('ctd-group2'), '--host-root', emptyRoot, '--cri-socket', h.socket, '--pod-annotations', 'owner', '--transaction-timeout', '5000']);
      stages.push(capture, enrich, enrichNode);
      await waitForLog(capture, 'kernel capture attached', 60_000);
      // Created while capture runs: seen by the relist (containerd 1.6 has no CRI events).
      db = await h.runPod({ name: 'db-0', namespace: 'data', qos: 'guaranteed', labels: { app: 'db', 'statefulset.kubernetes.io/pod-name': 'db-0', 'controller-revision-hash': 'db-5d8f7c9b8' }, containers: [{ name: 'postgres', cmd: serve(5432) }] });
      agent = await h.runPod({ name: 'node-agent-7xk2p', namespace: 'kube-system', qos: 'besteffort', hostNetwork: true, labels: { app: 'node-agent', 'controller-revision-hash': '6b9d8c7f5', 'pod-template-generation': '1' }, containers: [{ name: 'agent', cmd: serve(18080) }] });
      for (const [pod, name, port] of [[web, 'app', 8080], [db, 'postgres', 5432], [agent, 'agent', 18080]] as const) {
        const r = await h.exec(pod.container(name), ['nc', '-w', '2', '127.0.0.1', String(port)]);
        assert.equal(r.exitCode, 0, `${name}: ${r.stderr}`);
      }
      // Pod to pod: db connects to web's pod IP (refused: web's httpd listens on loopback only).
      // Through busybox itself (comm "busybox"), so db's one nc record stays one.
      const toWeb = await h.exec(db.container('postgres'), ['busybox', 'nc', '-w', '2', web.ip, '8080']);
      assert.notEqual(toWeb.exitCode, 0, `nc to ${web.ip}:8080 should be refused: ${toWeb.stdout}${toWeb.stderr}`);
      // Names come from capture's DNS join (issue 15's kernel side); until capture writes them,
      // three raw connects carrying dst.name are published as capture would, from their own instance.
      await produce(kafka, t.raw, NAMED.map((n, i) => ({ key: `${NODE}/1`, value: new Codec().encode('RawConnectEvent', sampleRaw({
        node: NODE, instance: NAMED_INSTANCE, seq: BigInt(i + 1), eventId: `${NODE}:${NAMED_INSTANCE}:${i + 1}`, time: BigInt(Date.now()) * 1_000_000n,
        dst: { ...sampleRaw().dst, addr: parseAddr(n.addr), name: n.name === null ? null : { ...SAMPLE_NAME, name: n.name } },
      })) })));
      // A pod whose only container connects (refused: nothing listens) and exits at once, removed right after.
      blink = await h.runPod({ name: 'blink-28012345-x7k2p', namespace: 'batch', qos: 'besteffort', labels: JOB_LABELS, containers: [{ name: 'once', cmd: ['nc', '-w', '1', '127.0.0.1', '9'] }] });
      // Its run as containerd saw it (started_at to finished_at), then the pod removed once it exited.
      for (let i = 0; i < 50 && blinkRun.state !== 'CONTAINER_EXITED'; i++) {
        const st = (await h.call('ContainerStatus', { container_id: blink.container('once') })).status as Record<string, unknown>;
        if (BigInt(String(st.finished_at)) === 0n && st.state === 'CONTAINER_EXITED') throw new Error('exited without finished_at');
        blinkRun = { state: String(st.state), ranNs: BigInt(String(st.finished_at)) - BigInt(String(st.started_at)) };
        if (blinkRun.state !== 'CONTAINER_EXITED') await new Promise((r) => setTimeout(r, 100));
      }
      const t0 = Date.now();
      await h.deletePod(blink);
      blinkMs = Date.now() - t0;
      paths.web = web.cgroupPath(web.container('app'));
      paths.db = db.cgroupPath(db.container('postgres'));
      paths.agent = agent.cgroupPath(agent.container('agent'));
      paths.blink = blink.cgroupPath(blink.container('once'));
      const want = (rs: J[]): boolean => Object.values(paths).every((p) => rs.some((r) => r.cgroup?.path === p && r.process?.comm === 'nc')) &&
        rs.some((r) => r.cgroup?.path === paths.db && r.process?.comm === 'busybox') && rs.filter((r) => r.instance === NAMED_INSTANCE).length === NAMED.length;
      live = await tailUntil(t.audit, want, 90_000);
      onNode = await tailUntil(t.audit2, (rs) => rs.some((r) => r.cgroup?.path === paths.web && r.process?.comm === 'nc'), 60_000);
      // web goes away; the replay below runs after its deletion is on the containers topic.
      await h.deletePod(web);
      const gone = async () => {
        const r = await runCli(['tail', '--topic', t.meta, '--from-beginning', '--idle-exit', '2000', '--brokers', BROKERS.join(',')], { timeoutMs: 60_000 });
        return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as J).some((m) => m.containerId === web.sandboxId && m.deletedTime !== null);
      };
      for (let i = 0; i < 30 && !(await gone()); i++) await new Promise((r) => setTimeout(r, 500));
      until = new Date(Date.now() + 1000).toISOString();
    });

    after(async () => {
      for (const s of stages) await stopStage(s);
      await h?.stop();
      if (emptyRoot) await rm(emptyRoot, { recursive: true, force: true });
      if (kafka) await deleteTopics(kafka, Object.values(t));
    });

    const one = (recs: J[], path: string): J => {
      const mine = recs.filter((r) => r.cgroup?.path === path && r.process?.comm === 'nc');
      const nc = recs.filter((r) => r.process?.comm === 'nc').map((r) => r.cgroup?.path);
      assert.equal(mine.length, 1, `one record from ${path}: ${JSON.stringify(mine)}; ${recs.length} records, nc ones from ${JSON.stringify(nc)}; ${stages.map((s) => `--- ${s.name}\n${s.log().slice(-3000)}`).join('\n')}`);
      return mine[0]!;
    };

    const recs = (rs: J[], path: string, comm: string): J => {
      const mine = rs.filter((r) => r.cgroup?.path === path && r.process?.comm === comm);
      assert.equal(mine.length, 1, `one ${comm} record from ${path}: ${JSON.stringify(mine)}; from that path: ${JSON.stringify(rs.filter((r) => r.cgroup?.path === path).map((r) => [r.process?.comm, r.dst]))}`);
      return mine[0]!;
    };

    test('own network namespace, burstable: POD with the labels only CRI has, container and image named', () => {
      const r = one(live, paths.web);
      assert.deepEqual(r.attribution, { status: 'POD', source: 'cri', reason: null });
      assert.deepEqual(r.pod, {
        name: web.name, namespace: 'shop', uid: web.uid, labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' }, hostNetwork: false,
        workload: { kind: 'Deployment', name: 'web' }, annotations: { owner: 'payments' }, ips: [web.ip],
      });
      assert.match(web.ip, /^10\.231\./);
      assert.deepEqual(r.container, { id: web.container('app'), runtime: 'containerd', name: 'app', image: h.image });
      assert.deepEqual(r.result, { status: 'OK', errno: 0 });
      assert.deepEqual(r.dst, { addr: '127.0.0.1', port: 8080, name: null, pod: null, service: null, scope: 'loopback' });
      assert.equal(r.utsName, web.name);
    });

    test('guaranteed (cgroup directly under /kubepods): POD', () => {
      const r = one(live, paths.db);
      assert.equal(paths.db, `/kubepods/pod${db.uid}/${db.container('postgres')}`);
      assert.deepEqual(r.attribution, { status: 'POD', source: 'cri', reason: null });
      assert.deepEqual(r.pod, {
        name: 'db-0', namespace: 'data', uid: db.uid, labels: { app: 'db', 'statefulset.kubernetes.io/pod-name': 'db-0', 'controller-revision-hash': 'db-5d8f7c9b8' }, hostNetwork: false,
        workload: { kind: 'StatefulSet', name: 'db' }, annotations: {}, ips: [db.ip],
      });
      assert.deepEqual(r.container, { id: db.container('postgres'), runtime: 'containerd', name: 'postgres', image: h.image });
    });

    test('hostNetwork (besteffort): POD with hostNetwork true', () => {
      const r = one(live, paths.agent);
      assert.deepEqual(r.attribution, { status: 'POD', source: 'cri', reason: null });
      assert.deepEqual(r.pod, {
        name: agent.name, namespace: 'kube-system', uid: agent.uid, labels: { app: 'node-agent', 'controller-revision-hash': '6b9d8c7f5', 'pod-template-generation': '1' }, hostNetwork: true,
        workload: { kind: 'DaemonSet', name: 'node-agent' }, annotations: {}, ips: [],
      });
      assert.deepEqual(r.container, { id: agent.container('agent'), runtime: 'containerd', name: 'agent', image: h.image });
    });

    test('a container that connects and exits within a second, its pod removed right after: POD with its labels', () => {
      const r = one(live, paths.blink);
      assert.deepEqual(r.attribution, { status: 'POD', source: 'cri', reason: null });
      assert.deepEqual(r.pod, {
        name: blink.name, namespace: 'batch', uid: blink.uid, labels: JOB_LABELS, hostNetwork: false,
        workload: { kind: 'CronJob', name: 'blink' }, annotations: {}, ips: [blink.ip],
      });
      assert.deepEqual(r.container, { id: blink.container('once'), runtime: 'containerd', name: 'once', image: h.image });
      assert.equal(r.result.status, 'REFUSED');
      // Within a second by containerd's own clock (the harness's pace on a loaded machine is not the point).
      assert.equal(blinkRun.state, 'CONTAINER_EXITED');
      // containerd 1.6 stamps started_at once the start call returns, so a run this short can
      // even end "before" it started (seen: -0.46 ms); finished_at itself is set.
      assert.ok(blinkRun.ranNs < 1_000_000_000n, `the container ran ${blinkRun.ranNs} ns`);
      assert.ok(blinkMs < 10_000, `removing the pod took ${blinkMs} ms`);
    });

    test('the containers topic holds each container\'s version, and the removed pod\'s deletion as a version', async () => {
      const r = await runCli(['tail', '--topic', t.meta, '--from-beginning', '--idle-exit', '3000', '--brokers', BROKERS.join(',')], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const metas = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as J);
      for (const id of [blink.container('once'), blink.sandboxId]) {
        const vs = metas.filter((m) => m.containerId === id);
        assert.ok(vs.length >= 2, `${id}: ${JSON.stringify(vs)}`);
        assert.equal(vs[0]!.deletedTime, null);
        assert.notEqual(vs.at(-1)!.deletedTime, null, 'the last version says it was deleted');
        assert.equal(vs[0]!.runtime, 'containerd');
        assert.equal(vs[0]!.pod.name, blink.name);
      }
      const pg = metas.filter((m) => m.containerId === db.container('postgres'));
      assert.equal(pg.length, 1, 'an unchanged container is published once, however often it is relisted');
    });

    test('enrich on the node (--metadata files, --cri-socket) attributes from CRI too, with an empty host root', () => {
      const r = one(onNode, paths.web);
      const l = one(live, paths.web);
      assert.deepEqual([r.attribution, r.pod, r.container], [l.attribution, l.pod, l.container]);
      assert.equal(r.attribution.source, 'cri');
    });

    test('pod to pod: the connect to web\'s IP names web as dst.pod, scope pod', () => {
      const r = recs(live, paths.db, 'busybox');
      assert.deepEqual(r.dst, {
        addr: web.ip, port: 8080, name: null, scope: 'pod', service: null,
        pod: { name: web.name, namespace: 'shop', uid: web.uid, workload: { kind: 'Deployment', name: 'web' }, labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' } },
      });
      assert.equal(r.pod.name, 'db-0');
    });

    test('names: <svc>.<ns>.svc.<domain> is dst.service, --service-cidr and the rest give the scope; dst.name carried through', () => {
      const named = live.filter((r) => r.instance === NAMED_INSTANCE).sort((a, b) => a.seq - b.seq);
      assert.deepEqual(named.map((r) => [r.dst.addr, r.dst.name?.name ?? null, r.dst.scope, r.dst.service, r.dst.pod]),
        NAMED.map((n) => [n.addr, n.name, n.scope, n.service, null]));
      assert.equal(named[0]!.dst.name.trust, 'resolver');
    });

    test('replay after the pods are gone gives the same attribution and destinations as live', async () => {
      const r = await runCli(['replay', '--since', since, '--until', until, '--raw-topic', t.raw, '--containers-topic', t.meta, '--pod-annotations', 'owner', '--service-cidr', SERVICE_CIDR, '--stdout', '--format', 'json', '--brokers', BROKERS.join(',')], { timeoutMs: 120_000, env: { PODTRAIL_LOG_LEVEL: 'info' } });
      assert.equal(r.code, 0, r.stderr.slice(-3000));
      const replayed = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as J);
      for (const p of [paths.blink, paths.web, paths.agent]) assert.deepEqual(one(replayed, p), one(live, p), p);
      // web's pod was deleted before this replay: the containers topic's history still names it.
      assert.equal(recs(replayed, paths.db, 'busybox').dst.pod.name, web.name);
      assert.deepEqual(recs(replayed, paths.db, 'busybox').dst, recs(live, paths.db, 'busybox').dst);
    });

    test('capture and enrich are still running, logged no error of their own, and stop cleanly', async () => {
      for (const s of stages) assert.equal(s.child.exitCode, null, `${s.name} died: ${s.log().slice(-2000)}`);
      for (const s of stages) {
        const ownErrors = s.log().split('\n').filter((l) => /"level":(50|60)/.test(l) && !/"module":"kafka"/.test(l));
        assert.deepEqual(ownErrors, [], `${s.name} logged errors`);
      }
      assert.match(stages[0]!.log(), /asking CRI runtimes for pod metadata/);
      assert.match(stages[2]!.log(), /node fallback asks CRI runtimes first/);
      for (const s of stages) assert.equal(await stopStage(s), 0, `${s.name}: ${s.log().slice(-2000)}`);
      for (const s of stages) assert.ok(await waitGone(s.child.pid!, 5000));
    });
  });
}
