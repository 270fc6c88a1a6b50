// SPDX-License-Identifier: Apache-2.0
// Sends syslog messages over TCP (octet-counted, RFC 6587) or UDP (one per datagram,
// RFC 5426). TCP reconnects on its own with capped exponential backoff; a write resolves
// once the kernel has taken the bytes, and rejects if the connection is down or breaks,
// so the caller keeps its Kafka offsets and retries: nothing is dropped while the server
// is away. TCP syslog has no acknowledgements (RELP has), so bytes the kernel accepted in
// the instant before the server died can still be lost, and a retried batch can repeat.
import net from 'node:net';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { PodtrailError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { octetFrame, type SyslogTarget } from './syslog-message.js';

/** Delivery trouble: retriable when the server may come back, not for a message it can never take. */
export class SyslogError extends PodtrailError {
  constructor(message: string, readonly code: 'DISCONNECTED' | 'WRITE_FAILED' | 'TOO_LARGE' | 'CLOSED', opts: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, opts);
  }
}

export interface SyslogSenderOptions {
  target: SyslogTarget;
  logger: Logger;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  connectTimeoutMs?: number;
}

export interface SenderStats { messages: number; connects: number; disconnects: number; connectFailures: number }

const UDP_MAX = 65_507;

export class SyslogSender {
  private tcp: net.Socket | undefined;
  private udp: dgram.Socket | undefined;
  private up = false;
  private closed = false;
  private loop: Promise<void> | undefined;
  private waiters: Array<() => void> = [];
  private sleepTimer: NodeJS.Timeout | undefined;
  readonly stats: SenderStats = { messages: 0, connects: 0, disconnects: 0, connectFailures: 0 };
  private readonly minBackoff: number;
  private readonly maxBackoff: number;
  private readonly connectTimeout: number;

  constructor(private readonly opts: SyslogSenderOptions) {
    this.minBackoff = opts.minBackoffMs ?? 200;
    this.maxBackoff = opts.maxBackoffMs ?? 10_000;
    this.connectTimeout = opts.connectTimeoutMs ?? 5_000;
  }

  get connected(): boolean {
    return this.up;
  }

  /** Starts connecting (once); true when ready within waitMs. Keeps retrying in the background. */
  async ready(waitMs: number): Promise<boolean> {
    if (this.closed) throw new SyslogError('syslog sender is closed', 'CLOSED');
    this.loop ??= this.connectLoop().finally(() => { this.loop = undefined; });
    if (this.up) return true;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, waitMs);
      function done() { clearTimeout(t); resolve(); }
      this.waiters.push(done);
    });
    return this.up;
  }

  private async connectLoop(): Promise<void> {
    let backoff = this.minBackoff;
    const log = this.opts.logger;
    while (!this.closed && !this.up) {
      try {
        await (this.opts.target.transport === 'tcp' ? this.connectTcp() : this.openUdp());
        this.up = true;
        this.stats.connects++;
        log.info({ target: `${this.opts.target.transport}://${this.opts.target.host}:${this.opts.target.port}` }, 'syslog connected');
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
        return;
      } catch (err) {
        this.stats.connectFailures++;
        log.warn({ err, retryInMs: backoff }, 'syslog server unreachable; will retry');
        await new Promise<void>((r) => { this.sleepTimer = setTimeout(r, backoff * (0.8 + Math.random() * 0.4)); });
        backoff = Math.min(this.maxBackoff, backoff * 2);
      }
    }
  }

  private connectTcp(): Promise<void> {
    const { host, port } = this.opts.target;
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, timeout: this.connectTimeout });
      const fail = (err: Error) => { sock.destroy(); reject(err); };
      sock.once('error', fail);
      sock.once('timeout', () => fail(new Error(`connect to ${host}:${port} timed out after ${this.connectTimeout} ms`)));
      sock.once('connect', () => {
        sock.off('error', fail);
        sock.setTimeout(0);
        sock.setKeepAlive(true, 10_000);
        sock.setNoDelay(true);
        // Receivers do not talk back on plain syslog; any end or error means the link is gone.
        const lost = (why: string, err?: Error) => {
          if (this.tcp !== sock) return;
          this.tcp = undefined;
          this.up = false;
          this.stats.disconnects++;
          sock.destroy();
          this.opts.logger.warn({ err, why }, 'syslog connection lost; reconnecting');
          if (!this.closed) this.loop ??= this.connectLoop().finally(() => { this.loop = undefined; });
        };
        sock.on('error', (e) => lost('error', e));
        sock.on('end', () => lost('server closed the connection'));
        sock.on('close', () => lost('closed'));
        sock.on('data', () => undefined);
        this.tcp = sock;
        resolve();
      });
    });
  }

  private async openUdp(): Promise<void> {
    const { host, port } = this.opts.target;
    const family = net.isIP(host) || (await lookup(host)).family;
    const sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      // A connected UDP socket reports the ICMP "port unreachable" of a server that is down.
      sock.connect(port, host, () => { sock.off('error', reject); resolve(); });
    });
    sock.on('error', (err) => this.opts.logger.warn({ err }, 'syslog UDP socket error'));
    this.udp = sock;
  }

  /**
   * Writes the messages in order. Resolves when all were handed to the kernel. A
   * SyslogError with retriable true means none or some were written and the connection is
   * being re-established; TOO_LARGE (UDP only) names a message no retry can send.
   */
  async write(msgs: Buffer[]): Promise<void> {
    if (this.closed) throw new SyslogError('syslog sender is closed', 'CLOSED');
    if (!this.up) throw new SyslogError('syslog server not connected', 'DISCONNECTED', { retriable: true });
    if (this.opts.target.transport === 'tcp') return this.writeTcp(msgs);
    return this.writeUdp(msgs);
  }

  private writeTcp(msgs: Buffer[]): Promise<void> {
    const sock = this.tcp;
    if (!sock) return Promise.reject(new SyslogError('syslog server not connected', 'DISCONNECTED', { retriable: true }));
    const data = Buffer.concat(msgs.map(octetFrame));
    return new Promise((resolve, reject) => {
      const onClose = () => reject(new SyslogError('syslog connection closed during a write', 'WRITE_FAILED', { retriable: true }));
      sock.once('close', onClose);
      sock.write(data, (err) => {
        sock.off('close', onClose);
        if (err) return reject(new SyslogError(`syslog write failed: ${err.message}`, 'WRITE_FAILED', { cause: err, retriable: true }));
        this.stats.messages += msgs.length;
        resolve();
      });
    });
  }

  private async writeUdp(msgs: Buffer[]): Promise<void> {
    const sock = this.udp as dgram.Socket;
    for (const m of msgs) {
      if (m.length > UDP_MAX) throw new SyslogError(`syslog message of ${m.length} bytes does not fit a UDP datagram (${UDP_MAX})`, 'TOO_LARGE');
      await new Promise<void>((resolve, reject) => {
        sock.send(m, (err) => {
          if (err) reject(new SyslogError(`syslog UDP send failed: ${err.message}`, 'WRITE_FAILED', { cause: err, retriable: true }));
          else resolve();
        });
      });
      this.stats.messages++;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    this.up = false;
    const tcp = this.tcp;
    this.tcp = undefined;
    if (tcp) {
      await new Promise<void>((r) => {
        tcp.once('close', () => r());
        tcp.end();
        setTimeout(() => tcp.destroy(), 1000).unref();
      });
    }
    const udp = this.udp;
    this.udp = undefined;
    if (udp) await new Promise<void>((r) => udp.close(() => r()));
  }
}
