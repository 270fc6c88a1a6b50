// SPDX-License-Identifier: Apache-2.0
// The first thing a new user does: start capture, enrich and export at the same instant
// against a brand-new broker with no topics, the way `npm start` or a fresh cluster does.
// Nothing is pre-created and nothing waits: the stages race to create the topics and meet a
// cluster that is still settling (topics listed before their partitions are served, group and
// transaction coordinators loading). Run many times in a row, each time on a fresh broker.
// Every connection made from the second second on must reach the audit topic exactly once, no
// stage may exit, and none may log at error level while nothing is wrong.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { byPid, readAuditUntil } from '../helpers/audit-account.js';
import { CaptureProc } from '../helpers/capture-proc.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { buildGenerator, ConnectGenerator } from '../helpers/connect-gen.js';
import { keepLogs, PrivateBroker } from '../helpers/private-broker.js';
import { startStage, stopStage, type Stage } from '../helpers/stages.js';

const missing = missingKernelPrereq();
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;
const RUNS = Number(process.env.PODTRAIL_RACE_RUNS ?? 20);
const AUDIT = 'podtrail.audit.v1';

/** pino levels 50 (error) and 60 (fatal) in a stage's JSON log. */
function errorLines(log: string): string[] {
  return log.split('\n').filter((l) => /^\{"level":(50|60),/.test(l));
}

async function freshBroker(i: number): Promise<PrivateBroker> {
  const b = await PrivateBroker.create(`race${i}`);
  await b.start();
  return b;
}

describe('startup race: capture, enrich and export started together on a brand-new broker', { skip }, () => {
  let gen: ConnectGenerator | undefined;
  const brokers: PrivateBroker[] = [];

  before(async () => {
    if (missing) throw new Error(`kernel capture prerequisites missing: ${missing}`);
    gen = new ConnectGenerator(await buildGenerator(), 10, 50);
  });

  after(async () => {
    await gen?.stop().catch(() => undefined);
    for (const b of brokers) await b.discard();
    if (gen) assert.deepEqual(await gen.cleanup(), [], 'cgroups left behind');
  }, { timeout: 120_000 });

  test(`${RUNS} runs in a row, each on a fresh broker`, { timeout: RUNS * 90_000 }, async () => {
    // The next run's broker starts (formats its storage, loads) while this run goes on.
    let next = freshBroker(0);
    try {
    for (let i = 0; i < RUNS; i++) {
      const broker = await next;
      brokers.push(broker);
      if (i + 1 < RUNS) next = freshBroker(i + 1);
      const node = `race-${i}-${randomBytes(3).toString('hex')}`;
      const b = broker.address;
      const t0 = Date.now();
      // All three at once, default topic names, nothing made beforehand.
      const enrich: Stage = startStage('enrich', ['enrich', '--brokers', b, '--host-root', '/nonexistent-host-root', '--file-fallback', 'off']);
      const exp: Stage = startStage('export', ['export', '--brokers', b, '--to-topic', 'race.exported', '--format', 'json']);
      let cap: CaptureProc | undefined;
      try {
        cap = await CaptureProc.start(['--brokers', b, '--node', node, '--state-dir', 'off']);
        // From the second second on, the generator connects (its own cgroup and netns). Capture
        // attaches before it talks to Kafka; on a loaded machine loading the BPF programs alone
        // can take longer than that, and then the connects start once it is attached.
        await new Promise((r) => setTimeout(r, Math.max(0, t0 + 2000 - Date.now())));
        const before = gen!.runs.length;
        for (let k = 0; k < 3; k++) await gen!.once();
        const runs = gen!.runs.slice(before);
        const total = runs.reduce((n, r) => n + r.count, 0);
        const mine = (recs: Parameters<typeof byPid>[0]) => {
          const pids = byPid(recs, gen!.path);
          return runs.reduce((n, r) => n + (pids.get(r.pid)?.length ?? 0), 0);
        };
        const recs = await readAuditUntil(broker.kafka(), AUDIT, (rs) => mine(rs) >= total, 90_000);
        const pids = byPid(recs, gen!.path);
        for (const r of runs) {
          const got = pids.get(r.pid) ?? [];
          const seqs = new Set(got.map((x) => x.seq));
          assert.equal(got.length, r.count, `run ${i}: pid ${r.pid} made ${r.count} connects, the audit topic has ${got.length}\ncapture:\n${cap.stderr.slice(-3000)}\nenrich:\n${enrich.log().slice(-3000)}`);
          assert.equal(seqs.size, r.count, `run ${i}: pid ${r.pid}: an audit record came twice`);
          for (const x of got) assert.equal(x.node, node);
        }
        for (const s of [enrich, exp]) assert.equal(s.child.exitCode, null, `run ${i}: ${s.name} exited: ${s.log().slice(-3000)}`);
        assert.equal(cap.child.exitCode, null, `run ${i}: capture exited: ${cap.stderr.slice(-3000)}`);
        assert.match(exp.log(), /"msg":"export running"/, `run ${i}: export never ran: ${exp.log().slice(-3000)}`);
        for (const [name, log] of [['capture', cap.stderr], ['enrich', enrich.log()], ['export', exp.log()]] as const) {
          assert.deepEqual(errorLines(log), [], `run ${i}: ${name} logged errors on a good start`);
        }
      } finally {
        const [capExit, ...codes] = await Promise.all([cap?.stop('SIGTERM'), stopStage(enrich), stopStage(exp)]);
        keepLogs(`startup-race-${i}`, { capture: cap?.stderr, enrich: enrich.log(), export: exp.log() });
        await broker.discard();
        brokers.splice(brokers.indexOf(broker), 1);
        assert.equal(capExit?.code, 0, `run ${i}: capture's exit: ${cap?.stderr.slice(-2000)}`);
        assert.deepEqual(codes, [0, 0], `run ${i}: enrich and export exit codes`);
      }
    }
    } finally {
      // The broker started for a run that never came (a failure), or the last one again: harmless.
      await (await next.catch(() => undefined))?.discard();
    }
  });
});
