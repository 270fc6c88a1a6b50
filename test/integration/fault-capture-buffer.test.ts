// SPDX-License-Identifier: Apache-2.0
// Fault: the capture buffer's limit is reached. The broker hangs (SIGSTOP: connections stay
// open, nothing answers, produce requests wait) while a generator keeps connecting, so capture's
// buffer (--buffer-max-events 1000) fills. Capture must log a clear error, keep running, count
// what it drops, and once the broker answers again publish a CaptureLoss that enrich turns into
// a LOSS audit record: every seq is then delivered exactly once or inside a LOSS range.
// test/integration/capture-kafka-loss.test.ts covers the raw topic alone with a cleanly stopped
// broker (and capture's memory bound); this one goes through enrich to the audit topic.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { accountInstance, byPid, readAuditUntil } from '../helpers/audit-account.js';
import { CaptureProc } from '../helpers/capture-proc.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { buildGenerator, ConnectGenerator } from '../helpers/connect-gen.js';
import { uniqueTopic } from '../helpers/kafka.js';
import { keepLogs, PrivateBroker } from '../helpers/private-broker.js';
import { startStage, stopStage, waitForLog, type Stage } from '../helpers/stages.js';

const missing = missingKernelPrereq();
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;
const NODE = `fault-cb-${randomBytes(3).toString('hex')}`;
const BUFFER = 1000;

