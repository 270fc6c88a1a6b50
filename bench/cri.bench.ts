// SPDX-License-Identifier: Apache-2.0
// `npm run bench:cri`: the CRI path against a real containerd (Debian's 1.6, its CRI plugin),
// in a private instance from test/helpers/containerd.ts. Needs root.
//  1. Lookup latency: CriResolver.resolve() for app containers, cold (the sandbox's status not
//     cached: ListContainers + ContainerStatus + PodSandboxStatus) and warm (cached sandbox:
//     ListContainers + ContainerStatus), p50/p99/max over all samples.
//  2. The metadata publisher's CPU: a child process runs MetadataPublisher with a CriWatcher
//     (relist every --poll-ms, as containerd 1.6 has no events) and a counting sink. Phase
//     "steady": --pods pods, nothing changes. Phase "churn": the parent deletes the oldest pod
//     and creates a new one, back to back, so --pods stay up while they turn over. The child's
//     CPU comes from /proc/<pid>/stat (utime + stime), as a share of one core over the phase.
//
//   node dist/bench/cri.bench.js [--lookup-pods N] [--rounds N] [--pods N] [--steady-s S] [--churn-s S] [--poll-ms MS]
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriClient } from '../src/runtime/cri/client.js';
import { CriResolver } from '../src/runtime/cri/resolver.js';
import { CriWatcher } from '../src/runtime/cri/watch.js';
import { CriWithFiles } from '../src/runtime/cri/with-files.js';
import { createResolver } from '../src/runtime/index.js';
import { MetadataPublisher } from '../src/capture/metadata-publisher.js';
import { createRootLogger } from '../src/common/log.js';
import { startContainerd, type Containerd, type CriPod } from '../test/helpers/containerd.js';

interface ChildSpec { socket: string; pollMs: number }

async function child(spec: ChildSpec): Promise<void> {
  const log = createRootLogger('silent', false);
  const root = await mkdtemp(join(tmpdir(), 'pt-cri-bench-'));
  const client = new CriClient(spec.socket);
  const cri = new CriResolver(client);
  const files = createResolver({ hostRoot: root, cacheTtlMs: 0, negativeTtlMs: 0, logger: log });
  const watcher = new CriWatcher(client, log, { pollMs: spec.pollMs });
  const counts = { versions: 0, deletions: 0 };
  const pub = new MetadataPublisher(new CriWithFiles([cri], files, log), {
    offerMeta: (r) => {
      if (r.deletedTime === null) counts.versions++;
      else counts.deletions++;
    },
  }, { node: 'bench', hostRoot: root, scanIntervalMs: 3_600_000, criWatchers: [watcher], onSandboxGone: (id) => cri.forget(id) }, log);
  await pub.start();
  process.send!({ ready: true });
  process.on('message', (m: { report?: boolean; stop?: boolean }) => {
    if (m.report) process.send!({ ...counts, polls: watcher.polls, pollFailures: watcher.pollFailures });
    if (m.stop) {
      void pub.stop().then(async () => {
        client.close();
        await rm(root, { recursive: true, force: true });
        process.exit(0);
      });
    }
  });
}

