// SPDX-License-Identifier: Apache-2.0
// Records for the codec benchmark: raw connect events over workloads whose cgroup paths are the
// real ones in test/fixtures/cgroup-paths.tsv (each pod or container path used several times
// with fresh IDs in the same format, so strings differ as on a real node), pod labels and
// images shaped like the Docker metadata fixtures, and the AuditRecord enrich would write for
// each, made by enrich's own attribute() and auditFromRaw(). Deterministic for a seed.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { attribute } from '../src/enrich/attribute.js';
import { auditFromRaw } from '../src/enrich/audit.js';
import { tryParseCgroupPath } from '../src/runtime/cgroup-path.js';
import { RUNTIMES, type ContainerMeta, type ResolveResult, type Runtime } from '../src/runtime/types.js';
import type { AuditRecord, RawConnectEvent } from '../src/schema/types.js';
import { rng } from './enrich-world.js';
import { NO_IDENTITY, sampleIdentity } from './process-sample.js';
import { BARE_ENDPOINT } from '../src/schema/endpoint.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const HOST_NETNS = 4026531840n;

interface Workload {
  node: string;
  path: string;
  cgroupId: bigint;
  utsName: string;
  netns: bigint;
  comm: string;
  pid: number;
  uid: bigint;
  v4: number[];
  v6: number[];
  resolved: ResolveResult | null;
  weight: number;
}

export interface CodecRecords {
  raw: RawConnectEvent[];
  audit: AuditRecord[];
  workloads: number;
  ipv6: number;
  attribution: Record<string, number>;
}

/** ip-10-0-12-34.eu-west-1.compute.internal -> 10.0.12.34 */
const nodeIp = (node: string) => node.slice(3).split('.')[0]!.split('-').map(Number);
const hexOf = (r: () => number, n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
const uuidOf = (r: () => number) => `${hexOf(r, 8)}-${hexOf(r, 4)}-4${hexOf(r, 3)}-a${hexOf(r, 3)}-${hexOf(r, 12)}`;
const pickOf = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const APPS = ['web', 'api', 'checkout', 'cart', 'search', 'auth', 'billing', 'worker', 'ingest', 'notifier'];
const NAMESPACES = ['shop', 'payments', 'default', 'data', 'kube-system', 'monitoring'];
const COMMS = ['curl', 'java', 'python3', 'envoy', 'node', 'nginx', 'postgres', 'redis-server', 'coredns', 'gunicorn'];
const SIDECARS = ['istio-proxy', 'fluent-bit', 'cloudsql-proxy'];
// Kubernetes' recommended labels, as many charts set them beside the fixture's app/pod-template-hash.
const CHART_LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart'];

const META_FILE: Record<Runtime, (id: string) => string> = {
  docker: (id) => `/var/lib/docker/containers/${id}/config.v2.json`,
  containerd: (id) => `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${id}/config.json`,
  'cri-o': (id) => `/var/lib/containers/storage/overlay-containers/${id}/userdata/config.json`,
};

interface Row { path: string; runtime: string; containerId: string; podUid: string }

function fixtureRows(): Row[] {
  return readFileSync(`${FIXTURES}cgroup-paths.tsv`, 'utf8').split('\n')
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('path\t'))
    .map((l) => {
      const [path = '', runtime = '', , , containerId = '', podUid = ''] = l.split('\t');
      return { path, runtime, containerId, podUid };
    });
}

/** The row's path with new IDs of the same shapes (dashed or underscored UID, 32-hex static-pod UID). */
function reId(row: Row, r: () => number): string {
  let path = row.path;
  if (row.containerId) path = path.split(row.containerId).join(hexOf(r, 64));
  if (row.podUid) {
    const uid = row.podUid.includes('-') ? uuidOf(r) : hexOf(r, 32);
    path = path.split(row.podUid).join(uid).split(row.podUid.replace(/-/g, '_')).join(uid.replace(/-/g, '_'));
  }
  return path;
}

function runtimeOf(row: Row, path: string): Runtime {
  if ((RUNTIMES as readonly string[]).includes(row.runtime)) return row.runtime as Runtime;
  const p = tryParseCgroupPath(path);
  const hint = p.ok ? p.value.runtime : undefined;
  return hint && (RUNTIMES as readonly string[]).includes(hint) ? (hint as Runtime) : 'docker';
}

