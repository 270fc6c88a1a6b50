// SPDX-License-Identifier: Apache-2.0
// A read-only CRI client: gRPC (runtime.v1) on a runtime's unix socket.
// - Every unary call carries a deadline (default 2 s), so an absent, refusing or hung socket
//   costs at most that, and the caller falls back to the runtime's files.
// - Answers are bounded by maxMessageBytes (gRPC's own receive limit): a hostile runtime
//   cannot make us decode more than that per call.
// - Nothing is retried here: the caller decides, reading CriError.retriable.
import * as grpc from '@grpc/grpc-js';
import { ConfigError, CriError } from '../../common/errors.js';
import { runtimeServiceClient } from './proto.js';
import type { CriContainer, CriContainerEvent, CriEnum, CriEventType, CriPodSandbox, CriSandboxStatus, CriVersion } from './types.js';

import { CRI_CLIENT_DEFAULTS } from './defaults.js';

export { CRI_CLIENT_DEFAULTS };

export interface CriClientOptions {
  deadlineMs?: number;
  maxMessageBytes?: number;
}

type Obj = Record<string, unknown>;

const asObj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const asStr = (v: unknown): string => (typeof v === 'string' ? v : '');
const asEnum = (v: unknown): CriEnum => (typeof v === 'string' || typeof v === 'number' ? v : 0);
const asNum = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function asNs(v: unknown): bigint {
  if (typeof v !== 'string' && typeof v !== 'number') return 0n;
  try {
    const n = BigInt(v);
    return n > 0n ? n : 0n;
  } catch {
    return 0n;
  }
}

