// SPDX-License-Identifier: Apache-2.0
// Process identity from the kernel's exec records to every output form: the process table
// and identityOf render it once, and JSON, pretty, CEF, OCSF and ECS each show the bad
// inputs (invalid UTF-8, NULs, newlines, 100 KiB argv, 4 KiB paths, .., CEF's own
// separators) the one defined way, on one line, and parse back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONSTANTS, type RawProcRecord } from '../../src/capture/event-layout.js';
import { ProcessTable } from '../../src/capture/process-table.js';
import { identityOf, flagsOf } from '../../src/capture/proc-identity.js';
import { auditToJson } from '../../src/schema/json-form.js';
import { toPretty } from '../../src/schema/pretty.js';
import { toCef } from '../../src/formats/cef.js';
import { toOcsf } from '../../src/formats/ocsf.js';
import { toEcs } from '../../src/formats/ecs.js';
import type { AuditRecord } from '../../src/schema/types.js';
import { sampleAudit } from '../helpers/records.js';
import { parseCef } from '../helpers/cef-parse.js';
import { OcsfSchema } from '../helpers/ocsf-schema.js';

const ocsf = new OcsfSchema();

let seq = 0n;
function exec(tgid: number, keyNs: bigint, ppid: number, parentKeyNs: bigint, comm: string, exe: Buffer | string, args: Buffer | string, exeFlags = 0): RawProcRecord {
  const a = Buffer.from(args);
  const kept = a.subarray(0, CONSTANTS.PT_ARGS_MAX);
  return {
    kind: 'proc', procKind: 'exec', seq: ++seq, tsNs: keyNs, tgid, keyNs, ppid, parentKeyNs, startNs: keyNs, uid: 0, comm,
    exeFlags: exeFlags | (a.length > kept.length ? CONSTANTS.PT_EXE_ARGS_TRUNCATED : 0), exe: Buffer.from(exe), args: Buffer.from(kept), argsFull: a.length,
  };
}

/** An audit record of a connect by (pid, key), with its identity as capture gives it. */
function recordOf(table: ProcessTable, pid: number, key: bigint, unlinked = false): AuditRecord {
  const id = identityOf(table, pid, key);
  const base = sampleAudit();
  return {
    ...base,
    process: {
      ...base.process!, pid, tid: pid, ppid: id.parent?.pid ?? 0, comm: 'client', key: id.key, exe: id.exe, args: id.args,
      argsTruncated: id.argsTruncated, parent: id.parent, ancestry: id.ancestry, exeFlags: flagsOf(id, unlinked),
    },
  };
}

interface Shown { exe: string | null; args: string[]; argsTruncated: boolean; cmdLine: string; flags?: string[]; cn3?: string }

/** Every form shows exactly `want`, on one line, and parses. */
function checkForms(a: AuditRecord, want: Shown): void {
  const json = JSON.stringify(auditToJson(a));
  assert.ok(!/[\n\r]/.test(json));
  const j = JSON.parse(json).process;
  assert.equal(j.exe, want.exe);
  assert.deepEqual(j.args, want.args);
  assert.equal(j.argsTruncated, want.argsTruncated);
  assert.deepEqual(j.exeFlags, want.flags ?? []);

  const pretty = toPretty({ schema: 'AuditRecord', value: a } as never);
  assert.ok(!/[\n\r\u0000-\u001f]/.test(pretty), pretty);
  if (want.exe !== null) assert.ok(pretty.includes(` exe=${want.exe} `), pretty);
  assert.ok(pretty.includes(` args=[${want.args.join(' ')}${want.argsTruncated ? ' ...' : ''}]`), pretty);

  const cef = toCef(a);
  const { ext } = parseCef(cef);
  assert.equal(ext.sproc, want.exe ?? 'client');
  assert.equal(ext.spid, String(a.process!.pid));
  assert.equal(ext.cs6Label, 'processCommandLine');
  assert.equal(ext.cs6, want.cmdLine);
  assert.equal(ext.cn3, want.cn3);

  const o = toOcsf(a) as any;
  assert.deepEqual(ocsf.validateEvent(o), []);
  assert.equal(o.actor.process.file?.path, want.exe ?? undefined);
  assert.equal(o.actor.process.cmd_line, want.cmdLine);
  assert.deepEqual(o.unmapped.process.exeFlags, want.flags ?? []);

  const e = toEcs(a) as any;
  assert.equal(e.process.executable, want.exe ?? undefined);
  assert.deepEqual(e.process.args, want.args);
  assert.equal(e.process.args_count, want.args.length);
  assert.equal(e.process.command_line, want.cmdLine);
}

