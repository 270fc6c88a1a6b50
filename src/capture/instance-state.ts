// SPDX-License-Identifier: Apache-2.0
// What a capture instance leaves for the next one on the same node and raw topic. A killed
// capture cannot say that it stopped, nor how far its sequence went: its kernel objects and
// its sequence counter die with it. So each instance keeps a small state file (by default in
// /run/podtrail, which a reboot clears) with its id, pid and the highest seq Kafka has
// acknowledged, and the next instance announces its predecessor's end (a CaptureLoss with
// cause CAPTURE_RESTART). The predecessor stays in the file as "unannounced" until Kafka has
// taken that announcement, so a capture killed again right away does not swallow it.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.js';
import { errMessage } from '../common/errors.js';

export interface InstanceRecord {
  instance: string;
  pid: number;
  /** wall-clock ns, as decimal strings: JSON has no 64-bit integers */
  startedAt: string;
  /** highest seq Kafka acknowledged ("0": none) */
  lastSeq: string;
  /** wall-clock ns of that event (startedAt until there is one) */
  lastTime: string;
  /** set by a clean stop */
  stoppedAt?: string;
}

interface StateFile { version: 1; node: string; topic: string; current: InstanceRecord | null; unannounced: InstanceRecord[] }

export const DEFAULT_STATE_DIR = '/run/podtrail';
/** How often acknowledged progress is written at most (a kill loses at most this much of it). */
const PROGRESS_WRITE_MS = 250;

const isDecimal = (v: unknown): v is string => typeof v === 'string' && /^[0-9]{1,20}$/.test(v);

function validRecord(r: unknown): r is InstanceRecord {
  const o = r as Record<string, unknown>;
  return typeof o === 'object' && o !== null && typeof o.instance === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(o.instance)
    && Number.isInteger(o.pid) && isDecimal(o.startedAt) && isDecimal(o.lastSeq) && isDecimal(o.lastTime)
    && (o.stoppedAt === undefined || isDecimal(o.stoppedAt));
}

/** True when pid is a live process other than us that runs podtrail (a capture still running). */
function livePodtrail(pid: number): boolean {
  if (pid === process.pid || pid <= 0) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('podtrail');
  } catch {
    return false;
  }
}

export class InstanceState {
  readonly path: string;
  private state: StateFile | undefined;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private failed = false;

  constructor(private readonly dir: string, private readonly node: string, private readonly topic: string, private readonly log: Logger) {
    // node and topic can be long; the file name must stay short and safe.
    const h = createHash('sha256').update(`${node}\0${topic}`).digest('hex').slice(0, 16);
    this.path = join(dir, `capture-${node.slice(0, 64)}-${h}.json`);
  }

  /**
   * Takes the file over for `instance`; returns the earlier instances whose end has not been
   * announced yet, oldest first. A capture that still runs is not one of them.
   */
  claim(instance: string, nowNs: bigint): InstanceRecord[] {
    const prev = this.read();
    const ended: InstanceRecord[] = [];
    for (const r of [...(prev?.unannounced ?? []), ...(prev?.current ? [prev.current] : [])]) {
      if (livePodtrail(r.pid) && r.stoppedAt === undefined) {
        this.log.error({ other: r.instance, pid: r.pid, file: this.path }, 'another capture runs for this node and raw topic: its end will not be announced by this one');
        continue;
      }
      if (r.instance !== instance && !ended.some((e) => e.instance === r.instance)) ended.push(r);
    }
    const now = String(nowNs);
    this.state = { version: 1, node: this.node, topic: this.topic, current: { instance, pid: process.pid, startedAt: now, lastSeq: '0', lastTime: now }, unannounced: ended };
    this.write();
    this.timer = setInterval(() => { if (this.dirty) this.write(); }, PROGRESS_WRITE_MS);
    this.timer.unref();
    return ended;
  }

  /** Kafka acknowledged events up to seq (the highest so far). */
  progress(seq: bigint, timeNs: bigint): void {
    const c = this.state?.current;
    if (!c || seq <= BigInt(c.lastSeq)) return;
    c.lastSeq = String(seq);
    c.lastTime = String(timeNs);
    this.dirty = true;
  }

  /** Kafka took the announcement of `instance`'s end: the file no longer needs to carry it. */
  announced(instance: string): void {
    if (!this.state) return;
    this.state.unannounced = this.state.unannounced.filter((r) => r.instance !== instance);
    this.write();
  }

  /** A clean stop: the final acknowledged progress, and when. */
  stopped(nowNs: bigint): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.state?.current) return;
    this.state.current.stoppedAt = String(nowNs);
    this.write();
  }

  private read(): StateFile | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error({ err, file: this.path }, 'cannot read the capture state file: an earlier instance\'s end cannot be announced');
      return undefined;
    }
    try {
      const s = JSON.parse(text) as StateFile;
      if (s?.version !== 1 || !Array.isArray(s.unannounced) || !(s.current === null || validRecord(s.current)) || !s.unannounced.every(validRecord)) {
        throw new Error('unexpected shape');
      }
      return s;
    } catch (err) {
      this.log.error({ file: this.path, reason: errMessage(err) }, 'capture state file is corrupt: an earlier instance\'s end cannot be announced');
      return undefined;
    }
  }

  private write(): void {
    if (!this.state || this.failed) return;
    this.dirty = false;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(this.state)}\n`, { mode: 0o600 });
      // rename: a reader (the next instance) never sees half a file.
      renameSync(tmp, this.path);
    } catch (err) {
      this.failed = true;
      this.log.error({ err, file: this.path }, 'cannot write the capture state file: if this capture is killed, the next one cannot announce it');
    }
  }
}

/**
 * The CaptureLoss that announces an earlier instance's end. Only where its sequence stopped is
 * known (and enrich, which saw the topic, knows it better); how many connections it read but
 * never published, and how many happened while no capture ran, nobody knows: count stays 0.
 */
export function endAnnouncement(node: string, prev: InstanceRecord, attachedNs: bigint) {
  const last = BigInt(prev.lastSeq);
  return {
    instance: prev.instance, eventId: `${node}:${prev.instance}:end`, cause: 'CAPTURE_RESTART' as const,
    fromSeq: last + 1n, toSeq: last, count: 0n, firstTime: BigInt(prev.lastTime), lastTime: attachedNs,
  };
}

export const stateDirCheck = (v: string): string | undefined =>
  v === 'off' || (v.startsWith('/') && !v.includes('\0')) ? undefined : "an absolute directory, or 'off'";