function dockerFixture(): { podLabelKeys: string[]; image: string; container: string } {
  const j = (f: string) => JSON.parse(readFileSync(`${FIXTURES}runtime-metadata/docker/${f}`, 'utf8')) as { Config: { Labels: Record<string, string>; Image: string } };
  const sandbox = j('sandbox.config.v2.json').Config.Labels;
  const app = j('app.config.v2.json').Config;
  return {
    podLabelKeys: Object.keys(sandbox).filter((k) => !k.startsWith('io.kubernetes.') && !k.startsWith('annotation.')),
    image: app.Image,
    container: app.Labels['io.kubernetes.container.name'] ?? 'app',
  };
}

function workloads(r: () => number, nodes: string[]): Workload[] {
  const fx = dockerFixture();
  const images = [fx.image, 'nginx:1.27', 'registry.k8s.io/coredns/coredns:v1.11.3', 'docker.io/library/python:3.12-slim',
    `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/checkout@sha256:${hexOf(r, 64)}`, 'gcr.io/distroless/java17-debian12:nonroot'];
  const out: Workload[] = [];
  let cgroupId = 5000n;
  let netns = 4026532100n;
  let pid = 3000;
  let n = 0;
  for (const row of fixtureRows()) {
    const copies = row.podUid ? 8 : row.containerId ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const node = nodes[n++ % nodes.length]!;
      const path = reId(row, r);
      const parsed = tryParseCgroupPath(path);
      const containerId = parsed.ok ? parsed.value.containerId : undefined;
      const app = pickOf(r, APPS);
      const podName = `${app}-${hexOf(r, 10)}-${hexOf(r, 5)}`;
      const hostNetwork = row.podUid !== '' && r() < 0.05;
      let resolved: ResolveResult | null = null;
      if (containerId !== undefined) {
        const labels: Record<string, string> = {};
        for (const k of fx.podLabelKeys) labels[k] = k === 'app' ? app : hexOf(r, 10);
        if (r() < 0.5) for (const k of CHART_LABELS) labels[k] = k === 'app.kubernetes.io/version' ? `1.${Math.floor(r() * 20)}.${Math.floor(r() * 10)}` : k.startsWith('helm') ? `${app}-0.${Math.floor(r() * 9)}.0` : k.endsWith('managed-by') ? 'Helm' : app;
        const meta: ContainerMeta = {
          id: containerId, runtime: runtimeOf(row, path), name: row.podUid ? (r() < 0.8 ? fx.container : pickOf(r, SIDECARS)) : `${app}-${c}`,
          image: pickOf(r, images), hostname: podName, isSandbox: false, sandboxId: hexOf(r, 64),
          pod: row.podUid ? { name: podName, namespace: pickOf(r, NAMESPACES), uid: (parsed.ok && parsed.value.podUid) || '', labels, annotations: {}, hostNetwork } : null,
          networkMode: null, utsMode: null,
        };
        const file = META_FILE[meta.runtime](containerId);
        // A few containers are gone by the time enrich looks: UNRESOLVED, as in production.
        resolved = r() < 0.03 ? { ok: false, code: 'NOT_FOUND', reason: `${file}: not found` } : { ok: true, meta, source: file };
      }
      const isPod = row.podUid !== '';
      const inHost = !isPod && containerId === undefined;
      out.push({
        node, path, cgroupId: cgroupId++, utsName: isPod && !hostNetwork ? podName : inHost ? node : containerId?.slice(0, 12) ?? node,
        netns: inHost || hostNetwork ? HOST_NETNS : netns++, comm: inHost ? pickOf(r, ['kubelet', 'sshd', 'containerd', 'chronyd']) : pickOf(r, COMMS),
        pid: pid += 1 + Math.floor(r() * 40), uid: inHost ? 0n : pickOf(r, [0n, 1000n, 65532n, 101n]),
        v4: inHost || hostNetwork ? nodeIp(node) : [10, 244, Math.floor(r() * 64), 2 + Math.floor(r() * 250)], v6: [0xfd, 0, 0x10, 0x244, ...Array.from({ length: 12 }, () => Math.floor(r() * 256))],
        resolved, weight: isPod ? 1 + Math.floor(r() * 4) : inHost ? 1 : 2,
      });
    }
  }
  return out;
}