test('a process with a known parent chain: exe, args, parent and ancestry in every form', () => {
  const t = new ProcessTable();
  t.apply(exec(100, 1_000n, 1, 0n, 'sh', '/usr/bin/dash', 'sh\0-c\0python3 c.py\0'));
  t.apply(exec(200, 2_000n, 100, 1_000n, 'python3', '/usr/bin/python3.11', 'python3\0/srv/c.py\0--to\0db:5432\0'));
  t.apply(exec(300, 3_000n, 200, 2_000n, 'client', '/opt/app/client', '/opt/app/client\0--url\0https://db?a=b|c\0'));
  const a = recordOf(t, 300, 3_000n);
  assert.deepEqual(a.process!.parent, { pid: 200, comm: 'python3', exe: '/usr/bin/python3.11' });
  assert.deepEqual(a.process!.ancestry, [{ pid: 200, comm: 'python3', exe: '/usr/bin/python3.11' }, { pid: 100, comm: 'sh', exe: '/usr/bin/dash' }]);
  checkForms(a, { exe: '/opt/app/client', args: ['/opt/app/client', '--url', 'https://db?a=b|c'], argsTruncated: false, cmdLine: '/opt/app/client --url https://db?a=b|c' });
  const o = toOcsf(a) as any;
  assert.deepEqual(o.actor.process.parent_process, { pid: 200, name: 'python3', file: { name: 'python3.11', path: '/usr/bin/python3.11', type_id: 1, type: 'Regular File' } });
  assert.deepEqual(o.actor.process.ancestry, [{ pid: 200, name: 'python3', path: '/usr/bin/python3.11' }, { pid: 100, name: 'sh', path: '/usr/bin/dash' }]);
  assert.deepEqual(o.actor.process.lineage, ['/usr/bin/dash', '/usr/bin/python3.11', '/opt/app/client']);
  assert.deepEqual(o.actor.process.file, { name: 'client', path: '/opt/app/client', type_id: 1, type: 'Regular File' });
  const e = toEcs(a) as any;
  assert.deepEqual(e.process.parent, { pid: 200, name: 'python3', executable: '/usr/bin/python3.11' });
  assert.deepEqual(e.podtrail.process.ancestry, [{ pid: 200, name: 'python3', executable: '/usr/bin/python3.11' }, { pid: 100, name: 'sh', executable: '/usr/bin/dash' }]);
  // CEF keeps the separators of its own escaped; the reader above undid them.
  assert.match(toCef(a), / cs6=\/opt\/app\/client --url https:\/\/db\?a\\=b\|c /);
});

