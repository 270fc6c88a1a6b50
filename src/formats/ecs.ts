// SPDX-License-Identifier: Apache-2.0
// Elastic Common Schema documents from audit records, as nested objects (what Elastic's
// Kafka Connect sink and ingest pipelines index). Field names and types are checked
// against ECS's own definitions in test/fixtures/ecs.
//
// - event.type is [connection, start] for a connect that succeeded, [connection] otherwise;
//   event.outcome success|failure|unknown (INPROGRESS: the end was not observed).
// - container.labels holds the pod's labels: the pod is what Kubernetes labels, and ECS has
//   no pod-label field besides orchestrator.resource.label (keyword "k=v" array, also set).
// - orchestrator.resource.parent.type is the workload kind, .annotation the annotations kept by
//   --pod-annotations ("k=v", as .label), .ip the pod's IPs.
// - `kubernetes.*` is written as Elastic Agent's (Beats') kubernetes processor writes it, so its
//   dashboards and rules work: kubernetes.pod.{name,uid,ip}, kubernetes.namespace,
//   kubernetes.node.name, kubernetes.container.name, kubernetes.labels.* and
//   kubernetes.annotations.* with dots in keys turned into `_` (the processor's default
//   labels.dedot / annotations.dedot), and kubernetes.<deployment|replicaset|statefulset|
//   daemonset|job|cronjob>.name from the inferred workload. It is not ECS: the fields are
//   listed in test/fixtures/ecs/kubernetes_fields.json.
// - Fields ECS lacks live under `podtrail.*` (attribution, cgroup, namespaces, loss): a
//   custom top-level name, as ECS advises, that no future ECS field will collide with.
// - Process identity: process.executable, .args, .args_count, .command_line (argv joined,
//   src/formats/process-view.ts), process.parent.{pid,name,executable} (the parent image that
//   started it). ECS has no ancestry or exe-flag field: podtrail.process.{ancestry, exeFlags,
//   argsTruncated, key}.
// - LOSS records: event.kind event, category network, type [info], outcome failure,
//   action "capture-loss", with podtrail.loss saying how many and which sequence numbers.
import { isoNanos, jsonLong } from '../schema/json-form.js';
import type { Decoded } from '../schema/codec.js';
import type { AuditDnsLookup, AuditRecord, DnsLookup } from '../schema/types.js';
import { splitImage } from './ocsf.js';
import { PRODUCT, errnoName, flowOf, lookupAsAudit, outcomeOf, productVersion, siemRecord } from './record.js';
import { destinationView, ecsDestination } from './destination.js';
import { qtypeName, rcodeName, safeDnsName } from '../schema/dns-text.js';
import { lossText } from '../schema/loss-text.js';
import { commandLine } from './process-view.js';

/** The released ECS version whose fields we use (all of them exist since ECS 8.x). */
export const ECS_VERSION = '8.17.0';

