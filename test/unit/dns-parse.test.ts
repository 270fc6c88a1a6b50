// SPDX-License-Identifier: Apache-2.0
// The DNS wire-format parser and answer sets: hand-built packets for each field and each
// malformed form (every reason reachable and counted), and the TCP framing reassembler.
import { test } from 'node:test';
import { ConfigError } from '../../src/common/errors.js';
import assert from 'node:assert/strict';
import { DnsParseStats, MALFORMED_REASONS, MAX_RECORDS, parseDns, rcodeName, type DnsMessage, type MalformedReason } from '../../src/capture/dns/parse.js';
import { answerSet } from '../../src/capture/dns/answer-set.js';
import { DnsTcpReassembler } from '../../src/capture/dns/tcp-stream.js';
import { encodeDns, loopAnswer } from '../helpers/dns-wire.js';

function ok(b: Uint8Array): DnsMessage {
  const r = parseDns(b);
  assert.ok(r.ok, `expected a parse, got ${r.ok ? '' : r.reason}`);
  return r.msg;
}

function bad(b: Uint8Array, reason: MalformedReason): void {
  const r = parseDns(b);
  assert.equal(r.ok, false, `expected ${reason}`);
  if (!r.ok) assert.equal(r.reason, reason);
}

/** header (id 7, response, QD=1, AN=n) + question "a.example" A, then whatever `tail` holds */
function withAnswerBytes(tail: number[], an = 1): Buffer {
  const q = encodeDns({ id: 7, response: true, question: { name: 'a.example', type: 1 } });
  const b = Buffer.concat([q, Buffer.from(tail)]);
  b.writeUInt16BE(an, 6);
  return b;
}

test('an A answer with compression: header, question, TTL, address', () => {
  const b = encodeDns({ id: 0x1234, response: true, question: { name: 'www.Example.COM', type: 1 }, answers: [{ name: 'www.example.com', type: 'A', ttl: 300, value: '93.184.216.34' }] });
  assert.ok(b.includes(Buffer.from([0xc0, 0x0c])), 'the answer name is a pointer to the question');
  const m = ok(b);
  assert.equal(m.id, 0x1234);
  assert.equal(m.qr, true);
  assert.equal(m.rd, true);
  assert.equal(m.tc, false);
  assert.equal(m.rcode, 0);
  assert.deepEqual(m.question, { name: 'www.example.com', type: 1, class: 1 });
  assert.equal(m.answers.length, 1);
  assert.equal(m.answers[0]!.ttl, 300);
  assert.deepEqual(m.answers[0]!.data, { kind: 'A', addr: Buffer.from([93, 184, 216, 34]) });
  assert.equal(m.tailIssue, null);
});

test('AAAA answers, EDNS payload size, and a query (QR clear)', () => {
  const m = ok(encodeDns({ id: 1, response: true, question: { name: 'v6.test', type: 28 }, answers: [{ name: 'v6.test', type: 'AAAA', ttl: 60, value: '2001:db8::1' }], edns: 1232 }));
  assert.equal(m.answers[0]!.data.kind, 'AAAA');
  assert.equal(m.ednsUdpSize, 1232);
  assert.deepEqual(answerSet(m)!.addrs, [{ ip: '2001:db8::1', ttl: 60 }]);
  const q = ok(encodeDns({ id: 9, response: false, question: { name: 'v6.test', type: 28 } }));
  assert.equal(q.qr, false);
  assert.equal(q.answers.length, 0);
});

test('a CNAME chain: followed from the question, TTL the smallest along it, stray records ignored', () => {
  const m = ok(encodeDns({
    id: 2, response: true, question: { name: 'shop.example', type: 1 },
    answers: [
      { name: 'shop.example', type: 'CNAME', ttl: 600, value: 'shop.cdn.example' },
      { name: 'shop.cdn.example', type: 'CNAME', ttl: 30, value: 'edge7.cdn.example' },
      { name: 'edge7.cdn.example', type: 'A', ttl: 120, value: '192.0.2.10' },
      { name: 'edge7.cdn.example', type: 'A', ttl: 20, value: '192.0.2.11' },
      // An address for a name outside the chain: a spoofer's extra, not the answer.
      { name: 'bank.example', type: 'A', ttl: 999, value: '192.0.2.66' },
    ],
  }));
  const a = answerSet(m)!;
  assert.deepEqual(a.chain, ['shop.example', 'shop.cdn.example', 'edge7.cdn.example']);
  assert.deepEqual(a.addrs, [{ ip: '192.0.2.10', ttl: 30 }, { ip: '192.0.2.11', ttl: 20 }]);
  assert.equal(a.chainCut, false);
});

