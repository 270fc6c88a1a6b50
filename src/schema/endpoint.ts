// SPDX-License-Identifier: Apache-2.0
// An Endpoint as capture writes it: the address and port only. name is capture's (dst only);
// pod, service and scope are enrich's (dst only). One type on both topics, so enrich's fast
// path can copy the raw dst and fill in the rest (src/enrich/transcode.ts).
import type { Endpoint } from './types.js';

export const BARE_ENDPOINT = { name: null, pod: null, service: null, scope: null } as const;

export function endpoint(addr: Buffer, port: number): Endpoint {
  return { addr, port, name: null, pod: null, service: null, scope: null };
}
