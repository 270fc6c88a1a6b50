// SPDX-License-Identifier: Apache-2.0
// DNS over TCP (RFC 7766): each message is preceded by a 2-byte length, and the kernel side
// hands us segments as they arrive, so one message can span segments and one segment can hold
// several. Reassembled here per socket, with a byte cap per stream and a cap on streams, so a
// pod that opens many connections or announces huge messages costs us a bounded amount.

import { ConfigError } from '../../common/errors.js';
import { Lru } from './lru.js';

export type TcpStreamIssue =
  | 'message-too-large' // a length prefix over the cap: the stream is dropped
  | 'bad-length' // a length prefix under a DNS header's 12 bytes: not DNS framing, dropped
  | 'gap' // a segment's sequence number is not the next one expected: bytes were missed
  | 'streams-full'; // more open streams than the cap: the least recently used was dropped

export interface TcpStreamOptions {
  /** largest DNS message accepted, bytes (answers with EDNS rarely pass 4 KiB) */
  maxMessageBytes: number;
  /** streams kept at once */
  maxStreams: number;
}

export const TCP_STREAM_DEFAULTS: TcpStreamOptions = { maxMessageBytes: 16_384, maxStreams: 4096 };

interface Stream {
  buf: Buffer;
  /** the TCP sequence number expected next, when the kernel side reports them */
  nextSeq: number | null;
  /** after a bad length, ignore the rest of this stream: its framing is lost */
  dead: boolean;
}

export class DnsTcpReassembler {
  private readonly streams = new Lru<string, Stream>();
  readonly issues = new Map<TcpStreamIssue, number>();
  private readonly opts: TcpStreamOptions;

  constructor(opts: Partial<TcpStreamOptions> = {}) {
    this.opts = { ...TCP_STREAM_DEFAULTS, ...opts };
    if (!(this.opts.maxMessageBytes >= 12 && this.opts.maxMessageBytes <= 65_535)) throw new ConfigError('DNS over TCP: maxMessageBytes must be 12..65535');
    if (!(this.opts.maxStreams >= 1)) throw new ConfigError('DNS over TCP: maxStreams must be >= 1');
  }

  get size(): number {
    return this.streams.size;
  }

  private note(i: TcpStreamIssue): void {
    this.issues.set(i, (this.issues.get(i) ?? 0) + 1);
  }

  /**
   * Adds one segment of stream `key` (e.g. socket cookie and direction); returns the whole
   * messages it completes, without their length prefixes. `seq` is the segment's TCP
   * sequence number when known: a jump means lost bytes and the framing restarts there.
   */
  push(key: string, data: Uint8Array, seq?: number): Buffer[] {
    let s = this.streams.get(key);
    if (!s) {
      s = { buf: Buffer.alloc(0), nextSeq: null, dead: false };
      if (this.streams.size >= this.opts.maxStreams) {
        this.streams.shift();
        this.note('streams-full');
      }
      this.streams.set(key, s);
    }
    if (seq !== undefined) {
      if (s.nextSeq !== null && seq !== s.nextSeq) {
        this.note('gap');
        // Cannot know where a message starts inside the stream: assume this segment starts one,
        // as a retry after a gap usually does; a wrong guess fails the parser and is counted there.
        s.buf = Buffer.alloc(0);
        s.dead = false;
      }
      s.nextSeq = (seq + data.length) >>> 0;
    }
    if (s.dead) return [];
    s.buf = s.buf.length === 0 ? Buffer.from(data) : Buffer.concat([s.buf, data]);
    const out: Buffer[] = [];
    while (s.buf.length >= 2) {
      const len = s.buf.readUInt16BE(0);
      if (len > this.opts.maxMessageBytes || len < 12) {
        this.note(len < 12 ? 'bad-length' : 'message-too-large');
        s.buf = Buffer.alloc(0);
        s.dead = true;
        break;
      }
      if (s.buf.length < 2 + len) break;
      out.push(Buffer.from(s.buf.subarray(2, 2 + len)));
      s.buf = s.buf.subarray(2 + len);
    }
    // What is held never exceeds one message plus its prefix: the cap above bounds it.
    return out;
  }

  /** The socket closed: forget its stream. */
  close(key: string): void {
    this.streams.delete(key);
  }
}