test('a CNAME loop is cut, not followed forever', () => {
  const m = ok(encodeDns({
    id: 3, response: true, question: { name: 'a.test', type: 1 },
    answers: [{ name: 'a.test', type: 'CNAME', ttl: 5, value: 'b.test' }, { name: 'b.test', type: 'CNAME', ttl: 5, value: 'a.test' }],
  }));
  const a = answerSet(m)!;
  assert.deepEqual(a.chain, ['a.test', 'b.test']);
  assert.equal(a.chainCut, true);
  assert.deepEqual(a.addrs, []);
});

test('rcode, TC flag, TTL with the top bit set, odd bytes in names', () => {
  const nx = ok(encodeDns({ id: 4, response: true, rcode: 3, question: { name: 'nope.test', type: 1 } }));
  assert.equal(nx.rcode, 3);
  assert.equal(rcodeName(nx.rcode), 'NXDOMAIN');
  assert.equal(rcodeName(11), 'RCODE11');
  assert.equal(ok(encodeDns({ id: 5, response: true, tc: true, question: { name: 'big.test', type: 1 } })).tc, true);
  const big = ok(encodeDns({ id: 6, response: true, question: { name: 'x.test', type: 1 }, answers: [{ name: 'x.test', type: 'A', ttl: 0x80000001, value: '10.0.0.1' }] }));
  assert.equal(big.answers[0]!.ttl, 0);
  const odd = ok(encodeDns({ id: 7, response: false, compress: false, question: { name: 'a\u0000b."q.test', type: 1 } }));
  // The dot inside a label and the control byte cannot pass as structure.
  assert.equal(odd.question!.name, 'a\\000b.\\034q.test');
});

test('non-IN and other types are kept as "other"; records past the cap are skipped and counted', () => {
  const answers = Array.from({ length: MAX_RECORDS + 3 }, (_, i) => ({ name: 'many.test', type: 'A' as const, ttl: 1, value: `10.0.${i >> 8}.${i & 255}` }));
  answers.unshift({ name: 'many.test', type: 'TXT' as never, ttl: 1, value: 'hello' });
  const m = ok(encodeDns({ id: 8, response: true, question: { name: 'many.test', type: 1 }, answers }));
  assert.equal(m.answers.length, MAX_RECORDS);
  assert.equal(m.answers[0]!.data.kind, 'other');
  assert.equal(m.answersSkipped, 4);
});

test('a cut additional section leaves the answers usable, with the issue noted', () => {
  const full = encodeDns({ id: 10, response: true, question: { name: 'e.test', type: 1 }, answers: [{ name: 'e.test', type: 'A', ttl: 9, value: '10.1.1.1' }], edns: 4096 });
  const m = ok(full.subarray(0, full.length - 3));
  assert.equal(m.tailIssue, 'truncated-record');
  assert.equal(answerSet(m)!.addrs[0]!.ip, '10.1.1.1');
});

test('malformed: short header, truncated question and record', () => {
  bad(Buffer.alloc(11), 'short-header');
  const q = encodeDns({ id: 1, response: false, question: { name: 'abc.test', type: 1 } });
  bad(q.subarray(0, 15), 'truncated-question');
  bad(q.subarray(0, q.length - 1), 'truncated-question');
  const a = encodeDns({ id: 1, response: true, question: { name: 'abc.test', type: 1 }, answers: [{ name: 'abc.test', type: 'A', ttl: 1, value: '10.0.0.1' }] });
  bad(a.subarray(0, a.length - 2), 'truncated-record');
  bad(a.subarray(0, a.length - 9), 'truncated-record');
  const r = parseDns(a.subarray(0, 12 + 3));
  assert.equal(r.ok ? -1 : r.id, 1, 'the id is reported when the header was read');
});