test('bad input: each has its defined rendering in JSON, pretty, CEF, OCSF and ECS', () => {
  const t = new ProcessTable();
  const cases: Array<[RawProcRecord, Shown & { unlinked?: boolean }]> = [
    // invalid UTF-8 in the path and in an argument
    [exec(1, 1n, 0, 0n, 'x', Buffer.from([0x2f, 0x6f, 0x70, 0x74, 0x2f, 0xff, 0xfe, 0x2f, 0x78]), Buffer.from([0x78, 0, 0xc0, 0xaf, 0])),
      { exe: '/opt/\\xff\\xfe/x', args: ['x', '\\xc0\\xaf'], argsTruncated: false, cmdLine: 'x \\xc0\\xaf' }],
    // a NUL ends an argument; newlines, CR and an escape sequence inside one; an empty one
    [exec(2, 2n, 0, 0n, 'sh', '/bin/sh', 'sh\0-c\0echo a\r\nrm -rf /\x1b[2J\0\0'),
      { exe: '/bin/sh', args: ['sh', '-c', 'echo a\\x0d\\x0arm -rf /\\x1b[2J', ''], argsTruncated: false, cmdLine: 'sh -c "echo a\\x0d\\x0arm -rf /\\x1b[2J" ""' }],
    // a 100 KiB command line: PT_ARGS_MAX bytes kept, marked
    [exec(3, 3n, 0, 0n, 'big', '/bin/big', `big\0${'A'.repeat(100 * 1024)}\0`),
      { exe: '/bin/big', args: ['big', 'A'.repeat(CONSTANTS.PT_ARGS_MAX - 4)], argsTruncated: true, cmdLine: `big ${'A'.repeat(CONSTANTS.PT_ARGS_MAX - 4)} ...` }],
    // a 4 KiB path, cut by the kernel and flagged
    [exec(4, 4n, 0, 0n, 'deep', `/${'d/'.repeat(2040)}x`, 'x\0', CONSTANTS.PT_EXE_PATH_TRUNCATED),
      { exe: `/${'d/'.repeat(2040)}x`, args: ['x'], argsTruncated: false, cmdLine: 'x', flags: ['PATH_TRUNCATED'], cn3: '16' }],
    // .. components as typed in argv[0]; the path is the file reached
    [exec(5, 5n, 0, 0n, 'link', '/tmp/a/real client', '/tmp/a/b/../b/./link\0..\0'),
      { exe: '/tmp/a/real client', args: ['/tmp/a/b/../b/./link', '..'], argsTruncated: false, cmdLine: '/tmp/a/b/../b/./link ..' }],
    // quotes, a backslash, CEF's = and |, a bidi override
    [exec(6, 6n, 0, 0n, 'q', '/bin/q', 'q\0say "hi"\0C:\\dir\0k=v|w\0\u202etxt\0'),
      { exe: '/bin/q', args: ['q', 'say "hi"', 'C:\\\\dir', 'k=v|w', '\\xe2\\x80\\xaetxt'], argsTruncated: false, cmdLine: 'q "say \\"hi\\"" C:\\\\dir k=v|w \\xe2\\x80\\xaetxt' }],
    // a memfd exec, its file gone at the connect: FILELESS, not DELETED
    [exec(7, 7n, 0, 0n, 'pt-memfd', '/memfd:pt-memfd', 'pt-memfd\0', CONSTANTS.PT_EXE_FILELESS | CONSTANTS.PT_EXE_MEMFD | CONSTANTS.PT_EXE_UNREACHABLE),
      { exe: '/memfd:pt-memfd', args: ['pt-memfd'], argsTruncated: false, cmdLine: 'pt-memfd', flags: ['FILELESS', 'MEMFD', 'UNREACHABLE'], cn3: '38', unlinked: true }],
    // a binary deleted after its exec, from the writable layer
    [exec(8, 8n, 0, 0n, 'dropper', '/tmp/dropper', 'dropper\0', CONSTANTS.PT_EXE_UPPER),
      { exe: '/tmp/dropper', args: ['dropper'], argsTruncated: false, cmdLine: 'dropper', flags: ['DELETED', 'UPPER_LAYER'], cn3: '9', unlinked: true }],
  ];
  for (const [rec, want] of cases) {
    t.apply(rec);
    checkForms(recordOf(t, rec.tgid, rec.keyNs, want.unlinked), want);
  }
});

test('a process the table does not know: exe null, no args, the connect\'s ppid as parent; every form still conforms', () => {
  const a = recordOf(new ProcessTable(), 42, 4242n, true);
  assert.deepEqual({ ...a.process!, uid: 0n }, {
    ...sampleAudit().process!, pid: 42, tid: 42, ppid: 0, comm: 'client', uid: 0n,
    key: 4242n, exe: null, args: [], argsTruncated: false, parent: null, ancestry: [], exeFlags: ['DELETED'],
  });
  const o = toOcsf(a) as any;
  assert.deepEqual(ocsf.validateEvent(o), []);
  assert.equal(o.actor.process.file, undefined);
  assert.equal(o.actor.process.cmd_line, '');
  assert.deepEqual(o.actor.process.parent_process, { pid: 0 });
  const { ext } = parseCef(toCef(a));
  assert.equal(ext.sproc, 'client');
  assert.equal(ext.cs6, undefined);
  assert.equal(ext.cn3, '1');
  const e = toEcs(a) as any;
  assert.equal(e.process.executable, undefined);
  assert.equal(e.process.args, undefined);
});
