// SPDX-License-Identifier: Apache-2.0
// Capture's DNS stage: the kernel's DNS packet records in, per-pod names out. It turns a
// record into the DnsPacketEvent the DNS modules take (wall-clock time, socket owner), keys
// owners by pod, container and process from the cgroup path (the same keys for a connect and
// for the lookups before it), and forgets a pod once the last of its containers is deleted.
import { formatAddr } from '../schema/addr.js';
import { tryParseCgroupPath } from '../runtime/cgroup-path.js';
import { LRUCache } from 'lru-cache';
import { DnsNames, type DnsNamesOptions, type LookupEvent } from './dns/dns-names.js';
import { nameOwner, type DnsPacketEvent, type DnsSocketOwner, type NameOwner, type SocketEnd } from './dns/events.js';
import type { Trust } from './dns/name-table.js';
import type { DnsRecordWithPath, KernelConnectEvent } from './native.js';

/** dst.name on a raw connect: what the connecting process (else its container, else its pod) resolved. */
export interface DstName {
  name: string;
  /** the CNAME chain after the question, in order */
  cnames: string[];
  /** wall-clock ns */
  answeredAt: bigint;
  ttl: number;
  server: string;
  trust: Trust;
}

export interface DnsCaptureOptions {
  /** cluster resolvers' addresses: answers from them over a non-loopback path are trust "resolver" */
  resolvers: readonly string[];
  /** DoH resolvers flagged on 443, besides the well-known public ones */
  dohResolvers: readonly string[];
  /** identical lookups by one process are folded over this window (0: every lookup is published) */
  dedupMs: number;
  /** how long past its TTL an answer still names a connect */
  retentionMs: number;
}

export const DNS_CAPTURE_DEFAULTS: DnsCaptureOptions = { resolvers: [], dohResolvers: [], dedupMs: 60_000, retentionMs: 3_600_000 };

/** A lookup with the socket owner's cgroup path, as the raw lookup record is built from it. */
export interface CapturedLookup extends LookupEvent {
  procKeyNs: bigint;
  cgroupPath: string;
  cgroupId: bigint;
  comm: string;
  family: 'IPv4' | 'IPv6';
  local: SocketEnd;
  remote: SocketEnd;
}

const processKey = (tgid: number, keyNs: bigint): string => `${tgid}:${keyNs}`;

export class DnsCapture {
  readonly names: DnsNames;
  /** cgroup id -> path, from both DNS records and connects (the owner keys come from the path) */
  private readonly paths = new LRUCache<bigint, string>({ max: 65_536 });
  private readonly parsed = new LRUCache<string, { pod: string | null; container: string | null }>({ max: 65_536 });
  /** pod key -> container ids seen in it, so a pod is dropped when its last container is */
  private readonly podContainers = new Map<string, Set<string>>();
  private readonly containerPod = new Map<string, string>();
  packets = 0;
  lookups = 0;
  podsDropped = 0;
  connectsNamed = 0;

  readonly opts: DnsCaptureOptions;

  constructor(private readonly toWallNs: (bootNs: bigint) => bigint, opts: Partial<DnsCaptureOptions> = {}) {
    const o = { ...DNS_CAPTURE_DEFAULTS, ...opts };
    this.opts = o;
    const n: Partial<DnsNamesOptions> = {
      table: { retentionMs: o.retentionMs },
      match: { resolvers: o.resolvers },
      dedup: { windowMs: o.dedupMs },
      dohResolvers: o.dohResolvers,
    };
    this.names = new DnsNames((owner) => this.ownerOf(owner), n);
  }

  private keysOf(path: string): { pod: string | null; container: string | null } {
    let k = this.parsed.get(path);
    if (k === undefined) {
      const p = path ? tryParseCgroupPath(path) : undefined;
      k = p?.ok ? { pod: p.value.podUid ?? null, container: p.value.containerId ?? null } : { pod: null, container: null };
      this.parsed.set(path, k);
      if (k.container) {
        const pod = k.pod ?? k.container;
        this.containerPod.set(k.container, pod);
        let s = this.podContainers.get(pod);
        if (!s) this.podContainers.set(pod, (s = new Set()));
        s.add(k.container);
      }
    }
    return k;
  }

