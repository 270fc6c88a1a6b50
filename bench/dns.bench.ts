// SPDX-License-Identifier: Apache-2.0
// The user-space cost of DNS names on a node (issue 15): per lookup (a query and its answer
// through parse, query matching, the name table and dedup), per connect join, and the heap of
// a full name table. No kernel here: the kernel side does not report DNS packets yet, so the
// packets are built in memory in the shapes it will send (src/capture/dns/events.ts).
//   node --expose-gc dist/bench/dns.bench.js [--lookups N] [--pods P]
import { performance } from 'node:perf_hooks';
import { DnsNames } from '../src/capture/dns/dns-names.js';
import type { DnsPacketEvent, DnsSocketOwner } from '../src/capture/dns/events.js';
import { parseDns } from '../src/capture/dns/parse.js';
import { parseAddr } from '../src/schema/addr.js';
import { encodeDns } from '../test/helpers/dns-wire.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

const LOOKUPS = arg('lookups', 200_000);
const PODS = arg('pods', 100);
const gc = (globalThis as { gc?: () => void }).gc;
const S = 1_000_000_000n;
const T0 = 1_765_000_000n * S;

const server = { addr: parseAddr('10.96.0.10'), port: 53 };
const local = { addr: parseAddr('10.244.0.5'), port: 40000 };

/** A typical CDN answer: a CNAME and four addresses, compressed, EDNS. */
function answerFor(i: number, id: number): Buffer {
  const name = `svc${i % 5000}.example.com`;
  return encodeDns({
    id, response: true, question: { name, type: 1 }, edns: 1232,
    answers: [
      { name, type: 'CNAME', ttl: 300, value: `edge${i % 97}.cdn.example.net` },
      ...[0, 1, 2, 3].map((k) => ({ name: `edge${i % 97}.cdn.example.net`, type: 'A' as const, ttl: 60, value: `198.51.${(i >> 8) & 255}.${(i + k) & 255}` })),
    ],
  });
}

function queryFor(i: number, id: number): Buffer {
  return encodeDns({ id, response: false, question: { name: `svc${i % 5000}.example.com`, type: 1 }, edns: 1232 });
}

function owner(i: number): DnsSocketOwner {
  const pod = i % PODS;
  return { tgid: 1000 + pod, processKey: `p${pod}:1`, cgroupId: BigInt(pod), netnsCookie: BigInt(pod), socketCookie: BigInt(i) };
}

