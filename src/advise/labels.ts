// SPDX-License-Identifier: Apache-2.0
// Labels a policy may select on: the workload's own, never the ones its controller stamps per
// revision or per pod (a selector on them stops matching at the next rollout), and only ones
// Kubernetes would accept (a hostile pod's labels are shown, never selected on).
export const UNSTABLE_LABELS = new Set([
  'pod-template-hash', 'controller-revision-hash', 'pod-template-generation',
  'statefulset.kubernetes.io/pod-name', 'apps.kubernetes.io/pod-index',
  'controller-uid', 'batch.kubernetes.io/controller-uid',
]);
/** a CronJob's Jobs each get their own name: selecting on it matches one run */
const PER_JOB = new Set(['job-name', 'batch.kubernetes.io/job-name']);

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function validLabelKey(k: string): boolean {
  const i = k.lastIndexOf('/');
  const name = i < 0 ? k : k.slice(i + 1);
  const prefix = i < 0 ? undefined : k.slice(0, i);
  return NAME.test(name) && (prefix === undefined || (prefix.length <= 253 && PREFIX.test(prefix)));
}

export function validLabelValue(v: string): boolean {
  return v === '' || NAME.test(v);
}

export function stableLabels(kind: string, labels: Record<string, string>): { labels: Record<string, string>; dropped: string[] } {
  const out: Record<string, string> = {};
  const dropped: string[] = [];
  for (const k of Object.keys(labels).sort()) {
    const v = labels[k] as string;
    if (UNSTABLE_LABELS.has(k) || (kind === 'CronJob' && PER_JOB.has(k))) continue;
    if (!validLabelKey(k) || !validLabelValue(v)) { dropped.push(k); continue; }
    out[k] = v;
  }
  return { labels: out, dropped };
}

/** A DNS-1123 subdomain for metadata.name, from free text. */
export function policyName(parts: string[]): string {
  const raw = parts.join('-').toLowerCase();
  let s = raw.replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').replace(/-{2,}/g, '-');
  if (s.length > 240) s = s.slice(0, 240).replace(/[^a-z0-9]+$/, '');
  return s || 'podtrail-policy';
}
