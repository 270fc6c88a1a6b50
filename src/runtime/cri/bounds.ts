// SPDX-License-Identifier: Apache-2.0
// Limits on what one pod's labels and annotations may add to a record. CRI runtimes store
// whatever the caller sent; only the API server enforces Kubernetes' limits (label values of
// 63 characters, 256 KiB of annotations in all). A runtime driven by something else, or a
// hostile sandbox, must not turn every audit record into megabytes. What is cut is said in
// the warning, and the rest of the pod's identity is kept.

export interface MapLimits {
  maxEntries: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  maxTotalBytes: number;
}

/** Kubernetes allows 253 + 1 + 63 bytes of key and 63 of value; these leave room and still bound a record. */
export const LABEL_LIMITS: MapLimits = { maxEntries: 256, maxKeyBytes: 320, maxValueBytes: 1024, maxTotalBytes: 64 * 1024 };
/** The API server's own limit on a pod's annotations is 256 KiB in all. */
export const ANNOTATION_LIMITS: MapLimits = { maxEntries: 512, maxKeyBytes: 320, maxValueBytes: 64 * 1024, maxTotalBytes: 256 * 1024 };

export interface Bounded {
  map: Record<string, string>;
  /** what was left out, for the result's warning; undefined when nothing was */
  cut?: string;
}

/**
 * Keeps entries in key order (so the same sandbox always keeps the same ones) while they fit.
 * An entry with an oversized key or value is dropped whole, never truncated: a shortened
 * value would look like a real one.
 */
export function boundMap(what: string, m: Record<string, string>, lim: MapLimits): Bounded {
  const keys = Object.keys(m);
  const out: Record<string, string> = {};
  let total = 0;
  let kept = 0;
  let oversized = 0;
  for (const k of keys.sort()) {
    const v = m[k]!;
    const kb = Buffer.byteLength(k);
    const vb = Buffer.byteLength(v);
    if (kb > lim.maxKeyBytes || vb > lim.maxValueBytes) {
      oversized++;
      continue;
    }
    if (kept >= lim.maxEntries || total + kb + vb > lim.maxTotalBytes) break;
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    total += kb + vb;
    kept++;
  }
  if (kept === keys.length) return { map: out };
  const parts = [`kept ${kept} of ${keys.length} ${what}`];
  if (oversized > 0) parts.push(`${oversized} over ${lim.maxKeyBytes} bytes of key or ${lim.maxValueBytes} of value`);
  if (kept + oversized < keys.length) parts.push(`limit ${lim.maxEntries} entries / ${lim.maxTotalBytes} bytes`);
  return { map: out, cut: parts.join('; ') };
}