describe('fault: capture buffer full while the broker hangs (real kernel, private broker)', { skip }, () => {
  let broker: PrivateBroker | undefined;
  let kafka: Kafka;
  let gen: ConnectGenerator | undefined;
  let cap: CaptureProc | undefined;
  let enrich: Stage | undefined;
  const t = { raw: uniqueTopic('fcb-raw'), audit: uniqueTopic('fcb-audit'), dlq: uniqueTopic('fcb-dlq'), meta: uniqueTopic('fcb-meta') };
  const group = uniqueTopic('fcb-group');

  before(async () => {
    if (missing) throw new Error(`kernel capture prerequisites missing: ${missing}`);
    gen = new ConnectGenerator(await buildGenerator());
    broker = await PrivateBroker.create('fault-buffer');
    await broker.start();
    kafka = broker.kafka();
    await broker.createTopics([t.raw, t.audit], 2);
    await broker.createTopics([t.dlq, t.meta], 1);
  }, { timeout: 120_000 });

  after(async () => {
    broker?.thaw();
    await gen?.stop().catch(() => undefined);
    await cap?.kill();
    if (enrich) await stopStage(enrich);
    keepLogs('fault-capture-buffer', { capture: cap?.stderr, enrich: enrich?.log() });
    await broker?.destroy();
    if (gen) assert.deepEqual(await gen.cleanup(), [], 'cgroups left behind');
  }, { timeout: 120_000 });

  test('a clear error, no crash, and every dropped event counted in a LOSS record', { timeout: 180_000 }, async (tc) => {
    const started = Date.now();
    enrich = startStage('enrich', ['enrich', '--brokers', broker!.address, '--raw-topic', t.raw, '--audit-topic', t.audit, '--dlq-topic', t.dlq,
      '--containers-topic', t.meta, '--group', group, '--transactional-id', `${group}-a`, '--transaction-timeout', '30000',
      '--host-root', '/nonexistent-host-root', '--file-fallback', 'off', '--gap-window', '50']);
    cap = await CaptureProc.start(['--brokers', broker!.address, '--raw-topic', t.raw, '--node', NODE, '--publish-metadata', 'off', '--state-dir', 'off',
      '--buffer-max-events', String(BUFFER)]);
    await waitForLog(enrich, 'enrich running', 60_000);
    gen!.start();
    const flowing = await readAuditUntil(kafka, t.audit, (rs) => byPid(rs, gen!.path).size > 0, 60_000);
    assert.ok(byPid(flowing, gen!.path).size > 0, 'connects reach the audit topic before the fault');

    broker!.freeze();
    const frozenAt = Date.now();
    // More connects than the buffer holds, while nothing is acknowledged.
    const full = await cap.waitLog((l) => l.msg.startsWith('capture buffer full'), 60_000);
    const runsWhileFull = gen!.runs.length;
    await gen!.moreRuns(3);
    const frozenMs = Date.now() - frozenAt;
    broker!.thaw();
    assert.equal(full.level, 50, 'logged as an error');
    assert.equal(full.maxEvents, BUFFER, 'naming the limit that was reached');
    assert.equal(cap.child.exitCode, null, 'capture is still running');

    const lossLog = await cap.waitLog((l) => l.msg === 'publishing loss record for events dropped while the buffer was full', 60_000);
    await gen!.moreRuns(5);
    await gen!.stop();
    const exit = await cap.stop('SIGTERM');
    assert.equal(exit.code, 0, exit.stderr.slice(-4000));
    const f = exit.final!;
    assert.equal(f.unsent, 0);
    assert.ok((f.dropped as number) > 0, 'events were dropped');
    assert.equal((f.sent as number) + (f.dropped as number), f.events, 'every event was either sent or counted as dropped');
    const lossLogs = exit.logs.filter((l) => l.msg === lossLog.msg);
    assert.equal(lossLogs.reduce((n, l) => n + (l.count as number), 0), f.dropped, 'the loss records carry every drop');
    const seqs = BigInt(f.events as number) + BigInt(f.kernelGaps as number);

    const recs = await readAuditUntil(kafka, t.audit, (rs) => {
      const a = accountInstance(rs, NODE, cap!.instance);
      for (let s = 1n; s <= seqs; s++) if (!a.delivered.has(s) && !a.covered(s)) return false;
      return true;
    }, 90_000);
    const acc = accountInstance(recs, NODE, cap.instance);
    const unaccounted: bigint[] = [];
    for (let s = 1n; s <= seqs; s++) {
      const n = acc.delivered.get(s) ?? 0;
      assert.ok(n <= 1, `seq ${s} delivered ${n} times`);
      if (n === 1 && acc.covered(s)) assert.fail(`seq ${s} is both delivered and reported lost`);
      if (n === 0 && !acc.covered(s)) unaccounted.push(s);
    }
    assert.deepEqual(unaccounted.slice(0, 20), [], `${unaccounted.length} seqs neither delivered nor in a LOSS range`);
    assert.deepEqual(acc.doublyCovered.slice(0, 20), [], 'a seq in two LOSS ranges');
    const bufferLosses = acc.losses.filter((l) => l.loss!.cause === 'CAPTURE_BUFFER');
    assert.ok(bufferLosses.length >= 1, 'a CAPTURE_BUFFER LOSS is in the audit topic');
    const lost = acc.losses.reduce((n, l) => n + Number(l.loss!.count), 0);
    assert.equal(bufferLosses.reduce((n, l) => n + Number(l.loss!.count), 0), f.dropped, 'the LOSS records count exactly what capture dropped');
    assert.equal(acc.delivered.size, f.sent, 'and everything sent came through');

    // The generator's own count: what is missing is no more than the LOSS records say.
    const mine = byPid(recs, gen!.path);
    let delivered = 0;
    for (const r of gen!.runs) {
      const got = mine.get(r.pid) ?? [];
      assert.ok(got.length <= r.count, `run ${r.pid}: ${got.length} records for ${r.count} connects`);
      delivered += got.length;
    }
    assert.ok(gen!.total - delivered > 0, 'some of the generator\'s connects were dropped');
    assert.ok(gen!.total - delivered <= lost, `${gen!.total - delivered} of the generator's connects missing, LOSS covers ${lost}`);
    tc.diagnostic(`broker hung ${frozenMs} ms (buffer full after ${runsWhileFull} runs); capture events ${String(f.events)}, sent ${String(f.sent)}, ` +
      `dropped ${String(f.dropped)}; generator ${gen!.total} connects, ${delivered} delivered; test ${Date.now() - started} ms`);
  });
});
