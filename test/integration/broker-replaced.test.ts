// SPDX-License-Identifier: Apache-2.0
// A broker replaced under running stages: SIGKILLed, its data directory wiped, and a fresh
// one started at the same address (a new cluster id, no topics, no producer ids, no groups).
// capture must go on: it re-makes its topics, starts a new producer, republishes container
// metadata, says with one CLUSTER_REPLACED loss record which seqs the old cluster had, and
// sends the new one everything it had not acknowledged. enrich must exit with a clear message
// (its offsets and transactions were in the old cluster) and, restarted the way a Deployment
// restarts it, enrich the new cluster from its beginning. Every seq of the capture instance is
// then in the new cluster's audit topic exactly once, or covered by a LOSS record there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { accountInstance, byPid, readAuditUntil } from '../helpers/audit-account.js';
import { CaptureProc } from '../helpers/capture-proc.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { buildGenerator, ConnectGenerator } from '../helpers/connect-gen.js';
import { keepLogs, PrivateBroker } from '../helpers/private-broker.js';
import { startStage, stopStage, waitForLog, type Stage } from '../helpers/stages.js';

const missing = missingKernelPrereq();
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;
const NODE = `replaced-${randomBytes(3).toString('hex')}`;
const AUDIT = 'podtrail.audit.v1';

describe('a broker replaced by a fresh one at the same address (real kernel, private broker)', { skip }, () => {
  let broker: PrivateBroker | undefined;
  let gen: ConnectGenerator | undefined;
  let cap: CaptureProc | undefined;
  const enriches: Stage[] = [];

  before(async () => {
    if (missing) throw new Error(`kernel capture prerequisites missing: ${missing}`);
    gen = new ConnectGenerator(await buildGenerator(), 10, 50);
    broker = await PrivateBroker.create('replaced');
    await broker.start();
  }, { timeout: 120_000 });

  after(async () => {
    await gen?.stop().catch(() => undefined);
    await cap?.kill();
    for (const e of enriches) await stopStage(e);
    keepLogs('broker-replaced', { capture: cap?.stderr, ...Object.fromEntries(enriches.map((e, i) => [`enrich${i}`, e.log()])) });
    await broker?.discard();
    if (gen) assert.deepEqual(await gen.cleanup(), [], 'cgroups left behind');
  }, { timeout: 120_000 });

  const enrich = () => {
    const e = startStage('enrich', ['enrich', '--brokers', broker!.address, '--host-root', '/nonexistent-host-root', '--file-fallback', 'off', '--gap-window', '50']);
    enriches.push(e);
    return e;
  };

  test('capture recovers, enrich exits saying why, and every seq is accounted for in the new cluster', { timeout: 300_000 }, async () => {
    const first = enrich();
    cap = await CaptureProc.start(['--brokers', broker!.address, '--node', NODE, '--state-dir', 'off', '--publish-metadata', 'on']);
    gen!.start();
    const before = await readAuditUntil(broker!.kafka(), AUDIT, (rs) => byPid(rs, gen!.path).size >= 2, 60_000);
    assert.ok(byPid(before, gen!.path).size >= 2, 'connects reach the audit topic of the first cluster');

    // The replacement: no clean shutdown, no data kept, the same port.
    const killedAt = BigInt(Date.now()) * 1_000_000n;
    await broker!.kill();
    rmSync(broker!.dir, { recursive: true, force: true });
    await gen!.moreRuns(3);
    await broker!.start();
    const upAt = Date.now();

    const exit = await new Promise<number | null>((resolve) => {
      if (first.child.exitCode !== null) resolve(first.child.exitCode);
      first.child.once('exit', (code) => resolve(code));
    });
    assert.equal(exit, 1, `enrich's exit after the replacement: ${first.log().slice(-3000)}`);
    assert.match(first.log(), /the Kafka cluster was replaced under this stage/, 'enrich says why it exits');
    assert.ok(Date.now() - upAt < 60_000, 'enrich noticed within a minute');
    await cap.waitLog((l) => /the Kafka cluster was replaced/.test(l.msg), 60_000);

    const second = enrich();
    await waitForLog(second, 'enrich running', 60_000);
    await gen!.moreRuns(5);
    await gen!.stop();
    const stopped = await cap.stop('SIGTERM');
    assert.equal(stopped.code, 0, stopped.stderr.slice(-4000));
    const f = stopped.final!;
    assert.equal(f.unsent, 0, 'capture sent everything to the new cluster');
    assert.equal(f.dropped, 0, 'capture dropped nothing');
    const events = BigInt(f.events as number);

    // The new cluster alone accounts for the whole instance.
    const after = await readAuditUntil(broker!.kafka(), AUDIT, (rs) => {
      const a = accountInstance(rs, NODE, cap!.instance);
      for (let s = 1n; s <= events; s++) if (!a.delivered.has(s) && !a.covered(s)) return false;
      return true;
    }, 120_000);
    const a = accountInstance(after, NODE, cap.instance);
    const replaced = a.losses.filter((l) => l.loss!.cause === 'CLUSTER_REPLACED');
    assert.equal(replaced.length, 1, `one CLUSTER_REPLACED loss record: ${JSON.stringify(a.losses.map((l) => l.loss), (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
    assert.equal(replaced[0]!.loss!.fromSeq, 1n, 'the old cluster had the instance from its first seq');
    assert.match(replaced[0]!.attribution.reason ?? '', /replaced/);
    const missingSeqs: bigint[] = [];
    const twice: bigint[] = [];
    for (let s = 1n; s <= events; s++) {
      const n = a.delivered.get(s) ?? 0;
      if (n > 1) twice.push(s);
      if (n === 0 && !a.covered(s)) missingSeqs.push(s);
    }
    assert.deepEqual(missingSeqs, [], `seqs neither in the new cluster's audit topic nor covered by a LOSS record (of ${events})`);
    assert.deepEqual(twice, [], 'seqs in the audit topic twice');
    // Connects made once the old cluster was gone were never acknowledged by it: they must be in
    // the new cluster as connections, not only as loss.
    const pids = byPid(after, gen!.path);
    const late = gen!.runs.filter((r) => r.fromNs > killedAt);
    assert.ok(late.length >= 8, 'the generator ran during and after the replacement');
    for (const r of late) assert.equal(pids.get(r.pid)?.length, r.count, `run of pid ${r.pid} after the old cluster died`);
    assert.equal(second.child.exitCode, null, `the restarted enrich runs on: ${second.log().slice(-2000)}`);
  });
});
