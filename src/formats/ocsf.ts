// SPDX-License-Identifier: Apache-2.0
// OCSF Network Activity (class_uid 4001) from an audit record. Checked against the OCSF
// schema files in test/fixtures/ocsf (required attributes, types, enums, constraints).
//
// Where things go, and why:
// - actor.process carries the connecting process; its container (OCSF's container
//   profile) carries the container and the pod UID. The process's user is in
//   actor.process.user and actor.user (uid as a string, as OCSF's user.uid is).
// - process.uid is OCSF's "unique identifier assigned by the producer", not the user id:
//   "<node>:<boot-time start ns>:<pid>", stable for one process within one boot.
// - image.uid is required by OCSF; records carry only the image reference the runtime
//   reported, so uid is its digest when it has one and the whole reference otherwise.
// - pod_uuid is uuid_t: static pods' 32-hex config-hash UIDs do not fit and stay in
//   unmapped.pod.uid only.
// - OCSF's container has labels ("k=v" strings, the pod's labels) and orchestrator
//   (Kubernetes); it has no pod or workload object. Pod name, namespace, labels, workload
//   {kind, name}, the --pod-annotations annotations, IPs, hostNetwork and podtrail's own fields
//   (attribution, cgroup, namespaces, seq, loss) go in `unmapped`, under their names in the JSON form.
// - LOSS records stay in class 4001 so a query on the class sees the gaps: activity
//   Other (99), status Failure, severity Medium (missed audit data is a control failure),
//   `count` the number of connections missed, start_time/end_time their span, and
//   src_endpoint the node (the Network category requires src_endpoint or dst_endpoint).
// - Process identity: actor.process.file {name, path, type_id 1} from exe, cmd_line (argv
//   joined, src/formats/process-view.ts; '' when unknown, as OCSF asks), parent_process the
//   parent image that started it (pid, name, file), ancestry (process_entity: pid, name, path;
//   nearest first) and lineage (OCSF's older list of ancestors' paths, oldest first, ending
//   with the process's own; '' for one whose executable is unknown). exeFlags, argsTruncated
//   and the process key have no OCSF attribute: unmapped.process.
import { isoNanos, jsonLong } from '../schema/json-form.js';
import type { Decoded } from '../schema/codec.js';
import type { AuditDnsLookup, AuditRecord, Container, DnsLookup, Pod } from '../schema/types.js';
import { PRODUCT, errnoName, flowOf, lookupAsAudit, nsToMs, outcomeOf, productVersion, siemRecord } from './record.js';
import { destinationView, ocsfDestination } from './destination.js';
import { qtypeName, rcodeName, safeDnsName } from '../schema/dns-text.js';
import { lossCountKnown, lossText } from '../schema/loss-text.js';
import { baseName, commandLine } from './process-view.js';

/** The OCSF schema version the mapping is checked against (test/fixtures/ocsf). */
export const OCSF_VERSION = '1.9.0-dev';
export const NETWORK_ACTIVITY = 4001;
export const DNS_ACTIVITY = 4003;
const CATEGORY_NETWORK = 4;

const ACTIVITY = { Open: 1, Fail: 4, Refuse: 5, Other: 99 } as const;
type ActivityName = keyof typeof ACTIVITY;

const SEVERITY = { 1: 'Informational', 3: 'Medium' } as const;
const STATUS = { 0: 'Unknown', 1: 'Success', 2: 'Failure' } as const;

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function activityOf(a: AuditRecord): ActivityName {
  if (a.attribution.status === 'LOSS') return 'Other';
  switch (a.result?.status) {
    case 'OK': case 'INPROGRESS': return 'Open';
    case 'REFUSED': return 'Refuse';
    default: return 'Fail';
  }
}

/** "repo/name:tag", "repo/name@sha256:..", or a bare image ID, split the way OCSF's image wants. */
export function splitImage(ref: string): { name?: string; tag?: string; uid: string } {
  const at = ref.indexOf('@');
  if (at > 0) {
    const name = ref.slice(0, at);
    const colon = name.lastIndexOf(':');
    const tagged = colon > name.lastIndexOf('/');
    return { name: tagged ? name.slice(0, colon) : name, ...(tagged ? { tag: name.slice(colon + 1) } : {}), uid: ref.slice(at + 1) };
  }
  if (/^sha256:[0-9a-f]{64}$/.test(ref)) return { uid: ref };
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1), uid: ref };
  return { name: ref, uid: ref };
}

