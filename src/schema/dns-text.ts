// SPDX-License-Identifier: Apache-2.0
// Names for the DNS numbers lookup records carry (qtype, rcode), for the JSON form and the
// formats. Unknown numbers keep their value (RFC 3597's TYPE<n>), never a guess.

const QTYPES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV',
  35: 'NAPTR', 39: 'DNAME', 41: 'OPT', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY',
};

const RCODES: Record<number, string> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED',
  6: 'YXDOMAIN', 7: 'YXRRSET', 8: 'NXRRSET', 9: 'NOTAUTH', 10: 'NOTZONE',
};

export function qtypeName(t: number): string {
  return QTYPES[t] ?? `TYPE${t}`;
}

export function rcodeName(r: number): string {
  return RCODES[r] ?? `RCODE${r}`;
}

const SAFE = /^(?:[A-Za-z0-9_*-]|\.|\\(?:25[0-5]|2[0-4][0-9]|[01][0-9][0-9]))*$/;

/**
 * A DNS name as text any output can carry: capture writes names this way already (bytes
 * outside letters, digits, `-`, `_` and `*` as `\DDD`, RFC 1035's master-file escape), so this
 * is the identity for them. A record written by anyone else (the raw topic is writable) gets
 * the same rule applied to each UTF-8 byte of every other character, an unpaired backslash
 * included, so no name can break a CEF line, a terminal or a syslog message.
 */
export function safeDnsName(name: string): string {
  if (SAFE.test(name)) return name;
  let out = '';
  let i = 0;
  while (i < name.length) {
    const m = /^\\(?:25[0-5]|2[0-4][0-9]|[01][0-9][0-9])/.exec(name.slice(i, i + 4));
    if (m) { out += m[0]; i += 4; continue; }
    const cp = name.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    i += ch.length;
    if (/^[A-Za-z0-9_*.-]$/.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `\\${String(b).padStart(3, '0')}`;
  }
  return out;
}
