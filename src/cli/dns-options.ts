// SPDX-License-Identifier: Apache-2.0
// `podtrail capture`'s DNS options (issue 15): whether to watch DNS answers in the kernel,
// which ports are DNS, and what the operator knows that packets cannot say (the cluster's
// resolvers, extra DoH resolvers). Addresses are kept in the text form
// records use (formatAddr), so they compare equal to what capture reads off the wire.
import { formatAddr, parseAddr } from '../schema/addr.js';
import type { OptValues } from '../common/options.js';
import { CAPTURE_DEFAULTS, CAPTURE_LIMITS } from '../capture/native-binding.js';
import { DNS_CAPTURE_DEFAULTS, type DnsCaptureOptions } from '../capture/dns-capture.js';

function canonical(ip: string): string | undefined {
  try {
    return formatAddr(parseAddr(ip));
  } catch {
    return undefined;
  }
}

const ipList = (v: string[]) => {
  const bad = v.find((x) => canonical(x) === undefined);
  return bad === undefined ? undefined : `not an IP address: ${JSON.stringify(bad)}`;
};

const portList = (v: string[]) => {
  const { min, max } = CAPTURE_LIMITS.dnsPorts;
  if (v.length < min || v.length > max) return `${min} to ${max} ports`;
  const bad = v.find((x) => !/^\d{1,5}$/.test(x) || Number(x) < 1 || Number(x) > 65535);
  return bad === undefined ? undefined : `not a port: ${JSON.stringify(bad)}`;
};


export const DNS_OPTIONS = {
  dns: { type: 'enum', choices: ['on', 'off'], default: 'off', desc: 'name each destination from the pod\'s own DNS answers, and publish lookups (cgroup programs at the host\'s cgroup v2 root: needs CAP_NET_ADMIN)', env: 'PODTRAIL_DNS' },
  'dns-port': { type: 'list', arg: 'PORTS', default: CAPTURE_DEFAULTS.dnsPorts.map(String), desc: 'destination ports that make a socket a DNS socket (at most 8)', env: 'PODTRAIL_DNS_PORT', check: portList },
  'dns-resolver': { type: 'list', arg: 'IPS', default: [] as string[], desc: 'the cluster\'s resolvers (kube-dns ClusterIP, node-local cache; the resolver pods\' own addresses under socket-level load balancing): their answers get trust "resolver"', env: 'PODTRAIL_DNS_RESOLVER', check: ipList },
  'doh-resolver': { type: 'list', arg: 'IPS', default: [] as string[], desc: 'DNS-over-HTTPS resolvers to flag as encryptedDns on 443, besides the well-known public ones', env: 'PODTRAIL_DOH_RESOLVER', check: ipList },
  'dns-dedup-window': { type: 'int', arg: 'MS', min: 0, max: 86_400_000, default: DNS_CAPTURE_DEFAULTS.dedupMs, desc: 'publish a lookup once per process, name and answer set per window; repeats are counted on the next', env: 'PODTRAIL_DNS_DEDUP_WINDOW' },
} as const;

/** The kernel side's DNS options and DnsCapture's, from the parsed command line. */
export function dnsConfigFrom(v: OptValues<typeof DNS_OPTIONS>): { kernel: { dns: boolean; dnsPorts: number[] }; capture: Partial<DnsCaptureOptions> | undefined } {
  const on = v.dns === 'on';
  return {
    kernel: { dns: on, dnsPorts: (v['dns-port'] as string[]).map(Number) },
    capture: on ? {
      resolvers: (v['dns-resolver'] as string[]).map((x) => canonical(x)!),
      dohResolvers: (v['doh-resolver'] as string[]).map((x) => canonical(x)!),
      dedupMs: v['dns-dedup-window'] as number,
    } : undefined,
  };
}
