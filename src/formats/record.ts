// SPDX-License-Identifier: Apache-2.0
// What the SIEM mappers (OCSF, ECS, CEF) share: any decoded record as an AuditRecord, the
// outcome of a connect, errno names, and the product identity they all stamp.
import { readFileSync } from 'node:fs';
import { DecodeError } from '../common/errors.js';
import type { Decoded } from '../schema/codec.js';
import type { AuditDnsLookup, AuditRecord, DnsLookup, ResultStatus } from '../schema/types.js';
import { formatAddr } from '../schema/addr.js';
import { communityId, unmapV4 } from './community-id.js';

export interface SiemRecord {
  rec: AuditRecord;
  /** false for a raw-topic record: no container, pod or attribution was looked up */
  enriched: boolean;
  /** a DNS lookup: `rec` is its connect-shaped view (identity, endpoints), this the rest */
  lookup?: DnsLookup | AuditDnsLookup;
}

/** A lookup in the audit shape: the formats' identity, endpoint and process mapping applies as is. */
export function lookupAsAudit(l: DnsLookup | AuditDnsLookup): AuditRecord {
  return {
    eventId: l.eventId, seq: l.seq, instance: l.instance, time: l.time, node: l.node,
    protocol: l.protocol, family: l.family, src: l.src, dst: l.dst, result: null, process: l.process,
    netns: l.netns, mntns: l.mntns, pidns: l.pidns, utsName: l.utsName, cgroup: l.cgroup, encryptedDns: false,
    container: 'attribution' in l ? l.container : null,
    pod: 'attribution' in l ? l.pod : null,
    attribution: 'attribution' in l ? l.attribution : { status: 'UNRESOLVED', source: null, reason: 'raw record: not enriched' },
    loss: null,
  };
}

/** Audit records as they are; raw events and capture losses in the audit shape; others refused. */
export function siemRecord(d: Decoded): SiemRecord {
  switch (d.schema) {
    case 'AuditRecord': return { rec: d.value, enriched: true };
    case 'RawConnectEvent':
      return {
        rec: { ...d.value, container: null, pod: null, attribution: { status: 'UNRESOLVED', source: null, reason: 'raw record: not enriched' }, loss: null },
        enriched: false,
      };
    case 'CaptureLoss': {
      const l = d.value;
      return {
        rec: {
          eventId: l.eventId, seq: l.fromSeq, instance: l.instance, time: l.time, node: l.node,
          protocol: null, family: null, src: null, dst: null, result: null, process: null,
          netns: null, mntns: null, pidns: null, utsName: null, cgroup: null, encryptedDns: false, container: null, pod: null,
          attribution: { status: 'LOSS', source: 'capture', reason: l.cause },
          loss: { instance: l.instance, fromSeq: l.fromSeq, toSeq: l.toSeq, count: l.count, cause: l.cause, firstTime: l.firstTime, lastTime: l.lastTime },
        },
        enriched: true,
      };
    }
    case 'DnsLookup': return { rec: lookupAsAudit(d.value), enriched: false, lookup: d.value };
    case 'AuditDnsLookup': return { rec: lookupAsAudit(d.value), enriched: true, lookup: d.value };
    default:
      // tail and export report a DecodeError and skip the record; nothing else would.
      throw new DecodeError(`a ${d.schema} record has no SIEM form (only connection records, DNS lookups and losses do)`, 'INVALID');
  }
}

export type Outcome = 'success' | 'failure' | 'unknown';

/** INPROGRESS is a non-blocking connect whose end the kernel side did not see. */
export function outcomeOf(s: ResultStatus | undefined): Outcome {
  if (s === 'OK') return 'success';
  if (s === 'INPROGRESS' || s === undefined) return 'unknown';
  return 'failure';
}

const ERRNO: Record<number, string> = {
  1: 'EPERM', 4: 'EINTR', 11: 'EAGAIN', 13: 'EACCES', 22: 'EINVAL', 24: 'EMFILE', 97: 'EAFNOSUPPORT', 98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL', 100: 'ENETDOWN', 101: 'ENETUNREACH', 103: 'ECONNABORTED', 104: 'ECONNRESET', 105: 'ENOBUFS',
  106: 'EISCONN', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED', 112: 'EHOSTDOWN', 113: 'EHOSTUNREACH', 114: 'EALREADY', 115: 'EINPROGRESS',
};

/** Linux errno name, or "errno N" for one we do not name. */
export function errnoName(n: number): string {
  return ERRNO[n] ?? `errno ${n}`;
}

export const PRODUCT = { name: 'podtrail', vendor: 'podtrail' } as const;

let version: string | undefined;
/** package.json's version: from dist/src/formats and from src/formats alike. */
export function productVersion(): string {
  if (version) return version;
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const v = (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string });
      if (v.name === 'podtrail' && v.version) return (version = v.version);
    } catch { /* try the next */ }
  }
  return (version = '0.0.0');
}

export interface FlowView {
  /** undefined when the bytes are not 4 or 16 long (garbage that still decoded) */
  srcIp: string | undefined;
  dstIp: string | undefined;
  srcPort: number;
  dstPort: number;
  transport: 'tcp' | 'udp';
  ianaNumber: 6 | 17;
  ipVersion: 4 | 6;
  communityId: string | undefined;
}

const ipText = (b: Uint8Array): string | undefined => (b.length === 4 || b.length === 16 ? formatAddr(b) : undefined);

/** The connection's endpoints as text, with its Community ID; undefined on a LOSS record. */
export function flowOf(a: AuditRecord): FlowView | undefined {
  if (!a.src || !a.dst || !a.protocol) return undefined;
  const ianaNumber = a.protocol === 'TCP' ? 6 : 17;
  // A v4-mapped pair travels as IPv4: hash it as sensors on the wire see it.
  let s: Uint8Array = a.src.addr;
  let d: Uint8Array = a.dst.addr;
  const us = unmapV4(s);
  const ud = unmapV4(d);
  if (us.length === 4 && ud.length === 4) { s = us; d = ud; }
  let cid: string | undefined;
  try {
    cid = communityId({ proto: ianaNumber, saddr: s, daddr: d, sport: a.src.port, dport: a.dst.port });
  } catch {
    cid = undefined; // mismatched address families (an unbound source): no flow to name
  }
  return {
    srcIp: ipText(a.src.addr), dstIp: ipText(a.dst.addr), srcPort: a.src.port, dstPort: a.dst.port,
    transport: a.protocol === 'TCP' ? 'tcp' : 'udp', ianaNumber, ipVersion: a.family === 'IPv6' ? 6 : 4, communityId: cid,
  };
}

/** Nanoseconds since the epoch to whole milliseconds (what OCSF and CEF timestamps hold). */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}
