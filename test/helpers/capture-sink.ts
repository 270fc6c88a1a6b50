// SPDX-License-Identifier: Apache-2.0
// Collects KernelCapture events for tests and waits for those of one process.
import { existsSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { defaultBpfObjectPath, loadNativeBinding, type KernelConnectEvent } from '../../src/capture/native.js';
import { CGROUP_ROOT, CGROUP_V2 } from './ns.js';

/** Why the real-kernel capture tests cannot run here, or undefined. */
export function missingKernelPrereq(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'no kernel BTF';
  for (const c of ['memory', 'pids']) {
    if (!existsSync(`${CGROUP_ROOT}/${c}/cgroup.procs`)) return `no v1 ${c} controller at ${CGROUP_ROOT}/${c}`;
  }
  if (!existsSync(`${CGROUP_V2}/cgroup.procs`)) return `no cgroup v2 at ${CGROUP_V2}`;
  try {
    loadNativeBinding();
  } catch (err) {
    return (err as Error).message;
  }
  if (!existsSync(defaultBpfObjectPath())) return `no BPF object at ${defaultBpfObjectPath()} (npm run build:bpf)`;
  return undefined;
}

/** 4 or 16 network-order bytes of an address as the kernel reports it. */
export function addrBytes(a: string): Buffer {
  if (isIPv4(a)) return Buffer.from(a.split('.').map(Number));
  const [head = '', tail = ''] = a.split('::');
  const parts = (s: string) => (s ? s.split(':') : []);
  const h = parts(head);
  const t = parts(tail);
  const words = a.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2));
  return b;
}

export class EventSink {
  readonly all: KernelConnectEvent[] = [];
  private wake: Array<() => void> = [];

  push(evs: KernelConnectEvent[]): void {
    this.all.push(...evs);
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }

  /**
   * Events of pid once at least n have arrived, after a settle time for extras. from: look
   * only at events from that index of all on (a reused pid's earlier events come before).
   */
  async forPid(pid: number, n: number, timeoutMs = 6000, settleMs = 300, from = 0): Promise<KernelConnectEvent[]> {
    const deadline = Date.now() + timeoutMs;
    const mine = () => this.all.slice(from).filter((e) => e.pid === pid);
    while (mine().length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} events of pid ${pid}, got ${mine().length}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    await new Promise((r) => setTimeout(r, settleMs));
    return mine();
  }
}
