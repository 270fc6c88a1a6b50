// SPDX-License-Identifier: Apache-2.0
// The node's DNS pipeline in one place: DNS packet events from the kernel side in, lookup
// audit events and connect names out. Queries feed trust, answers feed the per-pod name table,
// connects are joined against it. Nothing here does I/O; the capture service owns the clock
// and calls sweep().
import { formatAddr } from '../../schema/addr.js';
import { answerSet, type AnswerSet } from './answer-set.js';
import { EncryptedDnsDetector, type EncryptedDns } from './encrypted.js';
import type { DnsPacketEvent, DnsSocketOwner, NameOwner } from './events.js';
import { LookupDedup, lookupKey, type LookupDedupOptions } from './lookup-dedup.js';
import { NameTable, type JoinedName, type NameTableOptions, type Trust } from './name-table.js';
import { DnsParseStats, parseDns, TYPE_A, TYPE_AAAA, TYPE_CNAME, type DnsMessage } from './parse.js';
import { QueryMatcher, type QueryMatchOptions } from './query-match.js';
import { DnsTcpReassembler, type TcpStreamOptions } from './tcp-stream.js';

/** One lookup, as it will go on the raw topic (its own record type). */
export interface LookupEvent {
  time: bigint;
  seq: bigint;
  owner: DnsSocketOwner;
  transport: 'udp' | 'tcp';
  server: string;
  qname: string;
  qtype: number;
  rcode: number;
  chain: string[];
  answers: Array<{ ip: string; ttl: number }>;
  trust: Trust;
  /** identical lookups by this process folded into the previous window, and the first and last of them (0n: none) */
  repeats: number;
  firstRepeat: bigint;
  lastRepeat: bigint;
  /** the answer section's A, AAAA and CNAME records, in order */
  records: Array<{ name: string; type: number; data: string; ttl: number }>;
  /** the kernel cut the payload at its copy cap (what was read still parsed) */
  cut: boolean;
}

/** What a connect carries about its destination's name. */
export interface ConnectName {
  name: JoinedName | null;
  encryptedDns: EncryptedDns | null;
}

export interface DnsNamesOptions {
  table: Partial<NameTableOptions>;
  match: Partial<QueryMatchOptions>;
  dedup: Partial<LookupDedupOptions>;
  tcp: Partial<TcpStreamOptions>;
  /** extra DoH resolver addresses to flag on 443 */
  dohResolvers: readonly string[];
}

export class DnsNames {
  readonly table: NameTable;
  readonly matcher: QueryMatcher;
  readonly dedup: LookupDedup;
  readonly tcp: DnsTcpReassembler;
  readonly stats = new DnsParseStats();
  private readonly encrypted: EncryptedDnsDetector;
  /** answers with TC set: the client retries over TCP, and that answer is the one kept */
  truncatedAnswers = 0;
  /** payloads the kernel cut at the copy cap that then failed to parse */
  cutByCopyCap = 0;

  constructor(private readonly ownerOf: (o: DnsSocketOwner) => NameOwner, opts: Partial<DnsNamesOptions> = {}) {
    this.table = new NameTable(opts.table);
    this.matcher = new QueryMatcher(opts.match);
    this.dedup = new LookupDedup(opts.dedup);
    this.tcp = new DnsTcpReassembler(opts.tcp);
    this.encrypted = new EncryptedDnsDetector(opts.dohResolvers ?? []);
  }

  /** One DNS packet from the kernel side; returns the lookup events to publish (0..n). */
  onPacket(ev: DnsPacketEvent): LookupEvent[] {
    const msgs: Uint8Array[] = ev.transport === 'tcp'
      ? this.tcp.push(`${ev.owner.socketCookie}/${ev.direction}`, ev.payload, ev.tcpSeq)
      : [ev.payload];
    const out: LookupEvent[] = [];
    for (const m of msgs) {
      const r = this.stats.count(parseDns(m));
      if (!r.ok) {
        if (ev.wireLength > ev.payload.length) this.cutByCopyCap++;
        continue;
      }
      const l = this.onMessage(ev, r.msg);
      if (l) out.push(l);
    }
    return out;
  }

  private onMessage(ev: DnsPacketEvent, msg: DnsMessage): LookupEvent | null {
    const q = msg.question;
    if (!q) return null;
    const server = formatAddr(ev.remote.addr);
    const key = { socketCookie: ev.owner.socketCookie, id: msg.id, qname: q.name, qtype: q.type };
    if (ev.direction === 'query') {
      if (!msg.qr) this.matcher.query(key, ev.time, server);
      return null;
    }
    if (!msg.qr) return null;
    const trust = this.matcher.answer(key, ev.time, server);
    if (msg.tc) {
      this.truncatedAnswers++;
      return null;
    }
    const a = answerSet(msg);
    if (!a) return null;
    const owner = this.ownerOf(ev.owner);
    this.table.record(owner, { name: a.qname, chain: a.chain, answeredAt: ev.time, server, trust }, a.addrs);
    const v = this.dedup.offer(lookupKey(owner.process, a), ev.time);
    if (!v.publish) return null;
    return lookupEvent(ev, server, a, trust, v, msg);
  }

  /** The name and encrypted-DNS flag for a connect by `owner` to dst at `at` (ns). */
  forConnect(owner: DnsSocketOwner, dstIp: string, dstPort: number, at: bigint): ConnectName {
    return { name: this.table.join(this.ownerOf(owner), dstIp, at), encryptedDns: this.encrypted.classify(dstIp, dstPort) };
  }

  /** The pod went away (the metadata publisher saw it deleted). */
  dropPod(pod: string): void {
    this.table.dropPod(pod);
  }

  /** Periodic upkeep; returns the repeats of windows that ended with no later lookup to carry them. */
  sweep(now: bigint): Array<{ key: string; repeats: number }> {
    this.table.sweep(now);
    this.matcher.sweep(now);
    return this.dedup.flush(now);
  }
}

function lookupEvent(ev: DnsPacketEvent, server: string, a: AnswerSet, trust: Trust, v: { repeats: number; firstRepeat: bigint; lastRepeat: bigint }, msg: DnsMessage): LookupEvent {
  const records: LookupEvent['records'] = [];
  for (const r of msg.answers) {
    if (r.data.kind === 'A' || r.data.kind === 'AAAA') records.push({ name: r.name, type: r.type === TYPE_AAAA ? TYPE_AAAA : TYPE_A, data: formatAddr(r.data.addr), ttl: r.ttl });
    else if (r.data.kind === 'CNAME') records.push({ name: r.name, type: TYPE_CNAME, data: r.data.target, ttl: r.ttl });
  }
  return {
    time: ev.time, seq: ev.seq, owner: ev.owner, transport: ev.transport, server,
    qname: a.qname, qtype: a.qtype, rcode: a.rcode, chain: a.chain, answers: a.addrs, trust,
    repeats: v.repeats, firstRepeat: v.firstRepeat, lastRepeat: v.lastRepeat, records, cut: ev.wireLength > ev.payload.length,
  };
}
