// SPDX-License-Identifier: Apache-2.0
// The loss path through Kafka, with a broker of this test's own: capture runs with a
// small buffer, the broker stops, more connections happen than the buffer holds, the
// broker comes back, and a CaptureLoss record on the raw topic must account for exactly
// the seqs that were not delivered. Capture's memory must stay bounded meanwhile.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { Codec } from '../../src/schema/codec.js';
import type { CaptureLoss } from '../../src/schema/types.js';
import { readAll } from '../helpers/consume.js';
import { uniqueTopic } from '../helpers/kafka.js';
import { buildClient, CgroupFixture, runClient, type CgroupDir } from '../helpers/ns.js';
import { PrivateBroker } from '../helpers/private-broker.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { CaptureProc, cleanupCgroups, type CaptureExit } from '../helpers/capture-proc.js';

const missing = missingKernelPrereq();
const skip = missing && process.env.CI !== 'true' ? `kernel capture prerequisites: ${missing}` : false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BUFFER = 1000;
const BURST = 3000;
const RSS_LIMIT_KIB = 150 * 1024;

describe('capture loss through Kafka: broker away, small buffer (real kernel, private broker)', { skip }, () => {
  let broker: PrivateBroker | undefined;
  let kafka: Kafka;
  let cap: CaptureProc | undefined;
  let client = '';
  let pod: CgroupDir;
  let exit: CaptureExit;
  let rssTimer: NodeJS.Timeout | undefined;
  const cg = new CgroupFixture();
  const topic = uniqueTopic('capture-loss');

  before(async () => {
    if (missing) throw new Error(`kernel capture prerequisites missing: ${missing}`);
    client = await buildClient();
    pod = cg.podCgroupV1(['memory', 'pids']);
    broker = await PrivateBroker.create('loss-test');
    await broker.start();
    kafka = broker.kafka('podtrail-loss-test');
  });

  after(async () => {
    if (rssTimer) clearInterval(rssTimer);
    await cap?.kill();
    if (broker) {
      await broker.destroy();
    }
    assert.deepEqual(await cleanupCgroups(cg), [], 'cgroups left behind');
  });

  test('events beyond the buffer are dropped while the broker is away, and a loss record says which', async (t) => {
    cap = await CaptureProc.start([
      '--brokers', broker!.address, '--raw-topic', topic, '--node', 'loss-node', '--topic-partitions', '1',
      '--buffer-max-events', String(BUFFER),
    ]);
    rssTimer = setInterval(() => cap?.sample(), 100);
    const before1 = await runClient(client, 'tcp', { procs: pod.procs, unshare: true, hostname: 'before', count: 20 });
    assert.equal(before1.results.length, 20);
    await sleep(500);

    await broker!.stop();
    const burst = await runClient(client, 'tcp', { procs: pod.procs, unshare: true, hostname: 'burst', count: BURST });
    assert.equal(burst.results.length, 64, 'pt-client reports its first 64 connects');
    await sleep(500);
    const duringOutage = cap.sample();
    assert.ok(duringOutage > 0, 'capture is alive while the broker is away');

    await broker!.start();
    // The loss record goes out with the first batch Kafka takes again.
    const deadline = Date.now() + 45_000;
    let seen = false;
    while (!seen && Date.now() < deadline) {
      seen = cap.logs.some((l) => l.msg === 'publishing loss record for events dropped while the buffer was full');
      if (!seen) await sleep(250);
    }
    assert.ok(seen, `capture never published a loss record:\n${cap.stderr.slice(-4000)}`);
    clearInterval(rssTimer);
    rssTimer = undefined;
    cap.sample();
    exit = await cap.stop('SIGTERM');
    assert.equal(exit.code, 0, exit.stderr.slice(-4000));
    const f = exit.final!;
    assert.ok(f, 'capture printed its final stats');
    assert.equal(f.unsent, 0);
    assert.equal(f.kernelGaps, 0);
    assert.ok((f.dropped as number) >= BURST - BUFFER - 64, `dropped ${String(f.dropped)}`);
    assert.equal((f.sent as number) + (f.dropped as number), f.events, 'every event was either sent or counted as dropped');
    t.diagnostic(`events ${String(f.events)}, sent ${String(f.sent)}, dropped ${String(f.dropped)}, capture VmHWM ${cap.peakKiB} KiB`);
    assert.ok(cap.peakKiB < RSS_LIMIT_KIB, `capture VmHWM ${cap.peakKiB} KiB exceeds ${RSS_LIMIT_KIB} KiB`);
  });

  test('delivered seqs and loss ranges cover every seq exactly once', async () => {
    const f = exit.final!;
    const codec = new Codec();
    const events = f.events as number;
    const msgs = await readAll(kafka, topic, { minCount: (f.sent as number) + 1, idleMs: 3000, maxWaitMs: 60_000 });
    const delivered = new Set<number>();
    const losses: CaptureLoss[] = [];
    for (const m of msgs) {
      const d = codec.decode(m.value!);
      if (d.schema === 'RawConnectEvent') {
        const seq = Number(d.value.seq);
        assert.ok(!delivered.has(seq), `seq ${seq} delivered twice`);
        delivered.add(seq);
        assert.equal(d.value.instance, cap!.instance);
        assert.equal(m.key?.toString(), `loss-node/${d.value.cgroup.id}`);
      } else if (d.schema === 'CaptureLoss') {
        losses.push(d.value);
        assert.equal(m.key?.toString(), 'loss-node/loss');
      } else {
        assert.fail(`unexpected ${d.schema} on the raw topic`);
      }
    }
    assert.equal(delivered.size, f.sent);
    assert.ok(losses.length >= 1, 'a loss record is on the raw topic');
    let lost = 0;
    const covered = new Set<number>();
    for (const l of losses) {
      assert.equal(l.cause, 'CAPTURE_BUFFER');
      assert.equal(l.node, 'loss-node');
      assert.equal(l.instance, cap!.instance);
      assert.equal(l.eventId, `loss-node:${cap!.instance}:loss:${l.fromSeq}-${l.toSeq}`);
      assert.equal(l.count, l.toSeq - l.fromSeq + 1n, 'a loss range holds exactly its count');
      assert.ok(l.firstTime <= l.lastTime);
      for (let s = Number(l.fromSeq); s <= Number(l.toSeq); s++) {
        assert.ok(!delivered.has(s), `seq ${s} is both delivered and in a loss range`);
        assert.ok(!covered.has(s), `seq ${s} is in two loss ranges`);
        covered.add(s);
      }
      lost += Number(l.count);
    }
    assert.equal(lost, f.dropped);
    for (let s = 1; s <= events; s++) assert.ok(delivered.has(s) || covered.has(s), `seq ${s} is neither delivered nor reported lost`);
    assert.equal(delivered.size + covered.size, events);
  });
});
