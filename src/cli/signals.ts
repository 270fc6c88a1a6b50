// SPDX-License-Identifier: Apache-2.0
/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const on = (sig: NodeJS.Signals) => {
      if (seen) process.exit(130);
      seen = true;
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** How long a consumer-group stage's stop may take before it exits anyway. */
export const STOP_MS = 20_000;
/** The same after the stage failed (its batch may wait on a cluster that is gone): nothing is left to finish. */
export const FAILED_STOP_MS = 5_000;

// A stage's stop waits for the batch in hand, and a batch can wait on a broker that will not
// answer (a replaced cluster, a partition with no leader): exiting then is safe, since nothing
// unacknowledged was committed.
export { settlesWithin } from '../common/settle.js';
