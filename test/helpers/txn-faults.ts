// SPDX-License-Identifier: Apache-2.0
// Faults in a transaction's commit, on a real broker, through a kafkajs socket factory: the broker
// takes the first EndTxn(commit) and its answer is lost (the connection breaks), as when a broker
// dies right after taking it (fault-broker-kill). Used by enrich-commit-outcome and
// export-commit-outcome.
import net from 'node:net';
import { Kafka, logLevel, type ISocketFactory } from 'kafkajs';
import { pino, type Logger } from 'pino';
import { BROKERS } from './kafka.js';

const END_TXN = 26;

/** The correlation id of an EndTxn(commit) request frame (v0/v1, not flexible), else undefined. */
export function endTxnCommit(frame: Buffer): number | undefined {
  if (frame.length < 14 || frame.readInt16BE(4) !== END_TXN || frame.readInt16BE(6) > 1) return undefined;
  const correlationId = frame.readInt32BE(8);
  let off = 12;
  off += 2 + Math.max(0, frame.readInt16BE(off)); // client id
  off += 2 + Math.max(0, frame.readInt16BE(off)); // transactional id
  off += 8 + 2; // producer id, epoch
  return frame[off] === 1 ? correlationId : undefined;
}

/** Sockets for kafkajs that lose the broker's answer to the first EndTxn(commit) and break that connection. */
export class LoseFirstCommitAnswer {
  armed = true;
  lost = 0;

  readonly factory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    const doomed = new Set<number>();
    const write = socket.write.bind(socket) as unknown as (...a: unknown[]) => boolean;
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (this.armed && Buffer.isBuffer(chunk)) {
        const c = endTxnCommit(chunk);
        if (c !== undefined) {
          this.armed = false;
          doomed.add(c);
        }
      }
      return write(chunk, ...rest);
    }) as unknown as typeof socket.write;
    // Response frames: int32 size, int32 correlation id, body. Follow their boundaries.
    let header = Buffer.alloc(0);
    let bodyLeft = 0;
    const emit = socket.emit.bind(socket) as unknown as (event: string | symbol, ...a: unknown[]) => boolean;
    socket.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event !== 'data' || !Buffer.isBuffer(args[0])) return emit(event, ...args);
      const buf = args[0];
      let i = 0;
      while (i < buf.length) {
        if (bodyLeft > 0) {
          const n = Math.min(bodyLeft, buf.length - i);
          i += n;
          bodyLeft -= n;
          continue;
        }
        const frameStart = i - header.length;
        const take = Math.min(8 - header.length, buf.length - i);
        header = Buffer.concat([header, buf.subarray(i, i + take)]);
        i += take;
        if (header.length < 8) break;
        bodyLeft = header.readInt32BE(0) - 4;
        const correlationId = header.readInt32BE(4);
        header = Buffer.alloc(0);
        if (doomed.has(correlationId)) {
          // The broker has taken the commit; kafkajs never hears of it.
          this.lost++;
          if (frameStart > 0) emit('data', buf.subarray(0, frameStart));
          socket.destroy(new Error('test: the answer to EndTxn(commit) was lost'));
          return true;
        }
      }
      return emit('data', buf);
    }) as unknown as typeof socket.emit;
    return socket;
  };
}

/** A Kafka client whose sockets lose the first commit answer, and a logger whose lines the test reads. */
export function lossyClient(clientId: string): { lose: LoseFirstCommitAnswer; kafka: Kafka; log: Logger; lines: string[] } {
  const lose = new LoseFirstCommitAnswer();
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(s); } });
  const kafka = new Kafka({ clientId, brokers: BROKERS, logLevel: logLevel.NOTHING, connectionTimeout: 3000, socketFactory: lose.factory });
  return { lose, kafka, log, lines };
}

/** Polls `cond` every 100 ms; throws after `ms`, with `why()` appended. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number, why: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${why()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The group's committed offset of topic/0 ('-1' when none). */
export async function committedOffset(kafka: Kafka, group: string, topic: string): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return t?.partitions.find((p) => p.partition === 0)?.offset ?? '-1';
  } finally {
    await admin.disconnect();
  }
}

/** Values seen more than once, as "value xN". */
export function repeated(values: string[]): string[] {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].filter(([, n]) => n > 1).map(([v, n]) => `${v} x${n}`);
}
