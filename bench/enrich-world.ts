// SPDX-License-Identifier: Apache-2.0
// A synthetic cluster for the enrich benchmark: a host root holding Docker metadata for a few
// hundred kubelet-shaped pods spread over a few nodes (files built from the real-format fixtures in
// test/fixtures/runtime-metadata/docker), and raw connect events spread over their cgroup
// paths, plus host processes, plain containers and containers whose metadata is gone.
// Deterministic for a given seed, so runs compare.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawConnectEvent } from '../src/schema/types.js';
import { sampleIdentity } from './process-sample.js';
import { BARE_ENDPOINT } from '../src/schema/endpoint.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/runtime-metadata/docker/', import.meta.url));
const DATA_ROOT = '/var/lib/docker-bench';

export interface Workload {
  node: string;
  path: string;
  cgroupId: bigint;
  utsName: string;
  netns: bigint;
  comm: string;
  pid: number;
  podIp: number[];
  /** relative frequency */
  weight: number;
}

export interface World {
  hostRoot: string;
  /** one capture instance each; capture partitions the raw topic by node */
  nodes: string[];
  workloads: Workload[];
  /** counts by kind, for the report */
  kinds: Record<'podContainers' | 'hostNetwork' | 'plain' | 'host' | 'gone', number>;
  dispose(): Promise<void>;
}