/** A decoded map as a fresh object of string values (defineProperty: a key `__proto__` stays a key). */
function asMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(asObj(v))) {
    if (typeof val === 'string') Object.defineProperty(out, k, { value: val, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const EVENT_TYPES: Record<string, CriEventType> = {
  CONTAINER_CREATED_EVENT: 'CREATED',
  CONTAINER_STARTED_EVENT: 'STARTED',
  CONTAINER_STOPPED_EVENT: 'STOPPED',
  CONTAINER_DELETED_EVENT: 'DELETED',
};

function toContainer(v: unknown): CriContainer {
  const c = asObj(v);
  const md = asObj(c.metadata);
  return {
    id: asStr(c.id), podSandboxId: asStr(c.pod_sandbox_id), name: asStr(md.name), attempt: asNum(md.attempt),
    image: asStr(asObj(c.image).image), imageRef: asStr(c.image_ref), state: asEnum(c.state), createdAtNs: asNs(c.created_at),
    labels: asMap(c.labels), annotations: asMap(c.annotations),
  };
}

function toSandboxStatus(v: unknown): CriSandboxStatus {
  const s = asObj(v);
  const md = asObj(s.metadata);
  const net = asObj(s.network);
  const extra = Array.isArray(net.additional_ips) ? net.additional_ips : [];
  const ips = [asStr(net.ip), ...extra.map((p) => asStr(asObj(p).ip))].filter((ip) => ip !== '');
  const opts = asObj(asObj(asObj(s.linux).namespaces).options);
  return {
    id: asStr(s.id), name: asStr(md.name), uid: asStr(md.uid), namespace: asStr(md.namespace), attempt: asNum(md.attempt),
    state: asEnum(s.state), createdAtNs: asNs(s.created_at), ips, networkMode: asEnum(opts.network),
    labels: asMap(s.labels), annotations: asMap(s.annotations),
  };
}

function toPodSandbox(v: unknown): CriPodSandbox {
  const p = asObj(v);
  const md = asObj(p.metadata);
  return { id: asStr(p.id), name: asStr(md.name), uid: asStr(md.uid), namespace: asStr(md.namespace), state: asEnum(p.state), createdAtNs: asNs(p.created_at) };
}

function toEvent(v: unknown): CriContainerEvent {
  const e = asObj(v);
  const t = e.container_event_type;
  return { containerId: asStr(e.container_id), type: typeof t === 'string' ? (EVENT_TYPES[t] ?? null) : null, createdAtNs: asNs(e.created_at) };
}

/** Each answer's conversion from the decoded message; null: the answer lacks what makes it one. */
export const ANSWERS = {
  Version: (r: Obj): CriVersion => ({ version: asStr(r.version), runtimeName: asStr(r.runtime_name), runtimeVersion: asStr(r.runtime_version), runtimeApiVersion: asStr(r.runtime_api_version) }),
  ListContainers: (r: Obj): CriContainer[] => (Array.isArray(r.containers) ? r.containers : []).map(toContainer),
  ContainerStatus: (r: Obj): string => asStr(asObj(asObj(r.status).image).image),
  PodSandboxStatus: (r: Obj): CriSandboxStatus | null => (r.status === null || r.status === undefined ? null : toSandboxStatus(r.status)),
  ListPodSandbox: (r: Obj): CriPodSandbox[] => (Array.isArray(r.items) ? r.items : []).map(toPodSandbox),
  GetContainerEvents: (r: Obj): CriContainerEvent => toEvent(r),
} as const;

/**
 * Bytes of an answer as the client takes them: the protobuf decode (grpc-js turns a throw there
 * into INTERNAL, which the client reports as PROTOCOL), then the conversion. For tests of hostile answers.
 */
export function decodeAnswer<M extends keyof typeof ANSWERS>(method: M, bytes: Buffer): ReturnType<(typeof ANSWERS)[M]> {
  const def = runtimeServiceClient().service[method]!;
  const decoded = def.responseDeserialize(bytes) as Obj;
  return (ANSWERS[method] as (r: Obj) => ReturnType<(typeof ANSWERS)[M]>)(asObj(decoded));
}

export interface EventStream {
  cancel(): void;
}

type UnaryFn = (req: Obj, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void;

export class CriClient {
  readonly target: string;
  private readonly client: grpc.Client & Record<string, unknown>;
  private readonly deadlineMs: number;
  private closed = false;

  constructor(readonly socket: string, opts: CriClientOptions = {}) {
    if (typeof socket !== 'string' || !socket.startsWith('/') || socket.includes('\0')) {
      throw new ConfigError(`CRI socket must be an absolute path, got ${JSON.stringify(socket)}`);
    }
    this.deadlineMs = opts.deadlineMs ?? CRI_CLIENT_DEFAULTS.deadlineMs;
    if (!Number.isSafeInteger(this.deadlineMs) || this.deadlineMs < 1) throw new ConfigError(`CRI deadline must be a positive integer (ms), got ${String(opts.deadlineMs)}`);
    const maxMessageBytes = opts.maxMessageBytes ?? CRI_CLIENT_DEFAULTS.maxMessageBytes;
    if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1024) throw new ConfigError(`CRI maxMessageBytes must be an integer >= 1024, got ${String(opts.maxMessageBytes)}`);
    this.target = `unix://${socket}`;
    const Ctor = runtimeServiceClient();
    this.client = new Ctor(this.target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': 64 * 1024,
      'grpc.enable_retries': 0,
      // A runtime that restarts is back within a second or two; do not wait minutes for it.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2_000,
    }) as unknown as grpc.Client & Record<string, unknown>;
  }

  private unary(method: string, req: Obj): Promise<unknown> {
    if (this.closed) return Promise.reject(new CriError(`CRI client for ${this.socket} is closed`, 'CLOSED'));
    const fn = this.client[method] as UnaryFn;
    const deadline = Date.now() + this.deadlineMs;
    return new Promise((resolve, reject) => {
      fn.call(this.client, req, { deadline }, (err, res) => {
        if (err) reject(this.mapError(method, err));
        else resolve(res);
      });
    });
  }

  private mapError(method: string, err: grpc.ServiceError): CriError {
    const where = `CRI ${method} on ${this.socket}`;
    // grpc-js appends an empty "Resolution note: " and a timestamp to connection errors; neither helps an operator.
    const detail = (err.details || err.message || '').replace(/\. Resolution note: ?$/, '').replace(/ \(\d{4}-\d\d-\d\dT[\d:.]+Z\)/, '').slice(0, 300);
    switch (err.code) {
      case grpc.status.DEADLINE_EXCEEDED:
        return new CriError(`${where}: no answer within ${this.deadlineMs} ms`, 'DEADLINE', { retriable: true, cause: err });
      case grpc.status.UNAVAILABLE:
        return new CriError(`${where}: unavailable (${detail})`, 'UNAVAILABLE', { retriable: true, cause: err });
      case grpc.status.NOT_FOUND:
        return new CriError(`${where}: not found (${detail})`, 'NOT_FOUND', { cause: err });
      case grpc.status.UNIMPLEMENTED:
        return new CriError(`${where}: not implemented by this runtime`, 'UNIMPLEMENTED', { cause: err });
      case grpc.status.RESOURCE_EXHAUSTED:
        return new CriError(`${where}: answer too large (${detail})`, 'TOO_LARGE', { cause: err });
      case grpc.status.CANCELLED:
        return new CriError(`${where}: cancelled`, 'CLOSED', { cause: err });
      default:
        return new CriError(`${where}: ${grpc.status[err.code] ?? err.code} (${detail})`, 'PROTOCOL', { cause: err });
    }
  }

  async version(): Promise<CriVersion> {
    return ANSWERS.Version(asObj(await this.unary('Version', { version: 'v1' })));
  }

  /** ListContainers; with id, only that container (an empty list when the runtime does not know it). */
  async listContainers(filter: { id?: string; podSandboxId?: string } = {}): Promise<CriContainer[]> {
    const f: Obj = {};
    if (filter.id) f.id = filter.id;
    if (filter.podSandboxId) f.pod_sandbox_id = filter.podSandboxId;
    return ANSWERS.ListContainers(asObj(await this.unary('ListContainers', Object.keys(f).length ? { filter: f } : {})));
  }

  /** ContainerStatus's image name (the image's first tag on containerd); '' when it has none. */
  async containerImage(containerId: string): Promise<string> {
    return ANSWERS.ContainerStatus(asObj(await this.unary('ContainerStatus', { container_id: containerId, verbose: false })));
  }

  async podSandboxStatus(podSandboxId: string): Promise<CriSandboxStatus> {
    const status = ANSWERS.PodSandboxStatus(asObj(await this.unary('PodSandboxStatus', { pod_sandbox_id: podSandboxId, verbose: false })));
    if (status === null) throw new CriError(`CRI PodSandboxStatus on ${this.socket}: answer has no status`, 'PROTOCOL');
    return status;
  }

  async listPodSandbox(): Promise<CriPodSandbox[]> {
    return ANSWERS.ListPodSandbox(asObj(await this.unary('ListPodSandbox', {})));
  }

  /**
   * GetContainerEvents (server stream, no deadline). onEnd gets the error that ended it:
   * UNIMPLEMENTED means the runtime has no event stream (poll instead).
   */
  events(onEvent: (e: CriContainerEvent) => void, onEnd: (err: CriError) => void): EventStream {
    if (this.closed) {
      queueMicrotask(() => onEnd(new CriError(`CRI client for ${this.socket} is closed`, 'CLOSED')));
      return { cancel() {} };
    }
    const fn = this.client.GetContainerEvents as (req: Obj) => grpc.ClientReadableStream<unknown>;
    const call = fn.call(this.client, {});
    let ended = false;
    const end = (err: CriError): void => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    call.on('data', (d: unknown) => onEvent(ANSWERS.GetContainerEvents(asObj(d))));
    call.on('error', (err: grpc.ServiceError) => end(this.mapError('GetContainerEvents', err)));
    call.on('end', () => end(new CriError(`CRI GetContainerEvents on ${this.socket}: the runtime ended the stream`, 'UNAVAILABLE', { retriable: true })));
    return {
      cancel: () => {
        ended = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.closed = true;
    this.client.close();
  }
}
