// SPDX-License-Identifier: Apache-2.0
// Fault: capture is SIGKILLed mid-stream, connects go on while no capture runs, and a new
// capture starts on the same node. Its BPF programs, maps and links must all be gone with
// the killed process (bpftool), the new one attaches afresh, and the gap is reported: the new
// instance announces the old one's end (from the state file it left), and enrich turns that
// into one LOSS (CAPTURE_RESTART) starting right after the old instance's last delivered seq,
// whose time window holds every connect that did not come through.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { accountInstance, byPid, readAuditUntil } from '../helpers/audit-account.js';
import { readAll } from '../helpers/consume.js';
import { codec } from '../../src/schema/codec.js';
import { bpfObjectsOf, bpftoolMissing, stillListed, waitUnlisted } from '../helpers/bpf-objects.js';
import { CaptureProc } from '../helpers/capture-proc.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { buildGenerator, ConnectGenerator } from '../helpers/connect-gen.js';
import { BROKERS, createTopics, deleteTopics, requireBroker, uniqueTopic } from '../helpers/kafka.js';
import { repoRoot } from '../helpers/ns.js';
import { keepLogs } from '../helpers/private-broker.js';
import { startStage, stopStage, waitForLog, type Stage } from '../helpers/stages.js';
import type { AuditRecord } from '../../src/schema/types.js';

const missing = missingKernelPrereq() ?? (await bpftoolMissing());
const skip = missing && process.env.CI !== 'true' ? `prerequisites: ${missing}` : false;
const NODE = `fault-ck-${randomBytes(3).toString('hex')}`;
const nowNs = () => BigInt(Date.now()) * 1_000_000n;
const j = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));

