#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// podtrail: the one CLI. Each command lives in its own module and declares its options.
import { ConfigError, PodtrailError } from '../common/errors.js';
import { createRootLogger, setRootLogger, rootLogger } from '../common/log.js';
import { formatHelp, parseOptions } from '../common/options.js';
import type { Command } from './command.js';
import { COMMANDS } from './commands.js';

function topHelp(commands: Array<Pick<Command, 'name' | 'summary'>>): string {
  const w = Math.max(...commands.map((c) => c.name.length)) + 4;
  return [
    'podtrail: attribute every outbound connection on a Kubernetes node to its pod, container and process.',
    '',
    'Usage: podtrail <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    '',
    'Run `podtrail <command> --help` for a command\'s options. Logs go to stderr.',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const commands = COMMANDS;
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topHelp(commands));
    return name ? 0 : 2;
  }
  if (name === '--version') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`podtrail: unknown command "${name}"\n\n${topHelp(commands)}`);
    return 2;
  }
  const cmd = (await entry.load()).default as Command;
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(formatHelp(cmd.usage, cmd.summary, cmd.options));
    return 0;
  }
  try {
    const { values, positionals } = parseOptions(cmd.name, rest, cmd.options);
    const level = (values as Record<string, unknown>)['log-level'] as string | undefined;
    setRootLogger(createRootLogger((level ?? process.env.PODTRAIL_LOG_LEVEL ?? 'info') as 'info'));
    return await cmd.run(values, positionals);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    const log = rootLogger();
    log.fatal({ err }, err instanceof PodtrailError ? err.message : 'podtrail failed');
    log.flush?.();
    process.stderr.write(`podtrail ${cmd.name}: ${(err as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit explicitly: a client retrying against a dead broker must not keep us alive.
    process.exitCode = code;
    const log = rootLogger();
    log.flush?.();
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err) => {
    process.stderr.write(`podtrail: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
