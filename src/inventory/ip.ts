// SPDX-License-Identifier: Apache-2.0
// Addresses as numbers, for range checks and for collapsing sets of addresses into CIDR blocks.
// IPv4 lives in 32 bits and IPv6 in 128; a v4-mapped IPv6 address (::ffff:a.b.c.d) counts as
// the IPv4 address it carries, because that is where the connection went.
import { formatAddr, parseAddr } from '../schema/addr.js';

export interface Ip { v: 4 | 6; n: bigint }

/** The address of a text form, or undefined when it is not one (a hostile or damaged record). */
export function parseIp(text: string): Ip | undefined {
  let b: Buffer;
  try {
    b = parseAddr(text);
  } catch {
    return undefined;
  }
  if (b.length === 4) return { v: 4, n: BigInt(b.readUInt32BE(0)) };
  const hi = b.readBigUInt64BE(0);
  const lo = b.readBigUInt64BE(8);
  if (hi === 0n && lo >> 32n === 0xffffn) return { v: 4, n: lo & 0xffffffffn };
  return { v: 6, n: (hi << 64n) | lo };
}

/** Text form of an address, as records write it (formatAddr: dotted IPv4, RFC 5952 IPv6). */
export function formatIp(ip: Ip): string {
  const b = Buffer.alloc(ip.v === 4 ? 4 : 16);
  if (ip.v === 4) b.writeUInt32BE(Number(ip.n));
  else {
    b.writeBigUInt64BE(ip.n >> 64n, 0);
    b.writeBigUInt64BE(ip.n & 0xffffffffffffffffn, 8);
  }
  return formatAddr(b);
}

const bits = (v: 4 | 6) => (v === 4 ? 32n : 128n);

export interface Cidr { v: 4 | 6; base: bigint; prefix: number }

export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  const ip = m ? parseIp(m[1] as string) : undefined;
  if (!m || !ip) return undefined;
  const prefix = Number(m[2]);
  if (prefix > Number(bits(ip.v))) return undefined;
  const host = bits(ip.v) - BigInt(prefix);
  return { v: ip.v, base: (ip.n >> host) << host, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ v: c.v, n: c.base })}/${c.prefix}`;
}

export function inCidr(ip: Ip, c: Cidr): boolean {
  if (ip.v !== c.v) return false;
  const host = bits(c.v) - BigInt(c.prefix);
  return (ip.n >> host) === (c.base >> host);
}

const v4 = (t: string) => parseCidr(t)!;
const RANGES = {
  loopback: [v4('127.0.0.0/8'), v4('::1/128')],
  metadata: [v4('169.254.169.254/32'), v4('fd00:ec2::254/128')],
  linkLocal: [v4('169.254.0.0/16'), v4('fe80::/10')],
  private: [v4('10.0.0.0/8'), v4('172.16.0.0/12'), v4('192.168.0.0/16'), v4('100.64.0.0/10'), v4('fc00::/7')],
  unspecified: [v4('0.0.0.0/32'), v4('::/128')],
} as const;

export type IpRange = keyof typeof RANGES | 'public';

/** Which well-known range an address is in; cloud metadata before link-local, which holds it. */
export function ipRange(ip: Ip): IpRange {
  for (const [name, list] of Object.entries(RANGES) as Array<[keyof typeof RANGES, readonly Cidr[]]>) {
    if (list.some((c) => inCidr(ip, c))) return name;
  }
  return 'public';
}

/**
 * The fewest CIDR blocks that hold exactly these addresses (no address added): adjacent
 * addresses merge into a block only when they fill it. Sorted, v4 first.
 */
export function exactCidrs(ips: Iterable<Ip>): Cidr[] {
  const out: Cidr[] = [];
  for (const v of [4, 6] as const) {
    const ns = [...new Set([...ips].filter((i) => i.v === v).map((i) => i.n))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let i = 0;
    while (i < ns.length) {
      // The run of consecutive addresses starting here, cut into aligned power-of-two blocks.
      let j = i;
      while (j + 1 < ns.length && ns[j + 1] === (ns[j] as bigint) + 1n) j++;
      let start = ns[i] as bigint;
      const end = (ns[j] as bigint) + 1n;
      while (start < end) {
        let size = 1n;
        while ((start & (size * 2n - 1n)) === 0n && start + size * 2n <= end && size * 2n <= 1n << bits(v)) size *= 2n;
        let prefix = Number(bits(v));
        for (let s = size; s > 1n; s >>= 1n) prefix--;
        out.push({ v, base: start, prefix });
        start += size;
      }
      i = j + 1;
    }
  }
  return out;
}

/**
 * Many addresses under one name: where at least `min` of them share a /24 (IPv4) or /64
 * (IPv6), that whole block stands for them. This widens the set (marked so in the output);
 * the rest stay exact.
 */
export function collapseCidrs(ips: Ip[], min: number): { cidrs: Cidr[]; widened: boolean } {
  const byBlock = new Map<string, Ip[]>();
  for (const ip of ips) {
    const prefix = ip.v === 4 ? 24 : 64;
    const host = bits(ip.v) - BigInt(prefix);
    const k = `${ip.v}/${(ip.n >> host) << host}`;
    const list = byBlock.get(k) ?? [];
    list.push(ip);
    byBlock.set(k, list);
  }
  const exact: Ip[] = [];
  const wide: Cidr[] = [];
  for (const list of byBlock.values()) {
    const first = list[0] as Ip;
    if (list.length >= min) {
      const prefix = first.v === 4 ? 24 : 64;
      const host = bits(first.v) - BigInt(prefix);
      wide.push({ v: first.v, base: (first.n >> host) << host, prefix });
    } else {
      exact.push(...list);
    }
  }
  const cidrs = [...exactCidrs(exact), ...wide].sort(compareCidr);
  return { cidrs, widened: wide.length > 0 };
}

export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.v !== b.v) return a.v - b.v;
  if (a.base !== b.base) return a.base < b.base ? -1 : 1;
  return a.prefix - b.prefix;
}

export function compareIpText(a: string, b: string): number {
  const x = parseIp(a);
  const y = parseIp(b);
  if (x && y) {
    if (x.v !== y.v) return x.v - y.v;
    return x.n < y.n ? -1 : x.n > y.n ? 1 : 0;
  }
  if (x) return -1;
  if (y) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
