// SPDX-License-Identifier: Apache-2.0
// When the CRI socket hangs, capture's metadata publisher still publishes the container from
// a real containerd's own files (its task bundles, seen through a host root), within the
// deadline, and the version says why its labels are missing; attribution puts that in the
// record's reason. Then the socket answers again and the next lookup has the labels.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerMeta as MetaRecord } from '../../src/schema/types.js';
import { MetadataPublisher } from '../../src/capture/metadata-publisher.js';
import { CriClient } from '../../src/runtime/cri/client.js';
import { CriResolver } from '../../src/runtime/cri/resolver.js';
import { CriWithFiles } from '../../src/runtime/cri/with-files.js';
import { createResolver } from '../../src/runtime/index.js';
import { fromMetaRecord } from '../../src/runtime/meta-record.js';
import { attribute } from '../../src/enrich/attribute.js';
import { createRootLogger } from '../../src/common/log.js';
import { checkPrerequisites, startContainerd, type Containerd, type CriPod } from '../helpers/containerd.js';
import { startRawServer, type RawSocketServer } from '../helpers/cri-server.js';
import { run } from '../helpers/proc.js';

const pre = await checkPrerequisites();
const log = createRootLogger('silent', false);

if (!pre.ok) {
  test('CRI fallback on a real containerd: prerequisites', { skip: process.env.CI === 'true' ? false : pre.missing.join('; ') }, () => {
    assert.fail(`missing: ${pre.missing.join('; ')}`);
  });
} else {
  describe('a hung CRI socket: the runtime files answer, and the record says why', { concurrency: false }, () => {
    let h: Containerd;
    let web: CriPod;
    let root = '';
    let mounted = '';
    let hung: RawSocketServer;

    before(async () => {
      h = await startContainerd();
      web = await h.runPod({ name: 'web-7d9f8b6c5d-x2k4q', namespace: 'shop', qos: 'burstable', labels: { app: 'web' }, containers: [{ name: 'app', cmd: ['sleep', '100000'] }] });
      // The node as capture sees it: containerd's state dir at its default place under the host root.
      root = await mkdtemp(join(tmpdir(), 'pt-cri-root-'));
      mounted = join(root, 'run/containerd');
      await mkdir(mounted, { recursive: true });
      const m = await run(pre.bins.busybox!, ['mount', '-o', 'bind,ro', join(h.tmpDir, 'ctd/state'), mounted]);
      assert.equal(m.code, 0, m.stderr);
      hung = await startRawServer(join(root, 'hung.sock'), () => {});
    });

    after(async () => {
      await hung?.stop();
      if (mounted) await run(pre.bins.busybox!, ['umount', mounted]);
      if (root) await rm(root, { recursive: true, force: true });
      await h?.stop();
    });

    test('published from the files within the deadline, with the reason; attribution carries it', async () => {
      const files = createResolver({ hostRoot: root, cacheTtlMs: 0, negativeTtlMs: 0, runtimes: ['containerd'], logger: log });
      const cri = new CriResolver(new CriClient(hung.socket, { deadlineMs: 300 }));
      const sent: MetaRecord[] = [];
      const pub = new MetadataPublisher(new CriWithFiles([cri], files, log), { offerMeta: (r) => sent.push(r) }, { node: 'n1', hostRoot: root, scanIntervalMs: 60_000 }, log);
      const id = web.container('app');
      const t0 = Date.now();
      await pub.ensure(id, undefined, web.cgroupPath(id));
      const took = Date.now() - t0;
      // Version then ListContainers would be two deadlines; Version failing ends it after one.
      assert.ok(took < 1_000, `took ${took} ms`);
      assert.equal(sent.length, 1);
      const rec = sent[0]!;
      assert.equal(rec.containerId, id);
      assert.equal(rec.origin, 'files');
      assert.equal(rec.name, 'app');
      assert.equal(rec.pod?.name, web.name);
      assert.equal(rec.pod?.uid, web.uid);
      assert.deepEqual(rec.pod?.labels, {});
      assert.match(rec.note ?? '', /^CRI failed \(CRI Version on .*hung\.sock: no answer within 300 ms\); from the runtime files; pod labels and workload unknown: containerd gives pod labels only through its CRI socket$/);
      // Unknown labels are not taken for none: a Deployment's pod is not called a bare Pod.
      assert.equal(rec.pod?.workload, null);
      assert.equal(rec.bounded, null, 'nothing was cut: the fallback is a note, not a bound');
      const a = attribute({ cgroupPath: web.cgroupPath(id), node: { hostname: 'n1' }, resolved: { ok: true, meta: fromMetaRecord(rec), source: 'topic' } });
      assert.equal(a.status, 'POD');
      assert.equal(a.source, 'containerd');
      assert.equal(a.reason, rec.note);
      assert.equal(a.pod?.workload, null, 'nor on read');
      // Within the back-off the socket is not asked again: the next container costs no deadline.
      const t1 = Date.now();
      await pub.ensure(web.sandboxId);
      assert.ok(Date.now() - t1 < 250, `took ${Date.now() - t1} ms`);
      assert.equal(hung.connections >= 1, true);
      await pub.stop();
      cri.client.close();
    });

    test('a version already published from CRI is not replaced by a file answer while CRI is down', async () => {
      const files = createResolver({ hostRoot: root, cacheTtlMs: 0, negativeTtlMs: 0, runtimes: ['containerd'], logger: log });
      const good = new CriResolver(new CriClient(h.socket));
      const bad = new CriResolver(new CriClient(hung.socket, { deadlineMs: 300 }));
      let resolver = new CriWithFiles([good], files, log);
      const sent: MetaRecord[] = [];
      const pub = new MetadataPublisher({ resolve: (id, hint) => resolver.resolve(id, hint) }, { offerMeta: (r) => sent.push(r) }, { node: 'n1', hostRoot: root, scanIntervalMs: 60_000 }, log);
      const id = web.container('app');
      await pub.ensure(id);
      assert.equal(sent.length, 1);
      assert.equal(sent[0]!.origin, 'cri');
      assert.deepEqual(sent[0]!.pod?.labels, { app: 'web' });
      // The runtime goes silent; a rescan of the same container finds only the files.
      resolver = new CriWithFiles([bad], files, log);
      await (pub as unknown as { refresh(id: string): Promise<void> }).refresh(id);
      assert.equal(sent.length, 1, 'no version without labels was published');
      await pub.stop();
      good.client.close();
      bad.client.close();
    });
  });
}
