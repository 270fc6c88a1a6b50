// SPDX-License-Identifier: Apache-2.0
// The failover pause on a three-broker cluster: the connect-to-audit latency (the audit record's
// Kafka timestamp, when enrich produced it, less the connect's time) of connects made in each
// phase of test/helpers/cluster-failover.ts's scenario: steady, the leader of the raw and audit
// partitions SIGKILLed and restarted, a rolling restart of each broker, after.
//
//   sudo node dist/bench/kafka-failover.js [--settle MS]
//
// Needs root (BPF). Starts and stops its own cluster, capture and enrich.
import { latencyByPhase, runFailoverScenario } from '../test/helpers/cluster-failover.js';
import { accountInstance } from '../test/helpers/audit-account.js';

const i = process.argv.indexOf('--settle');
const settleMs = i > 0 ? Number(process.argv[i + 1]) : 10_000;
const r = await runFailoverScenario({ settleMs });
const a = accountInstance(r.recs, r.node, r.instance);
const events = Number(r.capture.final?.events ?? 0);
console.log(`3 brokers (replication ${[...new Set(r.cluster.replication)].join('/')}, min.insync.replicas ${r.cluster.minIsr}); killed broker ${r.killed}; ${events} events, ${a.delivered.size} delivered, ${a.losses.length} LOSS records`);
console.log('phase | connects | p50 ms | p99 ms | max ms | phase length s');
console.log('---|---|---|---|---|---');
for (const l of latencyByPhase(r)) {
  const p = r.phases.find((x) => x.name === l.phase)!;
  console.log(`${l.phase} | ${l.connects} | ${l.p50} | ${l.p99} | ${l.max} | ${((p.toMs - p.fromMs) / 1000).toFixed(1)}`);
}
