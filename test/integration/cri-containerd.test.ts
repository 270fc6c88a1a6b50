// SPDX-License-Identifier: Apache-2.0
// The CRI client, resolver and watcher against a real containerd (Debian's 1.6.20 with its CRI
// plugin), driven as kubelet drives it (test/helpers/containerd.ts): pods of all three QoS
// classes, with their own network namespace and with hostNetwork.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CriClient } from '../../src/runtime/cri/client.js';
import { CriResolver } from '../../src/runtime/cri/resolver.js';
import { CriWatcher } from '../../src/runtime/cri/watch.js';
import { annotationFilter } from '../../src/runtime/pod-facts.js';
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { checkPrerequisites, startContainerd, type Containerd, type CriPod } from '../helpers/containerd.js';
import { globalDirsPresent, leftovers, recordedCgroups, removeGlobalDirs, sweepStaleHarnessDirs } from '../helpers/harness-dir.js';
import { waitGone } from '../helpers/proc.js';
import { PODTRAIL_BIN } from '../helpers/cli.js';
import { createRootLogger } from '../../src/common/log.js';

const pre = await checkPrerequisites();
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

async function until<T>(what: string, ms: number, f: () => T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

if (!pre.ok) {
  test('CRI on a real containerd: prerequisites', { skip: process.env.CI === 'true' ? false : pre.missing.join('; ') }, () => {
    assert.fail(`missing: ${pre.missing.join('; ')}`);
  });
} else {
  describe('CRI on a real containerd', { concurrency: false }, () => {
    let h: Containerd;
    let web: CriPod, db: CriPod, agent: CriPod;
    let client: CriClient;
    let r: CriResolver;

    before(async () => {
      h = await startContainerd();
      web = await h.runPod({ name: 'web-7d9f8b6c5d-x2k4q', namespace: 'shop', qos: 'burstable', labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d', track: 'v1' }, annotations: { owner: 'payments' }, containers: [{ name: 'app', cmd: ['sleep', '100000'] }] });
      db = await h.runPod({ name: 'db-0', namespace: 'data', qos: 'guaranteed', labels: { app: 'db', 'statefulset.kubernetes.io/pod-name': 'db-0' }, containers: [{ name: 'postgres', cmd: ['sleep', '100000'] }] });
      agent = await h.runPod({ name: 'node-agent-abcde', namespace: 'kube-system', qos: 'besteffort', hostNetwork: true, labels: { app: 'node-agent' }, containers: [{ name: 'agent', cmd: ['sleep', '100000'] }] });
      client = new CriClient(h.socket);
      r = new CriResolver(client, { keepAnnotation: annotationFilter(['owner']) });
    });

    after(async () => {
      client?.close();
      await h?.stop();
    });

    test('Version: containerd and its version; GetContainerEvents is not implemented by 1.6', async () => {
      const v = await client.version();
      assert.equal(v.runtimeName, 'containerd');
      assert.match(v.runtimeVersion, /^1\.6\./);
      assert.equal(v.runtimeApiVersion, 'v1');
      const err = await new Promise<{ code: string }>((resolve) => client.events(() => {}, resolve));
      assert.equal(err.code, 'UNIMPLEMENTED');
    });

    test('own network namespace, burstable: the container resolved whole, labels from the sandbox, image named', async () => {
      const id = web.container('app');
      const res = await r.resolve(id);
      assert.ok(res.ok, JSON.stringify(res));
      const { created, ...meta } = res.meta;
      assert.match(created ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      const ips = meta.pod?.ips ?? [];
      assert.equal(ips.length, 1);
      assert.match(ips[0]!, /^10\.231\.\d+\.\d+$/);
      assert.deepEqual(meta, {
        id, runtime: 'containerd', name: 'app', image: h.image, hostname: null, isSandbox: false, sandboxId: web.sandboxId,
        pod: {
          name: web.name, namespace: 'shop', uid: web.uid, labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d', track: 'v1' },
          // --pod-annotations owner: only that one is kept.
          annotations: { owner: 'payments' }, hostNetwork: false, ips, workload: { kind: 'Deployment', name: 'web' },
        },
        networkMode: null, utsMode: null, origin: 'cri', bounded: null,
      });
      assert.equal(res.warning, undefined);
      // The address is on the pod's eth0, inside the namespaces the test made.
      const ip = await h.exec(id, ['ip', '-4', '-o', 'addr', 'show', 'eth0']);
      assert.match(ip.stdout, new RegExp(`inet ${ips[0]!.replace(/\./g, '\\.')}/24`));
    });

    test('hostNetwork (namespace mode NODE): hostNetwork true, no pod IP of its own; the sandbox resolves as POD', async () => {
      const res = await r.resolve(agent.container('agent'));
      assert.ok(res.ok);
      assert.deepEqual(res.meta.pod?.labels, { app: 'node-agent' });
      assert.deepEqual([res.meta.pod?.hostNetwork, res.meta.networkMode, res.meta.utsMode], [true, 'host', 'host']);
      assert.deepEqual(res.meta.pod?.ips, []);
      assert.deepEqual(res.meta.pod?.workload, { kind: 'Pod', name: agent.name });
      const sb = await r.resolve(agent.sandboxId);
      assert.ok(sb.ok);
      assert.deepEqual([sb.meta.isSandbox, sb.meta.name, sb.meta.sandboxId, sb.meta.pod?.name], [true, 'POD', agent.sandboxId, agent.name]);
      // kubelet gives a hostNetwork pod no hostname: it has the node's.
      const hn = await h.exec(agent.container('agent'), ['hostname']);
      const own = await h.exec(web.container('app'), ['hostname']);
      assert.equal(own.stdout.trim(), web.name);
      assert.notEqual(hn.stdout.trim(), agent.name);
    });

    test('all three QoS classes: each container runs in <parent>/<id> and the pod uid matches the cgroup path', async () => {
      for (const [pod, name, parent] of [[web, 'app', `/kubepods/burstable/pod${web.uid}`], [db, 'postgres', `/kubepods/pod${db.uid}`], [agent, 'agent', `/kubepods/besteffort/pod${agent.uid}`]] as const) {
        const id = pod.container(name);
        const cg = await h.exec(id, ['cat', '/proc/self/cgroup']);
        const lines = cg.stdout.trim().split('\n');
        for (const l of lines) assert.ok(l.endsWith(`:${parent}/${id}`), `${name}: ${l}`);
        assert.ok(lines.some((l) => l.startsWith('0::')), 'runc joins the unified hierarchy too');
        const res = await r.resolve(id);
        assert.ok(res.ok && res.meta.pod?.uid === pod.uid);
      }
    });

    test('limit: labels are fixed when the sandbox is created; a resent sandbox config with new labels changes nothing', async () => {
      // What kubelet would send after `kubectl label pod ... track=v2`: it resends the config with each new container.
      const id = await h.addContainer(web, { name: 'sidecar', cmd: ['sleep', '100000'] }, { app: 'web', 'pod-template-hash': '7d9f8b6c5d', track: 'v2' });
      r.forget(web.sandboxId);
      const res = await r.resolve(id);
      assert.ok(res.ok);
      assert.equal(res.meta.name, 'sidecar');
      assert.equal(res.meta.pod?.labels.track, 'v1');
      const st = await h.call('PodSandboxStatus', { pod_sandbox_id: web.sandboxId });
      assert.equal((st.status as { labels: Record<string, string> }).labels.track, 'v1');
    });

    test('containerd itself refuses a label over 4096 bytes (key + value): a 1 MiB value never reaches a node agent from it', async () => {
      await assert.rejects(
        h.runPod({ name: 'huge-0', namespace: 'shop', qos: 'besteffort', labels: { big: 'x'.repeat(1024 * 1024) }, containers: [] }),
        /INVALID_ARGUMENT: .*label key and value greater than maximum size \(4096 bytes\)/,
      );
    });

    test('a hostile sandbox on the real runtime: 10,000 labels and 4000-byte values are bounded with the reason; the pod is still named', async () => {
      const labels: Record<string, string> = { app: 'noisy' };
      for (let i = 0; i < 10_000; i++) labels[`l${String(i).padStart(5, '0')}`] = `v${i}`;
      for (let i = 0; i < 2; i++) labels[`big${i}`] = 'x'.repeat(4000);
      const pod = await h.runPod({ name: 'noisy-0', namespace: 'shop', qos: 'besteffort', labels, containers: [{ name: 'app', cmd: ['sleep', '100000'] }] });
      try {
        const res = await r.resolve(pod.container('app'));
        assert.ok(res.ok, JSON.stringify(res).slice(0, 300));
        assert.equal(res.meta.pod?.name, 'noisy-0');
        assert.equal(res.meta.pod?.uid, pod.uid);
        assert.equal(Object.keys(res.meta.pod!.labels).length, 256);
        assert.ok(!('big0' in res.meta.pod!.labels));
        assert.equal(res.meta.bounded, 'pod labels bounded: kept 256 of 10003 (2 over 317-byte keys or 1024-byte values; 9745 past 256 entries or 65536 bytes)');
        // The other pods' lookups are untouched.
        const other = await r.resolve(web.container('app'));
        assert.ok(other.ok && other.meta.bounded === null);
      } finally {
        await h.deletePod(pod);
      }
    });

    test('the watcher (relist, as containerd 1.6 has no events) sees a pod come and go; a removed container is then NOT_FOUND', async () => {
      const w = new CriWatcher(client, createRootLogger('silent', false), { pollMs: 200 });
      const changed = new Set<string>();
      const gone = new Set<string>();
      await w.start({ changed: (id) => changed.add(id), gone: (id) => gone.add(id) });
      try {
        assert.equal(w.mode, 'poll');
        for (const id of [web.sandboxId, web.container('app'), db.container('postgres'), agent.sandboxId]) assert.ok(changed.has(id), id);
        changed.clear();
        const tmp = await h.runPod({ name: 'job-28012345-abcde', namespace: 'batch', qos: 'besteffort', labels: { 'job-name': 'job-28012345' }, containers: [{ name: 'main', cmd: ['sleep', '100000'] }] });
        const id = tmp.container('main');
        await until('created seen', 5_000, () => (changed.has(id) && changed.has(tmp.sandboxId) ? true : undefined));
        const live = await r.resolve(id);
        assert.ok(live.ok && live.meta.pod?.labels['job-name'] === 'job-28012345');
        await h.deletePod(tmp);
        await until('deletion seen', 5_000, () => (gone.has(id) && gone.has(tmp.sandboxId) ? true : undefined));
        r.forget(tmp.sandboxId);
        const after = await r.resolve(id);
        assert.equal(after.ok, false);
        assert.equal(!after.ok && after.code, 'NOT_FOUND');
        assert.match(!after.ok ? after.reason : '', /no container or sandbox/);
      } finally {
        await w.stop();
      }
    });

    test('podtrail doctor lists the socket with runtime name and version', () => {
      const out = spawnSync(process.execPath, [PODTRAIL_BIN, 'doctor', '--cri-socket', h.socket], { encoding: 'utf8', timeout: 60_000 });
      const line = out.stdout.split('\n').find((l) => l.includes(h.socket));
      assert.equal(line, `ok   CRI ${h.socket}: containerd ${h.version.runtimeVersion}, CRI API v1, container events: no (capture relists)`);
      assert.equal(out.status, 0, out.stdout + out.stderr);
    });

    test('stop() leaves no process, mount, cgroup, directory or network namespace behind', async () => {
      const snapshot = { tmpDir: h.tmpDir, ownedCgroups: await recordedCgroups(h.tmpDir) };
      const netnsFiles = [`/run/netns/${h.netns}`, ...[web, db].map((p) => p.netnsPath!)];
      const pid = h.pid;
      assert.ok(snapshot.ownedCgroups.length >= 5);
      for (const f of netnsFiles) assert.ok(await exists(f), `${f} exists while running`);
      await h.stop();
      assert.deepEqual(await leftovers(snapshot), []);
      for (const f of netnsFiles) assert.equal(await exists(f), false, `${f} removed`);
      assert.ok(await waitGone(pid, 1_000), 'containerd is gone');
    });
  });

  test('a harness killed mid-run (SIGKILL) is swept by the next start: containerd, shims, pods, cgroups, namespaces', async () => {
    const helpers = fileURLToPath(new URL('../helpers/', import.meta.url));
    const script = `
      const { startContainerd } = await import(${JSON.stringify(helpers + 'containerd.js')});
      const h = await startContainerd();
      const p = await h.runPod({ name: 'doomed-0', namespace: 'x', qos: 'burstable', containers: [{ name: 'c', cmd: ['sleep', '100000'] }] });
      console.log(JSON.stringify({ tmpDir: h.tmpDir, netns: h.netns, podNetns: p.netnsPath, pid: h.pid }));
      setInterval(() => {}, 1000);`;
    const preexisting = await globalDirsPresent();
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (b: Buffer) => {
        buf += b.toString();
        if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
      });
      child.on('close', (code) => reject(new Error(`child exited ${code} before reporting`)));
    });
    const crashed = JSON.parse(line) as { tmpDir: string; netns: string; podNetns: string; pid: number };
    child.kill('SIGKILL');
    assert.ok(await waitGone(child.pid!, 5_000));
    const snapshot = { tmpDir: crashed.tmpDir, ownedCgroups: await recordedCgroups(crashed.tmpDir) };
    // Killed without stop(): containerd, its shim, the pod, its cgroups and namespaces are all still there.
    assert.notDeepEqual(await leftovers(snapshot), []);
    assert.ok(await exists(crashed.podNetns), crashed.podNetns);
    const swept = await sweepStaleHarnessDirs(pre.bins.busybox!);
    assert.ok(swept.includes(crashed.tmpDir), `swept ${swept.join(', ')}`);
    assert.deepEqual(await leftovers(snapshot), []);
    assert.ok(await waitGone(crashed.pid, 1_000), 'containerd is gone');
    for (const f of [`/run/netns/${crashed.netns}`, crashed.podNetns]) assert.equal(await exists(f), false, `${f} removed`);
    await removeGlobalDirs(preexisting);
  });
}
