// SPDX-License-Identifier: Apache-2.0
// Bounded reads of node files under a host root, never leaving that root.
//
// Path resolution walks one component at a time from an open directory handle, like
// openat2(RESOLVE_IN_ROOT), which Node does not expose. Opening `/proc/self/fd/<dirfd>/<name>`
// is openat(dirfd, name): the kernel follows the fd's magic link, then looks up `name` alone,
// and O_NOFOLLOW refuses a symlink swapped in between our lstat and open.
// - An absolute symlink target is re-rooted at the host root: on the node, /var/lib/docker ->
//   /mnt/disk/docker means <root>/mnt/disk/docker. So a data root moved by symlink works, and a
//   link to /etc/shadow reads <root>/etc/shadow, never the reader's own.
// - `..` that would climb above the root is refused (OUTSIDE_ROOT). On the node it would stop at
//   /, but no real runtime layout needs that, and refusing makes an escape attempt visible.
// - Only regular files are opened (lstat first, so a FIFO or device is never opened), size is
//   bounded before and during the read (TOO_LARGE), and at most 40 symlinks are followed.
// - No O_CLOEXEC below: libuv sets it on every fd it opens.
import { constants as C, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { MetadataError, errMessage } from '../common/errors.js';

export const DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024;
const MAX_SYMLINKS = 40;

function fdPath(fh: FileHandle, name: string): string {
  return `/proc/self/fd/${fh.fd}/${name}`;
}

function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

function fsError(err: unknown, what: string): MetadataError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new MetadataError(`${what}: not found`, 'NOT_FOUND', { cause: err });
  if (code === 'ELOOP') return new MetadataError(`${what}: symlink where none is allowed`, 'BAD_PATH', { cause: err });
  const transient = code === 'EMFILE' || code === 'ENFILE' || code === 'EAGAIN' || code === 'EINTR';
  return new MetadataError(`${what}: ${errMessage(err)}`, 'IO', { cause: err, retriable: transient });
}

/** Reads an open regular file, refusing more than maxBytes even if it grows while we read. */
async function readBounded(fh: FileHandle, st: Stats, maxBytes: number, what: string): Promise<Buffer> {
  if (st.size > maxBytes) throw new MetadataError(`${what}: ${st.size} bytes, limit ${maxBytes}`, 'TOO_LARGE');
  // One byte more than the limit, so a file at exactly the limit is accepted and one past it is not.
  let buf = Buffer.allocUnsafe(Math.min(maxBytes + 1, Math.max(st.size + 1, 4096)));
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      const bigger = Buffer.allocUnsafe(Math.min(maxBytes + 1, buf.length * 2));
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
    const { bytesRead } = await fh.read(buf, len, buf.length - len, len);
    if (bytesRead === 0) break;
    len += bytesRead;
    if (len > maxBytes) throw new MetadataError(`${what}: more than ${maxBytes} bytes`, 'TOO_LARGE');
  }
  return buf.subarray(0, len);
}

export interface ReadOptions {
  maxBytes?: number;
}

/**
 * Reads `path` (interpreted inside `root`, absolute or not) without leaving `root`.
 * Throws MetadataError: NOT_FOUND, TOO_LARGE, OUTSIDE_ROOT, BAD_PATH (not a regular file,
 * symlink loop, NUL), IO.
 */
export async function readFileInRoot(root: string, path: string, opts: ReadOptions = {}): Promise<Buffer> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  const what = path;
  if (path.includes('\0') || root.includes('\0')) throw new MetadataError(`${what}: NUL in path`, 'BAD_PATH');
  let rootFh: FileHandle;
  try {
    rootFh = await fsp.open(root, C.O_RDONLY | C.O_DIRECTORY);
  } catch (err) {
    throw fsError(err, `host root ${root}`);
  }
  // stack[0] is the root; stack[i] is the directory reached after i components.
  const stack: FileHandle[] = [rootFh];
  const closeAbove = async (depth: number): Promise<void> => {
    while (stack.length > depth) await stack.pop()!.close();
  };
  try {
    let pending = splitPath(path);
    let links = 0;
    while (pending.length > 0) {
      const name = pending.shift()!;
      if (name === '..') {
        if (stack.length === 1) throw new MetadataError(`${what}: '..' leaves the host root`, 'OUTSIDE_ROOT');
        await stack.pop()!.close();
        continue;
      }
      const dir = stack[stack.length - 1]!;
      const p = fdPath(dir, name);
      let st: Stats;
      try {
        st = await fsp.lstat(p);
      } catch (err) {
        throw fsError(err, what);
      }
      if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw new MetadataError(`${what}: too many symlinks`, 'BAD_PATH');
        let target: string;
        try {
          target = await fsp.readlink(p);
        } catch (err) {
          throw fsError(err, what);
        }
        if (target.startsWith('/')) await closeAbove(1);
        pending = [...splitPath(target), ...pending];
        continue;
      }
      if (pending.length > 0) {
        if (!st.isDirectory()) throw new MetadataError(`${what}: not found (a component is not a directory)`, 'NOT_FOUND');
        try {
          stack.push(await fsp.open(p, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW));
        } catch (err) {
          throw fsError(err, what);
        }
        continue;
      }
      if (!st.isFile()) throw new MetadataError(`${what}: not a regular file`, 'BAD_PATH');
      let fh: FileHandle;
      try {
        fh = await fsp.open(p, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY);
      } catch (err) {
        throw fsError(err, what);
      }
      try {
        const fst = await fh.stat();
        if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev) {
          throw new MetadataError(`${what}: changed while opening`, 'IO', { retriable: true });
        }
        return await readBounded(fh, fst, maxBytes, what);
      } catch (err) {
        if (err instanceof MetadataError) throw err;
        throw fsError(err, what);
      } finally {
        await fh.close();
      }
    }
    throw new MetadataError(`${what}: names a directory, not a file`, 'BAD_PATH');
  } finally {
    await closeAbove(0);
  }
}

/** Reads an operator-given file (e.g. --docker-config) with the size bound; symlinks are the operator's business. */
export async function readFileBounded(path: string, opts: ReadOptions = {}): Promise<Buffer> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (path.includes('\0')) throw new MetadataError(`${path}: NUL in path`, 'BAD_PATH');
  let fh: FileHandle;
  try {
    fh = await fsp.open(path, C.O_RDONLY | C.O_NONBLOCK | C.O_NOCTTY);
  } catch (err) {
    throw fsError(err, path);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new MetadataError(`${path}: not a regular file`, 'BAD_PATH');
    return await readBounded(fh, st, maxBytes, path);
  } catch (err) {
    if (err instanceof MetadataError) throw err;
    throw fsError(err, path);
  } finally {
    await fh.close();
  }
}

/** Parses JSON from bytes; BAD_JSON on failure. The result is untrusted: callers check every field's type. */
export function parseJson(buf: Buffer, what: string): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new MetadataError(`${what}: bad JSON (${errMessage(err)})`, 'BAD_JSON', { cause: err });
  }
}

export async function readJsonInRoot(root: string, path: string, opts: ReadOptions = {}): Promise<unknown> {
  return parseJson(await readFileInRoot(root, path, opts), path);
}
