// SPDX-License-Identifier: Apache-2.0
// podtrail up (`npm start`): the whole pipeline on this machine. Starts the local Kafka
// when PODTRAIL_BROKERS is unset, runs capture and enrich as child processes, and tails the
// audit topic in pretty form until Ctrl-C; then stops everything it started.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../common/errors.js';
import { moduleLogger } from '../common/log.js';
import { createKafka } from '../kafka/client.js';
import { ensureTopics } from '../kafka/topics.js';
import { defineCommand } from './command.js';
import { CAPTURE_NODE_FLAGS } from '../capture/node-flags.js';

/** The port scripts/kafka-local.sh listens on: PODTRAIL_KAFKA_PORT, else 9092. */
export function localKafkaPort(env: NodeJS.ProcessEnv): number {
  const raw = env.PODTRAIL_KAFKA_PORT;
  if (raw === undefined || raw === '') return 9092;
  const port = /^[0-9]{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new ConfigError(`podtrail up: PODTRAIL_KAFKA_PORT must be a port number (1-65535), got ${JSON.stringify(raw)}`);
  return port;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = path.join(root, 'bin/podtrail.js');

const options = {
  format: { type: 'enum', choices: ['pretty', 'json'], default: 'pretty', desc: 'how to show audit records' },
  'exclude-loopback': { type: 'boolean', desc: 'do not show connections to 127.0.0.0/8 and ::1' },
  'host-root': { type: 'string', arg: 'DIR', default: '/', desc: "where the node's filesystem is (for metadata)" },
} as const;

export default defineCommand({
  name: 'up',
  summary: 'run capture + enrich here (starting a local Kafka if none is configured) and show audit records',
  usage: 'Usage: podtrail up [--format pretty|json] [--exclude-loopback]   (npm start)',
  options,
  async run(v) {
    const log = moduleLogger('up');
    if (process.getuid?.() !== 0) throw new ConfigError('podtrail up: capture loads eBPF programs: run as root (sudo npm start)');
    let startedKafka = false;
    const env = { ...process.env };
    if (!env.PODTRAIL_BROKERS) {
      localKafkaPort(env); // a bad port is a ConfigError before anything starts
      const script = path.join(root, 'scripts/kafka-local.sh');
      const status = spawnSync('bash', [script, 'status'], { stdio: 'ignore' });
      if (status.status !== 0) {
        log.info('PODTRAIL_BROKERS is unset: starting the local Kafka (scripts/kafka-local.sh start)');
        const r = spawnSync('bash', [script, 'start'], { stdio: ['ignore', 'inherit', 'inherit'] });
        if (r.status !== 0) throw new Error('could not start the local Kafka broker; see the lines above');
        startedKafka = true;
      }
      env.PODTRAIL_BROKERS = `127.0.0.1:${localKafkaPort(env)}`;
    }
    // Create the topics first, so tail has something to subscribe to.
    const { KAFKA_OPTIONS, TOPIC_OPTIONS, kafkaConfigFrom, topicsConfigFrom } = await import('../common/config.js');
    const { parseOptions } = await import('../common/options.js');
    const common = parseOptions('up', [], { ...KAFKA_OPTIONS, ...TOPIC_OPTIONS }, env).values;
    const topics = topicsConfigFrom(common);
    await ensureTopics(createKafka(kafkaConfigFrom(common, env)), topics);
    const children: ChildProcess[] = [];
    const run = (args: string[], stdio: 'inherit' | 'ignore' = 'ignore', nodeFlags: readonly string[] = []) => {
      const c = spawn(process.execPath, [...nodeFlags, bin, ...args], { env, stdio: ['ignore', stdio, 'inherit'] });
      children.push(c);
      return c;
    };
    const capture = run(['capture', ...(v['exclude-loopback'] ? ['--exclude-loopback'] : [])], 'ignore', CAPTURE_NODE_FLAGS);
    const enrich = run(['enrich', '--host-root', v['host-root'] as string]);
    // --since now: tail's group join takes a moment; nothing captured meanwhile is missed.
    const tail = run(['tail', '--topic', topics.audit, '--since', new Date().toISOString(), '--format', v.format as string], 'inherit');
    log.info('capture, enrich and tail running; make a connection (curl, ssh, a pod...) and watch. Ctrl-C stops.');

    const exited = new Promise<string>((resolve) => {
      for (const [name, c] of [['capture', capture], ['enrich', enrich], ['tail', tail]] as const) {
        c.once('exit', (code, sig) => resolve(`${name} exited (${code ?? sig})`));
      }
    });
    const signalled = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    const why = await Promise.race([exited, signalled]);
    log.info({ why }, 'stopping');
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 15_000).unref();
    })));
    if (startedKafka) spawnSync('bash', [path.join(root, 'scripts/kafka-local.sh'), 'stop'], { stdio: 'inherit' });
    return why.startsWith('SIG') ? 0 : 1;
  },
});
