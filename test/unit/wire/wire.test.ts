import test from 'ava';
import fc from 'fast-check';
import { SocketAddress } from 'node:net';
import type { ResourceRecord } from '../../../src/answer/types.js';
import type { EdnsInfo } from '../../../src/wire/types.js';
import {
  answerRecordBudget,
  decodeEcs,
  decodeQuery,
  encodeErrorResponse,
  encodeResponse,
  formatIPv6,
  labelToPresentation,
  parseIPv4,
  parseIPv6,
  presentationToLabels,
  replyContextOf,
  responseSizeLimit,
  type DecodeResult,
  type DecodedQuery,
  type DecodeRejection,
  type ReplyContext,
} from '../../../src/wire/wire.js';
import { craftQuery, ecsOption, nameOf, optRR, parseReply, rawQuestion, rawRR, wireName } from '../../helpers/dns-tools.js';

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

function ok(r: DecodeResult): DecodedQuery {
  if (!r.ok) throw new Error(`expected a decoded query, got ${r.action}: ${r.reason}`);
  return r.query;
}

function rejected(r: DecodeResult, action: DecodeRejection['action']): DecodeRejection {
  if (r.ok || r.action !== action) throw new Error(`expected ${action}, got ${r.ok ? 'ok' : `${r.action}: ${r.reason}`}`);
  return r;
}

const A = (name: string, address: string, ttl = 5): ResourceRecord => ({ name, ttl, data: { type: 1, address } });
const EDNS0: EdnsInfo = { udpPayloadSize: 1232, version: 0, dnssecOk: false, options: [] };

function ctxFor(query: Buffer, transport: 'udp' | 'tcp' = 'udp'): ReplyContext {
  return replyContextOf(ok(decodeQuery(query, transport)));
}

// ---------------------------------------------------------------------------------------------
// decodeQuery: the common shape
// ---------------------------------------------------------------------------------------------

test('decodes a plain query: lowercase name, type, class, flags, raw question kept byte for byte', (t) => {
  const q = rawQuestion('aBc.TeSt.GloBal', 28, 1);
  const msg = craftQuery({ id: 0xbeef, rd: true, cd: true, questions: [q] });
  const d = ok(decodeQuery(msg, 'udp'));
  t.deepEqual(d.question, { name: 'abc.test.global', type: 28, class: 1 });
  t.deepEqual(d.rawQuestion, q);
  t.is(d.header.id, 0xbeef);
  t.true(d.header.rd);
  t.true(d.header.cd);
  t.true(d.simple);
  t.is(d.edns, undefined);
});

test('the raw question is a copy, not a view of the datagram', (t) => {
  const msg = craftQuery({ questions: [rawQuestion('a.test.global')] });
  const d = ok(decodeQuery(msg, 'udp'));
  msg.fill(0);
  t.deepEqual(d.rawQuestion, rawQuestion('a.test.global'));
});

test('the root name decodes as ""', (t) => {
  const d = ok(decodeQuery(craftQuery({ questions: [rawQuestion('', 2)] }), 'udp'));
  t.deepEqual(d.question, { name: '', type: 2, class: 1 });
});

// ---------------------------------------------------------------------------------------------
// drops
// ---------------------------------------------------------------------------------------------

for (const length of [0, 1, 2, 11]) {
  test(`drops a ${length}-octet message (no header to answer)`, (t) => {
    for (const transport of ['udp', 'tcp'] as const) {
      const r = decodeQuery(Buffer.alloc(length, 0), transport);
      t.like(r, { ok: false, action: 'drop' });
    }
  });
}

test('D3: drops any message with QR=1, whatever else it contains', (t) => {
  for (const transport of ['udp', 'tcp'] as const) {
    t.like(decodeQuery(craftQuery({ qr: true }), transport), { ok: false, action: 'drop', id: 0x4242 });
    t.like(decodeQuery(craftQuery({ qr: true, counts: { qd: 0xffff } }), transport), { ok: false, action: 'drop' });
    t.like(decodeQuery(craftQuery({ qr: true, opcode: 4 }), transport), { ok: false, action: 'drop' });
  }
});

test('D2: drops UDP messages over 4096 octets and TCP messages over 65535 before parsing', (t) => {
  t.like(decodeQuery(Buffer.alloc(4097), 'udp'), { ok: false, action: 'drop' });
  t.like(decodeQuery(Buffer.alloc(65536), 'tcp'), { ok: false, action: 'drop' });
});

test('D2: a UDP query over 512 octets is dropped without OPT and accepted with it', (t) => {
  const pad = (n: number): Buffer => rawRR({ type: 99, owner: Buffer.from([0]), rdata: Buffer.alloc(n) });
  const noOpt = craftQuery({ additional: [pad(560)] });
  t.true(noOpt.length > 512);
  t.like(decodeQuery(noOpt, 'udp'), { ok: false, action: 'drop' });
  // the same over TCP is fine (no 512 limit there)
  t.true(decodeQuery(noOpt, 'tcp').ok);
  const withOpt = craftQuery({ additional: [optRR({ options: [{ code: 65001, data: Buffer.alloc(560) }] })] });
  t.true(withOpt.length > 512);
  t.true(decodeQuery(withOpt, 'udp').ok);
  // exactly 512 without OPT is still fine
  const exact = craftQuery({ additional: [pad(512 - craftQuery().length - 11)] });
  t.is(exact.length, 512);
  t.true(decodeQuery(exact, 'udp').ok);
});

// ---------------------------------------------------------------------------------------------
// D1: impossible counts
// ---------------------------------------------------------------------------------------------

const impossibleCounts: Array<[string, Buffer]> = [
  ['12-octet header with all counts 0xFFFF', craftQuery({ questions: [], counts: { qd: 0xffff, an: 0xffff, ns: 0xffff, ar: 0xffff } })],
  ['QDCOUNT 1 with 4 octets left', craftQuery({ questions: [], counts: { qd: 1 }, trailing: Buffer.alloc(4) })],
  ['ARCOUNT 0xFFFF after a real question', craftQuery({ counts: { ar: 0xffff } })],
  [
    'ANCOUNT 2 with room for one minimal RR',
    craftQuery({ questions: [rawQuestion('')], answers: [rawRR({ type: 1 })], counts: { an: 2 } }),
  ],
];

for (const [title, msg] of impossibleCounts) {
  test(`D1: FORMERR before walking when counts cannot fit: ${title}`, (t) => {
    for (const transport of ['udp', 'tcp'] as const) {
      const r = rejected(decodeQuery(msg, transport), 'formerr');
      t.is(r.id, msg.readUInt16BE(0));
      t.regex(r.reason, /section counts/);
    }
  });
}

