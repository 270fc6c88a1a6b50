// SPDX-License-Identifier: Apache-2.0
// The node-side metadata publisher. It resolves each container with the runtime resolvers (src/runtime)
// (the node's own runtime files) and publishes ContainerMeta versions, keyed by container ID,
// to the compacted podtrail.containers.v1 topic, so enrich can run anywhere and a pod
// deleted long ago is still attributed in a replay.
// - A new cgroup seen by capture is resolved before its first raw event is released
//   (CaptureService holds it), so the metadata goes out before or with that event.
// - Docker's containers directory is watched (inotify) and scanned periodically, which
//   catches containers that live for less than a second and notices changes and deletions.
// - CRI runtimes (containerd, CRI-O, cri-dockerd) are followed by a CriWatcher each: its
//   event stream, or a relist once a second. A lookup that fell back to files because CRI
//   failed for a moment never replaces a version already published (it would drop labels).
// - A deletion is a new version with deletedTime set, never a tombstone: audit keeps history.
import { watch, type FSWatcher } from 'node:fs';
import { access, readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../common/log.js';
import { errMessage } from '../common/errors.js';
import type { ContainerMeta as MetaRecord } from '../schema/types.js';
import { createdNs, metaFingerprint, toMetaRecord } from '../runtime/meta-record.js';
import { isContainerId, type ContainerMeta, type MetadataResolver, type RuntimeHint } from '../runtime/types.js';
import type { CriWatcher } from '../runtime/cri/watch.js';
import { criFellBack } from '../runtime/cri/with-files.js';

export interface MetaSink {
  offerMeta(rec: MetaRecord): void;
}

export interface MetadataPublisherOptions {
  node: string;
  hostRoot: string;
  /** Docker's data root as the node sees it (from daemon.json); undefined: no Docker scan */
  dockerDataRoot?: () => Promise<string>;
  scanIntervalMs: number;
  /** CRI runtimes to follow; `resolver` must already ask them (CriWithFiles) */
  criWatchers?: CriWatcher[];
  /** a sandbox went away: drop what is cached about it */
  onSandboxGone?: (sandboxId: string) => void;
  /** a container was deleted: DNS capture forgets its pod's names once the pod's last one is */
  onContainerGone?: (id: string) => void;
  nowNs?: () => bigint;
}

interface Known {
  fp: string;
  firstSeen: bigint;
  meta: ContainerMeta;
  deleted: boolean;
  cgroupPaths: string[];
  /** where the version came from (a file path, or cri:<socket>) */
  source: string;
  /** Date.now() when it was published */
  atMs: number;
  /** the version last offered, for republish() */
  last: MetaRecord;
}

export class MetadataPublisher {
  private readonly known = new Map<string, Known>();
  private readonly inflight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private scanning: Promise<void> | undefined;
  private readonly nowNs: () => bigint;
  published = 0;
  deletions = 0;

  constructor(
    private readonly resolver: MetadataResolver,
    private readonly sink: MetaSink,
    private readonly opts: MetadataPublisherOptions,
    private readonly log: Logger,
  ) {
    this.nowNs = opts.nowNs ?? (() => BigInt(Date.now()) * 1_000_000n);
  }

  isKnown(id: string): boolean {
    return this.known.has(id);
  }

  /** Resolve and publish a container not seen yet; resolves once its metadata is offered (or found missing). */
  ensure(id: string, hint?: RuntimeHint, cgroupPath?: string): Promise<void> {
    const k = this.known.get(id);
    if (k) {
      if (cgroupPath && !k.cgroupPaths.includes(cgroupPath) && k.cgroupPaths.length < 4) k.cgroupPaths.push(cgroupPath);
      return Promise.resolve();
    }
    return this.refresh(id, hint, cgroupPath);
  }

  private refresh(id: string, hint?: RuntimeHint, cgroupPath?: string): Promise<void> {
    const running = this.inflight.get(id);
    if (running) return running;
    const p = (async () => {
      try {
        const res = await this.resolver.resolve(id, hint);
        if (res.ok && !(criFellBack(res) && this.known.has(id))) this.publish(res.meta, res.source, cgroupPath);
      } catch (err) {
        this.log.warn({ err, containerId: id }, `metadata lookup failed: ${errMessage(err)}`);
      } finally {
        this.inflight.delete(id);
      }
    })();
    this.inflight.set(id, p);
    return p;
  }

  private publish(meta: ContainerMeta, source: string, cgroupPath?: string): void {
    const fp = metaFingerprint(meta);
    const prev = this.known.get(meta.id);
    if (prev && prev.fp === fp && !prev.deleted) return;
    const now = this.nowNs();
    const firstSeen = prev?.firstSeen ?? now;
    // The first version is valid from the container's creation; later ones from now.
    const validFrom = prev ? now : (createdNs(meta) ?? now);
    const cgroupPaths = prev?.cgroupPaths ?? (cgroupPath ? [cgroupPath] : []);
    const last = toMetaRecord(meta, { node: this.opts.node, time: now, firstSeen, validFrom, cgroupPaths });
    this.known.set(meta.id, { fp, firstSeen, meta, deleted: false, cgroupPaths, last, source, atMs: Date.now() });
    this.sink.offerMeta(last);
    this.published++;
  }

  private publishDeletion(id: string, k: Known): void {
    const now = this.nowNs();
    k.deleted = true;
    k.last = toMetaRecord(k.meta, { node: this.opts.node, time: now, firstSeen: k.firstSeen, validFrom: now, deletedTime: now, cgroupPaths: k.cgroupPaths });
    this.sink.offerMeta(k.last);
    this.deletions++;
    this.opts.onContainerGone?.(id);
  }

  /**
   * Offers the latest version of every container known, unchanged (same time and validFrom, so
   * a reader that has it already keeps one): for a containers topic that was made again empty
   * (a cluster replaced, a topic deleted), which must still name the pods of later raw events.
   */
  republish(): number {
    for (const k of this.known.values()) this.sink.offerMeta(k.last);
    return this.known.size;
  }

  async start(): Promise<void> {
    // All runtimes at once: a hung socket costs one deadline, not one per socket.
    await Promise.all((this.opts.criWatchers ?? []).map(async (w) => {
      const source = `cri:${w.client.socket}`;
      // A lookup still running for it finishes first, so its version is not published after the deletion.
      const gone = (id: string): void => {
        void (this.inflight.get(id) ?? Promise.resolve()).then(() => {
          const k = this.known.get(id);
          if (k && !k.deleted) this.publishDeletion(id, k);
        });
      };
      // The first relist's lookups finish before start() returns: capture attaches the kernel
      // next, which blocks the event loop long enough for their deadlines to pass unanswered.
      const first: Promise<void>[] = [];
      let starting = true;
      await w.start({
        changed: (id) => {
          const p = this.refresh(id);
          if (starting) first.push(p);
        },
        gone: (id, sandboxId) => {
          gone(id);
          if (sandboxId === id) this.opts.onSandboxGone?.(id);
        },
        // Known from this runtime but not listed: it came (capture looked it up) and went between two lists.
        // Only versions older than the list: one published while the list was on its way is not in it yet.
        listed: (present, askedAtMs) => {
          for (const [id, k] of this.known) {
            if (!k.deleted && k.source === source && k.atMs < askedAtMs && !present.has(id) && !this.inflight.has(id)) gone(id);
          }
        },
      });
      starting = false;
      await Promise.all(first);
    }));
    await this.scan();
    this.timer = setInterval(() => void this.scan(), this.opts.scanIntervalMs);
    this.timer.unref();
    await this.watchDocker();
  }

  private async dockerContainersDir(): Promise<string | undefined> {
    if (!this.opts.dockerDataRoot) return undefined;
    try {
      const dataRoot = await this.opts.dockerDataRoot();
      const root = await realpath(this.opts.hostRoot);
      const dir = await realpath(path.join(root, dataRoot, 'containers'));
      // Listing only: a data root that leads out of the host root is not scanned.
      if (dir !== root && !dir.startsWith(`${root}/`)) {
        this.log.warn({ dir }, 'docker containers directory is outside the host root; not scanned');
        return undefined;
      }
      return dir;
    } catch {
      return undefined; // no Docker on this node, or not yet
    }
  }

  private async watchDocker(): Promise<void> {
    const dir = await this.dockerContainersDir();
    if (!dir) return;
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, name) => {
        const id = typeof name === 'string' ? name : undefined;
        if (!id || !isContainerId(id)) return;
        // config.v2.json is written at create, before the container runs; a short delay
        // lets dockerd finish writing it. A directory that went away is a deletion.
        setTimeout(() => {
          access(path.join(dir, id)).then(
            () => void this.refresh(id, 'docker'),
            () => {
              const k = this.known.get(id);
              if (k && !k.deleted) this.publishDeletion(id, k);
            },
          );
        }, 30).unref();
      });
      this.watcher.on('error', (err) => this.log.warn({ err }, 'docker containers watch failed; periodic scan continues'));
    } catch (err) {
      this.log.warn({ err, dir }, 'cannot watch docker containers directory; periodic scan only');
    }
  }

  /** One pass over the runtime's state: new and changed containers, and deletions. */
  scan(): Promise<void> {
    this.scanning ??= (async () => {
      try {
        const dir = await this.dockerContainersDir();
        if (!dir) return;
        const ids = (await readdir(dir)).filter(isContainerId);
        const present = new Set(ids);
        await Promise.all(ids.map((id) => this.refresh(id, 'docker')));
        for (const [id, k] of this.known) {
          if (k.meta.runtime === 'docker' && !k.deleted && !present.has(id)) this.publishDeletion(id, k);
        }
        // Forget long-deleted containers: the topic keeps their history.
        if (this.known.size > 50_000) {
          for (const [id, k] of this.known) if (k.deleted) this.known.delete(id);
        }
      } catch (err) {
        this.log.warn({ err }, `metadata scan failed: ${errMessage(err)}`);
      } finally {
        this.scanning = undefined;
      }
    })();
    return this.scanning;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const w of this.opts.criWatchers ?? []) await w.stop();
    this.watcher?.close();
    await this.scanning;
    await Promise.all(this.inflight.values());
  }
}
