// SPDX-License-Identifier: Apache-2.0
// The real-Docker harness itself: a private dockerd, four kinds of workload, their
// on-disk metadata, cgroups, namespaces and loopback connects, and a clean stop.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { connectFrom, execIn, freePort, listenTcp } from '../helpers/container-net.js';
import { type Dockerd, HarnessError, checkPrerequisites, leftovers, startDockerd } from '../helpers/dockerd.js';
import { type PlainContainer, type Pod, K8S, createPlainContainer, createPod } from '../helpers/pods.js';
import { globalDirsPresent, removeGlobalDirs, sweepStaleHarnessDirs } from '../helpers/harness-dir.js';
import { nsLink, procCgroups, waitGone } from '../helpers/proc.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const pre = await checkPrerequisites();
const HEX64 = /^[0-9a-f]{64}$/;

// Host state a stray dockerd/containerd changes when not confined by its flags.
async function hostFootprint(): Promise<Record<string, string>> {
  const read = (p: string) => readFile(p, 'utf8').then((t) => t.trim(), () => 'absent');
  const exists = (p: string) => stat(p).then(() => 'present', () => 'absent');
  return {
    ip_forward: await read('/proc/sys/net/ipv4/ip_forward'),
    'etc/docker/key.json': await exists('/etc/docker/key.json'),
    'opt/containerd': await exists('/opt/containerd'),
    'var/lib/docker': await exists('/var/lib/docker'),
    'var/lib/containerd': await exists('/var/lib/containerd'),
    'run/containerd/containerd.sock': await exists('/run/containerd/containerd.sock'),
    'run/docker.sock': await exists('/run/docker.sock'),
  };
}

async function dockerJson(d: Dockerd, id: string, file: 'config.v2.json' | 'hostconfig.json'): Promise<any> {
  return JSON.parse(await readFile(join(d.dataRoot, 'containers', id, file), 'utf8'));
}