/** mulberry32: a small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (r: () => number, n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
const uuid = (r: () => number) => `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-a${hex(r, 3)}-${hex(r, 12)}`;
const COMMS = ['curl', 'java', 'python3', 'envoy', 'node', 'nginx', 'postgres', 'redis-server'];
const APPS = ['web', 'api', 'checkout', 'cart', 'search', 'auth', 'billing', 'worker'];

export async function buildWorld(opts: { pods: number; nodes: number; seed?: number }): Promise<World> {
  const r = rng(opts.seed ?? 42);
  const hostRoot = await mkdtemp(join(tmpdir(), 'pt-bench-root-'));
  const nodes = Array.from({ length: opts.nodes }, (_, i) => `bench-node-${i + 1}`);
  // Workloads are spread over the nodes; all their metadata lives in one host root.
  let n = 0;
  const nextNode = () => nodes[n++ % nodes.length]!;
  const tpl = async (f: string) => JSON.parse(await readFile(join(FIXTURES, f), 'utf8')) as Record<string, any>;
  const appCfg = await tpl('app.config.v2.json');
  const appHost = await tpl('app.hostconfig.json');
  const sbCfg = await tpl('sandbox.config.v2.json');
  const sbHost = await tpl('sandbox.hostconfig.json');
  await mkdir(join(hostRoot, 'etc/docker'), { recursive: true });
  await writeFile(join(hostRoot, 'etc/docker/daemon.json'), JSON.stringify({ 'data-root': DATA_ROOT, 'log-driver': 'json-file' }));

  const write = async (id: string, cfg: Record<string, any>, host: Record<string, any>) => {
    const dir = join(hostRoot, DATA_ROOT, 'containers', id);
    await mkdir(dir, { recursive: true });
    // dockerd writes both files as compact JSON.
    await writeFile(join(dir, 'config.v2.json'), JSON.stringify(cfg));
    await writeFile(join(dir, 'hostconfig.json'), JSON.stringify(host));
  };

  const workloads: Workload[] = [];
  const kinds = { podContainers: 0, hostNetwork: 0, plain: 0, host: 0, gone: 0 };
  let cgroupId = 10_000n;
  let netns = 4026532000n;
  let pid = 20_000;
  for (let i = 0; i < opts.pods; i++) {
    const app = APPS[i % APPS.length]!;
    const name = `${app}-${hex(r, 10)}-${hex(r, 5)}`;
    const ns = ['shop', 'payments', 'default', 'data'][i % 4]!;
    const uid = uuid(r);
    const qos = i % 10 < 6 ? 'burstable' : i % 10 < 9 ? 'besteffort' : 'guaranteed';
    const parent = qos === 'guaranteed' ? `/kubepods/pod${uid}` : `/kubepods/${qos}/pod${uid}`;
    const hostNetwork = i % 25 === 7;
    const sandboxId = hex(r, 64);
    const podLabels = { app, 'pod-template-hash': hex(r, 10), version: `v${i % 3}` };
    const ids = { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': ns, 'io.kubernetes.pod.uid': uid };
    await write(
      sandboxId,
      { ...sbCfg, ID: sandboxId, Name: `/k8s_POD_${name}_${ns}_${uid}_0`, Config: { ...sbCfg.Config, Hostname: name, Labels: { ...podLabels, 'annotation.kubernetes.io/config.source': 'api', ...ids, 'io.kubernetes.docker.type': 'podsandbox', 'io.kubernetes.container.name': 'POD' } } },
      { ...sbHost, NetworkMode: hostNetwork ? 'host' : 'none', CgroupParent: parent },
    );
    const podIp = [10, 244, (i >> 8) & 255, i & 255];
    const pnetns = hostNetwork ? 4026531840n : netns++;
    const containers = i % 3 === 0 ? ['app', 'sidecar'] : ['app'];
    for (const c of containers) {
      const id = hex(r, 64);
      await write(
        id,
        { ...appCfg, ID: id, Name: `/k8s_${c}_${name}_${ns}_${uid}_0`, Config: { ...appCfg.Config, Hostname: name, Labels: { ...appCfg.Config.Labels, ...ids, 'io.kubernetes.container.name': c, 'io.kubernetes.sandbox.id': sandboxId } } },
        { ...appHost, NetworkMode: `container:${sandboxId}`, UTSMode: hostNetwork ? 'host' : '', CgroupParent: parent },
      );
      const node = nextNode();
      workloads.push({ node, path: `${parent}/${id}`, cgroupId: cgroupId++, utsName: hostNetwork ? node : name, netns: pnetns, comm: COMMS[Math.floor(r() * COMMS.length)]!, pid: pid += 7, podIp, weight: 1 + Math.floor(r() * 4) });
      kinds.podContainers++;
      if (hostNetwork) kinds.hostNetwork++;
    }
  }
  for (let i = 0; i < 10; i++) {
    const id = hex(r, 64);
    await write(id, { ...appCfg, ID: id, Name: `/plain-${i}`, Config: { ...appCfg.Config, Hostname: id.slice(0, 12), Labels: { maintainer: 'bench' } } }, { ...appHost, NetworkMode: 'bridge', UTSMode: '', CgroupParent: '' });
    workloads.push({ node: nextNode(), path: `/docker/${id}`, cgroupId: cgroupId++, utsName: id.slice(0, 12), netns: netns++, comm: 'sh', pid: pid += 7, podIp: [172, 17, 0, i + 2], weight: 2 });
    kinds.plain++;
  }
  for (const node of nodes) for (const p of ['/', '/system.slice/kubelet.service', '/system.slice/containerd.service', '/user.slice/user-0.slice/session-3.scope']) {
    workloads.push({ node, path: p, cgroupId: cgroupId++, utsName: node, netns: 4026531840n, comm: p === '/' ? 'sshd' : 'kubelet', pid: pid += 7, podIp: [192, 168, 1, 10], weight: Math.ceil(20 / nodes.length) });
    kinds.host++;
  }
  // Containers already deleted from disk: NOT_FOUND, through the negative cache.
  for (let i = 0; i < 5; i++) {
    workloads.push({ node: nextNode(), path: `/kubepods/besteffort/pod${uuid(r)}/${hex(r, 64)}`, cgroupId: cgroupId++, utsName: `gone-${i}`, netns: netns++, comm: 'curl', pid: pid += 7, podIp: [10, 244, 99, i], weight: 1 });
    kinds.gone++;
  }
  return { hostRoot, nodes, workloads, kinds, dispose: () => rm(hostRoot, { recursive: true, force: true }) };
}

/** n raw events over the world's workloads, by weight; keys as capture writes them, seqs gap-free per node. */
export function* rawEvents(w: World, n: number, seed = 7): Generator<{ key: string; node: number; raw: RawConnectEvent }> {
  const r = rng(seed);
  const cum: number[] = [];
  let total = 0;
  for (const x of w.workloads) cum.push((total += x.weight));
  const pick = () => {
    const v = r() * total;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! > v) hi = mid;
      else lo = mid + 1;
    }
    return w.workloads[lo]!;
  };
  const instance = 'b3nch1';
  const t0 = 1_796_005_677_000_000_000n;
  const seqs = new Map<string, bigint>();
  for (let i = 0; i < n; i++) {
    const x = pick();
    const seq = (seqs.get(x.node) ?? 0n) + 1n;
    seqs.set(x.node, seq);
    const refused = r() < 0.03;
    const udp = r() < 0.05;
    yield {
      key: `${x.node}/${x.cgroupId}`,
      node: w.nodes.indexOf(x.node),
      raw: {
        eventId: `${x.node}:${instance}:${seq}`, seq, instance, time: t0 + BigInt(i) * 37_000n, node: x.node,
        protocol: udp ? 'UDP' : 'TCP', family: 'IPv4',
        src: { ...BARE_ENDPOINT, addr: Buffer.from(x.podIp), port: 32768 + Math.floor(r() * 28000) },
        dst: { ...BARE_ENDPOINT, addr: Buffer.from(udp ? [10, 96, 0, 10] : [10, 96, Math.floor(r() * 4), 1 + Math.floor(r() * 250)]), port: udp ? 53 : [443, 5432, 6379, 8080][i % 4]! },
        result: refused ? { status: 'REFUSED', errno: 111 } : { status: 'OK', errno: 0 },
        process: { pid: x.pid, tid: x.pid + (i % 3), ppid: x.pid - 1, uid: 1000n, gid: 1000n, comm: x.comm, startTime: 5_000_000_000n + BigInt(x.pid), nsPid: 1 + (i % 3), ...sampleIdentity(x.comm, x.pid, 5_000_000_000n + BigInt(x.pid)) },
        netns: x.netns, mntns: x.netns + 1n, pidns: x.netns + 2n, utsName: x.utsName,
        cgroup: { id: x.cgroupId, path: x.path }, encryptedDns: false,
      },
    };
  }
}