test('D1: minimum sizes are exact — 5 octets per question and 11 per record are enough', (t) => {
  // root question (5 octets) + root-owned empty RR (11 octets) exactly fills the message
  const msg = craftQuery({ questions: [rawQuestion('')], additional: [rawRR({ type: 99 })] });
  t.is(msg.length, 12 + 5 + 11);
  t.true(decodeQuery(msg, 'tcp').ok);
});

// ---------------------------------------------------------------------------------------------
// opcode and QDCOUNT
// ---------------------------------------------------------------------------------------------

for (let opcode = 1; opcode < 16; opcode++) {
  test(`opcode ${opcode} gets NOTIMP, echoing the question when readable`, (t) => {
    const r = rejected(decodeQuery(craftQuery({ opcode }), 'udp'), 'notimp');
    t.is(r.header.opcode, opcode);
    t.deepEqual(r.rawQuestion, rawQuestion('a.test.global'));
  });
}

test('NOTIMP for a question-less STATUS echoes no question', (t) => {
  const r = rejected(decodeQuery(craftQuery({ opcode: 2, questions: [] }), 'udp'), 'notimp');
  t.is(r.rawQuestion, undefined);
});

test('D5: QDCOUNT 0 and QDCOUNT 2 get FORMERR without a question', (t) => {
  const none = rejected(decodeQuery(craftQuery({ questions: [] }), 'udp'), 'formerr');
  t.is(none.rawQuestion, undefined);
  t.regex(none.reason, /QDCOUNT is 0/);
  const two = rejected(
    decodeQuery(craftQuery({ questions: [rawQuestion('a.test.global'), rawQuestion('b.test.global')] }), 'udp'),
    'formerr',
  );
  t.regex(two.reason, /QDCOUNT is 2/);
});

// ---------------------------------------------------------------------------------------------
// the question name
// ---------------------------------------------------------------------------------------------

const badQuestions: Array<[string, Buffer, RegExp]> = [
  ['a compression pointer', Buffer.concat([Buffer.from([1, 0x61, 0xc0, 12]), Buffer.from([0, 1, 0, 1])]), /compression pointer/],
  ['an extended (0x40) label type', Buffer.concat([Buffer.from([0x41, 0x61, 0]), Buffer.from([0, 1, 0, 1])]), /label type/],
  ['a reserved (0x80) label type', Buffer.concat([Buffer.from([0x81, 0x61, 0]), Buffer.from([0, 1, 0, 1])]), /label type/],
  ['a label running past the end', Buffer.from([20, 0x61, 0x62, 0, 0, 1]), /past the end/],
  ['no terminating root label', Buffer.from([3, 0x61, 0x62, 0x63, 1, 0x61]), /past the end/],
  ['a 257-octet name', rawQuestion(Array.from({ length: 4 }, (_, i) => String(i).repeat(63)).join('.')), /exceeds 255/],
  ['no room for QTYPE/QCLASS', Buffer.from([1, 0x61, 0, 0, 1]), /QTYPE/],
];
for (const [title, q, reason] of badQuestions) {
  test(`FORMERR for a question with ${title}`, (t) => {
    const r = rejected(decodeQuery(craftQuery({ questions: [q] }), 'tcp'), 'formerr');
    t.regex(r.reason, reason);
  });
}

test('a 255-octet question name is accepted (boundary)', (t) => {
  // 3 × 63-octet labels + one 61-octet label: 4×1 + 3×63 + 61 + 1 = 255
  const name = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');
  t.is(nameOf(name).length, 255);
  t.is(ok(decodeQuery(craftQuery({ questions: [rawQuestion(name)] }), 'udp')).question.name, name);
});

test('D8: a label containing "." is escaped, so it cannot equal the two-label name', (t) => {
  const dotted = wireName([Buffer.from('a.b'), 'test', 'global']);
  const two = wireName(['a', 'b', 'test', 'global']);
  const d1 = ok(decodeQuery(craftQuery({ questions: [rawQuestion(dotted)] }), 'udp'));
  const d2 = ok(decodeQuery(craftQuery({ questions: [rawQuestion(two)] }), 'udp'));
  t.is(d1.question.name, 'a\\.b.test.global');
  t.is(d2.question.name, 'a.b.test.global');
  t.deepEqual(d1.rawQuestion, rawQuestion(dotted));
});

const presentationCases: Array<[string, number[], string]> = [
  ['uppercase ASCII folds', [0x41, 0x5a, 0x61], 'aza'],
  ['dot is escaped', [0x61, 0x2e, 0x62], 'a\\.b'],
  ['backslash is escaped', [0x5c], '\\\\'],
  ['space becomes \\032', [0x20], '\\032'],
  ['NUL becomes \\000', [0x00], '\\000'],
  ['DEL becomes \\127', [0x7f], '\\127'],
  ['non-ASCII is not case-folded, \\DDD', [0xc0, 0xe0], '\\192\\224'],
  ['printable punctuation stays', [0x2d, 0x5f, 0x2a, 0x40], '-_*@'],
];
for (const [title, bytes, expected] of presentationCases) {
  test(`label presentation: ${title}`, (t) => {
    t.is(labelToPresentation(Uint8Array.from(bytes), 0, bytes.length), expected);
  });
}

test('presentationToLabels parses escapes, a trailing dot and the root; rejects malformed names', (t) => {
  t.deepEqual(presentationToLabels(''), []);
  t.deepEqual(presentationToLabels('.'), []);
  t.deepEqual(
    presentationToLabels('a\\.b.C\\032\\\\.').map((l) => Buffer.from(l).toString('latin1')),
    ['a.b', 'C \\'],
  );
  t.throws(() => presentationToLabels('a..b'), { instanceOf: RangeError });
  t.throws(() => presentationToLabels('.a'), { instanceOf: RangeError });
  t.throws(() => presentationToLabels('x'.repeat(64)), { instanceOf: RangeError });
  t.throws(() => presentationToLabels(Array.from({ length: 5 }, () => 'y'.repeat(63)).join('.')), { instanceOf: RangeError });
  t.throws(() => presentationToLabels('a\\256'), { instanceOf: RangeError });
  t.throws(() => presentationToLabels('a\\'), { instanceOf: RangeError });
  t.throws(() => presentationToLabels('ü.✓'), { instanceOf: RangeError });
});

