// SPDX-License-Identifier: Apache-2.0
// Three brokers, the way production runs Kafka: a KRaft cluster of this test's own on loopback,
// capture and enrich started together on it (the topics they make get 3 replicas and
// min.insync.replicas 2), a steady load of connects, then the leader of the raw and audit
// partitions SIGKILLed and restarted, then a rolling restart of all three. Every connection is
// in the audit topic, or covered by a LOSS record; exactly once is the goal, not yet held (see
// the known-bug note in the test). (The latency of each phase is
// measured by bench/kafka-failover.ts, not here.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { accountInstance, byPid } from '../helpers/audit-account.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { runFailoverScenario } from '../helpers/cluster-failover.js';

const missing = missingKernelPrereq();
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;

describe('a three-broker cluster: leader killed, then a rolling restart, under load (real kernel)', { skip }, () => {
  test('every connection in the audit topic (a copy at most the same record twice), or covered by LOSS', { timeout: 900_000 }, async (t) => {
    if (missing) throw new Error(`kernel capture prerequisites missing: ${missing}`);
    const r = await runFailoverScenario({ logs: 'kafka-cluster', settleMs: 6000 });
    assert.deepEqual([...new Set(r.cluster.replication)], [3], 'podtrail made its topics with 3 replicas on a 3-broker cluster');
    assert.equal(r.cluster.minIsr, '2');
    assert.equal(r.capture.code, 0, r.capture.stderr.slice(-4000));
    assert.equal(r.capture.final?.unsent, 0, 'capture sent everything');
    const events = BigInt(r.capture.final!.events as number);
    assert.ok(events > 1000n, `a steady load (${events} events)`);
    const a = accountInstance(r.recs, r.node, r.instance);
    const lost: bigint[] = [];
    const twice: bigint[] = [];
    for (let s = 1n; s <= events; s++) {
      const n = a.delivered.get(s) ?? 0;
      if (n > 1) twice.push(s);
      if (n === 0 && !a.covered(s)) lost.push(s);
    }
    // Known open bug (issue 18): exactly once across a leader kill is not yet guaranteed. After
    // the kafkajs patch's per-partition-retry and stable-offset-fetch hunks, CI runs still had
    // records twice (one, seq 1388, before any fault; in another 3,823). What this
    // test holds to until that is found: nothing lost, and a record that came twice is the same
    // record (same eventId and content), so a reader can tell. The count is printed.
    if (twice.length) {
      t.diagnostic(`KNOWN BUG (issue 18): ${twice.length} seq(s) in the audit topic twice: ${twice.slice(0, 20).join(', ')}`);
      for (const seq of twice) {
        const copies = r.recs.filter((x) => x.node === r.node && x.instance === r.instance && x.seq === seq && x.attribution.status !== 'LOSS');
        assert.equal(new Set(copies.map((c) => JSON.stringify(c, (_k, v) => (typeof v === 'bigint' ? String(v) : v)))).size, 1, `the copies of seq ${seq} are one record`);
      }
    }
    assert.deepEqual(lost.slice(0, 20), [], `seqs neither delivered nor covered by LOSS (${lost.length} of ${events})`);
    assert.deepEqual(a.doublyCovered, [], 'seqs covered by two LOSS records');
    // The generator's own count: each run's connects are there, or its seqs are covered by LOSS.
    const pids = byPid(r.recs, r.genPath);
    const lossCount = a.losses.reduce((n, l) => n + Number(l.loss!.count), 0);
    const missingConnects = r.runs.reduce((n, run) => n + Math.max(0, run.count - (pids.get(run.pid)?.length ?? 0)), 0);
    assert.ok(missingConnects <= lossCount, `${missingConnects} connects missing, ${lossCount} covered by LOSS`);
  });
});
