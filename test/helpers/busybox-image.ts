// SPDX-License-Identifier: Apache-2.0
// The test image: a root filesystem holding only a static busybox and its applet
// links, imported with `docker import` because nothing can be pulled here.
import { copyFile, mkdir, open, symlink, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { HarnessError, run } from './proc.js';

export const TEST_IMAGE = 'podtrail/busybox:test';

/**
 * True when the ELF file has no PT_INTERP program header, i.e. needs no dynamic loader.
 * Debian's plain `busybox` package is dynamic and would not run in an empty rootfs;
 * `busybox-static` is what we need.
 */
export async function isStaticElf(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const hdr = Buffer.alloc(64);
    await fh.read(hdr, 0, 64, 0);
    if (hdr.readUInt32BE(0) !== 0x7f454c46) return false;
    const is64 = hdr[4] === 2;
    const le = hdr[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? hdr.readBigUInt64LE(32) : hdr.readBigUInt64BE(32)) : u32(hdr, 28);
    const phentsize = u16(hdr, is64 ? 54 : 42);
    const phnum = u16(hdr, is64 ? 56 : 44);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (u32(ph, i * phentsize) === 3 /* PT_INTERP */) return false;
    }
    return true;
  } finally {
    await fh.close();
  }
}

/** Builds <workDir>/rootfs and <workDir>/busybox.tar; returns the tar path. */
export async function buildBusyboxTar(busybox: string, workDir: string): Promise<string> {
  if (!(await isStaticElf(busybox))) {
    throw new HarnessError(`${busybox} is dynamically linked; install busybox-static (apt-get install -y busybox-static)`);
  }
  const listed = await run(busybox, ['--list']);
  if (listed.code !== 0) throw new HarnessError(`${busybox} --list failed: ${listed.stderr}`);
  const applets = listed.stdout.split('\n').filter((a) => /^[\w.[\]-]+$/.test(a) && a !== 'busybox');

  const root = join(workDir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'root', 'www', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  await copyFile(busybox, join(root, 'bin/busybox'));
  await chmod(join(root, 'bin/busybox'), 0o755);
  for (const a of applets) await symlink('busybox', join(root, 'bin', a));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');

  const tar = join(workDir, 'busybox.tar');
  // busybox's own tar keeps the prerequisites to dockerd + busybox-static.
  const r = await run(busybox, ['tar', '-C', root, '-cf', tar, '.']);
  if (r.code !== 0) throw new HarnessError(`building ${tar} failed: ${r.stderr}`);
  return tar;
}