// ---------------------------------------------------------------------------------------------
// walking the other sections
// ---------------------------------------------------------------------------------------------

test('records in answer/authority/additional with backward pointers are walked; not the simple shape', (t) => {
  const ptrToQuestion = Buffer.from([0xc0, 12]);
  const msg = craftQuery({
    answers: [rawRR({ owner: ptrToQuestion, type: 1, rdata: Buffer.from([1, 2, 3, 4]) })],
    authority: [rawRR({ owner: Buffer.concat([Buffer.from([2, 0x6e, 0x73]), ptrToQuestion]), type: 2, rdata: Buffer.from([0xc0, 12]) })],
    additional: [rawRR({ owner: Buffer.from([0xc0, 14]), type: 1, rdata: Buffer.from([5, 6, 7, 8]) }), optRR()],
  });
  const d = ok(decodeQuery(msg, 'udp'));
  t.false(d.simple);
  t.truthy(d.edns);
});

test('only the question plus one OPT is the simple shape', (t) => {
  t.true(ok(decodeQuery(craftQuery({ additional: [optRR()] }), 'udp')).simple);
  t.false(ok(decodeQuery(craftQuery({ additional: [rawRR({ type: 99 })] }), 'udp')).simple);
  t.false(ok(decodeQuery(craftQuery({ additional: [rawRR({ type: 99 }), optRR()] }), 'udp')).simple);
});

const badRecords: Array<[string, Partial<Parameters<typeof craftQuery>[0]>, RegExp]> = [
  [
    'a forward compression pointer',
    { answers: [rawRR({ owner: Buffer.from([0xc0, 40]), type: 1, rdata: Buffer.alloc(4) })] },
    /not backwards/,
  ],
  ['a pointer into the header', { answers: [rawRR({ owner: Buffer.from([0xc0, 2]), type: 1, rdata: Buffer.alloc(4) })] }, /not backwards/],
  ['a pointer to itself', { answers: [rawRR({ owner: Buffer.from([0xc0, 31]), type: 1, rdata: Buffer.alloc(4) })] }, /not backwards/],
  ['RDLENGTH past the end', { answers: [Buffer.concat([Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 50]), Buffer.alloc(10)])] }, /RDLENGTH/],
  ['a record cut short', { answers: [Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 0, 0]), Buffer.alloc(2)] }, /cut short|past the end/],
  [
    'a reserved label type in an owner',
    { answers: [rawRR({ owner: Buffer.from([0x80, 0]), type: 1, rdata: Buffer.alloc(4) })] },
    /label type/,
  ],
];
for (const [title, spec, reason] of badRecords) {
  test(`FORMERR for ${title}`, (t) => {
    const r = rejected(decodeQuery(craftQuery(spec), 'tcp'), 'formerr');
    t.regex(r.reason, reason);
    t.deepEqual(r.rawQuestion, rawQuestion('a.test.global'), 'the question is still echoed');
  });
}

test('a compression pointer loop terminates with FORMERR', (t) => {
  // owner at offset 31: label "x" then a pointer back to 31 → x.x.x.… forever
  const msg = craftQuery({ answers: [rawRR({ owner: Buffer.from([1, 0x78, 0xc0, 31]), type: 1, rdata: Buffer.alloc(4) })] });
  t.is(msg.readUInt8(31), 1);
  const r = rejected(decodeQuery(msg, 'tcp'), 'formerr');
  t.regex(r.reason, /exceeds 255|too many/);
});

test('trailing garbage after the last counted record is FORMERR', (t) => {
  t.regex(rejected(decodeQuery(craftQuery({ trailing: Buffer.from([0]) }), 'udp'), 'formerr').reason, /trailing/);
  t.regex(rejected(decodeQuery(craftQuery({ additional: [optRR()], trailing: Buffer.alloc(7) }), 'udp'), 'formerr').reason, /trailing/);
});

// ---------------------------------------------------------------------------------------------
// EDNS (RFC 6891) — D9
// ---------------------------------------------------------------------------------------------

test('OPT: payload size, version, DO bit and options are decoded; unknown options kept', (t) => {
  const d = ok(
    decodeQuery(
      craftQuery({
        additional: [
          optRR({
            udp: 4096,
            dnssecOk: true,
            options: [
              { code: 10, data: Buffer.from('cookie!!') },
              { code: 65001, data: Buffer.alloc(0) },
            ],
          }),
        ],
      }),
      'udp',
    ),
  );
  t.deepEqual(d.edns, {
    udpPayloadSize: 4096,
    version: 0,
    dnssecOk: true,
    options: [
      { code: 10, data: Buffer.from('cookie!!') },
      { code: 65001, data: Buffer.alloc(0) },
    ],
  });
});

const ednsErrors: Array<[string, Parameters<typeof craftQuery>[0], RegExp]> = [
  ['two OPT records', { additional: [optRR(), optRR()] }, /more than one OPT/],
  ['OPT in the answer section', { answers: [optRR()] }, /OPT record in the answer/],
  ['OPT in the authority section', { authority: [optRR()] }, /OPT record in the authority/],
  ['a non-root OPT owner', { additional: [optRR({ owner: nameOf('x') })] }, /not the root/],
  ['a pointer as OPT owner', { additional: [optRR({ owner: Buffer.from([0xc0, 12]) })] }, /not the root/],
];
for (const [title, spec, reason] of ednsErrors) {
  test(`D9: FORMERR for ${title}, with no OPT in the reply`, (t) => {
    const r = rejected(decodeQuery(craftQuery(spec), 'udp'), 'formerr');
    t.regex(r.reason, reason);
    t.is(r.edns, undefined);
    t.is(parseReply(encodeErrorResponse(r, 512)).opt, undefined);
  });
}

