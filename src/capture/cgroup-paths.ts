// SPDX-License-Identifier: Apache-2.0
// The kernel sends a cgroup's path once (a PT_REC_CGROUP record) and then only its id;
// this keeps id -> path for each hierarchy. An LRU per hierarchy, keyed by the bigint id
// itself (no string key to build per event). What it evicts it reports through
// onEvict, so the kernel forgets it too and sends the path again when it is next used.
import { LRUCache } from 'lru-cache';

export class CgroupPaths {
  private readonly byHier = new Map<number, LRUCache<bigint, string>>();

  constructor(
    private readonly maxPerHier: number,
    private readonly onEvict: (hier: number, id: bigint) => void,
  ) {}

  private lru(hier: number): LRUCache<bigint, string> {
    let c = this.byHier.get(hier);
    if (!c) {
      c = new LRUCache<bigint, string>({
        max: this.maxPerHier,
        dispose: (_path, id, reason) => {
          if (reason === 'evict') this.onEvict(hier, id);
        },
      });
      this.byHier.set(hier, c);
    }
    return c;
  }

  set(hier: number, id: bigint, path: string): void {
    this.lru(hier).set(id, path);
  }

  get(hier: number, id: bigint): string | undefined {
    return this.byHier.get(hier)?.get(id);
  }
}
