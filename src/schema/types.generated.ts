// SPDX-License-Identifier: Apache-2.0
// GENERATED from src/schema/*.avsc by src/schema/gen-types.ts. Do not edit: npm run gen:types

export type Protocol = 'TCP' | 'UDP';

export type Family = 'IPv4' | 'IPv6';

export type DnsTrust = 'unmatched' | 'matched' | 'resolver';

export interface ResolvedName {
  name: string;
  cnames: Array<string>;
  answeredAt: bigint;
  ttl: number;
  server: string;
  trust: DnsTrust;
}

export interface PeerWorkload {
  kind: string;
  name: string;
}

export interface PeerPod {
  name: string;
  namespace: string;
  uid: string;
  workload: null | PeerWorkload;
  labels: Record<string, string>;
}

export interface PeerService {
  name: string;
  namespace: string;
}

export type DestinationScope = 'pod' | 'service' | 'node' | 'external' | 'loopback';

export interface Endpoint {
  addr: Buffer;
  port: number;
  name: null | ResolvedName;
  pod: null | PeerPod;
  service: null | PeerService;
  scope: null | DestinationScope;
}

export type ResultStatus = 'OK' | 'INPROGRESS' | 'REFUSED' | 'TIMEOUT' | 'UNREACHABLE' | 'ERROR';

export interface Result {
  status: ResultStatus;
  errno: number;
}

export interface ProcessRef {
  pid: number;
  comm: string;
  exe: null | string;
}

export interface Process {
  pid: number;
  tid: number;
  ppid: number;
  uid: bigint;
  gid: bigint;
  comm: string;
  startTime: bigint;
  nsPid: number;
  key: bigint;
  exe: null | string;
  args: Array<string>;
  argsTruncated: boolean;
  parent: null | ProcessRef;
  ancestry: Array<ProcessRef>;
  exeFlags: Array<string>;
}

export interface Cgroup {
  id: bigint;
  path: string;
}

export interface RawConnectEvent {
  eventId: string;
  seq: bigint;
  instance: string;
  time: bigint;
  node: string;
  protocol: Protocol;
  family: Family;
  src: Endpoint;
  dst: Endpoint;
  result: Result;
  process: Process;
  netns: bigint;
  mntns: bigint;
  pidns: bigint;
  utsName: string;
  cgroup: Cgroup;
  encryptedDns: boolean;
}

export type LossCause = 'KERNEL_RING_BUFFER' | 'CAPTURE_BUFFER' | 'SEQUENCE_GAP' | 'UNKNOWN' | 'CAPTURE_RESTART' | 'CLUSTER_REPLACED';

export interface CaptureLoss {
  eventId: string;
  time: bigint;
  node: string;
  instance: string;
  fromSeq: bigint;
  toSeq: bigint;
  count: bigint;
  cause: LossCause;
  firstTime: bigint;
  lastTime: bigint;
}

export interface Container {
  id: string;
  runtime: null | string;
  name: null | string;
  image: null | string;
}

export interface Workload {
  kind: string;
  name: string;
}

export interface Pod {
  name: null | string;
  namespace: null | string;
  uid: null | string;
  labels: Record<string, string>;
  hostNetwork: boolean;
  workload: null | Workload;
  annotations: Record<string, string>;
  ips: Array<string>;
}

export type AttributionStatus = 'POD' | 'CONTAINER' | 'HOST' | 'UNRESOLVED' | 'LOSS';

export interface Attribution {
  status: AttributionStatus;
  source: null | string;
  reason: null | string;
}

export interface Loss {
  instance: string;
  fromSeq: bigint;
  toSeq: bigint;
  count: bigint;
  cause: LossCause;
  firstTime: null | bigint;
  lastTime: null | bigint;
}

export interface AuditRecord {
  eventId: string;
  seq: bigint;
  instance: string;
  time: bigint;
  node: string;
  protocol: null | Protocol;
  family: null | Family;
  src: null | Endpoint;
  dst: null | Endpoint;
  result: null | Result;
  process: null | Process;
  netns: null | bigint;
  mntns: null | bigint;
  pidns: null | bigint;
  utsName: null | string;
  cgroup: null | Cgroup;
  encryptedDns: boolean;
  container: null | Container;
  pod: null | Pod;
  attribution: Attribution;
  loss: null | Loss;
}

export interface PodMeta {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hostNetwork: boolean;
  workload: null | Workload;
  ips: Array<string>;
}

export interface ContainerMeta {
  containerId: string;
  node: string;
  runtime: string;
  time: bigint;
  firstSeen: bigint;
  validFrom: bigint;
  deletedTime: null | bigint;
  name: null | string;
  image: null | string;
  hostname: null | string;
  isSandbox: boolean;
  sandboxId: null | string;
  pod: null | PodMeta;
  networkMode: null | string;
  utsMode: null | string;
  cgroupPaths: Array<string>;
  origin: null | string;
  bounded: null | string;
  note: null | string;
}

export interface DnsAnswer {
  name: string;
  type: number;
  data: string;
  ttl: number;
}

export interface DnsLookup {
  eventId: string;
  seq: bigint;
  instance: string;
  time: bigint;
  node: string;
  protocol: Protocol;
  family: Family;
  src: Endpoint;
  dst: Endpoint;
  process: Process;
  netns: bigint;
  mntns: bigint;
  pidns: bigint;
  utsName: string;
  cgroup: Cgroup;
  query: string;
  qtype: number;
  rcode: number;
  answers: Array<DnsAnswer>;
  truncated: boolean;
  trust: DnsTrust;
  count: bigint;
  firstTime: null | bigint;
  lastTime: null | bigint;
  dedupWindowMs: number;
}

export interface AuditDnsLookup {
  eventId: string;
  seq: bigint;
  instance: string;
  time: bigint;
  node: string;
  protocol: Protocol;
  family: Family;
  src: Endpoint;
  dst: Endpoint;
  process: Process;
  netns: bigint;
  mntns: bigint;
  pidns: bigint;
  utsName: string;
  cgroup: Cgroup;
  query: string;
  qtype: number;
  rcode: number;
  answers: Array<DnsAnswer>;
  truncated: boolean;
  trust: DnsTrust;
  count: bigint;
  firstTime: null | bigint;
  lastTime: null | bigint;
  dedupWindowMs: number;
  container: null | Container;
  pod: null | Pod;
  attribution: Attribution;
}