// RFC 6891 §6.1.1: the OPT was found and its fixed part read, so the FORMERR carries an OPT (as
// BIND and Knot answer), with our payload size, the client's DO, and no options echoed.
const readableOptErrors: Array<[string, Parameters<typeof craftQuery>[0], RegExp]> = [
  ['an option longer than the RDATA', { additional: [optRR({ dnssecOk: true, rdata: Buffer.from([0, 10, 0, 9, 1, 2]) })] }, /overruns/],
  ['an option header cut short', { additional: [optRR({ dnssecOk: true, rdata: Buffer.from([0, 10, 0]) })] }, /cut short/],
  ['trailing data after the OPT', { additional: [optRR({ dnssecOk: true })], trailing: Buffer.alloc(3) }, /trailing/],
  [
    'two ECS options',
    {
      additional: [
        optRR({ dnssecOk: true, options: [ecsOption(1, 24, Buffer.from([192, 0, 2])), ecsOption(1, 24, Buffer.from([192, 0, 2]))] }),
      ],
    },
    /more than one ECS/,
  ],
];
for (const [title, spec, reason] of readableOptErrors) {
  test(`FORMERR for ${title} carries an OPT (RFC 6891 §6.1.1)`, (t) => {
    const r = rejected(decodeQuery(craftQuery({ id: 4242, ...spec }), 'udp'), 'formerr');
    t.regex(r.reason, reason);
    t.like(r.edns, { dnssecOk: true, options: [] });
    const reply = parseReply(encodeErrorResponse(r, 1232));
    t.like(reply, { id: 4242, rcode: 1, counts: { qd: 1, an: 0, ns: 0, ar: 1 } });
    t.like(reply.opt, { udp: 1232, version: 0, dnssecOk: true });
    t.deepEqual(reply.opt?.options, []);
  });
}

test('D9: EDNS version 1 is BADVERS, before its options are looked at, and keeps DO for the reply', (t) => {
  const r = rejected(
    decodeQuery(craftQuery({ additional: [optRR({ version: 1, dnssecOk: true, rdata: Buffer.from([0xff]) })] }), 'udp'),
    'badvers',
  );
  t.like(r.edns, { version: 1, dnssecOk: true });
  t.deepEqual(r.rawQuestion, rawQuestion('a.test.global'));
});

// ---------------------------------------------------------------------------------------------
// ECS (RFC 7871)
// ---------------------------------------------------------------------------------------------

test('ECS: IPv4 /24, IPv6 /56 and /0 decode to family, prefixes and a padded address', (t) => {
  t.deepEqual(decodeEcs(ecsOption(1, 24, Buffer.from([192, 0, 2])).data), {
    family: 1,
    sourcePrefix: 24,
    scopePrefix: 0,
    address: '192.0.2.0',
    addressBytes: Buffer.from([192, 0, 2]),
  });
  t.like(decodeEcs(ecsOption(2, 56, Buffer.from([0x20, 0x01, 0x0d, 0xb8, 0, 1, 2])).data), {
    family: 2,
    sourcePrefix: 56,
    address: '2001:db8:1:200::',
  });
  t.like(decodeEcs(ecsOption(1, 0, Buffer.alloc(0)).data), { sourcePrefix: 0, address: '0.0.0.0' });
  t.like(decodeEcs(ecsOption(1, 20, Buffer.from([10, 1, 0x10])).data), { address: '10.1.16.0' });
});

const badEcs: Array<[string, Buffer, RegExp]> = [
  ['family 3', ecsOption(3, 8, Buffer.from([1])).data, /family/],
  ['an IPv4 prefix of 33', ecsOption(1, 33, Buffer.alloc(5)).data, /exceeds 32/],
  ['an IPv6 prefix of 129', ecsOption(2, 129, Buffer.alloc(17)).data, /exceeds 128/],
  ['more address octets than the prefix needs', ecsOption(1, 24, Buffer.from([192, 0, 2, 0])).data, /needs 3/],
  ['fewer address octets than the prefix needs', ecsOption(1, 24, Buffer.from([192, 0])).data, /needs 3/],
  ['bits set beyond the prefix', ecsOption(1, 20, Buffer.from([10, 1, 0x11])).data, /beyond/],
  ['fewer than 4 octets', Buffer.from([0, 1, 24]), /too short/],
];
for (const [title, data, reason] of badEcs) {
  test(`ECS: FORMERR for ${title}; ignored entirely when ECS is off`, (t) => {
    const msg = craftQuery({ additional: [optRR({ options: [{ code: 8, data }] })] });
    const r = rejected(decodeQuery(msg, 'udp'), 'formerr');
    t.regex(r.reason, reason);
    // RFC 6891 §6.1.1: the OPT was readable, so the FORMERR has one; the bad ECS is not echoed.
    const reply = parseReply(encodeErrorResponse(r, 512));
    t.like(reply, { rcode: 1, counts: { ar: 1 } });
    t.deepEqual(reply.opt?.options, []);
    const off = ok(decodeQuery(msg, 'udp', { ecs: false }));
    t.is(off.edns?.ecs, undefined);
    t.is(off.edns?.options.length, 1);
  });
}

test('ECS: two ECS options are FORMERR', (t) => {
  const opt = ecsOption(1, 24, Buffer.from([192, 0, 2]));
  t.regex(
    rejected(decodeQuery(craftQuery({ additional: [optRR({ options: [opt, opt] })] }), 'udp'), 'formerr').reason,
    /more than one ECS/,
  );
});

test('ECS: a valid option lands in edns.ecs only when ECS is on', (t) => {
  const msg = craftQuery({ additional: [optRR({ options: [ecsOption(1, 24, Buffer.from([192, 0, 2]))] })] });
  t.like(ok(decodeQuery(msg, 'udp')).edns?.ecs, { family: 1, sourcePrefix: 24, address: '192.0.2.0' });
  t.is(ok(decodeQuery(msg, 'udp', { ecs: false })).edns?.ecs, undefined);
});

// ---------------------------------------------------------------------------------------------
// encodeResponse
// ---------------------------------------------------------------------------------------------

test('header: QR, opcode, AA, RD and CD copied, RA=0, rcode; question echoed byte for byte', (t) => {
  const q = rawQuestion('A.TeSt.gLoBaL');
  const ctx = ctxFor(craftQuery({ id: 0x1234, rd: true, cd: true, questions: [q] }));
  const out = encodeResponse(ctx, { rcode: 3, authoritative: true, maxSize: 512 });
  const r = parseReply(out.message);
  t.like(r, { id: 0x1234, qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: false, cd: true, rcode: 3 });
  t.deepEqual(r.rawQuestion, q);
  t.deepEqual(out.message.subarray(12, 12 + q.length), q);
  const plain = parseReply(encodeResponse(ctxFor(craftQuery({ rd: false })), { rcode: 0, maxSize: 512 }).message);
  t.like(plain, { aa: false, rd: false, cd: false });
});

test('owner names equal to the question point at offset 12, so the client case is echoed', (t) => {
  const ctx = ctxFor(craftQuery({ questions: [rawQuestion('A.TeSt.gLoBaL')] }));
  const out = encodeResponse(ctx, { rcode: 0, answers: [A('a.test.global', '10.0.0.1')], maxSize: 512 });
  const answerAt = 12 + rawQuestion('A.TeSt.gLoBaL').length;
  t.deepEqual([...out.message.subarray(answerAt, answerAt + 2)], [0xc0, 12]);
  t.is(parseReply(out.message).answers[0]!['name'], 'A.TeSt.gLoBaL');
});

