// SPDX-License-Identifier: Apache-2.0
// A cgroup program of someone else's that refuses connects to port 9, held by
// test/helpers/cg-deny.c while a test runs (see that file).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './ns.js';

const run = promisify(execFile);

export class CgroupDeny {
  private constructor(private readonly child: ChildProcess) {}

  /** Builds the loader and the program, attaches them to dir, resolves once attached. */
  static async attach(dir: string): Promise<CgroupDeny> {
    const out = join(repoRoot, '.tmp');
    mkdirSync(out, { recursive: true });
    const obj = join(out, 'cg-deny.bpf.o');
    const bin = join(out, 'cg-deny');
    await run('clang', ['-O2', '-g', '-target', 'bpf', '-I', join(repoRoot, 'bpf', '.output'), '-c',
      join(repoRoot, 'test', 'helpers', 'cg-deny.bpf.c'), '-o', obj]);
    const { stdout: flags } = await run('pkg-config', ['--cflags', '--libs', 'libbpf']);
    await run('cc', ['-O2', '-Wall', '-o', bin, join(repoRoot, 'test', 'helpers', 'cg-deny.c'), ...flags.trim().split(/\s+/)]);
    const child = spawn(bin, [obj, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('attached')) resolve(); });
      child.on('exit', (code) => reject(new Error(`cg-deny exited ${code}: ${err}`)));
    });
    return new CgroupDeny(child);
  }

  /** Detaches (the loader exits when its stdin closes). */
  async detach(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.on('exit', resolve));
    this.child.stdin!.end();
    await exited;
  }
}