export function toEcs(a: AuditRecord, enriched = true): Record<string, unknown> {
  const loss = a.attribution.status === 'LOSS';
  const outcome = loss ? 'failure' : outcomeOf(a.result?.status);
  const doc: Record<string, unknown> = {
    '@timestamp': isoNanos(a.time),
    ecs: { version: ECS_VERSION },
    event: {
      kind: 'event',
      category: ['network'],
      type: loss ? ['info'] : outcome === 'success' ? ['connection', 'start'] : ['connection'],
      outcome,
      action: loss ? 'capture-loss' : 'connect',
      id: a.eventId,
      // ECS long: beyond 2^53 a JSON number loses digits, so such a seq goes to podtrail.seq.
      ...(typeof jsonLong(a.seq) === 'number' ? { sequence: jsonLong(a.seq) } : {}),
      module: 'podtrail',
      dataset: 'podtrail.audit',
      provider: PRODUCT.name,
      ...(a.result && a.result.status !== 'OK' ? { reason: a.result.errno ? `${a.result.status} (${errnoName(a.result.errno)})` : a.result.status } : {}),
      ...(loss && a.loss ? { reason: `${lossText(a.loss, 'not captured')}: ${a.loss.cause}` } : {}),
    },
    host: { name: a.node, hostname: a.node },
    observer: { product: PRODUCT.name, vendor: PRODUCT.vendor, version: productVersion(), type: 'sensor', hostname: a.node },
  };
  const flow = flowOf(a);
  let dstExtras: Record<string, unknown> | undefined;
  if (flow) {
    doc.source = { ...(flow.srcIp ? { ip: flow.srcIp, address: flow.srcIp } : {}), port: flow.srcPort };
    const dst = ecsDestination(destinationView(a.dst, a.encryptedDns));
    doc.destination = { ...(flow.dstIp ? { ip: flow.dstIp, address: flow.dstIp } : {}), port: flow.dstPort, ...dst.destination };
    if (Object.keys(dst.podtrail).length) dstExtras = dst.podtrail;
    doc.network = {
      transport: flow.transport, type: flow.ipVersion === 4 ? 'ipv4' : 'ipv6', iana_number: String(flow.ianaNumber),
      direction: 'egress', ...(flow.communityId ? { community_id: flow.communityId } : {}),
    };
    const ips = [flow.srcIp, flow.dstIp].filter((x): x is string => x !== undefined);
    if (ips.length) doc.related = { ip: [...new Set(ips)] };
  }
  if (a.process) {
    const p = a.process;
    doc.process = {
      pid: p.pid, name: p.comm, entity_id: `${a.node}:${p.startTime}:${p.pid}`,
      ...(p.nsPid > 0 ? { vpid: p.nsPid } : {}),
      thread: { id: p.tid },
      ...(p.exe !== null ? { executable: p.exe } : {}),
      ...(p.args.length ? { args: [...p.args], args_count: p.args.length, command_line: commandLine(p) } : {}),
      parent: p.parent
        ? { pid: p.parent.pid, name: p.parent.comm, ...(p.parent.exe !== null ? { executable: p.parent.exe } : {}) }
        : { pid: p.ppid },
      user: { id: String(p.uid) },
      group: { id: String(p.gid) },
    };
    doc.user = { id: String(p.uid) };
    doc.group = { id: String(p.gid) };
  }
  if (a.container) {
    const c = a.container;
    const img = c.image ? splitImage(c.image) : undefined;
    doc.container = {
      id: c.id,
      ...(c.name ? { name: c.name } : {}),
      ...(img ? { image: { name: img.name ?? c.image, ...(img.tag ? { tag: [img.tag] } : {}) } } : {}),
      ...(c.runtime ? { runtime: c.runtime } : {}),
      ...(a.pod && Object.keys(a.pod.labels).length ? { labels: { ...a.pod.labels } } : {}),
    };
  }
  if (a.pod) {
    const pod = a.pod;
    const labels = Object.entries(pod.labels).map(([k, v]) => `${k}=${v}`);
    const annotations = Object.entries(pod.annotations).map(([k, v]) => `${k}=${v}`);
    doc.orchestrator = {
      type: 'kubernetes',
      ...(pod.namespace ? { namespace: pod.namespace } : {}),
      resource: {
        type: 'pod',
        ...(pod.name ? { name: pod.name } : {}),
        ...(pod.uid ? { id: pod.uid } : {}),
        ...(labels.length ? { label: labels } : {}),
        ...(annotations.length ? { annotation: annotations } : {}),
        ...(pod.ips.length ? { ip: [...pod.ips] } : {}),
        ...(pod.workload ? { parent: { type: pod.workload.kind } } : {}),
      },
    };
    doc.kubernetes = kubernetesFields(a);
  }
  const pt: Record<string, unknown> = { node: a.node, instance: a.instance };
  if (typeof jsonLong(a.seq) === 'string') pt.seq = jsonLong(a.seq);
  if (enriched) pt.attribution = { ...a.attribution };
  if (a.pod) pt.hostNetwork = a.pod.hostNetwork;
  if (a.result) pt.result = { status: a.result.status, errno: a.result.errno };
  if (a.cgroup) pt.cgroup = { id: jsonLong(a.cgroup.id), path: a.cgroup.path };
  for (const k of ['netns', 'mntns', 'pidns'] as const) if (a[k] !== null) pt[k] = jsonLong(a[k] as bigint);
  if (a.utsName !== null) pt.utsName = a.utsName;
  if (a.process) {
    const p = a.process;
    pt.process = {
      key: jsonLong(p.key), exeFlags: [...p.exeFlags], argsTruncated: p.argsTruncated,
      ancestry: p.ancestry.map((x) => ({ pid: x.pid, name: x.comm, executable: x.exe })),
      ...(p.parent && p.parent.pid !== p.ppid ? { ppid: p.ppid } : {}),
    };
  }
  if (a.loss) {
    pt.loss = {
      fromSeq: jsonLong(a.loss.fromSeq), toSeq: jsonLong(a.loss.toSeq), count: jsonLong(a.loss.count), cause: a.loss.cause,
      firstTime: a.loss.firstTime === null ? null : isoNanos(a.loss.firstTime), lastTime: a.loss.lastTime === null ? null : isoNanos(a.loss.lastTime),
    };
  }
  if (dstExtras) pt.destination = dstExtras;
  doc.podtrail = pt;
  return doc;
}