test('malformed: compression loop, pointer out of range, too many hops', () => {
  bad(loopAnswer(42, 'loop.test'), 'pointer-loop');
  // Two pointers pointing at each other.
  const q = encodeDns({ id: 7, response: true, question: { name: 'a.example', type: 1 } });
  const p = q.length;
  bad(withAnswerBytes([0xc0 | ((p + 2) >> 8), (p + 2) & 0xff, 0xc0 | (p >> 8), p & 0xff]), 'pointer-loop');
  bad(withAnswerBytes([0xc0 | 0x3f, 0xff, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]), 'pointer-out-of-range');
  bad(hopsPacket(40), 'too-many-hops');
  assert.ok(parseDns(hopsPacket(20)).ok, 'a long but finite path within the bound parses');
});

/**
 * A first record (type TXT, so its rdata is not read as a name) whose rdata holds n pointers,
 * each to the one before it and the first to the question name; a second record whose name
 * points at the last of them: a path of n + 1 hops with no loop.
 */
function hopsPacket(n: number): Buffer {
  const q = encodeDns({ id: 7, response: true, question: { name: 'a.example', type: 1 } });
  const base = q.length + 12; // after the first record's name (2), type, class, ttl, rdlength (10)
  const ptrs: number[] = [];
  for (let i = 0; i < n; i++) {
    const target = i === 0 ? 12 : base + 2 * (i - 1);
    ptrs.push(0xc0 | (target >> 8), target & 0xff);
  }
  const last = base + 2 * (n - 1);
  const first = [0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 1, (2 * n) >> 8, (2 * n) & 0xff, ...ptrs];
  const second = [0xc0 | (last >> 8), last & 0xff, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 10, 0, 0, 1];
  const b = Buffer.concat([q, Buffer.from(first), Buffer.from(second)]);
  b.writeUInt16BE(2, 6);
  return b;
}

test('malformed: label types 0x40/0x80, names over 255 bytes, bad rdata, several questions', () => {
  bad(withAnswerBytes([0x41, ...new Array(65).fill(0x61), 0]), 'label-too-long');
  bad(withAnswerBytes([0x80, 0x61, 0]), 'label-too-long');
  const long = Array.from({ length: 5 }, () => 'x'.repeat(60)).join('.');
  bad(encodeDns({ id: 1, response: false, question: { name: long, type: 1 } }), 'name-too-long');
  // 253 characters of text (255 on the wire) is the longest legal name.
  const max = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');
  assert.equal(ok(encodeDns({ id: 1, response: false, question: { name: max, type: 1 } })).question!.name, max);
  bad(encodeDns({ id: 1, response: false, question: { name: `${max}e`, type: 1 } }), 'name-too-long');
  // A record with 5 bytes of rdata.
  bad(withAnswerBytes([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5]), 'bad-rdata');
  // AAAA with 4.
  bad(withAnswerBytes([0xc0, 0x0c, 0, 28, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]), 'bad-rdata');
  // CNAME whose name ends before its rdlength says.
  bad(withAnswerBytes([0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 1, 0, 4, 0xc0, 0x0c, 0, 0]), 'bad-rdata');
  const two = encodeDns({ id: 1, response: false, question: { name: 'a.test', type: 1 } });
  two.writeUInt16BE(2, 4);
  bad(two, 'multiple-questions');
});

