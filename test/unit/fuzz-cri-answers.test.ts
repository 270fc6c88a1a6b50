// SPDX-License-Identifier: Apache-2.0
// Property tests of the CRI client's answer decoding (decodeAnswer: the protobuf decode of
// cri.proto, then the conversion to checked shapes): whatever bytes a runtime sends, the
// answer is either refused (a throw, which grpc-js reports as INTERNAL and the client as
// PROTOCOL) or a value of exactly the promised types, and never slow. Inputs: random bytes,
// and mutations of valid answers encoded with the fuller kubelet-side proto (fields the
// client's subset skips included).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ANSWERS, decodeAnswer } from '../../src/runtime/cri/client.js';
import { kubeletProtoPath } from '../helpers/containerd.js';
import { fuzzSuite, timed } from '../helpers/fuzz.js';

type Obj = Record<string, unknown>;
const CALL_MS = 200;
const METHODS = Object.keys(ANSWERS) as Array<keyof typeof ANSWERS>;

const pkg = grpc.loadPackageDefinition(loadSync(kubeletProtoPath(), { keepCase: true, longs: String, enums: String, defaults: true })) as unknown as {
  runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } };
};
const svc = pkg.runtime.v1.RuntimeService.service;

const hex = (c: string): string => c.repeat(64);
const sandboxStatus: Obj = {
  id: hex('a'), metadata: { name: 'web-1', uid: 'u-1', namespace: 'shop', attempt: 1 }, state: 'SANDBOX_READY', created_at: '1700000000000000000',
  network: { ip: '10.0.0.1', additional_ips: [{ ip: 'fd00::1' }] }, linux: { namespaces: { options: { network: 'NODE', pid: 'POD', ipc: 'POD', target_id: 'x' } } },
  labels: { app: 'web', 'pod-template-hash': 'abc' }, annotations: { owner: 'team' }, runtime_handler: 'runc',
};
const container: Obj = {
  id: hex('b'), pod_sandbox_id: hex('a'), metadata: { name: 'app', attempt: 2 }, image: { image: 'sha256:' + hex('c'), annotations: { a: 'b' }, user_specified_image: 'web:1' },
  image_ref: 'sha256:' + hex('c'), state: 'CONTAINER_RUNNING', created_at: '1700000000000000001', labels: { 'io.kubernetes.container.name': 'app' }, annotations: { h: '1' },
};
const VALID: Record<keyof typeof ANSWERS, Obj> = {
  Version: { version: '0.1.0', runtime_name: 'containerd', runtime_version: '1.6.20', runtime_api_version: 'v1' },
  ListContainers: { containers: [container, { ...container, id: hex('d') }] },
  ContainerStatus: { status: { id: hex('b'), metadata: { name: 'app' }, state: 'CONTAINER_EXITED', exit_code: 137, image: { image: 'localhost/web:1' }, image_ref: 'sha256:' + hex('c'), labels: { a: 'b' } }, info: { pid: '7' } },
  PodSandboxStatus: { status: sandboxStatus, info: { info: '{}' }, containers_statuses: [], timestamp: '5' },
  ListPodSandbox: { items: [{ id: hex('a'), metadata: { name: 'web-1', uid: 'u', namespace: 'n' }, state: 'SANDBOX_NOTREADY', created_at: '9', labels: { x: 'y' }, runtime_handler: 'h' }] },
  GetContainerEvents: { container_id: hex('b'), container_event_type: 'CONTAINER_DELETED_EVENT', created_at: '3', pod_sandbox_status: sandboxStatus, containers_statuses: [] },
};
const encoded = Object.fromEntries(METHODS.map((m) => [m, svc[m]!.responseSerialize(VALID[m]) as Buffer])) as Record<keyof typeof ANSWERS, Buffer>;

const isStrMap = (m: unknown): boolean => typeof m === 'object' && m !== null && Object.getPrototypeOf(m) === Object.prototype && Object.values(m).every((v) => typeof v === 'string');
const isEnum = (v: unknown): boolean => typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
const isNs = (v: unknown): boolean => typeof v === 'bigint' && v >= 0n;

