// SPDX-License-Identifier: Apache-2.0
// Node flags capture runs with. V8 reads them only at startup (v8.setFlagsFromString
// is too late for heap limits), so every launcher passes them: `podtrail up`, the
// container image's capture service (NODE_OPTIONS in docker-compose.yml and the
// DaemonSet) and the capture bench. Tests check the deploy files carry them.
//
// --max-semi-space-size=4: at ~30k events/s the young generation otherwise grows to
// 16 MiB per semi-space, and capture's peak RSS passes 150 MiB (bench/README.md).
export const CAPTURE_NODE_FLAGS = ['--max-semi-space-size=4'] as const;

/** True when this process was started with every capture flag (argv or NODE_OPTIONS). */
export function hasCaptureNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  const given = [...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)];
  return CAPTURE_NODE_FLAGS.every((f) => given.includes(f));
}
