// SPDX-License-Identifier: Apache-2.0
// Property tests of what operators type: every command's flags and environment variables
// (parseOptions over the real option tables), the Kafka TLS/SASL settings, the syslog URL
// and the schema-registry URL. Any input gives valid values or a ConfigError, never another
// error; accepted values honour their declared type, range and choices.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../../src/common/errors.js';
import { KAFKA_OPTIONS, checkBrokerList, kafkaConfigFrom } from '../../src/common/config.js';
import { parseOptions, type OptSpecs } from '../../src/common/options.js';
import { parseSyslogUrl } from '../../src/export/syslog-message.js';
import { SchemaRegistryClient } from '../../src/schema/confluent.js';
import { loadCommands } from '../../src/cli/commands.js';
import type { Command } from '../../src/cli/command.js';
import { fuzzSuite, mainTest } from '../helpers/fuzz.js';

function configOnly(err: unknown): void {
  if (err instanceof ConfigError) return;
  throw new Error(`not a ConfigError: ${(err as Error)?.stack ?? String(err)}`);
}

const commands: Command[] = await loadCommands();
const VALUES = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer().map(String),
  fc.constantFrom('', ' ', '0', '-1', '1', '65536', ' 12 ', '1e3', '0x10', '9007199254740993', '-9007199254740993', 'true', 'off', 'YES',
    'a,b', ',', ' , ', '127.0.0.1:9092', '[::1]:9092', 'host:0', 'host:99999', 'podtrail.raw.v1', '..', 'a'.repeat(250), 'json', 'pretty', '\0'),
);

/** argv tokens for a command: its flags (with and without values), unknown flags, positionals. */
function argvArb(cmd: Command): fc.Arbitrary<string[]> {
  const names = Object.keys(cmd.options);
  const token = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...names), VALUES).map(([n, v]) => [`--${n}`, v]) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...names), VALUES).map(([n, v]) => [`--${n}=${v}`]) },
    { weight: 2, arbitrary: fc.constantFrom(...names).map((n) => [`--${n}`]) },
    { weight: 1, arbitrary: fc.constantFrom(['--nope'], ['-x'], ['--'], ['-'], ['--help=1'], ['positional']) },
  );
  return fc.array(token, { maxLength: 6 }).map((ts) => ts.flat());
}

function envArb(cmd: Command): fc.Arbitrary<Record<string, string>> {
  const vars = Object.values(cmd.options as OptSpecs).map((s) => s.env).filter((e): e is string => e !== undefined);
  return vars.length === 0 ? fc.constant({}) : fc.dictionary(fc.constantFrom(...vars), VALUES, { maxKeys: 5 });
}

/** Accepted values honour their spec. */
function honoured(specs: OptSpecs, values: Record<string, unknown>): void {
  for (const [name, s] of Object.entries(specs)) {
    const v = values[name];
    if (v === undefined) continue;
    switch (s.type) {
      case 'boolean': assert.equal(typeof v, 'boolean', name); break;
      case 'int':
        assert.ok(Number.isSafeInteger(v), `${name}: ${String(v)} is an integer`);
        if (s.min !== undefined) assert.ok((v as number) >= s.min, name);
        if (s.max !== undefined) assert.ok((v as number) <= s.max, name);
        break;
      case 'enum': assert.ok(s.choices!.includes(v as string), name); break;
      case 'list': assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '' && x === x.trim()), name); break;
      default: assert.equal(typeof v, 'string', name);
    }
  }
}

const HOSTS = fc.oneof(fc.constantFrom('localhost', '127.0.0.1', '[::1]', '[fe80::1]', 'syslog.example', 'a-b_c.d'), fc.string({ unit: fc.constantFrom(...'abc09.-_'), minLength: 1, maxLength: 10 }));
const percent = fc.oneof(fc.constantFrom('%', '%Z', '%ZZ', '%E0%A4%A', '%41', '%00', '%C3%A9', '%FF'), fc.string({ unit: fc.constantFrom('a', '%', '4', '1', 'Z', ':'), maxLength: 6 }));

