// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/common/errors.js';
import { octetFrame, parseSyslogUrl, syslogMessage, syslogTime } from '../../src/export/syslog-message.js';

test('RFC 5424: PRI, version, microsecond time, header fields, nil PROCID and SD', () => {
  const m = syslogMessage({ facility: 'local0', severity: 'info', timeNs: 1_796_005_677_612_560_689n, hostname: 'node-a', appName: 'podtrail', msgId: 'connect', msg: 'CEF:0|x' });
  assert.equal(m.toString(), '<134>1 2026-11-30T02:27:57.612560Z node-a podtrail - connect - CEF:0|x');
  const w = syslogMessage({ facility: 'authpriv', severity: 'warning', timeNs: 0n, hostname: 'bad host\tname', appName: '', msgId: 'loss', msg: 'a\nb\r\nc' });
  assert.equal(w.toString(), '<84>1 1970-01-01T00:00:00.000000Z bad_host_name - - loss - a b c');
  assert.equal(syslogTime(-1_000n), '1969-12-31T23:59:59.999999Z');
  const long = syslogMessage({ facility: 'user', severity: 'debug', timeNs: 0n, hostname: 'h'.repeat(300), appName: 'a'.repeat(60), msgId: 'm'.repeat(40), msg: '' });
  const [, , host, app, , msgid] = long.toString().split(' ');
  assert.equal(host!.length, 255);
  assert.equal(app!.length, 48);
  assert.equal(msgid!.length, 32);
});

test('RFC 6587 octet counting counts bytes, not characters', () => {
  const msg = Buffer.from('<134>1 - - - - - é', 'utf8');
  const f = octetFrame(msg).toString('utf8');
  assert.equal(f, `${msg.length} <134>1 - - - - - é`);
  assert.equal(msg.length, 19);
});

test('syslog URLs: tcp/udp, host:port, IPv6 in brackets; anything else is a ConfigError', () => {
  assert.deepEqual(parseSyslogUrl('tcp://127.0.0.1:6514'), { transport: 'tcp', host: '127.0.0.1', port: 6514 });
  assert.deepEqual(parseSyslogUrl('udp://[::1]:514'), { transport: 'udp', host: '::1', port: 514 });
  assert.deepEqual(parseSyslogUrl('tcp://siem.example.com:514/'), { transport: 'tcp', host: 'siem.example.com', port: 514 });
  for (const bad of ['', 'tcp://host', 'tls://h:1', 'tcp://h:0', 'tcp://h:65536', 'h:514', 'tcp://h:514/x', 'tcp://a b:1']) {
    assert.throws(() => parseSyslogUrl(bad), ConfigError, bad);
  }
});
