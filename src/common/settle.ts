// SPDX-License-Identifier: Apache-2.0

/**
 * Waits for `p` at most `ms`; false when it did not settle by then (a rejection counts as
 * settled). kafkajs's disconnect waits for requests in flight up to its request timeout, and a
 * stopping stage must not wait on a broker that will not answer.
 */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((r) => { t = setTimeout(() => r(false), ms); t.unref(); });
  try {
    return await Promise.race([p.then(() => true, () => true), timedOut]);
  } finally {
    clearTimeout(t);
  }
}