/** n raw events over the workloads by weight, with the audit record for each. */
/** identity: carry process identity (exe, args, ancestry), as capture writes it since issue 14; false: as before. */
export function codecRecords(n: number, seed = 11, identity = true): CodecRecords {
  const r = rng(seed);
  const nodes = ['ip-10-0-12-34.eu-west-1.compute.internal', 'ip-10-0-47-201.eu-west-1.compute.internal', 'ip-10-0-90-7.eu-west-1.compute.internal'];
  const ws = workloads(r, nodes);
  const cum: number[] = [];
  let total = 0;
  for (const w of ws) cum.push((total += w.weight));
  const instance = hexOf(r, 6);
  const seqs = new Map<string, bigint>();
  let time = 1_796_005_677_612_560_689n;
  const raw: RawConnectEvent[] = [];
  const audit: AuditRecord[] = [];
  const attribution: Record<string, number> = {};
  let ipv6 = 0;
  for (let i = 0; i < n; i++) {
    const v = r() * total;
    const w = ws[cum.findIndex((c) => c > v)]!;
    const seq = (seqs.get(w.node) ?? 0n) + 1n;
    seqs.set(w.node, seq);
    time += BigInt(1 + Math.floor(r() * 80_000));
    const v6 = r() < 0.1;
    const udp = r() < 0.05;
    const status = r() < 0.95 ? 'OK' : pickOf(r, ['REFUSED', 'TIMEOUT', 'UNREACHABLE'] as const);
    const dst = v6 ? [0x20, 0x01, 0x0d, 0xb8, ...Array.from({ length: 12 }, () => Math.floor(r() * 256))]
      : udp ? [10, 96, 0, 10] : r() < 0.6 ? [10, 96, Math.floor(r() * 8), 1 + Math.floor(r() * 250)] : [...pickOf(r, [[198, 51, 100], [203, 0, 113]]), Math.floor(r() * 256)];
    if (v6) ipv6++;
    const e: RawConnectEvent = {
      eventId: `${w.node}:${instance}:${seq}`, seq, instance, time, node: w.node,
      protocol: udp ? 'UDP' : 'TCP', family: v6 ? 'IPv6' : 'IPv4',
      src: { ...BARE_ENDPOINT, addr: Buffer.from(v6 ? w.v6 : w.v4), port: 32768 + Math.floor(r() * 28000) },
      dst: { ...BARE_ENDPOINT, addr: Buffer.from(dst), port: udp ? 53 : pickOf(r, [443, 443, 80, 5432, 6379, 8080, 9092]) },
      result: { status, errno: { OK: 0, REFUSED: 111, TIMEOUT: 110, UNREACHABLE: 113 }[status] },
      process: { pid: w.pid, tid: w.pid + Math.floor(r() * 30), ppid: w.pid - 1 - Math.floor(r() * 5), uid: w.uid, gid: w.uid, comm: w.comm, startTime: 1_000_000_000n * BigInt(w.pid) + 123_456_789n, nsPid: w.netns === HOST_NETNS ? w.pid : 1 + Math.floor(r() * 40), ...(identity ? sampleIdentity(w.comm, w.pid, 1_000_000_000n * BigInt(w.pid) + 123_456_789n) : NO_IDENTITY) },
      netns: w.netns, mntns: w.netns - 2n, pidns: w.netns - 1n, utsName: w.utsName,
      cgroup: { id: w.cgroupId, path: w.path }, encryptedDns: false,
    };
    const a = attribute({ cgroupPath: w.path, utsName: w.utsName, netns: w.netns, node: { hostname: w.node, netns: HOST_NETNS }, resolved: w.resolved });
    raw.push(e);
    audit.push(auditFromRaw(e, a));
    attribution[a.status] = (attribution[a.status] ?? 0) + 1;
  }
  return { raw, audit, workloads: ws.length, ipv6, attribution };
}
