// SPDX-License-Identifier: Apache-2.0
// The shapes the kernel side will hand to the DNS modules, once bpf/ and native/ report DNS
// packets (issue 15, part 1). Defined here first so the user-space half can be built and
// tested before the decoder exists; the decoder (src/capture/event-layout.ts) will produce
// exactly these. Keep aligned with docs/destinations.md.

/**
 * Who owns the socket, as cgroup/connect4|6 or cgroup/sendmsg4|6 stored it in socket-local
 * storage in process context; cgroup_skb/ingress reads it back in softirq, so answers carry
 * the same identity as connects.
 */
export interface DnsSocketOwner {
  tgid: number;
  /** the process key of the process-identity work: "<tgid>:<start time ns>" */
  processKey: string;
  cgroupId: bigint;
  netnsCookie: bigint;
  /** bpf_get_socket_cookie: unique per socket for the boot; queries and answers meet on it */
  socketCookie: bigint;
}

/** One end of a socket: raw address bytes (4 or 16) and port. */
export interface SocketEnd { addr: Buffer; port: number }

export interface DnsPacketEvent {
  /** query: sent by a marked socket (egress, process context); answer: delivered to one (ingress) */
  direction: 'query' | 'answer';
  /** ns since the epoch (the capture clock, as connects) */
  time: bigint;
  /** capture's DNS sequence number (its own, apart from the connects'; a failed reserve is a gap and a count) */
  seq: bigint;
  owner: DnsSocketOwner;
  transport: 'udp' | 'tcp';
  /** the pod's end */
  local: SocketEnd;
  /** the server's end: the query's destination, the answer's source (after any NAT) */
  remote: SocketEnd;
  /** the DNS payload (UDP) or TCP segment payload, cut at the copy cap */
  payload: Buffer;
  /** the payload's length before the cap: > payload.length means the copy was cut */
  wireLength: number;
  /** TCP only: the segment's sequence number, so reassembly sees gaps */
  tcpSeq?: number;
}

/** The keys a lookup is joined by: process, else container, else pod; never across pods. */
export interface NameOwner {
  /** the pod's UID; for a process in no pod, "cgroup:<id>", so its names stay its own */
  pod: string;
  /** container ID, or "cgroup:<id>" */
  container: string;
  /** process key */
  process: string;
}

/** The owner keys from what capture knows about a socket's cgroup (cgroup-paths.ts's parse). */
export function nameOwner(o: { podUid: string | null; containerId: string | null; cgroupId: bigint; processKey: string }): NameOwner {
  const cg = `cgroup:${o.cgroupId}`;
  const container = o.containerId ?? cg;
  return { pod: o.podUid ?? container, container, process: o.processKey };
}
