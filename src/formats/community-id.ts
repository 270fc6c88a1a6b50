// SPDX-License-Identifier: Apache-2.0
// Community ID v1 (corelight/community-id-spec): the flow hash that Zeek, Suricata and
// Elastic compute from packets. Putting it on our records lets a SIEM join "which pod and
// process opened this" to the network sensors' view of the same flow.
import { createHash } from 'node:crypto';

export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, RSVP: 46, ICMP6: 58, SCTP: 132 } as const;

export interface Flow {
  proto: number;
  /** 4 or 16 bytes, network order */
  saddr: Uint8Array;
  daddr: Uint8Array;
  /** ports; for ICMP/ICMPv6 the type and code. Ignored for protocols without ports. */
  sport?: number;
  dport?: number;
}

export interface CommunityIdOptions {
  seed?: number;
  base64?: boolean;
}

// Protocols whose hash input includes the two 16-bit "ports".
const WITH_PORTS = new Set<number>([IPPROTO.ICMP, IPPROTO.TCP, IPPROTO.UDP, IPPROTO.ICMP6, IPPROTO.SCTP]);

// ICMP request/response types that make a two-way "flow" (after Zeek's ICMP4_counterpart).
// Router solicitation maps to advertisement but not back, exactly as the reference does.
const ICMP4_COUNTERPART = new Map<number, number>([[8, 0], [0, 8], [13, 14], [14, 13], [15, 16], [16, 15], [10, 9], [17, 18], [18, 17]]);
const ICMP6_COUNTERPART = new Map<number, number>([
  [128, 129], [129, 128], [133, 134], [134, 133], [135, 136], [136, 135], [130, 131], [131, 130], [139, 140], [140, 139], [144, 145], [145, 144],
]);

function less(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function checkPort(name: string, v: number | undefined): number {
  if (v === undefined || !Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`community id: ${name} must be an integer 0-65535, got ${v}`);
  return v;
}

/** "1:<base64 SHA-1>" (or hex with base64: false). Throws RangeError on a malformed flow. */
export function communityId(flow: Flow, opts: CommunityIdOptions = {}): string {
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff) throw new RangeError(`community id: seed must be 0-65535, got ${seed}`);
  if (!Number.isInteger(flow.proto) || flow.proto < 0 || flow.proto > 255) throw new RangeError(`community id: protocol must be 0-255, got ${flow.proto}`);
  const alen = flow.saddr.length;
  if ((alen !== 4 && alen !== 16) || flow.daddr.length !== alen) {
    throw new RangeError(`community id: addresses must both be 4 or 16 bytes, got ${alen} and ${flow.daddr.length}`);
  }
  let [sa, da] = [flow.saddr, flow.daddr];
  const ports = WITH_PORTS.has(flow.proto);
  let sp = 0;
  let dp = 0;
  let oneWay = false;
  if (ports) {
    sp = checkPort('source port', flow.sport);
    dp = checkPort('destination port', flow.dport);
    const map = flow.proto === IPPROTO.ICMP ? ICMP4_COUNTERPART : flow.proto === IPPROTO.ICMP6 ? ICMP6_COUNTERPART : undefined;
    if (map) {
      const counterpart = map.get(sp);
      if (counterpart === undefined) oneWay = true;
      else dp = counterpart;
    }
  }
  // Order the endpoints so both directions of a flow hash the same.
  const c = less(sa, da);
  if (!oneWay && !(c < 0 || (c === 0 && sp < dp))) {
    [sa, da] = [da, sa];
    [sp, dp] = [dp, sp];
  }
  const buf = Buffer.alloc(2 + alen * 2 + 2 + (ports ? 4 : 0));
  buf.writeUInt16BE(seed, 0);
  buf.set(sa, 2);
  buf.set(da, 2 + alen);
  buf.writeUInt8(flow.proto, 2 + 2 * alen);
  // one byte of zero padding follows the protocol
  if (ports) {
    buf.writeUInt16BE(sp, 4 + 2 * alen);
    buf.writeUInt16BE(dp, 6 + 2 * alen);
  }
  const digest = createHash('sha1').update(buf).digest();
  return `1:${opts.base64 === false ? digest.toString('hex') : digest.toString('base64')}`;
}

/** A v4-mapped IPv6 address (::ffff:a.b.c.d) as its 4 IPv4 bytes: that is what goes on the wire. */
export function unmapV4(addr: Uint8Array): Uint8Array {
  if (addr.length !== 16) return addr;
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return addr;
  return addr[10] === 0xff && addr[11] === 0xff ? addr.subarray(12) : addr;
}