test('every record type round-trips through an independent parser (dns2), with compression', (t) => {
  const ctx = ctxFor(craftQuery({ questions: [rawQuestion('_http._tcp.svc.test.global', 33)] }));
  const out = encodeResponse(ctx, {
    rcode: 0,
    authoritative: true,
    answers: [
      { name: '_http._tcp.svc.test.global', ttl: 7, data: { type: 33, priority: 1, weight: 2, port: 8080, target: 'svc.test.global' } },
      { name: 'svc.test.global', ttl: 5, data: { type: 5, target: 'real.test.global' } },
    ],
    authority: [
      {
        name: 'test.global',
        ttl: 5,
        data: {
          type: 6,
          mname: 'ns.test.global',
          rname: 'hostmaster.test.global',
          serial: 4294967295,
          refresh: 1,
          retry: 2,
          expire: 3,
          minimum: 4,
        },
      },
      { name: 'test.global', ttl: 5, data: { type: 2, host: 'ns.test.global' } },
    ],
    additional: [A('svc.test.global', '10.0.0.4'), { name: 'svc.test.global', ttl: 5, data: { type: 28, address: '2001:db8::4' } }],
    maxSize: 65535,
  });
  const r = parseReply(out.message);
  t.like(r.answers[0], { type: 33, ttl: 7, priority: 1, weight: 2, port: 8080, target: 'svc.test.global' });
  t.like(r.answers[1], { type: 5, name: 'svc.test.global', domain: 'real.test.global' });
  t.like(r.authority[0], {
    type: 6,
    name: 'test.global',
    primary: 'ns.test.global',
    admin: 'hostmaster.test.global',
    serial: 4294967295,
    minimum: 4,
  });
  t.like(r.authority[1], { type: 2, ns: 'ns.test.global' });
  t.is(r.counts.ar, 2);
  // RFC 2782: the SRV target is written out, never compressed
  t.true(out.message.includes(Buffer.concat([Buffer.from([0, 1, 0, 2, 0x1f, 0x90]), nameOf('svc.test.global')])));
  // compression: "test.global" is spelled out only in the question and the (uncompressible) SRV target
  const needle = Buffer.from('\x04test\x06global', 'latin1');
  let occurrences = 0;
  for (let i = out.message.indexOf(needle); i >= 0; i = out.message.indexOf(needle, i + 1)) occurrences++;
  t.is(occurrences, 2);
});

test('TTLs are clamped to 0..2^31-1 (RFC 2181 §8)', (t) => {
  const ctx = ctxFor(craftQuery());
  const out = encodeResponse(ctx, {
    rcode: 0,
    answers: [A('a.test.global', '1.2.3.4', 2 ** 32), A('a.test.global', '1.2.3.5', -5)],
    maxSize: 512,
  });
  const r = parseReply(out.message);
  t.deepEqual(
    r.answers.map((a) => a['ttl']),
    [0x7fffffff, 0],
  );
});

test('OPT iff the query had one: payload 1232, version 0, DO echoed (RFC 3225)', (t) => {
  const none = parseReply(encodeResponse(ctxFor(craftQuery()), { rcode: 0, maxSize: 512 }).message);
  t.is(none.opt, undefined);
  t.is(none.counts.ar, 0);
  const withDo = ctxFor(craftQuery({ additional: [optRR({ udp: 4096, dnssecOk: true })] }));
  const r = parseReply(encodeResponse(withDo, { rcode: 0, maxSize: 1232 }).message);
  t.deepEqual(r.opt, { udp: 1232, extRcode: 0, version: 0, dnssecOk: true, options: [] });
});

test('BADVERS: header rcode 0, OPT extended rcode 1, question echoed', (t) => {
  const rej = rejected(decodeQuery(craftQuery({ additional: [optRR({ version: 3 })] }), 'udp'), 'badvers');
  const r = parseReply(encodeErrorResponse(rej, 1232));
  t.is(r.rcode, 0);
  t.like(r.opt, { extRcode: 1, version: 0 });
  t.is(r.counts.qd, 1);
});

test('an rcode above 15 without EDNS degrades to SERVFAIL rather than lie', (t) => {
  t.is(parseReply(encodeResponse(ctxFor(craftQuery()), { rcode: 16, maxSize: 512 }).message).rcode, 2);
});

test('error replies echo id, opcode, RD and the question when readable', (t) => {
  const notimp = rejected(decodeQuery(craftQuery({ id: 77, opcode: 4, rd: false }), 'udp'), 'notimp');
  const r = parseReply(encodeErrorResponse(notimp, 512));
  t.like(r, { id: 77, opcode: 4, rd: false, rcode: 4, qr: true });
  t.deepEqual(r.rawQuestion, rawQuestion('a.test.global'));
  const formerr = rejected(decodeQuery(craftQuery({ id: 78, questions: [] }), 'udp'), 'formerr');
  t.like(parseReply(encodeErrorResponse(formerr, 512)), { id: 78, rcode: 1, counts: { qd: 0, an: 0, ns: 0, ar: 0 } });
});

test('ECS echo: same family, source prefix and address bytes, our scope; none unless asked', (t) => {
  const msg = craftQuery({ additional: [optRR({ options: [ecsOption(1, 22, Buffer.from([198, 51, 100]))] })] });
  const ctx = ctxFor(msg);
  const echoed = parseReply(encodeResponse(ctx, { rcode: 0, ecsScopePrefix: 16, maxSize: 1232 }).message);
  t.deepEqual(echoed.opt?.options, [ecsOption(1, 22, Buffer.from([198, 51, 100]), 16)]);
  const silent = parseReply(encodeResponse(ctx, { rcode: 0, maxSize: 1232 }).message);
  t.deepEqual(silent.opt?.options, []);
  const clamped = parseReply(encodeResponse(ctx, { rcode: 0, ecsScopePrefix: 99, maxSize: 1232 }).message);
  t.is(clamped.opt?.options[0]?.data[3], 32);
  // no ECS in the query: nothing to echo even if a scope is passed
  const plain = parseReply(
    encodeResponse(ctxFor(craftQuery({ additional: [optRR()] })), { rcode: 0, ecsScopePrefix: 24, maxSize: 1232 }).message,
  );
  t.deepEqual(plain.opt?.options, []);
});

