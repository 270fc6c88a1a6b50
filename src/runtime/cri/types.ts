// SPDX-License-Identifier: Apache-2.0
// What the CRI client returns: runtime.v1 messages (cri.proto) copied into plain, checked
// shapes. Keep aligned with src/runtime/cri/cri.proto.

export interface CriVersion {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

/** An enum value cri.proto names, or the number of one it does not (a newer runtime's). */
export type CriEnum = string | number;

export interface CriContainer {
  id: string;
  podSandboxId: string;
  name: string;
  attempt: number;
  image: string;
  imageRef: string;
  state: CriEnum;
  /** nanoseconds since the epoch; 0n when the runtime did not say */
  createdAtNs: bigint;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CriSandboxStatus {
  id: string;
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
  state: CriEnum;
  createdAtNs: bigint;
  /** the pod's IPs: network.ip then network.additional_ips, empty strings dropped */
  ips: string[];
  /** linux.namespaces.options.network; NODE is hostNetwork */
  networkMode: CriEnum;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CriPodSandbox {
  id: string;
  name: string;
  uid: string;
  namespace: string;
  state: CriEnum;
  createdAtNs: bigint;
}

export type CriEventType = 'CREATED' | 'STARTED' | 'STOPPED' | 'DELETED';

export interface CriContainerEvent {
  containerId: string;
  /** null for an event type cri.proto does not name */
  type: CriEventType | null;
  createdAtNs: bigint;
}