describe('fault: capture SIGKILLed and restarted (real kernel, bpftool)', { skip }, () => {
  let kafka: Kafka;
  let gen: ConnectGenerator | undefined;
  let enrich: Stage | undefined;
  const caps: CaptureProc[] = [];
  let stateDir = '';
  const t = { raw: uniqueTopic('fck-raw'), audit: uniqueTopic('fck-audit'), dlq: uniqueTopic('fck-dlq'), meta: uniqueTopic('fck-meta') };
  const group = uniqueTopic('fck-group');

  before(async () => {
    if (missing) throw new Error(`prerequisites missing: ${missing}`);
    gen = new ConnectGenerator(await buildGenerator());
    kafka = await requireBroker();
    await createTopics(kafka, [t.raw, t.audit], 2);
    await createTopics(kafka, [t.dlq, t.meta], 1);
    stateDir = mkdtempSync(join(repoRoot, '.tmp', 'fault-capture-state-'));
  });

  after(async () => {
    await gen?.stop().catch(() => undefined);
    for (const c of caps) await c.kill();
    if (enrich) await stopStage(enrich);
    keepLogs('fault-capture-kill', { enrich: enrich?.log(), ...Object.fromEntries(caps.map((c, i) => [`capture${i}`, c.stderr])) });
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    if (kafka) await deleteTopics(kafka, Object.values(t));
    if (gen) assert.deepEqual(await gen.cleanup(), [], 'cgroups left behind');
  });

  const captureArgs = () => ['--brokers', BROKERS.join(','), '--raw-topic', t.raw, '--node', NODE, '--publish-metadata', 'off', '--state-dir', stateDir];

  test('no BPF object survives the kill, the new capture attaches, and the gap is one LOSS', { timeout: 180_000 }, async (tc) => {
    const started = Date.now();
    enrich = startStage('enrich', ['enrich', '--brokers', BROKERS.join(','), '--raw-topic', t.raw, '--audit-topic', t.audit, '--dlq-topic', t.dlq,
      '--containers-topic', t.meta, '--group', group, '--transactional-id', `${group}-a`, '--transaction-timeout', '10000',
      '--host-root', '/nonexistent-host-root', '--file-fallback', 'off', '--gap-window', '50']);
    const a = await CaptureProc.start(captureArgs());
    caps.push(a);
    const objsA = bpfObjectsOf(a.pid);
    assert.ok(objsA.progs.length > 0 && objsA.maps.length > 0 && objsA.links.length > 0, `capture holds programs, maps and links: ${j(objsA)}`);
    assert.deepEqual(await stillListed(objsA), objsA, 'bpftool lists every object the live capture holds');
    await waitForLog(enrich, 'enrich running', 60_000);

    gen!.start();
    const flowing = await readAuditUntil(kafka, t.audit, (rs) => rs.some((r) => r.instance === a.instance && r.cgroup?.path === gen!.path), 60_000);
    assert.ok(flowing.some((r) => r.instance === a.instance && r.cgroup?.path === gen!.path), 'connects come through the first capture');
    await gen!.moreRuns(10);

    const killedAt = nowNs();
    const exitA = await a.stop('SIGKILL');
    assert.equal(exitA.signal, 'SIGKILL');
    const left = await waitUnlisted(objsA, 10_000);
    assert.deepEqual(left, { progs: [], maps: [], links: [] }, 'BPF objects of the killed capture are still loaded');

    // Connects while no capture runs: nobody can count them, the LOSS window must hold them.
    await gen!.moreRuns(3);
    const b = await CaptureProc.start(captureArgs());
    const bSeenNs = nowNs();
    caps.push(b);
    assert.notEqual(b.instance, a.instance);
    const objsB = bpfObjectsOf(b.pid);
    assert.deepEqual([objsB.progs.length, objsB.maps.length, objsB.links.length], [objsA.progs.length, objsA.maps.length, objsA.links.length], 'the new capture attaches the same set');
    assert.ok(objsB.progs.every((id) => !objsA.progs.includes(id)), 'with programs of its own');
    const announced = await b.waitLog((l) => l.msg.startsWith('reporting the end of the previous capture instance'), 10_000);
    assert.equal(announced.previous, a.instance);
    assert.equal(announced.stoppedCleanly, false);
    await gen!.moreRuns(5);
    await gen!.stop();
    const exitB = await b.stop('SIGTERM');
    assert.equal(exitB.code, 0, exitB.stderr.slice(-3000));
    const seqsB = BigInt(exitB.final!.events as number) + BigInt(exitB.final!.kernelGaps as number);

    const endOfA = (rs: AuditRecord[]) => rs.find((r) => r.loss?.cause === 'CAPTURE_RESTART' && r.loss.instance === a.instance);
    const recs = await readAuditUntil(kafka, t.audit, (rs) => {
      if (!endOfA(rs)) return false;
      const acc = accountInstance(rs, NODE, b.instance);
      for (let s = 1n; s <= seqsB; s++) if (!acc.delivered.has(s) && !acc.covered(s)) return false;
      return true;
    }, 90_000);
    const ends = recs.filter((r) => r.loss?.cause === 'CAPTURE_RESTART');
    assert.equal(ends.length, 1, `one CAPTURE_RESTART LOSS: ${j(ends)}`);
    const end = ends[0]!;
    const w = end.loss!;
    assert.equal(end.eventId, `${NODE}:${a.instance}:end`);
    assert.equal(end.attribution.status, 'LOSS');
    assert.match(end.attribution.reason!, /how many is unknown/);
    assert.equal(w.instance, a.instance);
    assert.equal(w.count, 0n);
    assert.equal(w.toSeq, w.fromSeq - 1n);

    // The old instance's sequence: everything below fromSeq came through once (or is in a closed
    // LOSS range), nothing at or above it did.
    const accA = accountInstance(recs, NODE, a.instance);
    let maxA = 0n;
    for (const [s, n] of accA.delivered) {
      assert.equal(n, 1, `seq ${s} of the killed instance came through ${n} times`);
      if (s > maxA) maxA = s;
    }
    assert.equal(w.fromSeq, maxA + 1n, 'the LOSS starts right after the last seq delivered');
    for (let s = 1n; s < w.fromSeq; s++) {
      const closed = accA.losses.some((l) => l !== end && l.loss!.fromSeq <= s && s <= l.loss!.toSeq);
      if (!accA.delivered.has(s) && !closed) {
        // Where it went missing: did it reach the raw topic at all?
        const raw = (await readAll(kafka, t.raw, { idleMs: 1000, maxWaitMs: 10_000 })).flatMap((m) => {
          try {
            const d = codec().decode(m.value!);
            return d.schema === 'RawConnectEvent' && d.value.instance === a.instance ? [{ seq: d.value.seq, offset: m.offset, pid: d.value.process.pid, comm: d.value.process.comm }] : [];
          } catch { return []; }
        });
        const rawSeqs = raw.map((r) => r.seq).sort((x, y) => (x < y ? -1 : 1));
        assert.fail(`seq ${s} of the killed instance is unaccounted for: raw topic holds ${raw.length} of its events, lowest seqs ${j(rawSeqs.slice(0, 5))}, ` +
          `seq ${s} there: ${j(raw.filter((r) => r.seq === s))}; audit holds ${accA.delivered.size}, lowest ${j([...accA.delivered.keys()].sort((x, y) => (x < y ? -1 : 1)).slice(0, 5))}; ` +
          `LOSS records: ${j(accA.losses.map((l) => l.loss))}`);
      }
    }
    assert.ok(w.firstTime! <= killedAt, 'the window starts before the kill');
    // It ends when the new capture had attached (taken just after, so it errs on the wide side).
    assert.ok(w.lastTime! > killedAt && w.lastTime! <= bSeenNs + 1_000_000_000n, `the window ends when the new capture attached: ${j([killedAt, w.lastTime, bSeenNs])}`);

    // The generator's count, run by run: complete, or inside the LOSS window.
    const mine = byPid(recs, gen!.path);
    let delivered = 0;
    let inWindow = 0;
    for (const r of gen!.runs) {
      const got = mine.get(r.pid) ?? [];
      assert.equal(new Set(got.map((x) => x.eventId)).size, got.length, `run ${r.pid}: a duplicate`);
      assert.ok(got.length <= r.count);
      delivered += got.length;
      if (got.length < r.count) {
        inWindow++;
        assert.ok(r.toNs >= w.firstTime! && r.fromNs <= w.lastTime!, `run ${r.pid} lost ${r.count - got.length} connects outside the LOSS window ${j([w.firstTime, w.lastTime, r])}`);
      }
    }
    assert.ok(inWindow >= 3, 'the runs made while no capture ran are missing, inside the window');
    // The new instance: complete.
    const accB = accountInstance(recs, NODE, b.instance);
    for (let s = 1n; s <= seqsB; s++) assert.equal(accB.delivered.get(s) ?? 0, accB.covered(s) ? 0 : 1, `seq ${s} of the new instance`);
    tc.diagnostic(`killed ${a.instance} (${objsA.progs.length} progs, ${objsA.maps.length} maps, ${objsA.links.length} links, all gone); ` +
      `restart LOSS from seq ${w.fromSeq}, window ${Number(w.lastTime! - w.firstTime!) / 1e6} ms; generator ${gen!.total} connects, ${delivered} delivered, ` +
      `${inWindow} runs short; test ${Date.now() - started} ms`);
  });
});
