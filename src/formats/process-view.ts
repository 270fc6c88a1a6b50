// SPDX-License-Identifier: Apache-2.0
// What the SIEM mappers and pretty share about a record's process identity: the command
// line as one string, the executable's file name, the exe flags as a number. The strings
// are already record text (src/capture/proc-text.ts: no control characters, backslashes
// doubled), so what is left to decide here is how arguments join.
import type { Process } from '../schema/types.js';

/** exeFlags names and their bits in CEF's cn3 (keep in step with the AuditRecord doc). */
export const EXE_FLAG_BITS: Record<string, number> = {
  DELETED: 1, FILELESS: 2, MEMFD: 4, UPPER_LAYER: 8, PATH_TRUNCATED: 16, UNREACHABLE: 32,
};

/**
 * argv joined by spaces. An argument that is empty or holds a space or a quote is put in
 * double quotes with its double quotes as \" (unambiguous: a backslash of its own is already
 * \\). A cut argv ends in " ..." outside any quotes. Empty when argv is unknown.
 */
export function commandLine(p: Pick<Process, 'args' | 'argsTruncated'>): string {
  const line = p.args.map((a) => (a === '' || /[\s"']/.test(a) ? `"${a.replace(/"/g, '\\"')}"` : a)).join(' ');
  return p.argsTruncated && line !== '' ? `${line} ...` : line;
}

/** The last component of a path (the file's name), or the path when it has none. */
export function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i >= 0 && i < path.length - 1 ? path.slice(i + 1) : path;
}

/** exeFlags as the bits above; names it does not know (from a newer writer) count as none. */
export function exeFlagBits(flags: readonly string[]): number {
  return flags.reduce((n, f) => n | (EXE_FLAG_BITS[f] ?? 0), 0);
}
