// SPDX-License-Identifier: Apache-2.0
// Address ranges from operator flags (service CIDRs, node ranges), matched against the
// destination addresses of records. v4-mapped IPv6 addresses match their IPv4 range.
import { ConfigError } from '../common/errors.js';
import { parseAddr } from '../schema/addr.js';

export interface Cidr {
  text: string;
  base: Buffer;
  bits: number;
}

export function parseCidr(text: string): Cidr {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) throw new ConfigError(`not a CIDR range (address/bits): ${JSON.stringify(text)}`);
  let base: Buffer;
  try {
    base = parseAddr(m[1]!);
  } catch (err) {
    throw new ConfigError(`not a CIDR range: ${JSON.stringify(text)}`, { cause: err });
  }
  const bits = Number(m[2]);
  if (bits > base.length * 8) throw new ConfigError(`CIDR prefix longer than the address: ${JSON.stringify(text)}`);
  return { text, base, bits };
}

/** The IPv4 address inside a v4-mapped IPv6 one, else the address itself. */
export function unmapped(addr: Uint8Array): Uint8Array {
  if (addr.length !== 16) return addr;
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return addr;
  return addr[10] === 0xff && addr[11] === 0xff ? addr.subarray(12) : addr;
}

export function inCidr(addr: Uint8Array, c: Cidr): boolean {
  const a = unmapped(addr);
  if (a.length !== c.base.length) return false;
  let bits = c.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((a[i] as number) & mask) !== ((c.base[i] as number) & mask)) return false;
  }
  return true;
}

export function isLoopback(addr: Uint8Array): boolean {
  const a = unmapped(addr);
  if (a.length === 4) return a[0] === 127;
  if (a.length !== 16) return false;
  for (let i = 0; i < 15; i++) if (a[i] !== 0) return false;
  return a[15] === 1;
}