const TICKS = 100; // USER_HZ on Linux
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const fmt = (ms: number): string => ms.toFixed(2);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'lookup-pods': { type: 'string', default: '20' },
      rounds: { type: 'string', default: '25' },
      pods: { type: 'string', default: '100' },
      'steady-s': { type: 'string', default: '30' },
      'churn-s': { type: 'string', default: '60' },
      'poll-ms': { type: 'string', default: '1000' },
    },
  });
  const lookupPods = Number(values['lookup-pods']);
  const rounds = Number(values.rounds);
  const pods = Number(values.pods);
  const steadyS = Number(values['steady-s']);
  const churnS = Number(values['churn-s']);
  const pollMs = Number(values['poll-ms']);
  const h = await startContainerd();
  let seq = 0;
  const mkPod = (): Promise<CriPod> => {
    const n = seq++;
    return h.runPod({
      name: `web-7d9f8b6c5d-${String(n).padStart(5, '0')}`, namespace: 'bench', qos: n % 3 === 0 ? 'guaranteed' : n % 3 === 1 ? 'burstable' : 'besteffort',
      labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d', team: `t${n % 7}` }, annotations: { owner: 'bench' },
      containers: [{ name: 'app', cmd: ['sleep', '100000'] }],
    });
  };
  try {
    console.log(`# containerd ${h.version.runtimeVersion}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    // 1. lookup latency
    const live: CriPod[] = [];
    for (let i = 0; i < lookupPods; i++) live.push(await mkPod());
    const client = new CriClient(h.socket);
    const r = new CriResolver(client);
    await r.runtimeName();
    const cold: number[] = [];
    const warm: number[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const p of live) {
        r.forget(p.sandboxId);
        let t = process.hrtime.bigint();
        const a = await r.resolve(p.container('app'));
        cold.push(Number(process.hrtime.bigint() - t) / 1e6);
        t = process.hrtime.bigint();
        const b = await r.resolve(p.container('app'));
        warm.push(Number(process.hrtime.bigint() - t) / 1e6);
        if (!a.ok || !b.ok || a.meta.pod?.labels.app !== 'web') throw new Error(`lookup failed: ${JSON.stringify(a)}`);
      }
    }
    client.close();
    for (const [name, xs] of [['cold (sandbox not cached)', cold], ['warm (sandbox cached)', warm]] as const) {
      const s = [...xs].sort((x, y) => x - y);
      console.log(`lookup ${name}: n=${s.length} p50=${fmt(pct(s, 50))} ms p99=${fmt(pct(s, 99))} ms max=${fmt(s.at(-1)!)} ms`);
    }

    // 2. publisher CPU with --pods pods
    while (live.length < pods) live.push(await mkPod());
    const c = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, PODTRAIL_CRI_BENCH_CHILD: JSON.stringify({ socket: h.socket, pollMs }) } });
    const next = <T>(): Promise<T> => new Promise((res) => c.once('message', (m) => res(m as T)));
    await next<{ ready: boolean }>();
    // The first relist's lookups (every pod's first version) finish before anything is timed.
    await new Promise((res) => setTimeout(res, 3_000));
    const report = async (): Promise<{ versions: number; deletions: number; polls: number; pollFailures: number }> => {
      c.send({ report: true });
      return next();
    };
    const phase = async (name: string, seconds: number, work: () => Promise<number>): Promise<void> => {
      const before = await report();
      const cpu0 = cpuMs(c.pid!);
      const t0 = Date.now();
      const turned = await work();
      const wall = Date.now() - t0;
      const cpu = cpuMs(c.pid!) - cpu0;
      const after = await report();
      console.log(
        `publisher ${name}: ${pods} pods, ${seconds} s, relist every ${pollMs} ms: CPU ${cpu.toFixed(0)} ms = ${((100 * cpu) / wall).toFixed(2)}% of a core; ` +
          `${turned} pods replaced; versions +${after.versions - before.versions}, deletions +${after.deletions - before.deletions}, relists +${after.polls - before.polls} (failed ${after.pollFailures})`,
      );
    };
    await phase('steady', steadyS, async () => {
      await new Promise((res) => setTimeout(res, steadyS * 1000));
      return 0;
    });
    await phase('churn', churnS, async () => {
      const end = Date.now() + churnS * 1000;
      let turned = 0;
      while (Date.now() < end) {
        await h.deletePod(live.shift()!);
        live.push(await mkPod());
        turned++;
      }
      return turned;
    });
    c.send({ stop: true });
    await new Promise((res) => c.once('exit', res));
  } finally {
    await h.stop();
  }
}

export type { Containerd };

if (process.env.PODTRAIL_CRI_BENCH_CHILD) {
  await child(JSON.parse(process.env.PODTRAIL_CRI_BENCH_CHILD) as ChildSpec);
} else {
  await main();
}