function container(c: Container, pod: Pod | null): Record<string, unknown> {
  const out: Record<string, unknown> = { uid: c.id };
  if (c.name) out.name = c.name;
  if (c.image) out.image = splitImage(c.image);
  if (c.runtime) out.runtime = c.runtime;
  if (pod) {
    out.orchestrator = 'Kubernetes';
    if (pod.uid && UUID.test(pod.uid)) out.pod_uuid = pod.uid;
    const labels = Object.entries(pod.labels).map(([k, v]) => `${k}=${v}`);
    if (labels.length) out.labels = labels;
  }
  return out;
}

/** OCSF's file object for an executable's path (a memfd's "/memfd:name" too: it is a regular file). */
function fileOf(path: string): Record<string, unknown> {
  return { name: baseName(path), path, type_id: 1, type: 'Regular File' };
}

function unmapped(a: AuditRecord, enriched: boolean): Record<string, unknown> {
  const u: Record<string, unknown> = { node: a.node, instance: a.instance, seq: jsonLong(a.seq) };
  if (enriched) u.attribution = { ...a.attribution };
  if (a.pod) {
    u.pod = {
      name: a.pod.name, namespace: a.pod.namespace, uid: a.pod.uid, labels: { ...a.pod.labels }, hostNetwork: a.pod.hostNetwork,
      workload: a.pod.workload ? { kind: a.pod.workload.kind, name: a.pod.workload.name } : null,
      annotations: { ...a.pod.annotations }, ips: [...a.pod.ips],
    };
  }
  if (a.cgroup) u.cgroup = { id: jsonLong(a.cgroup.id), path: a.cgroup.path };
  for (const k of ['netns', 'mntns', 'pidns'] as const) if (a[k] !== null) u[k] = jsonLong(a[k] as bigint);
  if (a.utsName !== null) u.utsName = a.utsName;
  if (a.process) {
    const p = a.process;
    u.process = {
      gid: jsonLong(p.gid), startTime: jsonLong(p.startTime), key: jsonLong(p.key), exeFlags: [...p.exeFlags], argsTruncated: p.argsTruncated,
      // The parent in parent_process is the one that started the image; the current one, when it differs, is here.
      ...(p.parent && p.parent.pid !== p.ppid ? { ppid: p.ppid } : {}),
    };
  }
  if (a.result) u.result = { status: a.result.status, errno: a.result.errno };
  if (a.loss) {
    u.loss = {
      instance: a.loss.instance, fromSeq: jsonLong(a.loss.fromSeq), toSeq: jsonLong(a.loss.toSeq), count: jsonLong(a.loss.count), cause: a.loss.cause,
      firstTime: a.loss.firstTime === null ? null : isoNanos(a.loss.firstTime), lastTime: a.loss.lastTime === null ? null : isoNanos(a.loss.lastTime),
    };
  }
  return u;
}

