// SPDX-License-Identifier: Apache-2.0
// ArcSight Common Event Format (CEF:0) lines, for syslog-fed SIEMs (ArcSight, QRadar,
// Sentinel's agent). Keys are from the ArcSight CEF key dictionary; what it lacks goes in
// the labelled custom strings cs1..cs6, flexString1 (the attribution), flexString2 (the pod's
// workload as "<kind>/<name>") and numbers cn1..cn2. Labels, annotations and pod IPs have no
// CEF key and stay out of the line.
//
// Process identity: sproc is the executable's path (comm when it is unknown), spid the pid,
// cs6 (label processCommandLine) the command line, cn3 (label exeFlags) the exe flags as bits
// (process-view.ts: DELETED 1, FILELESS 2, MEMFD 4, UPPER_LAYER 8, PATH_TRUNCATED 16,
// UNREACHABLE 32) and cn1 the parent's pid. Ancestry has no CEF key.
//
// The pod UID: every predefined string key that could hold it is taken (cs6 went to the
// command line), so it goes in a custom dictionary extension, named as the CEF guide asks
// (VendornameProductnameExplanatoryKeyName, alphanumeric): PodtrailPodtrailPodUid. ArcSight
// keeps such keys under "Additional Data", Sentinel in AdditionalExtensions; a parser that
// does not know the key keeps the rest of the line.
//
// Signature IDs: connect:<RESULT> (connect:OK, connect:REFUSED, ...) and capture:LOSS.
// Severity (0-10): 1 for a connect that worked or is in progress, 3 for one that failed,
// 7 for a LOSS record (audit data is missing).
import type { Decoded } from '../schema/codec.js';
import type { AuditDnsLookup, AuditRecord, DnsLookup } from '../schema/types.js';
import { PRODUCT, errnoName, flowOf, nsToMs, outcomeOf, productVersion, siemRecord } from './record.js';
import { cefDestination, destinationView } from './destination.js';
import { qtypeName, rcodeName, safeDnsName } from '../schema/dns-text.js';
import { lossCountKnown, lossText } from '../schema/loss-text.js';
import { commandLine, exeFlagBits } from './process-view.js';

/** The pod UID's key: a custom dictionary extension (see above). */
export const POD_UID_KEY = 'PodtrailPodtrailPodUid';

/** Header fields escape backslash and pipe; newlines cannot be in a header field. */
export function cefHeader(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r\n|\r|\n/g, ' ');
}

/** Extension values escape backslash and equals, and write line breaks as \n and \r. */
export function cefValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

function ext(pairs: Array<[string, string | number | undefined | null]>): string {
  return pairs
    .filter((p): p is [string, string | number] => p[1] !== undefined && p[1] !== null && p[1] !== '')
    .map(([k, v]) => `${k}=${cefValue(String(v))}`)
    .join(' ');
}

export function toCef(a: AuditRecord, enriched = true, lookup?: DnsLookup | AuditDnsLookup): string {
  const loss = a.attribution.status === 'LOSS';
  const status = a.result?.status;
  const outcome = lookup ? (lookup.rcode === 0 ? 'success' : 'failure') : loss ? 'failure' : outcomeOf(status);
  const signature = lookup ? `dns:${rcodeName(lookup.rcode)}` : loss ? 'capture:LOSS' : `connect:${status ?? 'UNKNOWN'}`;
  const name = lookup ? 'DNS lookup' : loss ? 'Connections not captured' : outcome === 'failure' ? 'Outbound connection failed' : 'Outbound connection';
  const severity = lookup ? 1 : loss ? 7 : outcome === 'failure' ? 3 : 1;
  const head = ['CEF:0', PRODUCT.vendor, PRODUCT.name, productVersion(), signature, name, String(severity)].map((h, i) => (i === 0 ? h : cefHeader(h)));
  const flow = flowOf(a);
  const v6 = flow?.ipVersion === 6;
  const p = a.process;
  const pairs: Array<[string, string | number | undefined | null]> = [
    ['rt', nsToMs(a.time)],
    ['dvchost', a.node],
    ['externalId', a.eventId],
    ['cat', lookup ? 'podtrail/dns' : loss ? 'podtrail/loss' : 'podtrail/connect'],
    ['outcome', outcome],
  ];
  if (flow) {
    pairs.push(
      v6 ? ['c6a2', flow.srcIp] : ['src', flow.srcIp], ['spt', flow.srcPort],
      v6 ? ['c6a3', flow.dstIp] : ['dst', flow.dstIp], ['dpt', flow.dstPort],
      ['proto', flow.transport.toUpperCase()],
    );
    if (v6) pairs.push(['c6a2Label', 'Source IPv6 Address'], ['c6a3Label', 'Destination IPv6 Address']);
    pairs.push(...cefDestination(destinationView(a.dst, a.encryptedDns)));
  }
  if (lookup) {
    const answers = lookup.answers.map((x) => `${qtypeName(x.type)} ${safeDnsName(x.data)}`).join(', ');
    pairs.push(['msg', `${qtypeName(lookup.qtype)} ${safeDnsName(lookup.query)} ${rcodeName(lookup.rcode)}${answers ? `: ${answers}` : ''}`]);
    if (lookup.count > 1n) pairs.push(['cnt', String(lookup.count)]);
  }
  if (a.result) pairs.push(['reason', a.result.errno ? `${a.result.status} ${errnoName(a.result.errno)}` : a.result.status]);
  if (p) {
    pairs.push(['spid', p.pid], ['sproc', p.exe ?? p.comm], ['suid', String(p.uid)], ['cn1Label', 'ppid'], ['cn1', p.ppid]);
    const line = commandLine(p);
    if (line) pairs.push(['cs6Label', 'processCommandLine'], ['cs6', line]);
    if (p.exeFlags.length) pairs.push(['cn3Label', 'exeFlags'], ['cn3', exeFlagBits(p.exeFlags)]);
  }
  if (a.pod) pairs.push(['cs1Label', 'k8sNamespace'], ['cs1', a.pod.namespace], ['cs2Label', 'k8sPod'], ['cs2', a.pod.name], [POD_UID_KEY, a.pod.uid]);
  if (a.pod?.workload) pairs.push(['flexString2Label', 'k8sWorkload'], ['flexString2', `${a.pod.workload.kind}/${a.pod.workload.name}`]);
  if (a.container) pairs.push(['cs3Label', 'containerId'], ['cs3', a.container.id], ['cs4Label', 'containerName'], ['cs4', a.container.name], ['cs5Label', 'containerImage'], ['cs5', a.container.image]);
  if (enriched) {
    const at = a.attribution;
    pairs.push(['flexString1Label', 'attribution'], ['flexString1', `${at.status}${at.source ? `/${at.source}` : ''}${at.reason ? `: ${at.reason}` : ''}`]);
  }
  if (a.loss) {
    pairs.push(['cnt', lossCountKnown(a.loss) ? String(a.loss.count) : undefined], ['cn2Label', 'fromSeq'], ['cn2', String(a.loss.fromSeq)],
      ['start', a.loss.firstTime !== null ? nsToMs(a.loss.firstTime) : undefined], ['end', a.loss.lastTime !== null ? nsToMs(a.loss.lastTime) : undefined],
      ['msg', `${lossText(a.loss, 'not captured')}, ${a.loss.cause}`]);
  }
  return `${head.join('|')}|${ext(pairs)}`;
}

export function decodedToCef(d: Decoded): string {
  const { rec, enriched, lookup } = siemRecord(d);
  return toCef(rec, enriched, lookup);
}