// ---------------------------------------------------------------------------------------------
// size fitting — D10, D11
// ---------------------------------------------------------------------------------------------

const hundred = Array.from({ length: 100 }, (_, i) => A('big.test.global', `10.1.0.${i + 1}`));

test('responseSizeLimit: TCP 65535; UDP 512 without EDNS; min(client, 1232) floored at 512 (D11)', (t) => {
  const e = (udpPayloadSize: number): EdnsInfo => ({ ...EDNS0, udpPayloadSize });
  t.is(responseSizeLimit('tcp'), 65535);
  t.is(responseSizeLimit('tcp', e(512)), 65535);
  t.is(responseSizeLimit('udp'), 512);
  t.is(responseSizeLimit('udp', e(65000)), 1232);
  t.is(responseSizeLimit('udp', e(4096)), 1232);
  t.is(responseSizeLimit('udp', e(1000)), 1000);
  t.is(responseSizeLimit('udp', e(100)), 512);
  t.is(responseSizeLimit('udp', e(0)), 512);
});

test('D10: a truncated reply sets TC, keeps whole records only, and keeps the OPT', (t) => {
  const ctx = ctxFor(craftQuery({ questions: [rawQuestion('big.test.global')], additional: [optRR({ udp: 4096 })] }));
  const out = encodeResponse(ctx, { rcode: 0, authoritative: true, answers: hundred, maxSize: 1232 });
  const r = parseReply(out.message);
  t.true(out.truncated);
  t.true(r.tc);
  t.true(out.message.length <= 1232);
  t.true(r.counts.an > 0 && r.counts.an < 100);
  t.is(out.omitted, 100 - r.counts.an);
  t.truthy(r.opt, 'OPT survives truncation');
  t.is(r.counts.ar, 1);
  // no room was wasted: one more A record (16 octets with a pointer owner) would not fit
  t.true(out.message.length + 16 > 1232);
});

test('without EDNS the same answer is cut to 512 octets', (t) => {
  const out = encodeResponse(ctxFor(craftQuery({ questions: [rawQuestion('big.test.global')] })), {
    rcode: 0,
    answers: hundred,
    maxSize: responseSizeLimit('udp'),
  });
  t.true(out.truncated);
  t.true(out.message.length <= 512);
  t.is(parseReply(out.message).opt, undefined);
});

test('over TCP the whole answer fits, no TC', (t) => {
  const out = encodeResponse(ctxFor(craftQuery({ questions: [rawQuestion('big.test.global')] }), 'tcp'), {
    rcode: 0,
    answers: hundred,
    maxSize: 65535,
  });
  t.false(out.truncated);
  t.is(parseReply(out.message).counts.an, 100);
});

test('dropping only additional records needs no TC and drops whole RRsets', (t) => {
  const glue = Array.from({ length: 60 }, (_, i) => A('glue.test.global', `10.2.0.${i}`));
  const out = encodeResponse(ctxFor(craftQuery({ questions: [rawQuestion('svc.test.global')] })), {
    rcode: 0,
    answers: [A('svc.test.global', '10.0.0.4')],
    additional: [A('ns.test.global', '10.9.9.9'), ...glue],
    maxSize: 512,
  });
  const r = parseReply(out.message);
  t.false(out.truncated);
  t.false(r.tc);
  t.is(r.counts.an, 1);
  t.is(r.counts.ar, 1, 'the half-fitting glue RRset is left out entirely');
  t.is(out.omitted, 60);
});

test('an authority record that does not fit sets TC', (t) => {
  const answers = Array.from({ length: 30 }, (_, i) => A('a.test.global', `10.3.0.${i}`));
  const out = encodeResponse(ctxFor(craftQuery()), {
    rcode: 0,
    answers,
    authority: [
      {
        name: 'test.global',
        ttl: 5,
        data: { type: 6, mname: 'ns.test.global', rname: 'hostmaster.test.global', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 },
      },
    ],
    maxSize: 512,
  });
  const r = parseReply(out.message);
  t.is(r.counts.an, 30);
  t.is(r.counts.ns, 0);
  t.true(r.tc);
});

test('invalid records within the reply throw (the edge answers SERVFAIL); past the truncation point they are never looked at', (t) => {
  const ctx = ctxFor(craftQuery());
  const bad: ResourceRecord[] = [
    A('a.test.global', '10.0.0.256'),
    A('a.test.global', '10.0.0'),
    { name: 'a.test.global', ttl: 1, data: { type: 28, address: '2001:db8:::1' } },
    A('x'.repeat(64), '1.2.3.4'),
    { name: 'a.test.global', ttl: 1, data: { type: 33, priority: 70000, weight: 0, port: 1, target: 'x' } },
  ];
  for (const rr of bad) {
    t.throws(() => encodeResponse(ctx, { rcode: 0, answers: [rr], maxSize: 512 }), { instanceOf: RangeError });
    // as the last record that fits (29 of `hundred` do), or as the first one: it is written, so it throws
    t.throws(() => encodeResponse(ctx, { rcode: 0, answers: [...hundred.slice(0, 28), rr], maxSize: 512 }), { instanceOf: RangeError });
    // beyond the truncation point it is never prepared: the reply is the truncated one
    const out = encodeResponse(ctx, { rcode: 0, answers: hundred, additional: [rr], maxSize: 512 });
    t.true(out.truncated);
    t.is(parseReply(out.message).counts.an, 29);
    t.is(out.omitted, 72);
  }
});

test('encodeResponse prepares records lazily: 100,000 answers whose every record past the first 30 is invalid still encode, truncated', (t) => {
  // Work is bounded by the reply: were the records prepared before writing, the invalid ones would
  // throw. The first 30 fill a 512-octet reply exactly (question a.test.global, owners compressed).
  const ctx = ctxFor(craftQuery());
  const answers: ResourceRecord[] = Array.from({ length: 100_000 }, (_, i) =>
    i < 30 ? A('a.test.global', `10.2.0.${i}`) : A('a.test.global', 'not an address'),
  );
  const out = encodeResponse(ctx, { rcode: 0, answers, maxSize: 512 });
  const r = parseReply(out.message);
  t.true(out.truncated);
  t.true(r.tc);
  t.is(r.counts.an, 30);
  t.is(out.omitted, 100_000 - 30);
  t.true(out.message.length <= 512);
  t.deepEqual(
    r.answers.map((a) => (a as { address?: string }).address),
    Array.from({ length: 30 }, (_, i) => `10.2.0.${i}`),
  );
  // the same invalid record one position earlier is within the reply, so it is written and throws
  const early = answers.slice(0, 31);
  early[29] = A('a.test.global', 'not an address');
  t.throws(() => encodeResponse(ctx, { rcode: 0, answers: early, maxSize: 512 }), { instanceOf: RangeError });
});

