// SPDX-License-Identifier: Apache-2.0
// The JSON form (docs/reference/records.md), produced here and nowhere else. It is a contract: tests and users
// rely on these names. Raw records print without container, pod and attribution.
import { formatAddr } from './addr.js';
import type { AuditDnsLookup, AuditRecord, CaptureLoss, DnsLookup, Endpoint, Process, ProcessRef, RawConnectEvent, ResolvedName } from './types.js';
import { qtypeName, rcodeName } from './dns-text.js';
import type { Decoded } from './codec.js';

/** bigint as a JSON number when it fits exactly, else as a decimal string. */
export function jsonLong(n: bigint): number | string {
  const x = Number(n);
  return Number.isSafeInteger(x) ? x : n.toString();
}

/** Nanoseconds since the epoch as ISO-8601 with nine fractional digits. */
export function isoNanos(ns: bigint): string {
  const secs = ns / 1_000_000_000n;
  let frac = ns % 1_000_000_000n;
  let s = secs;
  if (frac < 0n) { frac += 1_000_000_000n; s -= 1n; }
  const base = new Date(Number(s) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${base.slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** Inverse of isoNanos; accepts any ISO-8601 Date.parse understands, keeping up to 9 digits. */
export function parseIsoNanos(text: string): bigint {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/.exec(text);
  const ms = Date.parse(m ? `${m[1]}${m[3]}` : text);
  if (Number.isNaN(ms)) throw new Error(`not an ISO-8601 time: ${text}`);
  const frac = m?.[2] ? BigInt((m[2] as string).padEnd(9, '0')) : 0n;
  return BigInt(ms) * 1_000_000n + frac;
}

const endpoint = (e: Endpoint) => ({ addr: formatAddr(e.addr), port: e.port });

export const resolvedNameJson = (n: ResolvedName) => ({
  name: n.name, cnames: [...n.cnames], answeredAt: isoNanos(n.answeredAt), ttl: n.ttl, server: n.server, trust: n.trust,
});

/** A destination as capture saw it: the address and the name the process resolved (null: none seen). */
const rawDst = (e: Endpoint) => ({ ...endpoint(e), name: e.name ? resolvedNameJson(e.name) : null });

/** ... and what enrich adds: the pod, service and scope on the other end. */
const auditDst = (e: Endpoint) => ({
  ...rawDst(e),
  pod: e.pod ? { name: e.pod.name, namespace: e.pod.namespace, uid: e.pod.uid, workload: e.pod.workload ? { ...e.pod.workload } : null, labels: { ...e.pod.labels } } : null,
  service: e.service ? { ...e.service } : null,
  scope: e.scope,
});

const ref = (r: ProcessRef) => ({ pid: r.pid, comm: r.comm, exe: r.exe });

const proc = (p: Process) => ({
  pid: p.pid, tid: p.tid, ppid: p.ppid, uid: jsonLong(p.uid), gid: jsonLong(p.gid), comm: p.comm,
  startTime: jsonLong(p.startTime), nsPid: p.nsPid,
  key: jsonLong(p.key), exe: p.exe, args: [...p.args], argsTruncated: p.argsTruncated,
  parent: p.parent ? ref(p.parent) : null, ancestry: p.ancestry.map(ref), exeFlags: [...p.exeFlags],
});

export function rawToJson(r: RawConnectEvent): Record<string, unknown> {
  return {
    eventId: r.eventId, seq: jsonLong(r.seq), time: isoNanos(r.time), node: r.node, instance: r.instance,
    protocol: r.protocol, family: r.family, src: endpoint(r.src), dst: rawDst(r.dst),
    result: { status: r.result.status, errno: r.result.errno },
    process: proc(r.process),
    netns: jsonLong(r.netns), mntns: jsonLong(r.mntns), pidns: jsonLong(r.pidns), utsName: r.utsName,
    cgroup: { id: jsonLong(r.cgroup.id), path: r.cgroup.path },
    encryptedDns: r.encryptedDns,
  };
}

export function auditToJson(a: AuditRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    eventId: a.eventId, seq: jsonLong(a.seq), time: isoNanos(a.time), node: a.node, instance: a.instance,
  };
  if (a.attribution.status !== 'LOSS') {
    Object.assign(out, {
      protocol: a.protocol, family: a.family,
      src: a.src ? endpoint(a.src) : null, dst: a.dst ? auditDst(a.dst) : null,
      result: a.result ? { status: a.result.status, errno: a.result.errno } : null,
      process: a.process ? proc(a.process) : null,
      netns: a.netns === null ? null : jsonLong(a.netns),
      mntns: a.mntns === null ? null : jsonLong(a.mntns),
      pidns: a.pidns === null ? null : jsonLong(a.pidns),
      utsName: a.utsName,
      cgroup: a.cgroup ? { id: jsonLong(a.cgroup.id), path: a.cgroup.path } : null,
      encryptedDns: a.encryptedDns,
      container: a.container ? { ...a.container } : null,
      pod: a.pod ? { ...a.pod, labels: { ...a.pod.labels } } : null,
    });
  }
  out.attribution = { ...a.attribution };
  if (a.loss) {
    out.loss = {
      instance: a.loss.instance, fromSeq: jsonLong(a.loss.fromSeq), toSeq: jsonLong(a.loss.toSeq),
      count: jsonLong(a.loss.count), cause: a.loss.cause,
      firstTime: a.loss.firstTime === null ? null : isoNanos(a.loss.firstTime),
      lastTime: a.loss.lastTime === null ? null : isoNanos(a.loss.lastTime),
    };
  }
  return out;
}

export function captureLossToJson(l: CaptureLoss): Record<string, unknown> {
  return {
    eventId: l.eventId, time: isoNanos(l.time), node: l.node, instance: l.instance,
    attribution: { status: 'LOSS', source: 'capture', reason: l.cause },
    loss: {
      instance: l.instance, fromSeq: jsonLong(l.fromSeq), toSeq: jsonLong(l.toSeq), count: jsonLong(l.count),
      cause: l.cause, firstTime: isoNanos(l.firstTime), lastTime: isoNanos(l.lastTime),
    },
  };
}

/** A DNS lookup, raw or attributed: the connect-like identity fields, then `dns`. */
export function lookupToJson(l: DnsLookup | AuditDnsLookup): Record<string, unknown> {
  const out: Record<string, unknown> = {
    eventId: l.eventId, seq: jsonLong(l.seq), time: isoNanos(l.time), node: l.node, instance: l.instance,
    protocol: l.protocol, family: l.family,
    src: endpoint(l.src),
    dst: 'attribution' in l ? auditDst(l.dst) : rawDst(l.dst),
    process: proc(l.process),
    netns: jsonLong(l.netns), mntns: jsonLong(l.mntns), pidns: jsonLong(l.pidns), utsName: l.utsName,
    cgroup: { id: jsonLong(l.cgroup.id), path: l.cgroup.path },
    dns: {
      query: l.query, qtype: qtypeName(l.qtype), rcode: rcodeName(l.rcode),
      answers: l.answers.map((a) => ({ name: a.name, type: qtypeName(a.type), data: a.data, ttl: a.ttl })),
      truncated: l.truncated, trust: l.trust, count: jsonLong(l.count),
      firstTime: l.firstTime === null ? null : isoNanos(l.firstTime),
      lastTime: l.lastTime === null ? null : isoNanos(l.lastTime),
      dedupWindowMs: l.dedupWindowMs,
    },
  };
  if ('attribution' in l) {
    out.container = l.container ? { ...l.container } : null;
    out.pod = l.pod ? { ...l.pod, labels: { ...l.pod.labels } } : null;
    out.attribution = { ...l.attribution };
  }
  return out;
}

/** The JSON form of any decoded record. */
export function toJsonForm(d: Decoded): Record<string, unknown> {
  switch (d.schema) {
    case 'RawConnectEvent': return rawToJson(d.value);
    case 'AuditRecord': return auditToJson(d.value);
    case 'CaptureLoss': return captureLossToJson(d.value);
    case 'DnsLookup': case 'AuditDnsLookup': return lookupToJson(d.value);
    case 'ContainerMeta': {
      const m = d.value;
      return {
        containerId: m.containerId, node: m.node, runtime: m.runtime, time: isoNanos(m.time),
        firstSeen: isoNanos(m.firstSeen), validFrom: isoNanos(m.validFrom),
        deletedTime: m.deletedTime === null ? null : isoNanos(m.deletedTime),
        name: m.name, image: m.image, hostname: m.hostname, isSandbox: m.isSandbox, sandboxId: m.sandboxId,
        pod: m.pod, networkMode: m.networkMode, utsMode: m.utsMode, cgroupPaths: m.cgroupPaths, origin: m.origin, bounded: m.bounded, note: m.note,
      };
    }
  }
}