test('every malformed reason but "internal" is reachable, and the stats count each', () => {
  const q = encodeDns({ id: 1, response: false, question: { name: 'abc.test', type: 1 } });
  const a = encodeDns({ id: 1, response: true, question: { name: 'abc.test', type: 1 }, answers: [{ name: 'abc.test', type: 'A', ttl: 1, value: '10.0.0.1' }] });
  const two = Buffer.from(q);
  two.writeUInt16BE(2, 4);
  const samples: Record<Exclude<MalformedReason, 'internal'>, Buffer> = {
    'short-header': Buffer.alloc(3),
    'truncated-question': q.subarray(0, 14),
    'truncated-record': a.subarray(0, a.length - 1),
    'pointer-loop': loopAnswer(1, 'x.test'),
    'pointer-out-of-range': withAnswerBytes([0xff, 0xff]),
    'too-many-hops': hopsPacket(40),
    'label-too-long': withAnswerBytes([0x40, 0]),
    'name-too-long': encodeDns({ id: 1, response: false, question: { name: Array.from({ length: 5 }, () => 'x'.repeat(60)).join('.'), type: 1 } }),
    'bad-rdata': withAnswerBytes([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 3, 1, 2, 3]),
    'multiple-questions': two,
  };
  const stats = new DnsParseStats();
  for (const [reason, b] of Object.entries(samples)) {
    const r = stats.count(parseDns(b));
    assert.equal(r.ok ? 'ok' : r.reason, reason);
  }
  stats.count(parseDns(a));
  assert.equal(stats.parsed, 1);
  assert.equal(stats.malformedTotal, MALFORMED_REASONS.length - 1);
  for (const r of MALFORMED_REASONS) assert.equal(stats.malformed.get(r) ?? 0, r === 'internal' ? 0 : 1, r);
});

test('TCP framing: several messages per segment, one message over several, a prefix split in two', () => {
  const m1 = encodeDns({ id: 1, response: true, question: { name: 'one.test', type: 1 }, answers: [{ name: 'one.test', type: 'A', ttl: 1, value: '10.0.0.1' }] });
  const m2 = encodeDns({ id: 2, response: true, question: { name: 'two.test', type: 1 } });
  const frame = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
  const r = new DnsTcpReassembler();
  assert.deepEqual(r.push('s', Buffer.concat([frame(m1), frame(m2)])), [m1, m2]);
  const f = frame(m1);
  assert.deepEqual(r.push('t', f.subarray(0, 1)), []);
  assert.deepEqual(r.push('t', f.subarray(1, 10)), []);
  assert.deepEqual(r.push('t', f.subarray(10)), [m1]);
  assert.equal(parseDns(m1).ok, true);
  r.close('t');
  assert.equal(r.size, 1);
});

test('TCP framing: a length over the cap drops the stream; a too-short length too; a gap restarts the framing', () => {
  const r = new DnsTcpReassembler({ maxMessageBytes: 100 });
  assert.deepEqual(r.push('s', Buffer.from([0x01, 0x00, 1, 2, 3])), []);
  assert.equal(r.issues.get('message-too-large'), 1);
  // The stream's framing is lost: later bytes are not taken as messages.
  const m = encodeDns({ id: 3, response: true, question: { name: 'x.test', type: 1 } });
  assert.deepEqual(r.push('s', Buffer.concat([Buffer.from([0, m.length]), m])), []);
  assert.deepEqual(r.push('u', Buffer.from([0, 4, 1, 2, 3, 4])), []);
  assert.equal(r.issues.get('bad-length'), 1);
  const g = new DnsTcpReassembler();
  const f = Buffer.concat([Buffer.from([0, m.length]), m]);
  assert.deepEqual(g.push('s', f.subarray(0, 5), 1000), []);
  // Bytes 1005..1009 were never seen: what comes next starts a new message.
  assert.deepEqual(g.push('s', f, 1010), [m]);
  assert.equal(g.issues.get('gap'), 1);
  assert.deepEqual(g.push('s', f, 1010 + f.length), [m], 'in order again');
});

test('TCP framing: the stream count is capped, least recently used dropped', () => {
  const r = new DnsTcpReassembler({ maxStreams: 2 });
  r.push('a', Buffer.from([0]));
  r.push('b', Buffer.from([0]));
  r.push('a', Buffer.from([]));
  r.push('c', Buffer.from([0]));
  assert.equal(r.size, 2);
  assert.equal(r.issues.get('streams-full'), 1);
  // 'b' was dropped: its half prefix is gone, so a whole frame now parses from scratch.
  const m = encodeDns({ id: 3, response: true, question: { name: 'x.test', type: 1 } });
  assert.deepEqual(r.push('b', Buffer.concat([Buffer.from([0, m.length]), m])), [m]);
  assert.throws(() => new DnsTcpReassembler({ maxMessageBytes: 70_000 }), ConfigError);
});
