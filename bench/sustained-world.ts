// SPDX-License-Identifier: Apache-2.0
// The load side of bench/sustained.ts: a private dockerd, M kubelet-shaped pods (sandbox +
// one app container each, as in the end-to-end test), and in each app container the static
// connect generator (bench/sustained-client.c) run with `docker exec`, so its connects come
// from the container's own cgroup, netns and pid namespace. Each generator keeps its own count.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Dockerd } from '../test/helpers/dockerd.js';
import { type Pod, createPod } from '../test/helpers/pods.js';

export interface GenResult { connects: number; fails: number; seconds: number; rate: number; port: number; maxLateMs: number }

export interface Generator {
  pod: Pod;
  containerId: string;
  /** the cgroup path capture reports for this generator's connects */
  cgroupPath: string;
  rate: number;
  port: number;
  /** cumulative connects + fails by second, from the generator's own progress lines */
  progress: Array<{ t: number; done: number }>;
  result: GenResult | undefined;
  exited: Promise<number | null>;
  kill(): void;
}

const GEN_PATH = '/bin/pt-load';

/** cc -static: the image holds a static busybox and nothing else, no libc to link against. */
export async function buildStaticClient(root: string): Promise<string> {
  const out = join(root, '.tmp', `pt-load-${process.pid}`);
  mkdirSync(join(root, '.tmp'), { recursive: true });
  await promisify(execFile)('cc', ['-O2', '-Wall', '-static', '-o', out, join(root, 'bench', 'sustained-client.c')]);
  return out;
}

/** M pods named load-<i>, each with one app container that sleeps until a generator is exec'd in. */
export async function createLoadPods(d: Dockerd, m: number, bin: string): Promise<Pod[]> {
  const pods: Pod[] = [];
  for (let i = 0; i < m; i++) {
    const pod = await createPod(d, {
      name: `load-${i}-7d9f8b6c5d-x2k4q`,
      namespace: 'bench',
      qos: i % 2 ? 'besteffort' : 'burstable',
      labels: { app: 'load', shard: String(i) },
      containers: [{ name: 'gen', cmd: ['sleep', '2147483647'] }],
    });
    const cp = await d.docker(['cp', bin, `${pod.container('gen').id}:${GEN_PATH}`]);
    if (cp.code !== 0) throw new Error(`docker cp into ${pod.name}: ${cp.stderr.trim()}`);
    pods.push(pod);
  }
  return pods;
}

/** Starts one generator per pod; resolves once every one has its listener up. */
export async function startGenerators(d: Dockerd, pods: Pod[], totalRate: number, seconds: number): Promise<Generator[]> {
  const rate = totalRate / pods.length;
  const gens = pods.map((pod): Generator & { ready: Promise<void> } => {
    const id = pod.container('gen').id;
    const child = d.spawnDocker(['exec', id, GEN_PATH, String(rate), String(seconds)]);
    let stderr = '';
    let buf = '';
    let onReady: () => void = () => undefined;
    let onFail: (e: Error) => void = () => undefined;
    const ready = new Promise<void>((res, rej) => { onReady = res; onFail = rej; });
    const g: Generator & { ready: Promise<void> } = {
      pod, containerId: id, cgroupPath: pod.cgroupPath(id), rate, port: 0, progress: [], result: undefined, ready,
      exited: new Promise((res) => child.on('close', (code) => {
        onFail(new Error(`generator in ${pod.name} exited ${code} before it was ready: ${stderr.trim()}`));
        res(code);
      })),
      kill: () => void child.kill('SIGKILL'),
    };
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4000); });
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      buf += s;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, i)) as Record<string, number>;
        buf = buf.slice(i + 1);
        if (line.ready) {
          g.port = line.port!;
          onReady();
        } else if (line.t !== undefined) g.progress.push({ t: line.t / 1000, done: line.connects! + line.fails! });
        else g.result = line as unknown as GenResult;
      }
    });
    return g;
  });
  await Promise.all(gens.map((g) => g.ready));
  return gens;
}