test('answerRecordBudget: one more A record than the reply can hold, for every transport and EDNS size', (t) => {
  // For each limit: budget−1 A records at the question name fit exactly (no TC), budget do not (TC),
  // so an answer cut at the budget is always reported as truncated, never as complete.
  const cases: Array<{ transport: 'udp' | 'tcp'; edns?: EdnsInfo; name: string }> = [
    { transport: 'udp', name: 'a.test.global' },
    { transport: 'udp', name: 'a-much-longer-service-name.some-namespace.global' },
    { transport: 'udp', edns: EDNS0, name: 'a.test.global' },
    { transport: 'udp', edns: { ...EDNS0, udpPayloadSize: 800 }, name: 'svc.ns.global' },
    { transport: 'udp', edns: { ...EDNS0, udpPayloadSize: 4096 }, name: 'svc.ns.global' },
    { transport: 'tcp', name: 'large.bench.global' },
    { transport: 'tcp', edns: EDNS0, name: 'large.bench.global' },
  ];
  for (const c of cases) {
    const query = craftQuery({ questions: [rawQuestion(c.name)], additional: c.edns ? [optRR({ udp: c.edns.udpPayloadSize })] : [] });
    const ctx = ctxFor(query, c.transport);
    const limit = responseSizeLimit(c.transport, ctx.edns);
    const budget = answerRecordBudget(c.transport, ctx.edns, rawQuestion(c.name).length);
    const label = `${c.transport} ${c.edns ? `EDNS ${c.edns.udpPayloadSize}` : 'no EDNS'} ${c.name}`;
    const records = (n: number): ResourceRecord[] =>
      Array.from({ length: n }, (_, i) => A(c.name, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
    const fits = encodeResponse(ctx, { rcode: 0, answers: records(budget - 1), maxSize: limit });
    t.false(fits.truncated, label);
    t.is(parseReply(fits.message).counts.an, budget - 1, label);
    t.true(fits.message.length > limit - 16, `${label}: budget-1 records leave less than one record of room`);
    const over = encodeResponse(ctx, { rcode: 0, answers: records(budget), maxSize: limit });
    t.true(over.truncated, label);
    t.is(over.omitted, 1, label);
    t.true(over.message.length <= limit, label);
  }
  // 512 without EDNS, question a.test.global (19 octets): (512 − 12 − 19) / 16 = 30, plus one
  t.is(answerRecordBudget('udp', undefined, 19), 31);
  t.is(answerRecordBudget('tcp', EDNS0, 24), 4094);
});

// ---------------------------------------------------------------------------------------------
// addresses
// ---------------------------------------------------------------------------------------------

test('IPv4 parsing is strict', (t) => {
  t.deepEqual([...parseIPv4('192.0.2.255')], [192, 0, 2, 255]);
  for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', '1.2.3.-1', ' 1.2.3.4', '1.2.3.4 ', '', 'a.b.c.d']) {
    t.throws(() => parseIPv4(bad), { instanceOf: RangeError }, bad);
  }
});

test('IPv6 parsing handles ::, embedded IPv4, and rejects malformed text', (t) => {
  t.is(formatIPv6(parseIPv6('::')), '::');
  t.is(formatIPv6(parseIPv6('::1')), '::1');
  t.is(formatIPv6(parseIPv6('2001:DB8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  t.is(formatIPv6(parseIPv6('::ffff:192.0.2.1')), '::ffff:c000:201');
  t.is(formatIPv6(parseIPv6('1:2:3:4:5:6:1.2.3.4')), '1:2:3:4:5:6:102:304');
  for (const bad of [
    '',
    ':',
    ':::',
    '1::2::3',
    '12345::',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    'g::',
    '::1.2.3',
    '1.2.3.4',
    ':1:2:3:4:5:6:7',
  ]) {
    t.throws(() => parseIPv6(bad), { instanceOf: RangeError }, bad);
  }
});

// ---------------------------------------------------------------------------------------------
// properties (fast-check)
// ---------------------------------------------------------------------------------------------

function assertShape(r: DecodeResult): void {
  if (r.ok) {
    if (typeof r.query.question.name !== 'string') throw new Error('no name');
    return;
  }
  if (!['drop', 'formerr', 'notimp', 'badvers'].includes(r.action)) throw new Error(`bad action ${r.action}`);
}

test('property: decodeQuery never throws on arbitrary bytes', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), fc.constantFrom('udp' as const, 'tcp' as const), (bytes, transport) => {
      assertShape(decodeQuery(Buffer.from(bytes), transport));
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: decodeQuery never throws on mutated and truncated valid queries', (t) => {
  const seeds = [
    craftQuery({ additional: [optRR({ options: [ecsOption(1, 24, Buffer.from([192, 0, 2])), { code: 10, data: Buffer.alloc(8) }] })] }),
    craftQuery({
      answers: [rawRR({ owner: Buffer.from([0xc0, 12]), type: 1, rdata: Buffer.alloc(4) })],
      additional: [rawRR({ owner: Buffer.from([1, 0x78, 0xc0, 12]), type: 2, rdata: Buffer.from([0xc0, 12]) }), optRR()],
    }),
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.nat(),
      (seed, edits, cut) => {
        const b = Buffer.from(seed);
        for (const [at, v] of edits) b[at % b.length] = v;
        const m = b.subarray(0, cut % (b.length + 1));
        assertShape(decodeQuery(m, 'udp'));
        assertShape(decodeQuery(m, 'tcp'));
      },
    ),
    { numRuns: 3000 },
  );
  t.pass();
});

const labelArb = fc.uint8Array({ minLength: 1, maxLength: 63 });
const nameArb = fc.array(labelArb, { maxLength: 8 }).filter((labels) => labels.reduce((n, l) => n + l.length + 1, 1) <= 255);
const asciiLower = (l: Uint8Array): number[] => [...l].map((c) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c));

test('property: question names decode to presentation text that parses back to the same (case-folded) labels', (t) => {
  fc.assert(
    fc.property(nameArb, (labels) => {
      const msg = craftQuery({ questions: [rawQuestion(wireName(labels.map((l) => Buffer.from(l))))] });
      const d = ok(decodeQuery(msg, 'udp'));
      const back = presentationToLabels(d.question.name).map((l) => [...l]);
      t.deepEqual(back, labels.map(asciiLower));
      t.is(d.question.name, d.question.name.toLowerCase());
      t.regex(d.question.name, /^[\x21-\x7e]*$/, 'printable ASCII only');
    }),
    { numRuns: 500 },
  );
});

// Mostly hostname octets (both cases, digits, '-', '_'), sometimes one that needs escaping, so
// the decoder's plain-name path, its switch to per-label escaping mid-name, and both orders meet.
const hostOctet = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom(...Buffer.from('abcxyzABCXYZ019-_*')) },
  { weight: 1, arbitrary: fc.constantFrom(0x2e, 0x5c, 0x20, 0x00, 0x7f, 0xff, 0x22, 0x41) },
);
const hostNameArb = fc
  .array(fc.array(hostOctet, { minLength: 1, maxLength: 63 }), { maxLength: 6 })
  .filter((labels) => labels.reduce((n, l) => n + l.length + 1, 1) <= 255);

