// SPDX-License-Identifier: Apache-2.0
// What one DNS answer says about names: the question, the CNAME chain from it, and the
// addresses at the end of the chain with how long the whole chain may be believed.
import { formatAddr } from '../../schema/addr.js';
import { TYPE_A, TYPE_AAAA, type DnsMessage } from './parse.js';

/** Longest CNAME chain followed; real ones are a handful (CDNs use 2-4). */
export const MAX_CHAIN = 16;

export interface AnswerAddr {
  /** text form (formatAddr), the name table's key */
  ip: string;
  /** seconds: the smallest TTL along the chain to this address */
  ttl: number;
}

export interface AnswerSet {
  qname: string;
  qtype: number;
  rcode: number;
  /** [qname, cname1, cname2, ...]: every name the client's lookup passed through */
  chain: string[];
  addrs: AnswerAddr[];
  /** the chain looped or ran past MAX_CHAIN: what was followed is kept */
  chainCut: boolean;
}

/** The answer's meaning for the question it carries; null when it has no question. */
export function answerSet(msg: DnsMessage): AnswerSet | null {
  const q = msg.question;
  if (!q) return null;
  const chain = [q.name];
  let ttl = Number.MAX_SAFE_INTEGER;
  let chainCut = false;
  let cur = q.name;
  for (;;) {
    const c = msg.answers.find((r) => r.name === cur && r.data.kind === 'CNAME');
    if (!c || c.data.kind !== 'CNAME') break;
    if (chain.includes(c.data.target) || chain.length > MAX_CHAIN) {
      chainCut = true;
      break;
    }
    ttl = Math.min(ttl, c.ttl);
    cur = c.data.target;
    chain.push(cur);
  }
  // Only the end of the chain is the answer; addresses for other owners are glue at best,
  // and a spoofer's extra records at worst.
  const seen = new Set<string>();
  const addrs: AnswerAddr[] = [];
  for (const r of msg.answers) {
    if (r.name !== cur || (r.type !== TYPE_A && r.type !== TYPE_AAAA)) continue;
    if (r.data.kind !== 'A' && r.data.kind !== 'AAAA') continue;
    const ip = formatAddr(r.data.addr);
    if (seen.has(ip)) continue;
    seen.add(ip);
    addrs.push({ ip, ttl: Math.min(ttl, r.ttl) });
  }
  return { qname: q.name, qtype: q.type, rcode: msg.rcode, chain, addrs, chainCut };
}
