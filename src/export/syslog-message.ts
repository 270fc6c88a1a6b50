// SPDX-License-Identifier: Apache-2.0
// RFC 5424 syslog messages, and RFC 6587 octet-counting framing for TCP.
import { ConfigError } from '../common/errors.js';

export const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  ntp: 12, audit: 13, alert: 14, clock: 15, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type Facility = keyof typeof FACILITIES;

export const SEVERITY = { emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
export type Severity = keyof typeof SEVERITY;

export interface SyslogFields {
  facility: Facility;
  severity: Severity;
  /** nanoseconds since the epoch */
  timeNs: bigint;
  hostname: string;
  appName: string;
  msgId: string;
  msg: string;
}

/** RFC 5424 header fields are PRINTUSASCII (33-126) with a length cap; "-" means nil. */
function headerField(v: string, max: number): string {
  const clean = v.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean.length ? clean : '-';
}

/** 2026-11-30T02:27:57.612560Z: RFC 5424 allows at most six fractional digits. */
export function syslogTime(ns: bigint): string {
  const micros = ns / 1000n;
  const secs = micros / 1_000_000n;
  let frac = micros % 1_000_000n;
  let s = secs;
  if (frac < 0n) { frac += 1_000_000n; s -= 1n; }
  const iso = new Date(Number(s) * 1000).toISOString();
  return `${iso.slice(0, 19)}.${frac.toString().padStart(6, '0')}Z`;
}

/** One RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG. */
export function syslogMessage(f: SyslogFields): Buffer {
  const pri = FACILITIES[f.facility] * 8 + SEVERITY[f.severity];
  const head = `<${pri}>1 ${syslogTime(f.timeNs)} ${headerField(f.hostname, 255)} ${headerField(f.appName, 48)} - ${headerField(f.msgId, 32)} -`;
  // Line breaks would split the message for receivers that frame by newline (UDP relays, files).
  return Buffer.from(`${head} ${f.msg.replace(/\r?\n/g, ' ')}`, 'utf8');
}

/** RFC 6587 section 3.4.1: MSG-LEN SP SYSLOG-MSG. */
export function octetFrame(msg: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${msg.length} `, 'ascii'), msg]);
}

export interface SyslogTarget { transport: 'tcp' | 'udp'; host: string; port: number }

/** tcp://HOST:PORT or udp://HOST:PORT (IPv6 hosts in brackets). */
export function parseSyslogUrl(text: string): SyslogTarget {
  const m = /^(tcp|udp):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})\/?$/.exec(text);
  if (!m) throw new ConfigError(`--syslog: expected tcp://HOST:PORT or udp://HOST:PORT, got ${JSON.stringify(text)}`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new ConfigError(`--syslog: port ${port} is outside 1-65535`);
  return { transport: m[1] as 'tcp' | 'udp', host: m[2]!.replace(/^\[|\]$/g, ''), port };
}
