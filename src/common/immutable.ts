// SPDX-License-Identifier: Apache-2.0

/**
 * Freezes a plain value and every object and array reachable from it, and returns it.
 * For values handed out by identity: enrich keys its attribution decisions on the identity of
 * a resolver's answer (see ResolveResult in src/runtime/types.ts), so an answer that changed
 * in place would be served with the decision of its old content. Frozen, such a write throws
 * (modules are strict) instead. One walk when the value is stored, nothing per read.
 */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value) || ArrayBuffer.isView(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}
