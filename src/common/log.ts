// SPDX-License-Identifier: Apache-2.0
// One pino root logger, to stderr: JSON by default, pretty when stderr is a TTY.
// Components take logger.child({ module }). Never bind untrusted event fields.
import { pino, type Logger, type LevelWithSilent } from 'pino';

let root: Logger | undefined;

export function createRootLogger(level: LevelWithSilent = 'info', pretty = process.stderr.isTTY === true): Logger {
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:standard' } },
    });
  }
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: false }));
}

export function setRootLogger(logger: Logger): void {
  root = logger;
}

export function rootLogger(): Logger {
  if (!root) {
    const envLevel = process.env.PODTRAIL_LOG_LEVEL as LevelWithSilent | undefined;
    root = createRootLogger(envLevel ?? 'info');
  }
  return root;
}

export function moduleLogger(module: string): Logger {
  return rootLogger().child({ module });
}

export type { Logger };
