// SPDX-License-Identifier: Apache-2.0
// Declarative CLI flags with environment fallbacks, validated once with a clear message.
// Each command declares its options; common ones (brokers, topics, TLS/SASL, log level)
// live in config.ts.
import { parseArgs } from 'node:util';
import { ConfigError } from './errors.js';

export type OptType = 'string' | 'boolean' | 'int' | 'enum' | 'list';

export interface OptSpec {
  type: OptType;
  desc: string;
  env?: string;
  default?: string | number | boolean | string[];
  choices?: readonly string[];
  min?: number;
  max?: number;
  /** extra validation; return an error message or undefined */
  check?: (v: any) => string | undefined;
  /** placeholder in --help, e.g. MS or FILE */
  arg?: string;
  /** hide from --help */
  hidden?: boolean;
}

export type OptSpecs = Record<string, OptSpec>;

export type OptValues<S extends OptSpecs> = {
  [K in keyof S]: S[K]['type'] extends 'boolean' ? boolean
    : S[K]['type'] extends 'int' ? number
    : S[K]['type'] extends 'list' ? string[]
    : string | undefined;
};

/** Parse argv (without the command name) against specs, falling back to env, then defaults. */
export function parseOptions<S extends OptSpecs>(
  command: string,
  argv: string[],
  specs: S,
  env: NodeJS.ProcessEnv = process.env,
): { values: OptValues<S>; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  // A list may be given comma-separated, by repeating the flag, or both.
  for (const [name, s] of Object.entries(specs)) options[name] = s.type === 'boolean' ? { type: 'boolean' } : s.type === 'list' ? { type: 'string', multiple: true } : { type: 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new ConfigError(`podtrail ${command}: ${msg} (see podtrail ${command} --help)`, { cause: err });
  }
  const values: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(specs)) {
    const fromFlag = parsed.values[name];
    const fromEnv = s.env !== undefined ? env[s.env] : undefined;
    const where = fromFlag !== undefined ? `--${name}` : `${s.env}`;
    let raw: unknown = fromFlag ?? (fromEnv === '' ? undefined : fromEnv);
    if (Array.isArray(raw)) raw = raw.join(',');
    if (raw === undefined) {
      values[name] = s.type === 'boolean' ? (s.default ?? false) : s.type === 'list' ? (s.default ?? []) : s.default;
      continue;
    }
    values[name] = convert(command, name, where, s, raw);
  }
  return { values: values as OptValues<S>, positionals: parsed.positionals };
}

function convert(command: string, name: string, where: string, s: OptSpec, raw: unknown): unknown {
  const fail = (why: string): never => {
    throw new ConfigError(`podtrail ${command}: ${where}: ${why}, got ${JSON.stringify(raw)}`);
  };
  let v: unknown;
  switch (s.type) {
    case 'boolean':
      if (typeof raw === 'boolean') v = raw;
      else if (/^(1|true|yes|on)$/i.test(String(raw))) v = true;
      else if (/^(0|false|no|off)$/i.test(String(raw))) v = false;
      else fail('expected true or false');
      break;
    case 'int': {
      const text = String(raw).trim();
      if (!/^-?\d+$/.test(text)) fail('expected an integer');
      const n = Number(text);
      if (!Number.isSafeInteger(n)) fail('integer out of range');
      if (s.min !== undefined && n < s.min) fail(`must be at least ${s.min}`);
      if (s.max !== undefined && n > s.max) fail(`must be at most ${s.max}`);
      v = n;
      break;
    }
    case 'enum':
      if (!s.choices?.includes(String(raw))) fail(`expected one of ${s.choices?.join('|')}`);
      v = String(raw);
      break;
    case 'list':
      v = String(raw).split(',').map((x) => x.trim()).filter((x) => x.length > 0);
      if ((v as string[]).length === 0) fail('expected a comma-separated list');
      break;
    default:
      v = String(raw);
      if (v === '') fail('must not be empty');
  }
  const problem = s.check?.(v);
  if (problem) fail(problem);
  void name;
  return v;
}

export function formatHelp(usage: string, summary: string, specs: OptSpecs): string {
  const rows = Object.entries(specs)
    .filter(([, s]) => !s.hidden)
    .map(([name, s]) => {
      const arg = s.type === 'boolean' ? '' : s.arg ? ` ${s.arg}` : s.type === 'enum' ? ` ${s.choices?.join('|')}` : s.type === 'int' ? ' N' : ' VALUE';
      const extra = [
        s.default !== undefined && s.type !== 'boolean' ? `default ${Array.isArray(s.default) ? s.default.join(',') : s.default}` : '',
        s.env ? `env ${s.env}` : '',
      ].filter(Boolean).join('; ');
      return [`  --${name}${arg}`, `${s.desc}${extra ? ` (${extra})` : ''}`];
    });
  const width = Math.min(34, Math.max(...rows.map((r) => (r[0] as string).length)) + 2);
  const lines = rows.map(([a, b]) =>
    (a as string).length + 2 > width ? `${a}\n${' '.repeat(width)}${b}` : `${(a as string).padEnd(width)}${b}`);
  return `${usage}\n\n${summary}\n\nOptions:\n${lines.join('\n')}\n`;
}
