// SPDX-License-Identifier: Apache-2.0
// An in-process CRI runtime (gRPC runtime.v1 on a unix socket) for what cannot run here:
// CRI-O has no package on this machine, and a hostile or broken runtime is made to order.
// It speaks the messages of cri-kubelet.proto, which has fields podtrail's subset lacks.
// Plus three sockets that are not CRI: one that accepts and never answers, one that answers
// HTTP/1.1, one that writes garbage.
import { createServer, type Server, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { kubeletProtoPath } from './containerd.js';

type Obj = Record<string, unknown>;
export type Handler = (req: Obj) => Obj | Promise<Obj>;

export class CriStatusError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

export interface FakeCri {
  socket: string;
  calls: Array<{ method: string; req: Obj }>;
  /** pushes an event to every open GetContainerEvents stream */
  emit(event: Obj): void;
  stop(): Promise<void>;
}

export interface FakeCriHandlers {
  Version?: Handler;
  ListContainers?: Handler;
  ContainerStatus?: Handler;
  PodSandboxStatus?: Handler;
  ListPodSandbox?: Handler;
  /** undefined: UNIMPLEMENTED, as a runtime without events answers */
  events?: boolean;
}

export async function startFakeCri(socket: string, handlers: FakeCriHandlers): Promise<FakeCri> {
  await rm(socket, { force: true });
  const def = loadSync(kubeletProtoPath(), { keepCase: true, longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } };
  const server = new grpc.Server();
  const calls: FakeCri['calls'] = [];
  const streams = new Set<grpc.ServerWritableStream<Obj, Obj>>();
  const impl: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(pkg.runtime.v1.RuntimeService.service)) {
    if (name === 'GetContainerEvents') continue;
    impl[name] = (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) => {
      calls.push({ method: name, req: call.request });
      const h = (handlers as Record<string, Handler | undefined>)[name];
      if (!h) return cb({ code: grpc.status.UNIMPLEMENTED, details: `${name} not implemented` });
      Promise.resolve()
        .then(() => h(call.request))
        .then((res) => cb(null, res), (err: unknown) => {
          if (err instanceof CriStatusError) cb({ code: err.code, details: err.message });
          else cb({ code: grpc.status.INTERNAL, details: String(err) });
        });
    };
  }
  impl.GetContainerEvents = (call: grpc.ServerWritableStream<Obj, Obj>) => {
    calls.push({ method: 'GetContainerEvents', req: call.request });
    if (!handlers.events) {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'GetContainerEvents not implemented' });
      return;
    }
    streams.add(call);
    call.on('cancelled', () => streams.delete(call));
  };
  server.addService(pkg.runtime.v1.RuntimeService.service, impl);
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return {
    socket,
    calls,
    emit(event) {
      for (const s of streams) s.write(event);
    },
    async stop() {
      for (const s of streams) s.end();
      await new Promise<void>((r) => server.tryShutdown(() => r()));
      server.forceShutdown();
      await rm(socket, { force: true });
    },
  };
}

export interface RawSocketServer {
  socket: string;
  connections: number;
  stop(): Promise<void>;
}

/** A unix socket server that does `onConnect` with each connection and nothing else. */
export async function startRawServer(socket: string, onConnect: (s: Socket) => void): Promise<RawSocketServer> {
  await rm(socket, { force: true });
  const open = new Set<Socket>();
  const out: RawSocketServer = {
    socket,
    connections: 0,
    async stop() {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(socket, { force: true });
    },
  };
  const server: Server = createServer((s) => {
    out.connections++;
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
    onConnect(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  return out;
}