  private ownerOf(o: DnsSocketOwner): NameOwner {
    const k = this.keysOf(this.paths.get(o.cgroupId) ?? '');
    return nameOwner({ podUid: k.pod, containerId: k.container, cgroupId: o.cgroupId, processKey: o.processKey });
  }

  /** A batch's DNS records, in ring order; returns the lookups to publish. */
  onRecords(recs: readonly DnsRecordWithPath[]): CapturedLookup[] {
    const out: CapturedLookup[] = [];
    for (const r of recs) {
      this.packets++;
      if (r.cgroupPath) this.paths.set(r.cgroupId, r.cgroupPath);
      const ev: DnsPacketEvent = {
        direction: r.direction,
        time: this.toWallNs(r.tsNs),
        seq: r.seq,
        owner: { tgid: r.tgid, processKey: processKey(r.tgid, r.procKeyNs), cgroupId: r.cgroupId, netnsCookie: r.netnsCookie, socketCookie: r.sockCookie },
        transport: r.transport,
        local: r.local,
        remote: r.remote,
        payload: r.payload,
        wireLength: r.wireLength,
        ...(r.transport === 'tcp' ? { tcpSeq: r.tcpSeq } : {}),
      };
      for (const l of this.names.onPacket(ev)) {
        this.lookups++;
        out.push({ ...l, procKeyNs: r.procKeyNs, cgroupPath: r.cgroupPath, cgroupId: r.cgroupId, comm: r.comm, family: r.family, local: r.local, remote: r.remote });
      }
    }
    return out;
  }

  /** dst.name and encryptedDns for a connect; `wallNs` is its time on the wall clock. */
  forConnect(e: KernelConnectEvent, wallNs: bigint): { name: DstName | null; encryptedDns: boolean } {
    if (e.cgroupPath) this.paths.set(e.cgroupId, e.cgroupPath);
    const owner: DnsSocketOwner = { tgid: e.pid, processKey: processKey(e.pid, e.procKeyNs), cgroupId: e.cgroupId, netnsCookie: 0n, socketCookie: 0n };
    const c = this.names.forConnect(owner, formatAddr(e.dst.addr), e.dst.port, wallNs);
    const j = c.name;
    if (j) this.connectsNamed++;
    return {
      name: j ? { name: j.name, cnames: j.chain.slice(1), answeredAt: j.answeredAt, ttl: j.ttl, server: j.server, trust: j.trust } : null,
      encryptedDns: c.encryptedDns !== null,
    };
  }

  /** A container was deleted (metadata publisher): its pod's names go once its last container has. */
  containerGone(id: string): void {
    const pod = this.containerPod.get(id);
    if (pod === undefined) return;
    this.containerPod.delete(id);
    const s = this.podContainers.get(pod);
    s?.delete(id);
    if (s && s.size > 0) return;
    this.podContainers.delete(pod);
    this.names.dropPod(pod);
    this.podsDropped++;
  }

  /** Periodic upkeep at wall-clock `now` (ns). */
  sweep(now: bigint): void {
    this.names.sweep(now);
  }

  /** Counters for metrics: parsed packets, malformed by reason, and what the tables dropped. */
  stats(): { packets: number; parsed: number; malformed: Record<string, number>; lookups: number; connectsNamed: number; podsDropped: number; truncatedAnswers: number; cutByCopyCap: number; tableSize: number; tableEvicted: number } {
    const s = this.names.stats;
    return {
      packets: this.packets,
      parsed: s.parsed,
      malformed: Object.fromEntries(s.malformed),
      lookups: this.lookups,
      connectsNamed: this.connectsNamed,
      podsDropped: this.podsDropped,
      truncatedAnswers: this.names.truncatedAnswers,
      cutByCopyCap: this.names.cutByCopyCap,
      tableSize: this.names.table.size,
      tableEvicted: this.names.table.evictedPerPod + this.names.table.evictedNodeWide,
    };
  }
}
