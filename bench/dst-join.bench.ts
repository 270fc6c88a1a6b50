// SPDX-License-Identifier: Apache-2.0
// The destination join's own cost at enrich (issue 15): EnrichProcessor.processBatch over the
// same encoded raw records with the join off and on, alternating rounds in one process (no
// Kafka: the transaction phases that set enrich's ratio to its passthrough are not in here;
// see bench/README). Half the connects go to other pods' IPs (scope pod, dst.pod), the rest
// to service addresses (scope service) and the resolver.
//   node --expose-gc dist/bench/dst-join.bench.js [--records N] [--rounds R]
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { codec } from '../src/schema/codec.js';
import { EnrichProcessor, type InMessage } from '../src/enrich/processor.js';
import { DestinationIndex } from '../src/enrich/destination.js';
import { DestinationJoin } from '../src/enrich/dst-join.js';
import { createResolver } from '../src/runtime/index.js';
import { planLookup } from '../src/runtime/cgroup-path.js';
import type { ContainerMeta } from '../src/schema/types.js';
import { buildWorld, rawEvents } from './enrich-world.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '5' } } });
const N = Number(values.records);
const ROUNDS = Number(values.rounds);
const w = await buildWorld({ pods: 400, nodes: 4 });
const c = codec();
const T0 = 1_796_000_000_000_000_000n;
const pods = w.workloads.filter((x) => x.podIp.length === 4 && x.podIp[0] !== 0);
const metas: ContainerMeta[] = pods.map((x, i) => ({
  containerId: `s${i}`.padEnd(64, '0'), node: x.node, runtime: 'docker', time: T0, firstSeen: T0, validFrom: T0, deletedTime: null,
  name: 'POD', image: 'pause', hostname: x.utsName, isSandbox: true, sandboxId: null, networkMode: null, utsMode: null, cgroupPaths: [], origin: null, bounded: null, note: null,
  pod: { name: `pod-${i}`, namespace: `ns${i % 20}`, uid: `uid-${i}`, labels: { app: `app${i % 50}`, tier: 'web' }, annotations: {}, hostNetwork: false, workload: { kind: 'Deployment', name: `app${i % 50}` }, ips: [x.podIp.join('.')] },
}));
const msgs: InMessage[] = [];
let i = 0;
for (const e of rawEvents(w, N)) {
  const raw = e.raw;
  if (i % 2 === 0 && pods.length) raw.dst = { ...raw.dst, addr: Buffer.from(pods[(i >> 1) % pods.length]!.podIp) };
  raw.time = T0 + BigInt(i) * 1000n;
  msgs.push({ key: Buffer.from(e.key), value: c.encode('RawConnectEvent', raw), offset: String(i) });
  i++;
}
const resolver = createResolver({ hostRoot: w.hostRoot, logger: pino({ level: 'silent' }) });
for (const x of w.workloads) {
  const plan = planLookup(x.path);
  if (plan) await resolver.resolve(plan.containerId, plan.hint);
}
const silent = pino({ level: 'silent' });

async function run(join: boolean): Promise<{ rate: number; cpuUs: number; scopes: string }> {
  let dst: DestinationJoin | undefined;
  if (join) {
    const index = new DestinationIndex({ serviceCidrs: ['10.96.0.0/12'] });
    for (const m of metas) index.add(m);
    dst = new DestinationJoin(c, index);
  }
  const p = new EnrichProcessor(c, resolver, { concurrency: 64, topic: 'raw', ...(dst ? { destinations: dst } : {}) }, silent);
  (globalThis as { gc?: () => void }).gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < msgs.length; k += 2000) await p.processBatch(0, msgs.slice(k, k + 2000));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { rate: (msgs.length / ms) * 1000, cpuUs: ((cpu.user + cpu.system) / msgs.length), scopes: dst ? JSON.stringify(dst.counts) : '-' };
}

await run(false);
await run(true); // warm both
const rates = { off: [] as number[], on: [] as number[] };
for (let r = 0; r < ROUNDS; r++) {
  for (const join of [false, true]) {
    const res = await run(join);
    rates[join ? 'on' : 'off'].push(res.rate);
    console.log(`round ${r} join ${join ? 'on ' : 'off'} ${Math.round(res.rate)} records/s, cpu ${res.cpuUs.toFixed(2)} us/record ${join ? `scopes ${res.scopes}` : ''}`);
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log(`${N} records, ${pods.length} pods indexed: median join off ${Math.round(med(rates.off))}/s, on ${Math.round(med(rates.on))}/s, on/off ${(med(rates.on) / med(rates.off)).toFixed(3)}; per-round ratios ${rates.on.map((x, k) => (x / rates.off[k]!).toFixed(3)).join(' ')}`);
await w.dispose();