fuzzSuite(import.meta.url, {
  'parseOptions: every command, any flags and environment: valid values or a ConfigError': {
    runs: 6_000, timeMs: 500,
    make: (observe) => fc.property(
      fc.constantFrom(...commands).chain((cmd) => fc.tuple(fc.constant(cmd), argvArb(cmd), envArb(cmd))),
      ([cmd, argv, env]) => {
        observe({ cmd: cmd.name, argv, env });
        let parsed;
        try {
          parsed = parseOptions(cmd.name, argv, cmd.options, env);
        } catch (err) {
          configOnly(err);
          return;
        }
        honoured(cmd.options, parsed.values as Record<string, unknown>);
      }),
  },
  'kafkaConfigFrom: any TLS/SASL settings give a config or a ConfigError': {
    runs: 3_000, timeMs: 300,
    make: (observe) => {
      const file = fc.constantFrom(undefined, '/nonexistent/ca.pem', '/', '/dev/null', '/proc/self/status', '', 'relative.pem');
      return fc.property(
        fc.record({ ssl: fc.boolean(), 'ssl-ca': file, 'ssl-cert': file, 'ssl-key': file,
          'sasl-mechanism': fc.constantFrom(undefined, 'plain', 'scram-sha-256', 'scram-sha-512'),
          'sasl-username': fc.constantFrom(undefined, '', 'u'), 'sasl-password-file': file }),
        fc.constantFrom(undefined, '', 'secret'),
        (over, password) => {
          observe({ over, password });
          const base = parseOptions('x', [], KAFKA_OPTIONS, {}).values;
          try {
            const cfg = kafkaConfigFrom({ ...base, ...over } as typeof base, password === undefined ? {} : { PODTRAIL_SASL_PASSWORD: password });
            if (cfg.sasl) assert.ok(cfg.sasl.username && cfg.sasl.password !== undefined);
          } catch (err) {
            configOnly(err);
          }
        });
    },
  },
  'parseSyslogUrl: any text gives a target or a ConfigError; valid targets round-trip': {
    runs: 20_000, timeMs: 400,
    make: (observe) => fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.tuple(fc.constantFrom('tcp', 'udp', 'TCP', 'http', ''), HOSTS, fc.oneof(fc.integer({ min: -1, max: 70000 }).map(String), fc.constantFrom('', '00080', '1e3', '514 ')), fc.constantFrom('', '/', '//', '/x'))
          .map(([t, h, p, s]) => `${t}://${h}:${p}${s}`),
      ),
      (text) => {
        observe(text);
        let target;
        try {
          target = parseSyslogUrl(text);
        } catch (err) {
          configOnly(err);
          return;
        }
        assert.ok(target.transport === 'tcp' || target.transport === 'udp');
        assert.ok(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535);
        assert.ok(target.host.length > 0 && !/[[\]/]/.test(target.host));
        const host = target.host.includes(':') ? `[${target.host}]` : target.host;
        assert.deepEqual(parseSyslogUrl(`${target.transport}://${host}:${target.port}`), target);
      }),
  },
  'SchemaRegistryClient: any --schema-registry text is accepted or refused with a ConfigError': {
    runs: 10_000, timeMs: 400,
    make: (observe) => fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.tuple(fc.constantFrom('http', 'https', 'ftp', 'file', ''), percent, fc.option(percent), HOSTS, fc.constantFrom('', ':8081', ':0', ':99999'))
          .map(([s, u, p, h, port]) => `${s}://${u}${p === null ? '' : `:${p}`}@${h}${port}`),
      ),
      (url) => {
        observe(url);
        try {
          new SchemaRegistryClient(url);
        } catch (err) {
          configOnly(err);
        }
      }),
  },
  'checkBrokerList: any list gives a message or nothing, never a throw': {
    runs: 10_000, timeMs: 300,
    make: (observe) => fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), HOSTS.map((h) => `${h}:9092`))), (list) => {
      observe(list);
      const r = checkBrokerList(list);
      assert.ok(r === undefined || typeof r === 'string');
    }),
  },
});

// Found by the property above (shrunk to "http://%@localhost"): percent-encoding that does not decode threw a URIError, so
// `--schema-registry http://%ZZ@host:8081` crashed with "URI malformed" instead of exiting 2.
mainTest('regression: malformed percent-encoding in --schema-registry credentials is a ConfigError naming the flag', () => {
  for (const url of ['http://%@localhost', 'http://%ZZ@registry:8081', 'http://user:%E0%A4%A@registry:8081/']) {
    assert.throws(() => new SchemaRegistryClient(url), (e: unknown) => e instanceof ConfigError && /--schema-registry/.test(e.message) && !e.message.includes('%'));
  }
});
