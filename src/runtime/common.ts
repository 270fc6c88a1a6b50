// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the runtime resolvers: typed access to untrusted JSON, kubelet's keys,
// and turning thrown errors into unresolved results.
import { MetadataError, errMessage } from '../common/errors.js';
import { tryParseCgroupPath } from './cgroup-path.js';
import type { ResolveResult } from './types.js';

export type Json = Record<string, unknown>;

export function asRecord(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/** A non-empty string field, else null. */
export function str(obj: Json | undefined, key: string): string | null {
  const v = obj?.[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

/** The string-valued entries of an object, as a fresh map (Object.fromEntries, so a key `__proto__` stays a plain key). */
export function stringMap(v: unknown): Record<string, string> {
  const rec = asRecord(v);
  if (!rec) return {};
  return Object.fromEntries(Object.entries(rec).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Keys kubelet and its runtime shims add for themselves; not the pod's labels. */
export const KUBELET_KEYS: ReadonlySet<string> = new Set([
  'io.kubernetes.container.name',
  'io.kubernetes.container.logpath',
  'io.kubernetes.docker.type',
  'io.kubernetes.sandbox.id',
  'io.kubernetes.pod.name',
  'io.kubernetes.pod.namespace',
  'io.kubernetes.pod.uid',
]);

export function withoutKubeletKeys(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).filter(([k]) => !KUBELET_KEYS.has(k)));
}

/** Does an OCI spec give the process its own namespace of this type? false = the host's. */
export function ociHasNamespace(spec: Json | undefined, type: string): boolean | undefined {
  const ns = asRecord(spec?.linux)?.namespaces;
  if (!Array.isArray(ns)) return undefined;
  return ns.some((n) => asRecord(n)?.type === type);
}

/** Pod UID from an OCI linux.cgroupsPath ("/kubepods/<qos>/pod<uid>/<id>" or "<slice>:<prefix>:<id>"). */
export function podUidFromCgroupsPath(spec: Json | undefined): string | null {
  const cp = str(asRecord(spec?.linux), 'cgroupsPath');
  if (!cp) return null;
  const r = tryParseCgroupPath(cp.startsWith('/') ? cp : `/${cp}`);
  return r.ok ? (r.value.podUid ?? null) : null;
}

export function failure(err: unknown): Extract<ResolveResult, { ok: false }> {
  if (err instanceof MetadataError) return { ok: false, code: err.code, reason: err.message };
  return { ok: false, code: 'IO', reason: `unexpected: ${errMessage(err)}` };
}

/** Runs fn for each candidate; returns the first success, else the most informative failure (anything beats NOT_FOUND). */
export async function firstFound<T>(
  candidates: readonly T[],
  fn: (c: T) => Promise<ResolveResult>,
): Promise<ResolveResult> {
  let best: Extract<ResolveResult, { ok: false }> | undefined;
  for (const c of candidates) {
    let r: ResolveResult;
    try {
      r = await fn(c);
    } catch (err) {
      r = failure(err);
    }
    if (r.ok) return r;
    if (!best || (best.code === 'NOT_FOUND' && r.code !== 'NOT_FOUND')) best = r;
  }
  return best ?? { ok: false, code: 'NOT_FOUND', reason: 'no location to look in' };
}