test('property: a question name decodes to its labels in presentation form, lowercased, joined by dots', (t) => {
  fc.assert(
    fc.property(hostNameArb, (labels) => {
      const msg = craftQuery({ questions: [rawQuestion(wireName(labels.map((l) => Buffer.from(l))))] });
      const expected = labels.map((l) => labelToPresentation(Uint8Array.from(asciiLower(Uint8Array.from(l))), 0, l.length)).join('.');
      t.is(ok(decodeQuery(msg, 'udp')).question.name, expected);
    }),
    { numRuns: 2000 },
  );
});

test('property: distinct names (ignoring ASCII case) never share a presentation', (t) => {
  fc.assert(
    fc.property(nameArb, nameArb, (x, y) => {
      const key = (labels: Uint8Array[]): string =>
        ok(decodeQuery(craftQuery({ questions: [rawQuestion(wireName(labels.map((l) => Buffer.from(l))))] }), 'tcp')).question.name;
      const same = JSON.stringify(x.map(asciiLower)) === JSON.stringify(y.map(asciiLower));
      return same === (key(x) === key(y));
    }),
    { numRuns: 1000 },
  );
  // the sharpest case by hand: a dot inside a label vs a label boundary
  const dotted = ok(decodeQuery(craftQuery({ questions: [rawQuestion(wireName([Buffer.from('a.b')]))] }), 'udp')).question.name;
  const split = ok(decodeQuery(craftQuery({ questions: [rawQuestion(wireName(['a', 'b']))] }), 'udp')).question.name;
  t.not(dotted, split);
});

test('property: IPv6 text → octets → text agrees with the platform (inet_pton/inet_ntop)', (t) => {
  fc.assert(
    fc.property(fc.ipV6(), (text) => {
      const platform = new SocketAddress({ address: text, family: 'ipv6' }).address;
      const ours = formatIPv6(parseIPv6(text));
      // same address both ways round; and the same RFC 5952 text wherever the platform does not
      // choose the dotted-quad form for the IPv4-compatible/-mapped ranges
      if (new SocketAddress({ address: ours, family: 'ipv6' }).address !== platform) return false;
      if (!Buffer.from(parseIPv6(platform)).equals(Buffer.from(parseIPv6(text)))) return false;
      return platform.includes('.') || ours === platform;
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.ipV4(), (text) => [...parseIPv4(text)].join('.') === text),
    { numRuns: 500 },
  );
  t.pass();
});

test('property: encoded responses parse cleanly, fit the limit, keep OPT, and set TC exactly when answers are cut', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.ipV4(), { maxLength: 120 }),
      fc.array(fc.ipV6(), { maxLength: 40 }),
      fc.integer({ min: 0, max: 65535 }),
      fc.boolean(),
      fc.constantFrom('udp' as const, 'tcp' as const),
      fc.string({ minLength: 1, maxLength: 20 }).map((s) => s.replace(/[^a-zA-Z0-9-]/g, 'x')),
      (v4, v6, clientSize, edns, transport, label) => {
        const qname = `${label}.test.global`;
        const query = craftQuery({ questions: [rawQuestion(qname)], additional: edns ? [optRR({ udp: clientSize })] : [] });
        const d = ok(decodeQuery(query, 'tcp'));
        const limit = responseSizeLimit(transport, d.edns);
        const answers = [
          ...v4.map((a) => A(qname.toLowerCase(), a)),
          ...v6.map((a): ResourceRecord => ({ name: qname.toLowerCase(), ttl: 5, data: { type: 28, address: a } })),
        ];
        const out = encodeResponse(replyContextOf(d), { rcode: 0, answers, maxSize: limit });
        const r = parseReply(out.message);
        if (out.message.length > limit) return false;
        if ((r.opt !== undefined) !== edns) return false;
        if (r.tc !== r.counts.an < answers.length) return false;
        if (!r.rawQuestion.equals(rawQuestion(qname))) return false;
        return r.answers.every((a) => a['name'] === qname);
      },
    ),
    { numRuns: 400 },
  );
  t.pass();
});

test('encodeResponse: a CHAOS TXT record goes out as class CH with its character-string; over-long strings are refused', (t) => {
  const ctx = ctxFor(craftQuery({ questions: [rawQuestion('VERSION.bind', 16, 3)] }));
  const txt: ResourceRecord = { name: 'version.bind', ttl: 0, class: 3, data: { type: 16, strings: ['gsdns 1.2.3'] } };
  const r = parseReply(encodeResponse(ctx, { rcode: 0, authoritative: true, answers: [txt], maxSize: 512 }).message);
  t.like(r, { aa: true, counts: { qd: 1, an: 1 } });
  t.like(r.answers[0], { type: 16, class: 3, ttl: 0, data: ['gsdns 1.2.3'] });
  t.deepEqual(r.rawQuestion, rawQuestion('VERSION.bind', 16, 3), 'the question is echoed as asked, owner compressed against it');
  // Records without a class are IN, as before.
  t.like(
    parseReply(encodeResponse(ctxFor(craftQuery()), { rcode: 0, answers: [A('a.test.global', '192.0.2.1')], maxSize: 512 }).message)
      .answers[0],
    { class: 1 },
  );
  const long: ResourceRecord = { name: 'version.bind', ttl: 0, class: 3, data: { type: 16, strings: ['x'.repeat(256)] } };
  t.throws(() => encodeResponse(ctx, { rcode: 0, answers: [long], maxSize: 512 }), { instanceOf: RangeError });
});
