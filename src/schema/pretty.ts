// SPDX-License-Identifier: Apache-2.0
// One human line per record, for `--format pretty`. Not a contract; JSON is.
import { formatAddr } from './addr.js';
import { isoNanos } from './json-form.js';
import type { Decoded } from './codec.js';
import type { Endpoint, Process } from './types.js';
import { lossText } from './loss-text.js';
import { qtypeName, rcodeName, safeDnsName } from './dns-text.js';

const ep = (e: Endpoint | null, family: string | null) =>
  e ? (family === 'IPv6' ? `[${formatAddr(e.addr)}]:${e.port}` : `${formatAddr(e.addr)}:${e.port}`) : '?';

/** The destination with what is known of it: ` (name)`, then the pod or service and the scope. */
function dstText(e: Endpoint | null, family: string | null): string {
  let s = ep(e, family);
  if (!e) return s;
  if (e.name) s += ` (${safeDnsName(e.name.name)}${e.name.cnames.length ? ` via ${e.name.cnames.map(safeDnsName).join('>')}` : ''}, ${e.name.trust})`;
  if (e.pod) s += ` pod ${e.pod.namespace}/${e.pod.name}`;
  else if (e.service) s += ` svc ${e.service.namespace}/${e.service.name}`;
  if (e.scope) s += ` [${e.scope}]`;
  return s;
}

const who = (pod: { namespace: string | null; name: string | null; hostNetwork: boolean } | null, container: { name: string | null; id: string } | null) =>
  pod ? `pod ${pod.namespace ?? '?'}/${pod.name ?? '?'}${pod.hostNetwork ? ' (hostNetwork)' : ''}`
    : container ? `container ${container.name ?? container.id.slice(0, 12)}` : 'host';

/**
 * The process as ` exe=<path> args=[a b ...] parent=comm[pid] flags=A,B`, each part only when
 * known. The strings are record text (no control characters); a space inside an argument
 * shows as it is, within the brackets.
 */
function identity(p: Process): string {
  let s = '';
  if (p.exe !== null) s += ` exe=${p.exe}`;
  if (p.args.length) s += ` args=[${p.args.join(' ')}${p.argsTruncated ? ' ...' : ''}]`;
  if (p.parent) s += ` parent=${p.parent.comm}[${p.parent.pid}]`;
  if (p.exeFlags.length) s += ` flags=${p.exeFlags.join(',')}`;
  return s;
}

export function toPretty(d: Decoded): string {
  switch (d.schema) {
    case 'RawConnectEvent': {
      const r = d.value;
      return `${isoNanos(r.time)} ${r.node} #${r.seq} ${r.protocol} ${ep(r.src, r.family)} -> ${dstText(r.dst, r.family)}${r.encryptedDns ? ' encrypted-dns' : ''} ` +
        `${r.result.status}${r.result.errno ? `(${r.result.errno})` : ''} ${r.process.comm}[${r.process.pid}]${identity(r.process)} ` +
        `uts=${r.utsName} cgroup=${r.cgroup.path}`;
    }
    case 'AuditRecord': {
      const a = d.value;
      if (a.attribution.status === 'LOSS') {
        const l = a.loss;
        return `${isoNanos(a.time)} ${a.node} LOSS ${l ? `${lossText(l, 'lost')}, ${l.cause}` : ''}`;
      }
      const ctr = a.pod && a.container?.name ? ` container ${a.container.name}` : '';
      return `${isoNanos(a.time)} ${a.node} ${a.protocol} ${ep(a.src, a.family)} -> ${dstText(a.dst, a.family)}${a.encryptedDns ? ' encrypted-dns' : ''} ` +
        `${a.result?.status ?? '?'} ${a.process?.comm ?? '?'}[${a.process?.pid ?? '?'}]${a.process ? identity(a.process) : ''} ${who(a.pod, a.container)}${ctr} ` +
        `[${a.attribution.status}${a.attribution.source ? `/${a.attribution.source}` : ''}` +
        `${a.attribution.reason ? `: ${a.attribution.reason}` : ''}]`;
    }
    case 'CaptureLoss': {
      const l = d.value;
      return `${isoNanos(l.time)} ${l.node} LOSS ${lossText(l, 'lost')}, ${l.cause}`;
    }
    case 'DnsLookup': case 'AuditDnsLookup': {
      const l = d.value;
      const answers = l.answers.map((x) => `${qtypeName(x.type)} ${safeDnsName(x.data)}`).join(', ');
      const attributed = 'attribution' in l ? ` ${who(l.pod, l.container)} [${l.attribution.status}${l.attribution.source ? `/${l.attribution.source}` : ''}]` : ` cgroup=${l.cgroup.path}`;
      return `${isoNanos(l.time)} ${l.node} #${l.seq} DNS ${qtypeName(l.qtype)} ${safeDnsName(l.query)} -> ${rcodeName(l.rcode)}${answers ? ` ${answers}` : ''}` +
        `${l.truncated ? ' truncated' : ''} from ${dstText(l.dst, l.family)} ${l.trust}${l.count > 1n ? ` x${l.count}` : ''} ` +
        `${l.process.comm}[${l.process.pid}]${identity(l.process)}${attributed}`;
    }
    case 'ContainerMeta': {
      const m = d.value;
      return `${isoNanos(m.time)} ${m.node} container ${m.containerId.slice(0, 12)} ${m.name ?? ''} ` +
        `${m.pod ? `pod ${m.pod.namespace}/${m.pod.name}` : ''}${m.deletedTime !== null ? ' (deleted)' : ''}`;
    }
  }
}