export function toOcsf(a: AuditRecord, enriched = true): Record<string, unknown> {
  const activity = activityOf(a);
  const activityId = ACTIVITY[activity];
  const loss = a.attribution.status === 'LOSS';
  const outcome = outcomeOf(a.result?.status);
  const statusId = loss ? 2 : outcome === 'success' ? 1 : outcome === 'failure' ? 2 : 0;
  const severityId = loss ? 3 : 1;
  const ev: Record<string, unknown> = {
    activity_id: activityId,
    activity_name: loss ? 'Loss' : activity,
    category_uid: CATEGORY_NETWORK,
    category_name: 'Network Activity',
    class_uid: NETWORK_ACTIVITY,
    class_name: 'Network Activity',
    type_uid: NETWORK_ACTIVITY * 100 + activityId,
    type_name: `Network Activity: ${loss ? 'Other' : activity}`,
    severity_id: severityId,
    severity: SEVERITY[severityId],
    time: nsToMs(a.time),
    status_id: statusId,
    status: STATUS[statusId],
    metadata: {
      product: { name: PRODUCT.name, vendor_name: PRODUCT.vendor, version: productVersion() },
      version: OCSF_VERSION,
      uid: a.eventId,
      profiles: ['host', 'container'],
    },
    device: { hostname: a.node, name: a.node, type_id: 1, type: 'Server' },
  };
  if (loss && a.loss) {
    const l = a.loss;
    if (lossCountKnown(l)) ev.count = Number(l.count > 2_147_483_647n ? 2_147_483_647n : l.count);
    if (l.firstTime !== null) ev.start_time = nsToMs(l.firstTime);
    if (l.lastTime !== null) ev.end_time = nsToMs(l.lastTime);
    ev.status_detail = `connections not captured: ${l.cause}`;
    ev.message = `${lossText(l, `not captured on ${a.node}`)} (${l.cause})`;
  }
  // The Network category needs an endpoint; the missed connections all left this node.
  if (loss) ev.src_endpoint = { hostname: a.node, name: a.node };
  const flow = flowOf(a);
  let dstUnmapped: Record<string, unknown> | undefined;
  if (flow) {
    ev.src_endpoint = { ...(flow.srcIp ? { ip: flow.srcIp } : {}), port: flow.srcPort };
    const dst = ocsfDestination(destinationView(a.dst, a.encryptedDns));
    ev.dst_endpoint = { ...(flow.dstIp ? { ip: flow.dstIp } : {}), port: flow.dstPort, ...dst.endpoint };
    if (Object.keys(dst.unmapped).length) dstUnmapped = dst.unmapped;
    ev.connection_info = {
      direction_id: 2, direction: 'Outbound',
      protocol_name: flow.transport, protocol_num: flow.ianaNumber,
      protocol_ver_id: flow.ipVersion, protocol_ver: flow.ipVersion === 4 ? 'Internet Protocol version 4 (IPv4)' : 'Internet Protocol version 6 (IPv6)',
      ...(flow.communityId ? { community_uid: flow.communityId } : {}),
    };
  }
  if (a.result) {
    ev.status_code = a.result.errno ? errnoName(a.result.errno) : a.result.status;
    ev.status_detail = a.result.status;
  }
  if (a.process) {
    const p = a.process;
    const user = { uid: String(p.uid) };
    ev.actor = {
      process: {
        pid: p.pid, tid: p.tid, name: p.comm,
        uid: `${a.node}:${p.startTime}:${p.pid}`,
        ...(p.nsPid > 0 ? { namespace_pid: p.nsPid } : {}),
        ...(p.exe !== null ? { file: fileOf(p.exe) } : {}),
        cmd_line: commandLine(p),
        parent_process: p.parent
          ? { pid: p.parent.pid, name: p.parent.comm, ...(p.parent.exe !== null ? { file: fileOf(p.parent.exe) } : {}) }
          : { pid: p.ppid },
        ...(p.ancestry.length ? { ancestry: p.ancestry.map((x) => ({ pid: x.pid, name: x.comm, ...(x.exe !== null ? { path: x.exe } : {}) })) } : {}),
        ...(p.ancestry.length && p.exe !== null ? { lineage: [...p.ancestry.map((x) => x.exe ?? '').reverse(), p.exe] } : {}),
        user,
        ...(a.container ? { container: container(a.container, a.pod) } : {}),
      },
      user,
    };
    if (!ev.message && flow) {
      const who = a.pod ? `pod ${a.pod.namespace ?? '?'}/${a.pod.name ?? '?'}` : a.container ? `container ${a.container.name ?? a.container.id.slice(0, 12)}` : `host ${a.node}`;
      ev.message = `${p.comm}[${p.pid}] in ${who} ${flow.transport} ${flow.dstIp}:${flow.dstPort} ${a.result?.status ?? ''}`.trimEnd();
    }
  }
  ev.unmapped = unmapped(a, enriched);
  if (dstUnmapped) (ev.unmapped as Record<string, unknown>).dst = dstUnmapped;
  return ev;
}

