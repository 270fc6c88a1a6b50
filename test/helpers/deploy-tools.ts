// SPDX-License-Identifier: Apache-2.0
// What the deployment tests share: a venv under .tmp/ with kubernetes-validate (PyPI;
// it bundles Kubernetes' JSON schemas, so validating needs no network) whose PyYAML
// also turns YAML into JSON; docker-compose; and the CLI's own option parser, to prove
// that the args and env each service or container gets are ones podtrail accepts.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './cli.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { parseOptions } from '../../src/common/options.js';
import type { Command } from '../../src/cli/command.js';

export const KUBERNETES_VALIDATE = 'kubernetes-validate==1.37.0';
export const VENV = path.join(REPO_ROOT, '.tmp', 'kubeval-venv');
export const VENV_BIN = path.join(VENV, 'bin');
export const K8S_DIR = path.join(REPO_ROOT, 'deploy', 'kubernetes');

/** node:test's skip option: skip visibly outside CI; in CI the suite runs and its before() fails. */
export function skipUnlessCi(missing: string | undefined): string | false {
  return missing && process.env.CI !== 'true' ? missing : false;
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' }).status === 0;
}

/** Creates the venv once (a marker names the pinned package). Returns why it could not, or undefined. */
export function ensureValidatorVenv(): string | undefined {
  const marker = path.join(VENV, '.podtrail-ready');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === KUBERNETES_VALIDATE) return undefined;
  if (!hasCommand('python3')) return 'python3 is missing';
  rmSync(VENV, { recursive: true, force: true });
  const steps: string[][] = [
    ['python3', '-m', 'venv', VENV],
    [path.join(VENV_BIN, 'pip'), 'install', '--quiet', '--disable-pip-version-check', KUBERNETES_VALIDATE],
  ];
  for (const [cmd, ...args] of steps) {
    const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) {
      rmSync(VENV, { recursive: true, force: true });
      return `${cmd} ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim().slice(-400)} ` +
        '(python3 -m venv needs Debian\'s python3-venv; pip needs PyPI)';
    }
  }
  writeFileSync(marker, KUBERNETES_VALIDATE);
  return undefined;
}

const YAML_TO_JSON = `import json, sys, yaml
docs = []
for f in sys.argv[1:]:
    with (open(f) if f != '-' else sys.stdin) as fh:
        docs.extend(d for d in yaml.safe_load_all(fh) if d is not None)
print(json.dumps(docs))`;

/** Every YAML document in the files (or in `text` when files is empty), in order. */
export function yamlDocs(files: string[], text?: string): any[] {
  const r = spawnSync(path.join(VENV_BIN, 'python'), ['-c', YAML_TO_JSON, ...(files.length ? files : ['-'])], {
    encoding: 'utf8',
    input: text ?? '',
  });
  if (r.status !== 0) throw new Error(`YAML parse failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as any[];
}

export interface ValidateResult { ok: boolean; output: string }

export function kubernetesValidate(files: string[], version: string): ValidateResult {
  const r = spawnSync(path.join(VENV_BIN, 'kubernetes-validate'), ['--strict', '-k', version, ...files], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/**
 * Parses `argv` (`<command> --flag value ...`) with the real command's option table and
 * the given environment, as `podtrail` would at start. Throws podtrail's ConfigError.
 */
export async function parseCli(argv: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  const [name, ...rest] = argv;
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) throw new Error(`"${name}" is not a podtrail command (${COMMANDS.map((c) => c.name).join(', ')})`);
  const cmd = (await entry.load()).default as Command;
  return parseOptions(cmd.name, rest, cmd.options, env).values as Record<string, unknown>;
}

/** docker-compose, never near a Docker engine: DOCKER_HOST points at nothing. */
export function dockerCompose(args: string[], cwd = REPO_ROOT): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('docker-compose', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/podtrail-test/docker.sock', COMPOSE_PROJECT_NAME: 'podtrail' },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
