// SPDX-License-Identifier: Apache-2.0
// Process identity for generated records: what a container's process typically carries
// (exe, a few arguments, a parent chain of three), so codec and pipeline benches count
// its bytes and work.
import type { Process } from '../src/schema/types.js';

type Identity = Pick<Process, 'key' | 'exe' | 'args' | 'argsTruncated' | 'parent' | 'ancestry' | 'exeFlags'>;

const EXES: Record<string, string> = {
  curl: '/usr/bin/curl', python3: '/usr/local/bin/python3.12', node: '/usr/local/bin/node', java: '/opt/java/openjdk/bin/java',
  nginx: '/usr/sbin/nginx', envoy: '/usr/local/bin/envoy', sh: '/bin/busybox', kubelet: '/usr/bin/kubelet',
};

/** A stable identity for a (comm, pid): same inputs, same strings, as one process's connects have. */
const made = new Map<string, Identity>();

/** As capture does, one object per process: its connects share it (and the raw writer's cache). */
export function sampleIdentity(comm: string, pid: number, startTime: bigint): Identity {
  const k = `${comm}:${pid}:${startTime}`;
  let id = made.get(k);
  if (!id) made.set(k, (id = makeIdentity(comm, pid, startTime)));
  return id;
}

function makeIdentity(comm: string, pid: number, startTime: bigint): Identity {
  const exe = EXES[comm] ?? `/usr/local/bin/${comm}`;
  const args = comm === 'java'
    ? [exe, '-XX:MaxRAMPercentage=75', '-jar', '/app/service.jar', '--spring.profiles.active=prod']
    : [exe, '--config', `/etc/${comm}/${comm}.conf`];
  const ancestry = [
    { pid: pid - 1, comm: 'sh', exe: '/bin/busybox' },
    { pid: pid - 2, comm: 'tini', exe: '/sbin/tini' },
    { pid: pid - 3, comm: 'containerd-shim', exe: '/usr/bin/containerd-shim-runc-v2' },
  ];
  return { key: startTime, exe, args, argsTruncated: false, parent: ancestry[0]!, ancestry, exeFlags: [] };
}

/** No identity: what a record from a process capture did not know carries. */
export const NO_IDENTITY: Identity = { key: 0n, exe: null, args: [], argsTruncated: false, parent: null, ancestry: [], exeFlags: [] };
