// SPDX-License-Identifier: Apache-2.0
// Encrypted DNS cannot be read, but that a pod uses it is worth knowing: it hides lookups from
// every DNS control. DNS over TLS and over QUIC use port 853 (RFC 7858, RFC 9250); DNS over
// HTTPS is port 443 and looks like any HTTPS, so only connects to well-known public DoH
// resolvers are flagged. The list is the providers' published anycast addresses; operators add
// their own with the options.

export type EncryptedDns = 'dot' | 'doh';

/** Published addresses of public resolvers that serve DoH on 443. */
export const WELL_KNOWN_DOH: readonly string[] = [
  // Cloudflare
  '1.1.1.1', '1.0.0.1', '2606:4700:4700::1111', '2606:4700:4700::1001',
  // Google
  '8.8.8.8', '8.8.4.4', '2001:4860:4860::8888', '2001:4860:4860::8844',
  // Quad9
  '9.9.9.9', '149.112.112.112', '2620:fe::fe', '2620:fe::9',
  // OpenDNS
  '208.67.222.222', '208.67.220.220', '2620:119:35::35', '2620:119:53::53',
  // AdGuard
  '94.140.14.14', '94.140.15.15',
];

export class EncryptedDnsDetector {
  private readonly doh: Set<string>;

  constructor(extraDoh: readonly string[] = [], useWellKnown = true) {
    this.doh = new Set([...(useWellKnown ? WELL_KNOWN_DOH : []), ...extraDoh]);
  }

  /** The connect's destination (text, as formatAddr writes it, v4-mapped accepted) and port. */
  classify(dstIp: string, dstPort: number): EncryptedDns | null {
    if (dstPort === 853) return 'dot';
    if (dstPort !== 443) return null;
    const ip = dstIp.startsWith('::ffff:') && dstIp.includes('.') ? dstIp.slice(7) : dstIp;
    return this.doh.has(ip) ? 'doh' : null;
  }
}
