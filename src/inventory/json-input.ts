// SPDX-License-Identifier: Apache-2.0
// Audit records in the JSON form (docs/reference/records.md, "The JSON contract"), one per line, as `podtrail tail
// --format json` and `podtrail replay --stdout --format json` print them: the inventory of a
// replay without a topic. Only the fields the inventory reads are taken back; a line that is not
// an audit record in that form is counted and reported with its number, never a crash.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { DecodeError } from '../common/errors.js';
import { parseAddr } from '../schema/addr.js';
import { parseIsoNanos } from '../schema/json-form.js';
import type { AuditRecord } from '../schema/types.js';

type J = Record<string, any>;
const STATUSES = new Set(['POD', 'CONTAINER', 'HOST', 'UNRESOLVED', 'LOSS']);

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const big = (v: unknown): bigint => (typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : 0n);
const endpoint = (e: J | null | undefined) => (e && typeof e.addr === 'string' && Number.isInteger(e.port) ? { ...e, addr: parseAddr(e.addr), port: e.port as number } : null);
const strMap = (m: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (m && typeof m === 'object') for (const [k, v] of Object.entries(m)) if (typeof v === 'string') out[k] = v;
  return out;
};

/** One JSON line as the inventory's view of an AuditRecord; throws DecodeError when it is not one. */
export function auditFromJsonLine(line: string): AuditRecord {
  let o: J;
  try {
    o = JSON.parse(line) as J;
  } catch (err) {
    throw new DecodeError(`not JSON: ${(err as Error).message}`, 'INVALID');
  }
  if (!o || typeof o !== 'object' || typeof o.time !== 'string' || !STATUSES.has(o.attribution?.status)) {
    throw new DecodeError('not an audit record in the JSON form (time and attribution.status are required)', 'INVALID');
  }
  try {
    const pod = o.pod && typeof o.pod === 'object' ? o.pod as J : null;
    return {
      time: parseIsoNanos(o.time as string),
      node: str(o.node) ?? '',
      protocol: o.protocol === 'UDP' ? 'UDP' : o.protocol === 'TCP' ? 'TCP' : null,
      src: endpoint(o.src),
      dst: endpoint(o.dst),
      result: o.result && typeof o.result.status === 'string' ? { status: o.result.status, errno: Number(o.result.errno) || 0 } : null,
      process: o.process ? { ...o.process, comm: str(o.process.comm) ?? '', exe: str(o.process.exe) } : null,
      container: o.container ? { id: str(o.container.id) ?? '', name: str(o.container.name), image: str(o.container.image), runtime: str(o.container.runtime) } : null,
      pod: pod ? {
        name: str(pod.name), namespace: str(pod.namespace), uid: str(pod.uid), labels: strMap(pod.labels), hostNetwork: pod.hostNetwork === true,
        workload: pod.workload && typeof pod.workload.kind === 'string' && typeof pod.workload.name === 'string' ? { kind: pod.workload.kind, name: pod.workload.name } : null,
        annotations: {}, ips: Array.isArray(pod.ips) ? pod.ips.filter((x: unknown) => typeof x === 'string') : [],
      } : null,
      attribution: { status: o.attribution.status, source: str(o.attribution.source), reason: str(o.attribution.reason) },
      loss: o.loss ? { instance: str(o.loss.instance) ?? '', fromSeq: big(o.loss.fromSeq), toSeq: big(o.loss.toSeq), count: big(o.loss.count), cause: o.loss.cause ?? 'UNKNOWN', firstTime: null, lastTime: null } : null,
    } as unknown as AuditRecord;
  } catch (err) {
    throw new DecodeError(`not an audit record in the JSON form: ${(err as Error).message}`, 'INVALID');
  }
}

/** Every line of the stream, in order; `bad` hears of each line that is not a record. */
export async function readJsonLines(input: Readable, each: (r: AuditRecord) => void, bad: (lineNo: number, why: string) => void): Promise<void> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    if (!line.trim()) continue;
    // DNS lookups (issue 15, `dns` in the JSON form) come with the audit records: not connections.
    if (line.includes('"dns":{') && isLookup(line)) continue;
    try {
      each(auditFromJsonLine(line));
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      bad(n, err.message);
    }
  }
}

function isLookup(line: string): boolean {
  try {
    const o = JSON.parse(line) as J;
    return !!o && typeof o === 'object' && typeof o.dns === 'object' && o.dns !== null && typeof o.dns.query === 'string';
  } catch {
    return false;
  }
}
