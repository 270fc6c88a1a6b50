// SPDX-License-Identifier: Apache-2.0
// Which containers and sandboxes a CRI runtime has, as they come and go, so that capture's
// metadata publisher puts a version on the containers topic when one is created or starts,
// and a deletion version when it goes away.
// - GetContainerEvents where the runtime has it (containerd 1.7+, CRI-O 1.26+). containerd
//   1.6 answers UNIMPLEMENTED; then ListContainers + ListPodSandbox are polled, as kubelet's
//   generic PLEG does. With a stream, the lists are still read at the slow interval, which
//   catches anything a dropped stream missed.
// - A list that fails changes nothing: a runtime that is away for a moment does not make
//   every container look deleted.
import type { Logger } from '../../common/log.js';
import { CriError, errMessage } from '../../common/errors.js';
import { isContainerId } from '../types.js';
import type { CriClient, EventStream } from './client.js';

export const CRI_WATCH_DEFAULTS = {
  /** kubelet relists once a second */
  pollMs: 1_000,
  /** with an event stream, the safety-net relist */
  slowPollMs: 30_000,
  /** a stream that ended for another reason than UNIMPLEMENTED is tried again after this */
  retryStreamMs: 5_000,
} as const;

export interface CriWatchHandlers {
  /** a container or sandbox appeared or changed state: look it up (again) */
  changed(id: string, sandboxId: string | undefined): void;
  /** it is gone from the runtime */
  gone(id: string, sandboxId: string | undefined): void;
  /** after each successful relist: everything the runtime has (catches what came and went between two) */
  listed?(present: ReadonlySet<string>, askedAtMs: number): void;
}

export interface CriWatchOptions {
  pollMs?: number;
  slowPollMs?: number;
  retryStreamMs?: number;
}

interface Seen {
  state: string;
  sandboxId: string | undefined;
}

export class CriWatcher {
  private readonly seen = new Map<string, Seen>();
  /**
   * Containers an event named, and when. A relist asked before an event answers with the
   * runtime's state before it: that answer must not undo the event (call a just-created
   * container gone, or bring back a deleted one). Entries older than the last relist's
   * question are dropped.
   */
  private readonly eventAt = new Map<string, { atMs: number; deleted: boolean }>();
  private stream: EventStream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  /** 'events' while a stream is open, else 'poll' */
  mode: 'events' | 'poll' = 'poll';
  polls = 0;
  pollFailures = 0;
  events = 0;

  private on: CriWatchHandlers = { changed() {}, gone() {} };

  constructor(
    readonly client: CriClient,
    private readonly log: Logger,
    private readonly opts: CriWatchOptions = {},
  ) {}

  /** The first list (what exists now) is read, and handed to `on`, before this resolves. */
  async start(on: CriWatchHandlers): Promise<void> {
    this.on = on;
    await this.poll();
    this.openStream();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const ms = this.mode === 'events' ? (this.opts.slowPollMs ?? CRI_WATCH_DEFAULTS.slowPollMs) : (this.opts.pollMs ?? CRI_WATCH_DEFAULTS.pollMs);
    this.timer = setTimeout(() => {
      void this.poll().finally(() => this.schedule());
    }, ms);
    this.timer.unref();
  }

  private openStream(): void {
    if (this.stopped) return;
    this.stream = this.client.events(
      (e) => {
        this.events++;
        if (this.mode !== 'events') {
          this.mode = 'events';
          this.schedule();
        }
        if (!isContainerId(e.containerId)) return;
        const prev = this.seen.get(e.containerId);
        this.eventAt.set(e.containerId, { atMs: Date.now(), deleted: e.type === 'DELETED' });
        if (e.type === 'DELETED') {
          this.seen.delete(e.containerId);
          this.on.gone(e.containerId, prev?.sandboxId);
        } else {
          this.seen.set(e.containerId, { state: e.type ?? 'UNKNOWN', sandboxId: prev?.sandboxId });
          this.on.changed(e.containerId, prev?.sandboxId);
        }
      },
      (err: CriError) => {
        this.stream = undefined;
        const was = this.mode;
        this.mode = 'poll';
        if (this.stopped) return;
        if (was === 'events') this.schedule();
        if (err.code === 'UNIMPLEMENTED') {
          this.log.info({ socket: this.client.socket }, 'the runtime has no CRI container events; polling ListContainers and ListPodSandbox');
          return;
        }
        this.log.warn({ socket: this.client.socket, err: errMessage(err) }, 'CRI event stream ended; polling until it is back');
        this.retry = setTimeout(() => this.openStream(), this.opts.retryStreamMs ?? CRI_WATCH_DEFAULTS.retryStreamMs);
        this.retry.unref();
      },
    );
  }

  /** One relist: new IDs and state changes are changed(), missing ones gone(). */
  poll(): Promise<void> {
    this.polling ??= (async () => {
      try {
        const askedAtMs = Date.now();
        const [containers, sandboxes] = await Promise.all([this.client.listContainers(), this.client.listPodSandbox()]);
        this.polls++;
        // An event since the question is newer than this answer about that container.
        const newer = (id: string) => {
          const e = this.eventAt.get(id);
          return e !== undefined && e.atMs >= askedAtMs ? e : undefined;
        };
        const now = new Map<string, Seen>();
        for (const s of sandboxes) if (isContainerId(s.id) && !newer(s.id)?.deleted) now.set(s.id, { state: `sandbox:${String(s.state)}`, sandboxId: s.id });
        for (const c of containers) if (isContainerId(c.id) && !newer(c.id)?.deleted) now.set(c.id, { state: String(c.state), sandboxId: isContainerId(c.podSandboxId) ? c.podSandboxId : undefined });
        for (const [id, s] of this.seen) if (!now.has(id) && newer(id)) now.set(id, s);
        for (const [id, e] of this.eventAt) if (e.atMs < askedAtMs) this.eventAt.delete(id);
        for (const [id, s] of now) {
          const prev = this.seen.get(id);
          if (!prev || prev.state !== s.state) this.on.changed(id, s.sandboxId);
        }
        for (const [id, s] of this.seen) if (!now.has(id)) this.on.gone(id, s.sandboxId);
        this.seen.clear();
        for (const [id, s] of now) this.seen.set(id, s);
        this.on.listed?.(new Set(now.keys()), askedAtMs);
      } catch (err) {
        this.pollFailures++;
        if (this.pollFailures === 1 || this.pollFailures % 60 === 0) {
          this.log.warn({ socket: this.client.socket, failures: this.pollFailures, err: errMessage(err) }, 'CRI relist failed; what was known is kept');
        }
      } finally {
        this.polling = undefined;
      }
    })();
    return this.polling;
  }

  /** IDs the runtime had at the last list or event. */
  known(): ReadonlySet<string> {
    return new Set(this.seen.keys());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retry) clearTimeout(this.retry);
    this.stream?.cancel();
    await this.polling;
  }
}