if (!pre.ok) {
  // Outside CI a missing engine is reported as a skip with its reason; in CI it fails.
  test('docker harness prerequisites', { skip: process.env.CI === 'true' ? false : pre.missing.join('; ') }, () => {
    assert.fail(`missing: ${pre.missing.join('; ')}`);
  });
} else {
  describe('docker harness on a private dockerd', { concurrency: false }, () => {
    let d: Dockerd;
    let web: Pod;
    let db: Pod;
    let hn: Pod;
    let plain: PlainContainer;
    const timing: Record<string, number> = {};
    let footprint: Record<string, string>;

    before(async () => {
      footprint = await hostFootprint();
      const t0 = performance.now();
      d = await startDockerd();
      timing.startDockerdMs = performance.now() - t0;
      const t1 = performance.now();
      web = await createPod(d, {
        name: 'web-7d9f8b6c5d-x2k4q',
        namespace: 'shop',
        qos: 'burstable',
        labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d' },
        annotations: { 'team.example.com/owner': 'payments' },
        containers: [{ name: 'app', cmd: ['sleep', '100000'] }],
      });
      db = await createPod(d, {
        name: 'db-0',
        namespace: 'shop',
        qos: 'guaranteed',
        labels: { app: 'db' },
        containers: [{ name: 'postgres', cmd: ['sleep', '100000'] }],
      });
      hn = await createPod(d, {
        name: 'node-agent-abcde',
        namespace: 'kube-system',
        qos: 'besteffort',
        hostNetwork: true,
        labels: { app: 'node-agent' },
        containers: [{ name: 'agent', cmd: ['sleep', '100000'] }],
      });
      plain = await createPlainContainer(d, 'plain-worker', ['sleep', '100000']);
      timing.fourPodsMs = performance.now() - t1;
    });

    after(async () => {
      // Safety net when a test failed before the stop test ran; stop is idempotent.
      await d?.stop();
    });

    test('timings', (t) => {
      t.diagnostic(`startDockerd ${timing.startDockerdMs!.toFixed(0)} ms, 3 pods + 1 plain container ${timing.fourPodsMs!.toFixed(0)} ms`);
      assert.ok(timing.startDockerdMs! > 0);
    });

    test('daemon.json names the data root dockerd really uses', async () => {
      const nodeView = JSON.parse(await readFile(d.daemonJsonPath, 'utf8'));
      assert.equal(d.daemonJsonPath, join(d.hostRoot, 'etc/docker/daemon.json'));
      assert.notEqual(nodeView['data-root'], '/var/lib/docker');
      assert.equal(join(d.hostRoot, nodeView['data-root']), d.dataRoot);
      const own = JSON.parse(await readFile(d.dockerdConfigPath, 'utf8'));
      assert.equal(own['data-root'], d.dataRoot);
      const info = await d.docker(['info', '--format', '{{.DockerRootDir}} {{.CgroupDriver}}']);
      assert.equal(info.stdout.trim(), `${d.dataRoot} cgroupfs`);
      const nets = await d.docker(['network', 'ls', '--format', '{{.Name}}']);
      assert.deepEqual(nets.stdout.trim().split('\n').sort(), ['host', 'none'], 'no bridge network');
    });

    test('sandbox and app labels on config.v2.json, as dockershim wrote them', async () => {
      const sb = await dockerJson(d, web.sandboxId, 'config.v2.json');
      assert.equal(sb.ID, web.sandboxId);
      assert.equal(sb.Name, `/k8s_POD_${web.name}_shop_${web.uid}_0`);
      assert.equal(sb.Config.Hostname, web.name);
      const sl = sb.Config.Labels;
      assert.equal(sl[K8S.dockerType], 'podsandbox');
      assert.equal(sl[K8S.containerName], 'POD');
      assert.equal(sl[K8S.podName], web.name);
      assert.equal(sl[K8S.podNamespace], 'shop');
      assert.equal(sl[K8S.podUid], web.uid);
      assert.equal(sl.app, 'web');
      assert.equal(sl['pod-template-hash'], '7d9f8b6c5d');
      assert.equal(sl['annotation.team.example.com/owner'], 'payments');
      assert.equal(sl['annotation.kubernetes.io/config.source'], 'api');
      const sbh = await dockerJson(d, web.sandboxId, 'hostconfig.json');
      assert.equal(sbh.NetworkMode, 'none');
      assert.equal(sbh.CgroupParent, `/kubepods/burstable/pod${web.uid}`);

      const app = web.container('app');
      const ac = await dockerJson(d, app.id, 'config.v2.json');
      const al = ac.Config.Labels;
      assert.equal(al[K8S.dockerType], 'container');
      assert.equal(al[K8S.containerName], 'app');
      assert.equal(al[K8S.sandboxId], web.sandboxId);
      assert.equal(al[K8S.podName], web.name);
      assert.equal(al[K8S.podNamespace], 'shop');
      assert.equal(al[K8S.podUid], web.uid);
      assert.equal(al.app, undefined, 'pod labels live on the sandbox only');
      const ah = await dockerJson(d, app.id, 'hostconfig.json');
      assert.equal(ah.NetworkMode, `container:${web.sandboxId}`);
      assert.equal(ah.IpcMode, `container:${web.sandboxId}`);
      assert.equal(ah.UTSMode, '');

      const pc = await dockerJson(d, plain.id, 'config.v2.json');
      assert.deepEqual(Object.keys(pc.Config.Labels ?? {}).filter((k) => k.startsWith('io.kubernetes.')), []);
    });

    test('each process is in the cgroup kubelet would give it', async (t) => {
      const cases: [string, number, string][] = [
        ['burstable sandbox', web.sandboxPid, `/kubepods/burstable/pod${web.uid}/${web.sandboxId}`],
        ['burstable app', web.container('app').pid, `/kubepods/burstable/pod${web.uid}/${web.container('app').id}`],
        ['guaranteed app', db.container('postgres').pid, `/kubepods/pod${db.uid}/${db.container('postgres').id}`],
        ['hostNetwork app', hn.container('agent').pid, `/kubepods/besteffort/pod${hn.uid}/${hn.container('agent').id}`],
        ['plain', plain.pid, `/docker/${plain.id}`],
      ];
      for (const [what, pid, want] of cases) {
        const cg = await procCgroups(pid);
        assert.equal(cg.get('memory'), want, what);
        assert.match(want.split('/').at(-1)!, HEX64);
        for (const [ctrl, path] of cg) if (ctrl !== '') assert.equal(path, want, `${what}: v1 ${ctrl}`);
        // runc 1.1 in hybrid mode also joins the container's v2 cgroup; older runtimes leave "/".
        assert.ok(cg.get('') === want || cg.get('') === '/', `${what}: v2 line ${cg.get('')}`);
        if (what === 'burstable app') t.diagnostic(`v2 line of a container: 0::${cg.get('')}`);
      }
      assert.equal(web.cgroupPath(web.container('app').id), `/kubepods/burstable/pod${web.uid}/${web.container('app').id}`);
      assert.equal(db.cgroupPath(db.sandboxId), `/kubepods/pod${db.uid}/${db.sandboxId}`);
      assert.throws(() => web.cgroupPath(plain.id), HarnessError);
    });

    test('app shares the sandbox netns; its hostname is the pod name', async () => {
      const app = web.container('app');
      assert.equal(await nsLink(app.pid, 'net'), await nsLink(web.sandboxPid, 'net'));
      assert.notEqual(await nsLink(app.pid, 'net'), await nsLink('self', 'net'));
      assert.notEqual(await nsLink(app.pid, 'net'), await nsLink(db.container('postgres').pid, 'net'));
      // Docker has no --uts container:<id>: the app gets its own UTS namespace holding a
      // copy of the sandbox's hostname, so the nodename (not the ns inode) names the pod.
      assert.notEqual(await nsLink(app.pid, 'uts'), await nsLink('self', 'uts'));
      const h = await execIn(d, app, ['hostname']);
      assert.equal(h.stdout.trim(), web.name);
      assert.equal((await execIn(d, db.container('postgres'), ['hostname'])).stdout.trim(), 'db-0');
    });

    test('hostNetwork pod: host netns and host UTS, hostname is the node', async () => {
      const agent = hn.container('agent');
      assert.equal(await nsLink(agent.pid, 'net'), await nsLink('self', 'net'));
      assert.equal(await nsLink(agent.pid, 'uts'), await nsLink('self', 'uts'));
      assert.equal(await nsLink(hn.sandboxPid, 'net'), await nsLink('self', 'net'));
      assert.equal((await execIn(d, agent, ['hostname'])).stdout.trim(), hostname());
      assert.equal((await dockerJson(d, hn.sandboxId, 'hostconfig.json')).NetworkMode, 'host');
      const ah = await dockerJson(d, agent.id, 'hostconfig.json');
      assert.equal(ah.NetworkMode, `container:${hn.sandboxId}`);
      assert.equal(ah.UTSMode, 'host');
    });

    test("hostNetworkStyle 'host-flags': --network host --uts host on every container", async () => {
      const p = await createPod(d, {
        name: 'flags-pod', namespace: 'kube-system', qos: 'besteffort', hostNetwork: true, hostNetworkStyle: 'host-flags',
        containers: [{ name: 'c', cmd: ['sleep', '100000'] }],
      });
      for (const id of [p.sandboxId, p.container('c').id]) {
        const h = await dockerJson(d, id, 'hostconfig.json');
        assert.deepEqual([h.NetworkMode, h.UTSMode], ['host', 'host']);
      }
      assert.equal(await nsLink(p.container('c').pid, 'net'), await nsLink('self', 'net'));
      assert.equal(await nsLink(p.sandboxPid, 'uts'), await nsLink('self', 'uts'));
    });

    test('plain container: own netns, no pod', async () => {
      assert.notEqual(await nsLink(plain.pid, 'net'), await nsLink('self', 'net'));
      assert.equal((await execIn(d, plain, ['cat', '/proc/self/comm'])).stdout.trim(), 'cat');
    });

    test('loopback connects inside each netns: one accepted, one refused', async () => {
      const app = web.container('app');
      const { port } = await listenTcp(d, app);
      const okc = await connectFrom(d, app, { port });
      assert.equal(okc.ok, true, okc.stderr);
      assert.equal(okc.refused, false);
      assert.equal(okc.comm, 'nc');
      assert.ok(okc.hostPid > 0 && okc.hostPid !== okc.nsPid, `host pid ${okc.hostPid} vs ns pid ${okc.nsPid}`);

      // The listener is in the pod's netns, not the host's nor another pod's.
      const fromOtherPod = await connectFrom(d, db.container('postgres'), { port });
      assert.equal(fromOtherPod.refused, true);

      const closed = await connectFrom(d, app, { port: await freePort(app) });
      assert.equal(closed.ok, false);
      assert.equal(closed.refused, true, closed.stderr);

      const agent = hn.container('agent');
      const hostListener = await listenTcp(d, agent);
      const hnc = await connectFrom(d, agent, { port: hostListener.port });
      assert.equal(hnc.ok, true, hnc.stderr);

      const { port: pport } = await listenTcp(d, plain);
      assert.equal((await connectFrom(d, plain, { port: pport })).ok, true);

      const udp = await connectFrom(d, plain, { protocol: 'udp', port: await freePort(plain, 'udp') });
      assert.equal(udp.refused, true, udp.stderr);
      assert.equal(udp.comm, 'nslookup');
    });

    test('bad input gets a clear error', async () => {
      const base = { name: 'x', namespace: 'ns', qos: 'burstable' as const, containers: [{ name: 'c', cmd: ['true'] }] };
      await assert.rejects(createPod(d, { ...base, uid: '../../etc' }), /pod uid/);
      await assert.rejects(createPod(d, { ...base, qos: 'gold' as never }), /qos/);
      await assert.rejects(createPod(d, { ...base, containers: [] }), /at least one container/);
      await assert.rejects(createPod(d, { ...base, name: 'Bad_Name' }), /pod name/);
      await assert.rejects(createPod(d, { ...base, labels: { [K8S.podName]: 'spoof' } }), /kubelet's own/);
      await assert.rejects(createPod(d, { ...base, containers: [{ name: 'c', cmd: ['/no/such/binary'] }] }), /docker run/);
      await assert.rejects(createPlainContainer(d, '../x', ['true']), /valid Docker name/);
      await assert.rejects(connectFrom(d, plain, { port: 80, addr: '10.0.0.1' }), /loopback only/);
    });

    test('stop leaves no process, mount, cgroup or directory behind', async () => {
      const snapshot = { tmpDir: d.tmpDir, ownedCgroups: [...d.ownedCgroups] };
      const pids = [d.dockerdPid, d.containerdPid];
      await d.stop();
      assert.deepEqual(await leftovers(snapshot), []);
      for (const pid of pids) assert.equal(await nsLink(pid, 'net'), undefined, `pid ${pid} still exists`);
      assert.ok(snapshot.ownedCgroups.length >= 5);
      assert.deepEqual(await hostFootprint(), footprint, 'dockerd/containerd changed host state outside their dirs');
    });
  });

  test('a harness killed mid-run (SIGKILL) is swept by the next start', async () => {
    const helpers = fileURLToPath(new URL('../helpers/', import.meta.url));
    const script = `
      const { startDockerd } = await import(${JSON.stringify(helpers + 'dockerd.js')});
      const { createPod, createPlainContainer } = await import(${JSON.stringify(helpers + 'pods.js')});
      const d = await startDockerd();
      await createPod(d, { name: 'doomed', namespace: 'x', qos: 'burstable', containers: [{ name: 'c', cmd: ['sleep', '1000'] }] });
      await createPlainContainer(d, 'doomed-plain', ['sleep', '1000']);
      console.log(JSON.stringify({ tmpDir: d.tmpDir, ownedCgroups: [...d.ownedCgroups] }));
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
    const crashed = JSON.parse(line) as { tmpDir: string; ownedCgroups: string[] };
    child.kill('SIGKILL');
    assert.ok(await waitGone(child.pid!, 5_000));
    // Killed without stop(): daemons, shims, containers, mounts and cgroups are all still there.
    assert.notDeepEqual(await leftovers(crashed), []);
    const swept = await sweepStaleHarnessDirs(pre.bins.busybox!);
    assert.ok(swept.includes(crashed.tmpDir), `swept ${swept.join(', ')}`);
    assert.deepEqual(await leftovers(crashed), []);
    await removeGlobalDirs(preexisting);
  });
}