function ev(direction: 'query' | 'answer', i: number, payload: Buffer): DnsPacketEvent {
  return { direction, time: T0 + BigInt(i) * 100_000n, seq: BigInt(i), owner: owner(i), transport: 'udp', local, remote: server, payload, wireLength: payload.length };
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function heapMiB(): number {
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

// Build a pool of packets first: their encoding is the test helper's cost, not podtrail's.
// Distinct names and addresses come from the pool (5000 names, 4 addresses each); each use
// patches in the lookup's own transaction id. A pool, not one packet per lookup: 400k live
// buffers would make the bench measure the garbage collector's old generation.
const POOL = 8192;
const qPool: Buffer[] = [];
const aPool: Buffer[] = [];
for (let i = 0; i < POOL; i++) {
  qPool.push(queryFor(i, 0));
  aPool.push(answerFor(i, 0));
}
function withId(b: Buffer, id: number): Buffer {
  b.writeUInt16BE(id, 0);
  return b;
}
const queries = { get: (i: number) => withId(qPool[i % POOL]!, i & 0xffff) };
const answers = { get: (i: number) => withId(aPool[i % POOL]!, i & 0xffff) };

// 1. parse alone
let t = performance.now();
let c = cpuUs();
let ok = 0;
for (let i = 0; i < LOOKUPS; i++) if (parseDns(answers.get(i)).ok) ok++;
const parseUs = (cpuUs() - c) / LOOKUPS;
const parseWall = performance.now() - t;
if (ok !== LOOKUPS) throw new Error(`only ${ok} of ${LOOKUPS} answers parsed`);

// 2. the whole lookup path
const heap0 = heapMiB();
let names = new DnsNames((o) => ({ pod: `pod${o.cgroupId}`, container: `c${o.cgroupId}`, process: o.processKey }), { match: { resolvers: ['10.96.0.10'] } });
let published = 0;
t = performance.now();
c = cpuUs();
for (let i = 0; i < LOOKUPS; i++) {
  names.onPacket(ev('query', i, queries.get(i)));
  published += names.onPacket(ev('answer', i, answers.get(i))).length;
}
const lookupUs = (cpuUs() - c) / LOOKUPS;
const lookupWall = performance.now() - t;
const heap1 = heapMiB();

// 3. joins: connects to addresses the same pod resolved
const at = T0 + BigInt(LOOKUPS) * 100_000n;
let hits = 0;
c = cpuUs();
for (let i = 0; i < LOOKUPS; i++) {
  const j = i % POOL;
  const r = names.forConnect(owner(i), `198.51.${(j >> 8) & 255}.${j & 255}`, 443, at);
  if (r.name) hits++;
}
const joinUs = (cpuUs() - c) / LOOKUPS;

const r2 = (x: number) => x.toFixed(2);
console.log(`lookups ${LOOKUPS}, pods ${PODS}, node ${process.version}`);
console.log(`parse only:            ${r2(parseUs)} us CPU/answer (${Math.round(LOOKUPS / (parseWall / 1000))} answers/s wall)`);
console.log(`query+answer pipeline: ${r2(lookupUs)} us CPU/lookup (${Math.round(LOOKUPS / (lookupWall / 1000))} lookups/s wall); at 10k lookups/s that is ${r2((lookupUs * 10_000) / 1e4)}% of a core`);
console.log(`  lookup events published ${published} (dedup folds repeats), name table ${names.table.size} answers in ${names.table.podCount()} pods, evicted per pod ${names.table.evictedPerPod}, node-wide ${names.table.evictedNodeWide}`);
console.log(`  heap: ${r2(heap0)} MiB before, ${r2(heap1)} MiB after (${gc ? 'after gc' : 'no --expose-gc: not collected'})`);
console.log(`join per connect:      ${r2(joinUs)} us CPU (${hits} of ${LOOKUPS} named)`);

// 4. enrich's destination lookup: a cluster of DEST_PODS pods (each a sandbox record with one
// IP, a third of them replaced once so IPs have history), then one resolve per event, half to
// pod IPs and half to external addresses, with a service name on a quarter.
const DEST_PODS = arg('dest-pods', 10_000);
names = undefined as unknown as DnsNames; // its heap is not the index's
const { DestinationIndex } = await import('../src/enrich/destination.js');
const idx = new DestinationIndex({ serviceCidrs: ['10.96.0.0/12'] });
const podIp = (k: number) => `10.244.${(k >> 8) & 255}.${k & 255}`;
const heapD0 = heapMiB();
for (let k = 0; k < DEST_PODS; k++) {
  const base = {
    node: 'node-a', runtime: 'containerd', image: 'app', hostname: null, isSandbox: true, sandboxId: null, networkMode: null, utsMode: null,
    cgroupPaths: [], origin: null, bounded: null, note: null, name: 'POD',
  };
  const pod = (name: string, uid: string) => ({ name, namespace: `ns${k % 50}`, uid, labels: { app: `app${k % 300}`, tier: 'web' }, annotations: {}, hostNetwork: false, workload: { kind: 'Deployment', name: `app${k % 300}` }, ips: [podIp(k)] });
  idx.add({ ...base, containerId: `sb${k}`, time: T0, firstSeen: T0, validFrom: T0, deletedTime: null, pod: pod(`p${k}`, `u${k}`) });
  if (k % 3 === 0) {
    idx.add({ ...base, containerId: `sb${k}`, time: T0 + 10n * S, firstSeen: T0, validFrom: T0, deletedTime: T0 + 10n * S, pod: pod(`p${k}`, `u${k}`) });
    idx.add({ ...base, containerId: `sc${k}`, time: T0 + 20n * S, firstSeen: T0 + 20n * S, validFrom: T0 + 20n * S, deletedTime: null, pod: pod(`q${k}`, `v${k}`) });
  }
}
const heapD1 = heapMiB();
const EVENTS = arg('dest-events', 500_000);
const addrs = Array.from({ length: 4096 }, (_, k) => parseAddr(k % 2 === 0 ? podIp((k * 7919) % DEST_PODS) : `93.184.${k & 255}.${(k >> 8) & 255}`));
let inPods = 0;
c = cpuUs();
t = performance.now();
for (let i = 0; i < EVENTS; i++) {
  const d = idx.resolve(addrs[i & 4095]!, T0 + BigInt(i % 40) * S, (i & 3) === 0 ? 'web.shop.svc.cluster.local' : null);
  if (d.pod) inPods++;
}
const resolveUs = (cpuUs() - c) / EVENTS;
const resolveWall = performance.now() - t;
console.log(`destination resolve:   ${r2(resolveUs)} us CPU/event (${Math.round(EVENTS / (resolveWall / 1000))} events/s wall; ${inPods} of ${EVENTS} named a pod), ${DEST_PODS} pods indexed in ${r2(heapD1 - heapD0)} MiB of heap`);
