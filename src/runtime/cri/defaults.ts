// SPDX-License-Identifier: Apache-2.0
// The CRI client's defaults, apart from the client: option parsing needs them, and loading the
// client loads gRPC (about 17 MiB of RSS), which a node without a CRI runtime never needs.
export const CRI_CLIENT_DEFAULTS = {
  deadlineMs: 2_000,
  /** gRPC's default receive limit; a pod's labels and annotations fit in far less */
  maxMessageBytes: 4 * 1024 * 1024,
} as const;
