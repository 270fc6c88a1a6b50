// SPDX-License-Identifier: Apache-2.0
// The last step of every runtime answer, whatever the source (files or CRI): keep only the
// annotations the operator asked for, bound labels and annotations, check the pod IPs, and
// infer the workload. Pure.
//
// Why bound: labels come from whoever can create a pod. A sandbox with 10,000 labels or 1 MiB
// values would otherwise go onto the containers topic, where it can exceed the broker's
// message size and cost the container its whole metadata, and then into every audit record.
// Kubernetes itself allows label values of 63 characters and keys of 253 + 63. The limits
// below are far above that, so a real pod is never cut. What is cut is named in `bounded`,
// which attribution adds to the record's reason. Everything else about the pod is kept.
import net from 'node:net';
import { ConfigError } from '../common/errors.js';
import type { ContainerMeta, PodMeta } from './types.js';
import { inferWorkload } from './workload.js';

export interface MapLimits {
  maxEntries: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  /** keys and values together */
  maxTotalBytes: number;
}

export const POD_FACT_LIMITS = {
  labels: { maxEntries: 256, maxKeyBytes: 317, maxValueBytes: 1024, maxTotalBytes: 64 * 1024 },
  annotations: { maxEntries: 64, maxKeyBytes: 317, maxValueBytes: 4096, maxTotalBytes: 64 * 1024 },
  maxIps: 16,
} as const;

const GLOB_RE = /^[A-Za-z0-9.\-_/*?]{1,317}$/;

/**
 * A predicate for annotation keys from globs (`*` any run of characters, `?` one). An
 * empty list keeps nothing. Throws ConfigError for a glob that cannot be an annotation key
 * pattern.
 */
export function annotationFilter(globs: readonly string[] = []): (key: string) => boolean {
  if (globs.length === 0) return () => false;
  const parts: string[] = [];
  for (const g of globs) {
    if (typeof g !== 'string' || !GLOB_RE.test(g)) {
      throw new ConfigError(`--pod-annotations: ${JSON.stringify(g)} is not an annotation key glob (letters, digits, . - _ / and the wildcards * ?)`);
    }
    parts.push(g.replace(/[.\-/]/g, (c) => `\\${c}`).replaceAll('*', '.*').replaceAll('?', '.'));
  }
  const re = new RegExp(`^(?:${parts.join('|')})$`, 's');
  return (key) => re.test(key);
}

export interface Bounded {
  map: Record<string, string>;
  /** what was cut, e.g. "9744 of 10000 labels dropped (...)"; undefined when nothing */
  note?: string;
}

/**
 * Keeps, in key order, the entries within the per-entry limits until the count or the total is
 * reached. Deterministic, so the same input always keeps the same entries (a replay agrees).
 */
export function boundMap(input: Readonly<Record<string, string>>, lim: MapLimits, what: string): Bounded {
  const keys = Object.keys(input);
  let total = 0;
  let fits = keys.length <= lim.maxEntries;
  if (fits) {
    for (const k of keys) {
      const kb = Buffer.byteLength(k);
      const vb = Buffer.byteLength(input[k]!);
      if (kb > lim.maxKeyBytes || vb > lim.maxValueBytes) {
        fits = false;
        break;
      }
      total += kb + vb;
    }
    if (fits && total <= lim.maxTotalBytes) return { map: input as Record<string, string> };
  }
  const out: Record<string, string> = {};
  let kept = 0;
  let oversized = 0;
  total = 0;
  for (const k of keys.sort()) {
    const v = input[k]!;
    const kb = Buffer.byteLength(k);
    const vb = Buffer.byteLength(v);
    if (kb > lim.maxKeyBytes || vb > lim.maxValueBytes) {
      oversized++;
      continue;
    }
    if (kept === lim.maxEntries || total + kb + vb > lim.maxTotalBytes) continue;
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    kept++;
    total += kb + vb;
  }
  const why = [
    oversized > 0 ? `${oversized} over ${lim.maxKeyBytes}-byte keys or ${lim.maxValueBytes}-byte values` : '',
    keys.length - oversized - kept > 0 ? `${keys.length - oversized - kept} past ${lim.maxEntries} entries or ${lim.maxTotalBytes} bytes` : '',
  ].filter((s) => s !== '');
  return { map: out, note: `pod ${what} bounded: kept ${kept} of ${keys.length} (${why.join('; ')})` };
}

function ipsOf(ips: readonly unknown[] | undefined): { ips: string[]; note?: string } {
  if (!ips || ips.length === 0) return { ips: [] };
  const seen = new Set<string>();
  let bad = 0;
  for (const ip of ips) {
    if (typeof ip === 'string' && ip.length <= 45 && net.isIP(ip) !== 0) {
      if (seen.size < POD_FACT_LIMITS.maxIps) seen.add(ip);
    } else bad++;
  }
  const out = [...seen];
  const over = ips.length - bad - out.length;
  if (bad === 0 && over <= 0) return { ips: out };
  const why = [bad > 0 ? `${bad} not an IP address` : '', over > 0 ? `repeats or past ${POD_FACT_LIMITS.maxIps}` : ''].filter((s) => s);
  return { ips: out, note: `pod ips bounded: kept ${out.length} of ${ips.length} (${why.join('; ')})` };
}

/**
 * The pod facts as they leave src/runtime: annotations filtered by `keepAnnotation`, labels
 * and annotations bounded, IPs checked, workload inferred. meta is not changed; a container
 * without a pod comes back as is.
 */
/** Facts from containerd's files: the pod is named but its labels are not known (containerd.ts). */
export function labelsUnknown(meta: Pick<ContainerMeta, 'runtime' | 'origin'>): boolean {
  return meta.runtime === 'containerd' && (meta.origin ?? 'files') === 'files';
}

export function finishPodFacts(meta: ContainerMeta, keepAnnotation: (key: string) => boolean): ContainerMeta {
  const pod = meta.pod;
  if (!pod) return meta;
  const labels = boundMap(pod.labels, POD_FACT_LIMITS.labels, 'labels');
  const wanted: Record<string, string> = {};
  for (const [k, v] of Object.entries(pod.annotations)) {
    if (keepAnnotation(k)) Object.defineProperty(wanted, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  const annotations = boundMap(wanted, POD_FACT_LIMITS.annotations, 'annotations');
  const ips = ipsOf(pod.ips);
  // Inferred from the labels as the runtime gave them: the few keys it reads are checked there.
  // containerd's files carry no labels at all (unknown, not empty): a Deployment's pod would
  // read as a bare Pod, so no workload is given. The same rule on the node and on read.
  const inferred = labelsUnknown(meta) ? { workload: null } : inferWorkload(pod.name, pod.labels);
  const notes = [meta.bounded, labels.note, annotations.note, ips.note].filter((n): n is string => typeof n === 'string' && n !== '');
  const out: PodMeta = { ...pod, labels: labels.map, annotations: annotations.map, ips: ips.ips, workload: inferred.workload };
  return { ...meta, pod: out, bounded: notes.length > 0 ? notes.join('; ') : null };
}