function checkShape(method: keyof typeof ANSWERS, v: unknown): void {
  const o = v as Obj;
  switch (method) {
    case 'Version':
      for (const k of ['version', 'runtimeName', 'runtimeVersion', 'runtimeApiVersion']) assert.equal(typeof o[k], 'string', k);
      return;
    case 'ContainerStatus':
      assert.equal(typeof v, 'string');
      return;
    case 'ListContainers':
      assert.ok(Array.isArray(v));
      for (const c of v as Obj[]) {
        for (const k of ['id', 'podSandboxId', 'name', 'image', 'imageRef']) assert.equal(typeof c[k], 'string', k);
        assert.ok(Number.isFinite(c.attempt) && isEnum(c.state) && isNs(c.createdAtNs) && isStrMap(c.labels) && isStrMap(c.annotations));
      }
      return;
    case 'PodSandboxStatus':
      if (v === null) return;
      for (const k of ['id', 'name', 'uid', 'namespace']) assert.equal(typeof o[k], 'string', k);
      assert.ok(isEnum(o.state) && isEnum(o.networkMode) && isNs(o.createdAtNs) && isStrMap(o.labels) && isStrMap(o.annotations));
      assert.ok(Array.isArray(o.ips) && (o.ips as unknown[]).every((ip) => typeof ip === 'string' && ip !== ''));
      return;
    case 'ListPodSandbox':
      assert.ok(Array.isArray(v));
      for (const p of v as Obj[]) {
        for (const k of ['id', 'name', 'uid', 'namespace']) assert.equal(typeof p[k], 'string', k);
        assert.ok(isEnum(p.state) && isNs(p.createdAtNs));
      }
      return;
    case 'GetContainerEvents':
      assert.equal(typeof o.containerId, 'string');
      assert.ok(o.type === null || ['CREATED', 'STARTED', 'STOPPED', 'DELETED'].includes(o.type as string));
      assert.ok(isNs(o.createdAtNs));
  }
}

/** Decodes; a refusal is fine (the client reports it), an accepted answer must have the promised types. */
function check(method: keyof typeof ANSWERS, bytes: Buffer): void {
  let v: unknown;
  try {
    v = timed(`decodeAnswer(${method})`, CALL_MS, () => decodeAnswer(method, bytes));
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return;
  }
  checkShape(method, v);
}

function mutate(buf: Buffer, muts: Array<{ at: number; byte: number; cut: boolean }>): Buffer {
  let b = Buffer.from(buf);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.cut) b = b.subarray(0, at);
    else b[at] = m.byte;
  }
  return b;
}

fuzzSuite(import.meta.url, {
  'valid answers decode to exactly what was sent (the subset skips the extra fields)': {
    runs: 1, timeMs: 5_000,
    make: (observe) => fc.property(fc.constant(0), () => {
      observe('valid');
      for (const m of METHODS) check(m, encoded[m]);
      const sb = decodeAnswer('PodSandboxStatus', encoded.PodSandboxStatus);
      assert.deepEqual(sb?.ips, ['10.0.0.1', 'fd00::1']);
      assert.equal(sb?.networkMode, 'NODE');
      assert.equal(decodeAnswer('ContainerStatus', encoded.ContainerStatus), 'localhost/web:1');
      assert.deepEqual(decodeAnswer('GetContainerEvents', encoded.GetContainerEvents), { containerId: hex('b'), type: 'DELETED', createdAtNs: 3n });
      return true;
    }),
  },
  'random bytes: refused or well-typed, never slow': {
    runs: 3_000, timeMs: 20_000,
    make: (observe) => fc.property(fc.constantFrom(...METHODS), fc.uint8Array({ maxLength: 512 }), (m, bytes) => {
      observe({ m, bytes: Buffer.from(bytes).toString('hex') });
      check(m, Buffer.from(bytes));
      return true;
    }),
  },
  'mutated valid answers: refused or well-typed, never slow': {
    runs: 5_000, timeMs: 20_000,
    make: (observe) => fc.property(
      fc.constantFrom(...METHODS),
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), cut: fc.boolean() }), { minLength: 1, maxLength: 6 }),
      (m, muts) => {
        const b = mutate(encoded[m], muts);
        observe({ m, bytes: b.toString('hex') });
        check(m, b);
        return true;
      },
    ),
  },
});