/**
 * A DNS lookup as an ECS document: the connect mapping for identity and endpoints (the server
 * is destination.*), then dns.* as a full exchange (dns.type answer): question, answers
 * (name, type, class, data, ttl), resolved_ip, response_code, header_flags TC when truncated.
 * event.type [protocol, info], action dns-lookup, outcome success for NOERROR. Trust and
 * folded repeats: podtrail.dns.
 */
export function toEcsDns(l: DnsLookup | AuditDnsLookup, enriched = true): Record<string, unknown> {
  const doc = toEcs(lookupAsAudit(l), enriched);
  const ok = l.rcode === 0;
  const event = doc.event as Record<string, unknown>;
  Object.assign(event, { type: ['protocol', 'info'], action: 'dns-lookup', outcome: ok ? 'success' : 'failure' });
  if (!ok) event.reason = rcodeName(l.rcode);
  (doc.network as Record<string, unknown>).protocol = 'dns';
  const answers = l.answers.map((x) => ({ name: safeDnsName(x.name), type: qtypeName(x.type), class: 'IN', data: safeDnsName(x.data), ttl: x.ttl }));
  const resolved = l.answers.filter((x) => x.type === 1 || x.type === 28).map((x) => x.data);
  doc.dns = {
    type: 'answer',
    question: { name: safeDnsName(l.query), type: qtypeName(l.qtype), class: 'IN' },
    response_code: rcodeName(l.rcode),
    ...(answers.length ? { answers } : {}),
    ...(resolved.length ? { resolved_ip: resolved } : {}),
    ...(l.truncated ? { header_flags: ['TC'] } : {}),
  };
  if (resolved.length) {
    const related = (doc.related ?? {}) as { ip?: string[] };
    related.ip = [...new Set([...(related.ip ?? []), ...resolved])];
    doc.related = related;
  }
  (doc.podtrail as Record<string, unknown>).dns = {
    trust: l.trust, count: jsonLong(l.count), dedupWindowMs: l.dedupWindowMs,
    firstTime: l.firstTime === null ? null : isoNanos(l.firstTime), lastTime: l.lastTime === null ? null : isoNanos(l.lastTime),
  };
  return doc;
}

/** Keys with dots become `_`, as the kubernetes processor's dedot does, so `app.kubernetes.io/name` is one field. */
function dedot(m: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) Object.defineProperty(out, k.replaceAll('.', '_'), { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

const WORKLOAD_FIELD = { Deployment: 'deployment', StatefulSet: 'statefulset', DaemonSet: 'daemonset', Job: 'job', CronJob: 'cronjob' } as const;

function kubernetesFields(a: AuditRecord): Record<string, unknown> {
  const pod = a.pod!;
  const k: Record<string, unknown> = {
    pod: { ...(pod.name ? { name: pod.name } : {}), ...(pod.uid ? { uid: pod.uid } : {}), ...(pod.ips[0] ? { ip: pod.ips[0] } : {}) },
    node: { name: a.node },
  };
  if (pod.namespace) k.namespace = pod.namespace;
  if (a.container?.name) k.container = { name: a.container.name };
  if (Object.keys(pod.labels).length) k.labels = dedot(pod.labels);
  if (Object.keys(pod.annotations).length) k.annotations = dedot(pod.annotations);
  const w = pod.workload;
  if (w && w.kind !== 'Pod') {
    const field = WORKLOAD_FIELD[w.kind as keyof typeof WORKLOAD_FIELD];
    if (field) k[field] = { name: w.name };
    const hash = pod.labels['pod-template-hash'];
    if (w.kind === 'Deployment' && hash) k.replicaset = { name: `${w.name}-${hash}` };
    if (w.kind === 'CronJob') {
      const job = pod.labels['batch.kubernetes.io/job-name'] ?? pod.labels['job-name'];
      if (job) k.job = { name: job };
    }
  }
  return k;
}

export function decodedToEcs(d: Decoded): Record<string, unknown> {
  const { rec, enriched, lookup } = siemRecord(d);
  return lookup ? toEcsDns(lookup, enriched) : toEcs(rec, enriched);
}