/** OCSF's rcode_id captions (RFC 6895); other codes are Other (99), their name in rcode. */
const RCODE_CAPTION: Record<number, string> = {
  0: 'NoError', 1: 'FormError', 2: 'ServError', 3: 'NXDomain', 4: 'NotImp', 5: 'Refused', 6: 'YXDomain', 7: 'YXRRSet',
  8: 'NXRRSet', 9: 'NotAuth', 10: 'NotZone', 11: 'DSOTYPENI', 16: 'BADVERS', 17: 'BADKEY', 18: 'BADTIME', 19: 'BADMODE',
  20: 'BADNAME', 21: 'BADALG', 22: 'BADTRUNC', 23: 'BADCOOKIE',
};
const TYPE_CNAME = 5;

/**
 * OCSF DNS Activity (class_uid 4003), activity Response: capture reports a lookup when its
 * answer reaches the socket. The process, container and endpoints map as for a connect (the
 * server is dst_endpoint, its pod or service and scope as for a connect's destination);
 * query {hostname, type, class}, answers {class, type, rdata, ttl} (each answer's owner name
 * has no OCSF attribute: unmapped.dns.answers), rcode_id/rcode, status Success for NOERROR.
 * Folded repeats: count, start_time, end_time. Trust and the folding window: unmapped.dns.
 */
export function toOcsfDns(l: DnsLookup | AuditDnsLookup, enriched = true): Record<string, unknown> {
  const ev = toOcsf(lookupAsAudit(l), enriched);
  const ok = l.rcode === 0;
  const caption = RCODE_CAPTION[l.rcode];
  const query = safeDnsName(l.query);
  const answers = l.answers.map((x) => ({ name: safeDnsName(x.name), type: qtypeName(x.type), data: x.type === TYPE_CNAME ? safeDnsName(x.data) : safeDnsName(x.data), ttl: x.ttl }));
  Object.assign(ev, {
    activity_id: 2, activity_name: 'Response',
    class_uid: DNS_ACTIVITY, class_name: 'DNS Activity',
    type_uid: DNS_ACTIVITY * 100 + 2, type_name: 'DNS Activity: Response',
    status_id: ok ? 1 : 2, status: ok ? 'Success' : 'Failure', status_code: rcodeName(l.rcode),
    query: { hostname: query, type: qtypeName(l.qtype), class: 'IN' },
    answers: answers.map((x) => ({ class: 'IN', type: x.type, rdata: x.data, ttl: x.ttl })),
    rcode_id: caption === undefined ? 99 : l.rcode,
    rcode: caption ?? rcodeName(l.rcode),
    response_time: nsToMs(l.time),
  });
  if (l.truncated) ev.flag_ids = [2];
  if (l.count > 1n) {
    ev.count = Number(l.count > 2_147_483_647n ? 2_147_483_647n : l.count);
    if (l.firstTime !== null) ev.start_time = nsToMs(l.firstTime);
    if (l.lastTime !== null) ev.end_time = nsToMs(l.lastTime);
  }
  const who = l.process.comm + `[${l.process.pid}]` + ('attribution' in l && l.pod ? ` in pod ${l.pod.namespace ?? '?'}/${l.pod.name ?? '?'}` : '');
  ev.message = `${who} resolved ${qtypeName(l.qtype)} ${query}: ${rcodeName(l.rcode)}${answers.length ? ` ${answers.map((x) => x.data).join(', ')}` : ''}`;
  (ev.unmapped as Record<string, unknown>).dns = {
    trust: l.trust, count: jsonLong(l.count), dedupWindowMs: l.dedupWindowMs, truncated: l.truncated,
    answers: answers.map((x) => ({ name: x.name, type: x.type, data: x.data })),
  };
  return ev;
}

/** Decoded record -> OCSF event; DecodeError for a schema with no SIEM form. */
export function decodedToOcsf(d: Decoded): Record<string, unknown> {
  const { rec, enriched, lookup } = siemRecord(d);
  return lookup ? toOcsfDns(lookup, enriched) : toOcsf(rec, enriched);
}
