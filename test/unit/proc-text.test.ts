// SPDX-License-Identifier: Apache-2.0
// Untrusted process bytes as record text (src/capture/proc-text.ts): each kind of bad input
// has one defined rendering, and the rendering is reversible.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ARGS_MAX_COUNT, argsList, bytesText, exeFlagNames, stringText } from '../../src/capture/proc-text.js';
import { CONSTANTS } from '../../src/capture/event-layout.js';

const b = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

/** The inverse of bytesText, written from the rule: \\ is a backslash, \xHH a byte. */
function textBytes(s: string): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  let run = 0;
  while (i < s.length) {
    if (s[i] !== '\\') { i++; continue; }
    out.push(Buffer.from(s.slice(run, i), 'utf8'));
    if (s[i + 1] === '\\') { out.push(Buffer.from('\\')); i += 2; } else {
      assert.equal(s[i + 1], 'x', `escape at ${i} of ${s}`);
      out.push(Buffer.from([parseInt(s.slice(i + 2, i + 4), 16)]));
      i += 4;
    }
    run = i;
  }
  out.push(Buffer.from(s.slice(run), 'utf8'));
  return Buffer.concat(out);
}

test('each kind of bad byte has its rendering; printable UTF-8, spaces and .. stay as they are', () => {
  const cases: Array<[Buffer, string]> = [
    [b('/usr/bin/python3'), '/usr/bin/python3'],
    [b('/tmp/with space/ünï cødé ✓/😀'), '/tmp/with space/ünï cødé ✓/😀'],
    [b('/a/../b/./c/..'), '/a/../b/./c/..'],
    [b('a', [0], 'b'), 'a\\x00b'], // embedded NUL
    [b('line1\nline2\r\n'), 'line1\\x0aline2\\x0d\\x0a'], // newlines
    [b('\x1b[31mred\x1b[0m\x7f'), '\\x1b[31mred\\x1b[0m\\x7f'], // terminal escapes, DEL
    [b('C:\\x00 is not a NUL'), 'C:\\\\x00 is not a NUL'], // a backslash of its own is doubled
    [b('/x', [0xff, 0xfe], 'y'), '/x\\xff\\xfey'], // invalid UTF-8
    [b([0xc0, 0xaf]), '\\xc0\\xaf'], // overlong '/'
    [b([0xed, 0xa0, 0x80]), '\\xed\\xa0\\x80'], // a UTF-16 surrogate
    [b('end', [0xe2, 0x82]), 'end\\xe2\\x82'], // a sequence cut short
    [b([0xf4, 0x90, 0x80, 0x80]), '\\xf4\\x90\\x80\\x80'], // past U+10FFFF
    [b('evil\u202etxt.exe'), 'evil\\xe2\\x80\\xaetxt.exe'], // bidi override
    [b('a\u2028b\u0085c'), 'a\\xe2\\x80\\xa8b\\xc2\\x85c'], // line separator, C1 NEL
  ];
  for (const [bytes, text] of cases) {
    assert.equal(bytesText(bytes), text, JSON.stringify(bytes.toString('latin1')));
    assert.deepEqual(textBytes(text), bytes);
    assert.ok(!/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/.test(text), 'no control character is left');
  }
  assert.equal(stringText('curl'), 'curl');
  assert.equal(stringText('a\nb\\'), 'a\\x0ab\\\\');
});

test('any bytes: valid UTF-8 text without controls, and the bytes come back', () => {
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }).map((s) => Buffer.from(s, 'utf8'))), (a) => {
    const t = bytesText(a);
    // Valid UTF-8 (a U+FFFD in it is one the process wrote: the round trip shows nothing was replaced).
    assert.equal(Buffer.from(t, 'utf8').toString('utf8'), t);
    assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(t));
    assert.deepEqual(textBytes(t), Buffer.from(a));
  }), { numRuns: 2000 });
});

test('a 4 KiB path renders whole (the kernel cut it at PT_EXE_MAX and flagged it)', () => {
  const path = '/' + 'd/'.repeat(2040) + 'x';
  assert.ok(path.length > 4000);
  assert.equal(bytesText(Buffer.from(path)), path);
});

test('argv: NUL-separated, a cut last argument kept, a 100 KiB command line held to PT_ARGS_MAX and marked', () => {
  assert.deepEqual(argsList(b('python3\0script.py\0--x\0'), false), { args: ['python3', 'script.py', '--x'], truncated: false });
  assert.deepEqual(argsList(b('sh\0-c\0echo hi\nrm -rf /\0'), false), { args: ['sh', '-c', 'echo hi\\x0arm -rf /'], truncated: false });
  assert.deepEqual(argsList(b('a\0\0b\0'), false), { args: ['a', '', 'b'], truncated: false }, 'an empty argument stays');
  assert.deepEqual(argsList(b('prog\0half-an-argu'), true), { args: ['prog', 'half-an-argu'], truncated: true });
  assert.deepEqual(argsList(b(''), false), { args: [], truncated: false });
  const huge = b('cmd\0', 'A'.repeat(100 * 1024), '\0');
  const r = argsList(huge, false);
  assert.equal(r.truncated, true);
  assert.deepEqual(r.args, ['cmd', 'A'.repeat(CONSTANTS.PT_ARGS_MAX - 4)]);
  const many = argsList(Buffer.from('x\0'.repeat(1000)), false);
  assert.equal(many.args.length, ARGS_MAX_COUNT);
  assert.equal(many.truncated, true);
});

test('exe flags: names from the kernel bits; DELETED only for a file that had a link', () => {
  assert.deepEqual(exeFlagNames(0, false), []);
  assert.deepEqual(exeFlagNames(0, true), ['DELETED']);
  const memfd = CONSTANTS.PT_EXE_FILELESS | CONSTANTS.PT_EXE_MEMFD | CONSTANTS.PT_EXE_UNREACHABLE;
  assert.deepEqual(exeFlagNames(memfd, true), ['FILELESS', 'MEMFD', 'UNREACHABLE']);
  assert.deepEqual(exeFlagNames(CONSTANTS.PT_EXE_UPPER | CONSTANTS.PT_EXE_PATH_TRUNCATED, false), ['UPPER_LAYER', 'PATH_TRUNCATED']);
  // argv's cut is argsTruncated, not an exe flag.
  assert.deepEqual(exeFlagNames(CONSTANTS.PT_EXE_ARGS_TRUNCATED, false), []);
});
