// SPDX-License-Identifier: Apache-2.0
// Untrusted process bytes (executable paths, argv, comm) as record text. Any process
// chooses them, so they may hold invalid UTF-8, NULs, line breaks or terminal and bidi
// controls. One reversible rule, applied once at capture, makes every later form (JSON,
// pretty, CEF, OCSF, ECS, syslog) safe without each escaping its own way:
// - a backslash becomes `\\`;
// - each byte that is not part of valid UTF-8, each C0 control (0x00-0x1f), DEL, C1
//   control (U+0080-U+009F), line/paragraph separator (U+2028, U+2029) and bidi control
//   (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) becomes `\xHH` per byte;
// - everything else, spaces and `..` components included, is kept as it is.
import { CONSTANTS } from './event-layout.js';

/** Arguments a record holds at most; the kernel keeps PT_ARGS_MAX bytes of argv. */
export const ARGS_MAX_COUNT = 128;

const hex = (b: number) => `\\x${b < 16 ? '0' : ''}${b.toString(16)}`;

/** Code points passed through as \xHH bytes although valid UTF-8. */
function escapedCodePoint(cp: number): boolean {
  return (cp >= 0x80 && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029 || cp === 0x200e || cp === 0x200f ||
    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/** Length of the valid UTF-8 sequence at i (2-4), or 0 when it is not one. */
function seqLen(b: Uint8Array, i: number, end: number): number {
  const c = b[i]!;
  let n: number;
  let min: number;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; } else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; } else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; } else return 0;
  if (i + n > end) return 0;
  let cp = c & (0xff >> (n + 1));
  for (let k = 1; k < n; k++) {
    const x = b[i + k]!;
    if ((x & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (x & 0x3f);
  }
  // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
  if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
  return escapedCodePoint(cp) ? -n : n;
}

/** bytes[start, end) as record text, by the rule above. */
export function bytesText(b: Uint8Array, start = 0, end = b.length): string {
  let out = '';
  let run = start; // start of a run of bytes kept as they are
  const flush = (to: number) => {
    if (to > run) out += Buffer.from(b.buffer, b.byteOffset + run, to - run).toString('utf8');
  };
  for (let i = start; i < end;) {
    const c = b[i]!;
    if (c >= 0x20 && c < 0x7f && c !== 0x5c) { i++; continue; }
    if (c >= 0x80) {
      const n = seqLen(b, i, end);
      if (n > 0) { i += n; continue; }
      flush(i);
      const k = n < 0 ? -n : 1;
      for (let j = 0; j < k; j++) out += hex(b[i + j]!);
      i += k;
      run = i;
      continue;
    }
    flush(i);
    out += c === 0x5c ? '\\\\' : hex(c);
    i++;
    run = i;
  }
  flush(end);
  return out;
}

/** A JS string (comm as decoded, say) through the same rule, by its UTF-8 bytes. */
export function stringText(s: string): string {
  // The common case, printable ASCII without a backslash, needs no copy.
  if (/^[\x20-\x5b\x5d-\x7e]*$/.test(s)) return s;
  return bytesText(Buffer.from(s, 'utf8'));
}

/**
 * argv as the kernel holds it (NUL-terminated strings, the last one cut when argv was
 * longer than it keeps) as a list. A NUL ends an argument, so there is no embedded NUL
 * to render; a process that rewrote its argv area shows what it wrote.
 */
export function argsList(raw: Uint8Array, cut: boolean): { args: string[]; truncated: boolean } {
  const args: string[] = [];
  let truncated = cut;
  // The kernel and the /proc seed keep at most PT_ARGS_MAX bytes; hold anything else to it too.
  if (raw.length > CONSTANTS.PT_ARGS_MAX) {
    raw = raw.subarray(0, CONSTANTS.PT_ARGS_MAX);
    truncated = true;
  }
  let from = 0;
  while (from < raw.length) {
    if (args.length === ARGS_MAX_COUNT) {
      truncated = true;
      break;
    }
    let nul = raw.indexOf(0, from);
    if (nul < 0) nul = raw.length; // the last argument, cut
    args.push(bytesText(raw, from, nul));
    from = nul + 1;
  }
  return { args, truncated };
}

/** The record's exeFlags, from the exec's flags and whether the file had a link at connect. */
export function exeFlagNames(flags: number, unlinked: boolean): string[] {
  const out: string[] = [];
  // A fileless exec has never had a link; DELETED says a file that had one lost it.
  if (unlinked && (flags & CONSTANTS.PT_EXE_FILELESS) === 0) out.push('DELETED');
  if (flags & CONSTANTS.PT_EXE_FILELESS) out.push('FILELESS');
  if (flags & CONSTANTS.PT_EXE_MEMFD) out.push('MEMFD');
  if (flags & CONSTANTS.PT_EXE_UPPER) out.push('UPPER_LAYER');
  if (flags & CONSTANTS.PT_EXE_PATH_TRUNCATED) out.push('PATH_TRUNCATED');
  if (flags & CONSTANTS.PT_EXE_UNREACHABLE) out.push('UNREACHABLE');
  return out;
}
