// SPDX-License-Identifier: Apache-2.0
// A Kafka broker of one test's own (scripts/kafka-local.sh on a free port and a data dir of
// its own), for fault tests that kill, freeze or restart it without touching anyone else's.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { repoRoot } from './ns.js';

/** A test's broker lives for seconds to minutes: the C1 compiler alone starts it sooner and
 * leaves the two cores to the code under test (no C2 compile threads). */
const TEST_JVM_OPTS = '-XX:TieredStopAtLevel=1';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A client port whose controller port (+1000) is free too. */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    // Below the ephemeral range (32768+), so no outgoing connection holds it meanwhile.
    const p = 22000 + Math.floor(Math.random() * 6000);
    if ((await portFree(p)) && (await portFree(p + 1000))) return p;
  }
  throw new Error('no free port pair for a private broker');
}

const alive = (pid: number): boolean => {
  try {
    // A zombie still has /proc/<pid>; its state says it is gone.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

export class PrivateBroker {
  private constructor(readonly port: number, readonly dir: string, private readonly env: NodeJS.ProcessEnv = {}) {}

  /** env: more of kafka-local.sh's settings (PODTRAIL_KAFKA_SECURITY, PODTRAIL_KAFKA_USERS_DIR). */
  static async create(tag: string, env: NodeJS.ProcessEnv = {}): Promise<PrivateBroker> {
    const port = await freePortPair();
    return new PrivateBroker(port, join(repoRoot, '.tmp', `kafka-${tag}-${process.pid}-${port}`), env);
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  kafka(clientId = 'podtrail-fault-test'): Kafka {
    return new Kafka({ clientId, brokers: [this.address], logLevel: logLevel.NOTHING, connectionTimeout: 3000 });
  }

  /** Creates topics, retrying while a fresh broker still settles its metadata (kafkajs can throw then). */
  async createTopics(topics: string[], numPartitions: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const admin = this.kafka().admin();
      try {
        await admin.connect();
        await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions, replicationFactor: 1 })), waitForLeaders: true });
        const md = await admin.fetchTopicMetadata({ topics });
        if (md.topics.every((x) => x.partitions.length === numPartitions && x.partitions.every((p) => p.leader >= 0))) return;
        throw new Error(`topics not ready: ${JSON.stringify(md.topics)}`);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }
  }

  private async script(cmd: 'start' | 'stop'): Promise<void> {
    const env = { ...process.env, ...this.env, PODTRAIL_KAFKA_PORT: String(this.port), PODTRAIL_KAFKA_DIR: this.dir, PODTRAIL_KAFKA_HEAP: '512m', PODTRAIL_KAFKA_JVM_OPTS: TEST_JVM_OPTS }; // 256m ran out on a restart with a fault test's transactions to recover
    try {
      await promisify(execFile)('bash', [join(repoRoot, 'scripts', 'kafka-local.sh'), cmd], { env, timeout: 150_000 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`kafka-local.sh ${cmd} on port ${this.port} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }

  /** Returns once the broker answers a metadata request (after a SIGKILL it replays its log first). */
  async start(): Promise<void> {
    try {
      await this.script('start');
    } catch (err) {
      // kafka-local.sh passes a random cluster id as a separate argument; one in 64 starts with
      // '-' and the storage tool takes it for an option (reported; fixed in the script). Only a
      // first start formats, so a retry with a fresh dir is safe.
      if (!/argument --cluster-id\/-t: expected one argument/.test((err as Error).message)) throw err;
      rmSync(this.dir, { recursive: true, force: true });
      await this.script('start');
    }
  }

  pid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dir, 'kafka.pid'), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** SIGKILL, no warning; resolves once the process is gone and its port no longer answers. */
  async kill(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) throw new Error(`no broker runs from ${this.dir}`);
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 30_000;
    while (alive(pid) || !(await portFree(this.port))) {
      if (Date.now() > deadline) throw new Error(`broker ${pid} still there 30 s after SIGKILL`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A clean stop that keeps the data dir: start() brings the same broker back. */
  async stop(): Promise<void> {
    await this.script('stop');
  }

  /** SIGSTOP: the broker hangs (connections stay open, nothing answers) until thaw(). */
  freeze(): void {
    const pid = this.pid();
    if (pid === undefined) throw new Error(`no broker runs from ${this.dir}`);
    process.kill(pid, 'SIGSTOP');
  }

  thaw(): void {
    const pid = this.pid();
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
  }

  /** Ends a broker whose data nobody needs: SIGKILL (no clean shutdown to wait for), then removes the data dir. */
  async discard(): Promise<void> {
    this.thaw();
    if (this.pid() !== undefined) await this.kill().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** For after(): thaws, stops and removes the data dir, whatever state it is in. */
  async destroy(): Promise<void> {
    this.thaw();
    await this.script('stop').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** With PODTRAIL_TEST_LOGDIR set, keeps the stages' logs there (for a failure seen in CI). */
export function keepLogs(test: string, logs: Record<string, string | undefined>): void {
  const dir = process.env.PODTRAIL_TEST_LOGDIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(logs)) if (text) writeFileSync(join(dir, `${test}.${name}.log`), text);
}

/**
 * A KRaft cluster of this test's own: scripts/kafka-local.sh with PODTRAIL_KAFKA_NODES, nodes on
 * port, port+1, ... (controllers on +1000), each startable and killable by itself.
 */
export class PrivateCluster {
  private constructor(readonly port: number, readonly dir: string, readonly nodes: number) {}

  static async create(tag: string, nodes = 3): Promise<PrivateCluster> {
    for (let i = 0; i < 50; i++) {
      const p = 22000 + Math.floor(Math.random() * 6000);
      let free = true;
      for (let n = 0; n < nodes && free; n++) free = (await portFree(p + n)) && (await portFree(p + n + 1000));
      if (free) return new PrivateCluster(p, join(repoRoot, '.tmp', `kafka-${tag}-${process.pid}-${p}`), nodes);
    }
    throw new Error('no free ports for a private cluster');
  }

  get addresses(): string[] {
    return Array.from({ length: this.nodes }, (_, i) => `127.0.0.1:${this.port + i}`);
  }

  kafka(clientId = 'podtrail-cluster-test'): Kafka {
    return new Kafka({ clientId, brokers: this.addresses, logLevel: logLevel.NOTHING, connectionTimeout: 3000 });
  }

  private async script(cmd: 'start' | 'stop', node?: number): Promise<void> {
    const env = {
      ...process.env, PODTRAIL_KAFKA_PORT: String(this.port), PODTRAIL_KAFKA_DIR: this.dir, PODTRAIL_KAFKA_NODES: String(this.nodes),
      PODTRAIL_KAFKA_HEAP: '384m', PODTRAIL_KAFKA_JVM_OPTS: TEST_JVM_OPTS, ...(node ? { PODTRAIL_KAFKA_NODE: String(node) } : {}),
    };
    try {
      await promisify(execFile)('bash', [join(repoRoot, 'scripts', 'kafka-local.sh'), cmd], { env, timeout: 240_000 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`kafka-local.sh ${cmd} (cluster on ${this.port}${node ? `, node ${node}` : ''}) failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }

  start(node?: number): Promise<void> {
    return this.script('start', node);
  }

  /** A clean stop (SIGTERM, controlled shutdown) of one node, or of all. */
  stop(node?: number): Promise<void> {
    return this.script('stop', node);
  }

  pid(node: number): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dir, `node-${node}`, 'kafka.pid'), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** SIGKILL one node; resolves once it is gone and its port is free. */
  async kill(node: number): Promise<void> {
    const pid = this.pid(node);
    if (pid === undefined) throw new Error(`node ${node} of the cluster in ${this.dir} is not running`);
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 30_000;
    while (alive(pid) || !(await portFree(this.port + node - 1))) {
      if (Date.now() > deadline) throw new Error(`node ${node} (pid ${pid}) still there 30 s after SIGKILL`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Kills every node and removes the data, unless `keep` (a failure to inspect with kafka-dump-log). */
  async discard(keep = false): Promise<void> {
    for (let n = 1; n <= this.nodes; n++) {
      const pid = this.pid(n);
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    }
    for (let n = 1; n <= this.nodes; n++) {
      const deadline = Date.now() + 30_000;
      while (this.pid(n) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}
