// SPDX-License-Identifier: Apache-2.0
// DnsCapture: kernel DNS records in, dst.name out, keyed by the cgroup path's pod and
// container; a pod's names go when its last container is deleted, not before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DnsCapture } from '../../src/capture/dns-capture.js';
import type { DnsRecordWithPath, KernelConnectEvent } from '../../src/capture/native.js';
import { encodeDns } from '../helpers/dns-wire.js';

const POD = '0f4e2b1c-1111-2222-3333-444455556666';
const cgPath = (c: string) => `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${c}.scope`;
const C1 = 'a'.repeat(64);
const C2 = 'b'.repeat(64);

function rec(dir: 'query' | 'answer', payload: Buffer, o: { tgid: number; cgroupId: bigint; path: string; ts: bigint; wire?: number }): DnsRecordWithPath {
  return {
    kind: 'dns', direction: dir, seq: 1n, tsNs: o.ts, sockCookie: 7n, cgroupId: o.cgroupId, cgroupHier: 0, netnsCookie: 1n,
    procKeyNs: 100n, tgid: o.tgid, comm: 'curl', transport: 'udp', family: 'IPv4',
    local: { addr: Buffer.from([10, 244, 0, 5]), port: 40000 }, remote: { addr: Buffer.from([10, 96, 0, 10]), port: 53 },
    tcpSeq: 0, wireLength: o.wire ?? payload.length, payload, cgroupPath: o.path,
  };
}

function connect(o: { pid: number; cgroupId: bigint; path: string; ts: bigint; dst: number[]; port?: number }): KernelConnectEvent {
  return {
    seq: 1n, bootNs: o.ts, doneBootNs: o.ts, protocol: 'TCP', family: 'IPv4', v4Mapped: false, op: 'connect',
    src: { addr: Buffer.from([10, 244, 0, 5]), port: 41000 }, dst: { addr: Buffer.from(o.dst), port: o.port ?? 443 },
    status: 'OK', errno: 0, pid: o.pid, tid: o.pid, ppid: 1, uid: 0, gid: 0, comm: 'curl', startBootNs: 1n, nsPid: 1,
    netns: 1, mntns: 1, pidns: 1, utsName: 'web', cgroupId: o.cgroupId, cgroupPath: o.path, cgroupController: '', procKeyNs: 100n, exeUnlinked: false,
  };
}

const question = { name: 'api.example.com', type: 1 };
const answer = encodeDns({ id: 9, response: true, question, answers: [{ name: 'api.example.com', type: 'CNAME', ttl: 300, value: 'edge.cdn.example.net' }, { name: 'edge.cdn.example.net', type: 'A', ttl: 30, value: '203.0.113.80' }] });

test('a container\'s lookup names its pod\'s connects; the pod keeps them until its last container goes', () => {
  const d = new DnsCapture((ns) => ns, { resolvers: ['10.96.0.10'], dedupMs: 0 });
  const q = encodeDns({ id: 9, response: false, question });
  const lookups = d.onRecords([
    rec('query', q, { tgid: 10, cgroupId: 1n, path: cgPath(C1), ts: 1000n }),
    rec('answer', answer, { tgid: 10, cgroupId: 1n, path: cgPath(C1), ts: 2000n }),
  ]);
  assert.equal(lookups.length, 1);
  assert.deepEqual([lookups[0]!.trust, lookups[0]!.records.length, lookups[0]!.cgroupPath], ['resolver', 2, cgPath(C1)]);
  const want = { name: 'api.example.com', cnames: ['edge.cdn.example.net'], answeredAt: 2000n, ttl: 30, server: '10.96.0.10', trust: 'resolver' };
  // Another container of the same pod: same name, by pod.
  const other = connect({ pid: 20, cgroupId: 2n, path: cgPath(C2), ts: 3000n, dst: [203, 0, 113, 80] });
  assert.deepEqual(d.forConnect(other, 3000n), { name: want, encryptedDns: false });
  // Before the answer: nothing.
  assert.deepEqual(d.forConnect(other, 1500n).name, null);
  d.containerGone(C1);
  assert.deepEqual(d.forConnect(other, 3000n).name, want, 'C2 still runs: the pod is alive');
  d.containerGone(C2);
  assert.equal(d.forConnect(other, 3000n).name, null, 'the last container went: so did the names');
  assert.equal(d.stats().podsDropped, 1);
  d.containerGone('c'.repeat(64)); // unknown ids are ignored
});

test('host processes (no pod) are their own owners; a cut or malformed payload is counted, never thrown', () => {
  const d = new DnsCapture((ns) => ns, { dedupMs: 0 });
  d.onRecords([rec('answer', answer, { tgid: 30, cgroupId: 9n, path: '/system.slice/sshd.service', ts: 10n })]);
  assert.equal(d.forConnect(connect({ pid: 31, cgroupId: 9n, path: '/system.slice/sshd.service', ts: 20n, dst: [203, 0, 113, 80] }), 20n).name?.trust, 'unmatched');
  assert.equal(d.forConnect(connect({ pid: 32, cgroupId: 8n, path: '/system.slice/cron.service', ts: 20n, dst: [203, 0, 113, 80] }), 20n).name, null);
  const cut = answer.subarray(0, answer.length - 3);
  assert.deepEqual(d.onRecords([rec('answer', cut, { tgid: 30, cgroupId: 9n, path: '', ts: 30n, wire: answer.length }), rec('answer', Buffer.from([1, 2]), { tgid: 30, cgroupId: 9n, path: '', ts: 31n })]), []);
  const s = d.stats();
  assert.equal(s.cutByCopyCap, 1);
  assert.equal((s.malformed['short-header'] ?? 0) + (s.malformed['truncated-record'] ?? 0), 2);
  assert.equal(d.forConnect(connect({ pid: 33, cgroupId: 5n, path: '', ts: 20n, dst: [1, 1, 1, 1] }), 20n).encryptedDns, true);
});
