// SPDX-License-Identifier: Apache-2.0
// CRI first, the runtime's files second. CRI is the only source of containerd's pod labels;
// the files still name the pod when the socket is absent, refuses, hangs or answers garbage.
// Then the answer says so in its warning and in meta.note (which becomes attribution.reason),
// and a failing socket is logged once per socket and kind of failure, not once per container.
import type { Logger } from '../../common/log.js';
import type { MetadataResolver, ResolveResult, RuntimeHint } from '../types.js';
import type { CriResolver } from './resolver.js';

const FELL_BACK = 'CRI failed (';

/** An answer from the files because CRI failed: it may lack what CRI knows (labels). */
export function criFellBack(r: ResolveResult): boolean {
  return r.ok && r.warning !== undefined && r.warning.startsWith(FELL_BACK);
}

/** After a socket failed, it is skipped this long (its last reason is given instead), so a hung runtime costs one deadline per period, not one per container. */
export const CRI_BACKOFF_MS = 5_000;

export class CriWithFiles implements MetadataResolver {
  private readonly logged = new Map<string, number>();
  private readonly down = new Map<string, { until: number; reason: string }>();

  constructor(
    readonly cri: readonly CriResolver[],
    private readonly files: MetadataResolver,
    private readonly log?: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  private readonly warned = new Set<string>();

  /** A partial CRI answer (image name or sandbox missing, unknown enum) is logged once per container and text. */
  private warnOnce(containerId: string, socket: string, warning: string): void {
    const key = `${containerId}\0${warning}`;
    if (this.warned.has(key)) return;
    if (this.warned.size >= 10_000) this.warned.clear();
    this.warned.add(key);
    this.log?.warn({ containerId, socket, warning }, 'CRI answer partial');
  }

  private note(socket: string, r: Extract<ResolveResult, { ok: false }>): void {
    const key = `${socket}\0${r.code}`;
    const now = this.clock();
    const last = this.logged.get(key);
    if (last !== undefined && now - last < 60_000) return;
    this.logged.set(key, now);
    this.log?.warn({ socket, code: r.code, reason: r.reason }, 'CRI lookup failed; using the runtime files (pod labels unknown)');
  }

  async resolve(containerId: string, hint?: RuntimeHint): Promise<ResolveResult> {
    const failed: string[] = [];
    for (const c of this.cri) {
      const socket = c.client.socket;
      const d = this.down.get(socket);
      if (d && this.clock() < d.until) {
        failed.push(d.reason);
        continue;
      }
      const r = await c.resolve(containerId);
      if (r.ok) {
        this.down.delete(socket);
        if (r.warning) this.warnOnce(containerId, socket, r.warning);
        return r;
      }
      if (r.code === 'BAD_ID') return r;
      if (r.code === 'NOT_FOUND') continue;
      this.note(socket, r);
      failed.push(r.reason);
      // Unreachable or silent: give it a rest. A too-large answer is about one pod, not the socket.
      if (r.code === 'IO') this.down.set(socket, { until: this.clock() + CRI_BACKOFF_MS, reason: r.reason });
    }
    const f = await this.files.resolve(containerId, hint);
    if (failed.length === 0) return f;
    const why = `${FELL_BACK}${failed.join('; ')})`;
    if (f.ok) {
      // What the files lack is theirs to say (containerd's note: no labels, so no workload).
      // meta.note travels with the version on the containers topic and ends in
      // attribution.reason, so a record says why its labels are missing wherever it is enriched.
      const note = `${why}; from the runtime files`;
      const meta = { ...f.meta, note: [note, f.meta.note].filter(Boolean).join('; ') };
      return { ...f, meta, warning: [meta.note, f.warning].filter(Boolean).join('; ') };
    }
    return { ok: false, code: f.code === 'NOT_FOUND' ? 'IO' : f.code, reason: `${why}; files: ${f.reason}` };
  }
}
