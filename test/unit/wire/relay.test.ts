/**
 * The forwarder's wire codec (src/wire/relay.ts): the query sent upstream, vetting a reply,
 * turning it into a cacheable StoredAnswer (TTLs per RFC 1035/2181/2308) and rendering it for one
 * client (ID, question case, flags, OPT, TTL countdown, RFC 8767 stale, size fitting with TC).
 *
 * Every message here is built byte by byte by the small helpers below, so unknown types, unknown
 * EDNS options, compression pointers and malformed shapes are exactly what the test says.
 */
import test from 'ava';
import fc from 'fast-check';
import { decodeQuery } from '../../../src/wire/wire.js';
import {
  EDE_STALE_ANSWER,
  EDNS_OPTION_COOKIE,
  EDNS_OPTION_EDE,
  EDNS_OPTION_PADDING,
  EDNS_OPTION_TCP_KEEPALIVE,
  STALE_TTL_SECONDS,
  buildHealthQuery,
  buildUpstreamQuery,
  parseReply,
  replyMatches,
  summarizeMessage,
  upstreamOptions,
  type RecordSpan,
  type UpstreamReply,
} from '../../../src/wire/relay.js';
import {
  DEFAULT_CACHE_POLICY,
  cacheKey,
  clientSubnetKey,
  hitShape,
  patchHit,
  renderAnswer,
  renderHit,
  storeReply,
  type CachePolicy,
  type RenderSpec,
  type StoredAnswer,
} from '../../../src/wire/relay-store.js';

// ---------------------------------------------------------------------------------------------
// Byte-level builders
// ---------------------------------------------------------------------------------------------

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const bytes = (...octets: number[]): Buffer => Buffer.from(octets);
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** Uncompressed wire name; labels are taken as latin1 text, "" / "." is the root. */
function name(text: string): Buffer {
  if (text === '' || text === '.') return bytes(0);
  const labels = text.replace(/\.$/, '').split('.');
  return Buffer.concat([...labels.map((l) => Buffer.concat([bytes(l.length), Buffer.from(l, 'latin1')])), bytes(0)]);
}

/** A compression pointer to `offset`. */
const ptr = (offset: number): Buffer => bytes(0xc0 | (offset >> 8), offset & 0xff);

function question(qname: string | Buffer, type = 1, klass = 1): Buffer {
  return Buffer.concat([typeof qname === 'string' ? name(qname) : qname, u16(type), u16(klass)]);
}

interface RR {
  readonly owner?: string | Buffer;
  readonly type: number;
  readonly klass?: number;
  readonly ttl?: number;
  readonly rdata?: Buffer;
}

function ownerOf(r: RR): Buffer {
  if (r.owner === undefined) return bytes(0);
  return typeof r.owner === 'string' ? name(r.owner) : r.owner;
}

function encodeRR(r: RR): Buffer {
  const rdata = r.rdata ?? Buffer.alloc(0);
  return Buffer.concat([ownerOf(r), u16(r.type), u16(r.klass ?? 1), u32(r.ttl ?? 0), u16(rdata.length), rdata]);
}

interface Option {
  readonly code: number;
  readonly data: Buffer;
}

const optionBytes = (options: readonly Option[]): Buffer =>
  Buffer.concat(options.map((o) => Buffer.concat([u16(o.code), u16(o.data.length), o.data])));

interface OptSpec {
  readonly payload?: number;
  readonly ext?: number;
  readonly version?: number;
  readonly dnssecOk?: boolean;
  readonly options?: readonly Option[];
  readonly owner?: Buffer;
  readonly rdata?: Buffer;
}

function opt(o: OptSpec = {}): RR {
  return {
    owner: o.owner ?? bytes(0),
    type: 41,
    klass: o.payload ?? 1232,
    ttl: (((o.ext ?? 0) << 24) | ((o.version ?? 0) << 16) | (o.dnssecOk ? 0x8000 : 0)) >>> 0,
    rdata: o.rdata ?? optionBytes(o.options ?? []),
  };
}

interface Flags {
  readonly qr?: boolean;
  readonly opcode?: number;
  readonly aa?: boolean;
  readonly tc?: boolean;
  readonly rd?: boolean;
  readonly ra?: boolean;
  readonly z?: boolean;
  readonly ad?: boolean;
  readonly cd?: boolean;
  readonly rcode?: number;
}

function flagBytes(f: Flags): Buffer {
  const hi = (f.qr ? 0x80 : 0) | ((f.opcode ?? 0) << 3) | (f.aa ? 0x04 : 0) | (f.tc ? 0x02 : 0) | (f.rd ? 0x01 : 0);
  const lo = (f.ra ? 0x80 : 0) | (f.z ? 0x40 : 0) | (f.ad ? 0x20 : 0) | (f.cd ? 0x10 : 0) | ((f.rcode ?? 0) & 0x0f);
  return bytes(hi, lo);
}

interface Msg {
  readonly id?: number;
  readonly flags?: Flags;
  readonly question?: Buffer;
  readonly answer?: readonly RR[];
  readonly authority?: readonly RR[];
  readonly additional?: readonly RR[];
  readonly counts?: { readonly qd?: number; readonly an?: number; readonly ns?: number; readonly ar?: number };
  readonly trailing?: Buffer;
}

const Q = question('Example.COM', 1);

function message(m: Msg): Buffer {
  const q = m.question ?? Q;
  const an = m.answer ?? [];
  const ns = m.authority ?? [];
  const ar = m.additional ?? [];
  return Buffer.concat([
    u16(m.id ?? 0x1234),
    flagBytes(m.flags ?? { qr: true, rd: true, ra: true }),
    u16(m.counts?.qd ?? 1),
    u16(m.counts?.an ?? an.length),
    u16(m.counts?.ns ?? ns.length),
    u16(m.counts?.ar ?? ar.length),
    q,
    ...an.map(encodeRR),
    ...ns.map(encodeRR),
    ...ar.map(encodeRR),
    m.trailing ?? Buffer.alloc(0),
  ]);
}

/** The spans parseReply should report: every non-OPT record up to the first OPT. */
function spansOf(m: Msg): RecordSpan[] {
  const out: RecordSpan[] = [];
  let pos = 12 + (m.question ?? Q).length;
  const sections = [m.answer ?? [], m.authority ?? [], m.additional ?? []] as const;
  for (const [section, records] of sections.entries()) {
    for (const r of records) {
      if (r.type === 41) return out;
      const owner = ownerOf(r).length;
      const end = pos + owner + 10 + (r.rdata?.length ?? 0);
      out.push({ section: section as 0 | 1 | 2, start: pos, end, type: r.type, ttlOffset: pos + owner + 4 });
      pos = end;
    }
  }
  return out;
}

function parsed(buf: Buffer): UpstreamReply {
  const r = parseReply(buf);
  if (!r.ok) throw new Error(`expected a valid reply, got: ${r.reason}`);
  return r.reply;
}

function stored(m: Msg, policy?: CachePolicy): StoredAnswer {
  const buf = message(m);
  return storeReply(buf, parsed(buf), policy);
}

const A = (owner: string | Buffer, address: number[], ttl = 300): RR => ({ owner, type: 1, ttl, rdata: Buffer.from(address) });

/** SOA RDATA: MNAME, RNAME, SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM. */
function soaRdata(minimum: number, mname: Buffer = name('ns.com'), rname: Buffer = name('h.com')): Buffer {
  return Buffer.concat([mname, rname, u32(2024010101), u32(7200), u32(900), u32(1209600), u32(minimum)]);
}
const SOA = (ttl: number, minimum: number, owner: string | Buffer = ptr(20)): RR => ({ owner, type: 6, ttl, rdata: soaRdata(minimum) });

const COOKIE: Option = { code: EDNS_OPTION_COOKIE, data: hex('0102030405060708') };
const SERVER_COOKIE: Option = { code: EDNS_OPTION_COOKIE, data: hex('0102030405060708 a1a2a3a4a5a6a7a8 b1b2b3b4b5b6b7b8') };
const ECS: Option = { code: 8, data: hex('0001 18 00 c00002') };
const KEEPALIVE: Option = { code: EDNS_OPTION_TCP_KEEPALIVE, data: hex('0064') };
const PADDING: Option = { code: EDNS_OPTION_PADDING, data: Buffer.alloc(7) };
const NSID: Option = { code: 3, data: Buffer.from('ns-a', 'latin1') };
const UNKNOWN: Option = { code: 65001, data: hex('deadbeef00') };

// ---------------------------------------------------------------------------------------------
// upstreamOptions
// ---------------------------------------------------------------------------------------------

const ALL_CLIENT_OPTIONS = [NSID, ECS, COOKIE, KEEPALIVE, PADDING, UNKNOWN];

for (const [forwardClientSubnet, expected] of [
  [false, [NSID, COOKIE, UNKNOWN]],
  [true, [NSID, ECS, COOKIE, UNKNOWN]],
] as const) {
  test(`upstreamOptions(forwardClientSubnet=${forwardClientSubnet}) drops keepalive (11) and padding (12)${forwardClientSubnet ? '' : ' and ECS (8)'}, keeps the rest in order`, (t) => {
    t.deepEqual(upstreamOptions(ALL_CLIENT_OPTIONS, forwardClientSubnet), [...expected]);
  });
}

test('upstreamOptions keeps duplicate and zero-length options, and returns [] for []', (t) => {
  const empty: Option = { code: 65001, data: Buffer.alloc(0) };
  t.deepEqual(upstreamOptions([empty, UNKNOWN, UNKNOWN, KEEPALIVE, PADDING, PADDING], false), [empty, UNKNOWN, UNKNOWN]);
  t.deepEqual(upstreamOptions([], true), []);
  t.deepEqual(upstreamOptions([KEEPALIVE, PADDING, ECS], false), []);
});

// ---------------------------------------------------------------------------------------------
// buildUpstreamQuery / buildHealthQuery
// ---------------------------------------------------------------------------------------------

test('buildUpstreamQuery: new ID, RD/CD, counts, the client question verbatim and our OPT, byte for byte', (t) => {
  // An uppercase name and type 65 (HTTPS, unknown to dns2 and to our RRType table).
  const rawQuestion = question('WwW.ExAmPlE.CoM', 65, 1);
  const query = buildUpstreamQuery({ id: 0xabcd, rawQuestion, rd: true, cd: true, dnssecOk: true, options: [COOKIE, UNKNOWN] });
  const expected = Buffer.concat([
    // AD=1 always (RFC 6840 §5.7: we understand AD), CD from the client.
    hex('abcd 0130 0001 0000 0000 0001'),
    hex('03 577757 07 4578416d506c45 03 436f4d 00 0041 0001'),
    // OPT: root, TYPE 41, CLASS 1232, ext-rcode 0, version 0, DO, Z 0, RDLENGTH 12 + 9
    hex('00 0029 04d0 00 00 8000 0015'),
    hex('000a 0008 0102030405060708'),
    hex('fde9 0005 deadbeef00'),
  ]);
  t.deepEqual(query, expected);
});

for (const [rd, cd, dnssecOk, byte2, byte3, doByte] of [
  [false, false, false, 0x00, 0x20, 0x00],
  [true, false, false, 0x01, 0x20, 0x00],
  [false, true, false, 0x00, 0x30, 0x00],
  [true, true, true, 0x01, 0x30, 0x80],
  [false, false, true, 0x00, 0x20, 0x80],
] as const) {
  test(`buildUpstreamQuery rd=${rd} cd=${cd} do=${dnssecOk}: flags ${byte2.toString(16)}/${byte3.toString(16)}, no options → empty OPT RDATA`, (t) => {
    const rawQuestion = question('a.test', 28);
    const query = buildUpstreamQuery({ id: 7, rawQuestion, rd, cd, dnssecOk, options: [] });
    t.deepEqual(
      query,
      Buffer.concat([
        u16(7),
        bytes(byte2, byte3),
        hex('0001 0000 0000 0001'),
        rawQuestion,
        hex('00 0029 04d0 00 00'),
        bytes(doByte, 0),
        hex('0000'),
      ]),
    );
  });
}

test('buildUpstreamQuery writes the ID modulo 2^16 and the question even for a root name', (t) => {
  for (const [id, wire] of [
    [0, 0x0000],
    [0xffff, 0xffff],
    [0x1_0005, 0x0005],
  ] as const) {
    const query = buildUpstreamQuery({ id, rawQuestion: question('', 2), rd: false, cd: false, dnssecOk: false, options: [] });
    t.is(query.readUInt16BE(0), wire);
    t.deepEqual(query.subarray(12, 17), hex('00 0002 0001'));
    t.is(query.length, 12 + 5 + 11);
  }
});

test('buildUpstreamQuery output is a query our own strict decoder accepts, with the same question and options', (t) => {
  const rawQuestion = question('Mixed.Case.Example', 65);
  const options = [COOKIE, NSID, UNKNOWN];
  const query = buildUpstreamQuery({ id: 0x5151, rawQuestion, rd: true, cd: false, dnssecOk: false, options });
  const d = decodeQuery(query, 'udp');
  if (!d.ok) return t.fail(`decodeQuery refused it: ${d.reason}`);
  t.deepEqual(d.query.rawQuestion, rawQuestion);
  t.deepEqual(d.query.question, { name: 'mixed.case.example', type: 65, class: 1 });
  t.is(d.query.header.id, 0x5151);
  t.true(d.query.header.rd);
  t.false(d.query.header.cd);
  t.like(d.query.edns, { udpPayloadSize: 1232, version: 0, dnssecOk: false });
  t.deepEqual(d.query.edns?.options, options);
});

test('buildHealthQuery is ". IN NS" with RD, AD, no CD, OPT 1232 without DO', (t) => {
  t.deepEqual(buildHealthQuery(0x0102), hex('0102 0120 0001 0000 0000 0001  00 0002 0001  00 0029 04d0 00 00 0000 0000'));
  t.is(buildHealthQuery(0xfffe).readUInt16BE(0), 0xfffe);
});

// ---------------------------------------------------------------------------------------------
// parseReply: valid replies
// ---------------------------------------------------------------------------------------------

/** A reply with compression everywhere: Example.COM at 12, COM at 20. */
const FULL: Msg = {
  id: 0x1234,
  flags: { qr: true, rd: true, ra: true },
  question: Q,
  answer: [
    { owner: ptr(12), type: 5, ttl: 300, rdata: Buffer.concat([name('www').subarray(0, 4), ptr(12)]) }, // CNAME www.Example.COM
    A(ptr(12), [192, 0, 2, 1], 200),
  ],
  authority: [{ owner: ptr(20), type: 2, ttl: 3600, rdata: Buffer.concat([bytes(3), Buffer.from('ns1'), ptr(20)]) }],
  additional: [
    A(Buffer.concat([bytes(3), Buffer.from('ns1'), ptr(20)]), [192, 0, 2, 53], 10),
    opt({ payload: 4096, dnssecOk: true, options: [SERVER_COOKIE, NSID, UNKNOWN] }),
  ],
};

test('parseReply: header fields, question end, every record span in every section, and the OPT', (t) => {
  const buf = message(FULL);
  const r = parsed(buf);
  t.deepEqual(r, {
    id: 0x1234,
    opcode: 0,
    aa: false,
    tc: false,
    ra: true,
    ad: false,
    rcode: 0,
    questionEnd: 12 + 17,
    records: spansOf(FULL),
    opt: { udpPayloadSize: 4096, version: 0, dnssecOk: true, options: [SERVER_COOKIE, NSID, UNKNOWN] },
  });
  // the spans computed by the helper, spelled out once so the helper itself is checked
  t.deepEqual(
    r.records.map((s) => [s.section, s.start, s.end, s.type, s.ttlOffset]),
    [
      [0, 29, 47, 5, 35],
      [0, 47, 63, 1, 53],
      [1, 63, 81, 2, 69],
      [2, 81, 101, 1, 91],
    ],
  );
  t.is(buf.length, 101 + 11 + 4 + 24 + 4 + 4 + 4 + 5);
});

test('parseReply without OPT: opt undefined, rcode from the header only', (t) => {
  const m: Msg = { flags: { qr: true, rcode: 3 }, authority: [SOA(60, 30)] };
  const r = parsed(message(m));
  t.is(r.opt, undefined);
  t.is(r.rcode, 3);
  t.deepEqual(r.records, spansOf(m));
});

for (const [f, expected] of [
  [
    { qr: true, aa: true },
    { aa: true, tc: false, ra: false, ad: false, opcode: 0 },
  ],
  [
    { qr: true, tc: true },
    { aa: false, tc: true, ra: false, ad: false, opcode: 0 },
  ],
  [
    { qr: true, ra: true, ad: true },
    { aa: false, tc: false, ra: true, ad: true, opcode: 0 },
  ],
  [
    { qr: true, opcode: 2 },
    { aa: false, tc: false, ra: false, ad: false, opcode: 2 },
  ],
  [
    { qr: true, opcode: 15, aa: true, tc: true, rd: true, ra: true, z: true, ad: true, cd: true, rcode: 15 },
    { aa: true, tc: true, ra: true, ad: true, opcode: 15, rcode: 15 },
  ],
] as const) {
  test(`parseReply reads header flags ${JSON.stringify(f)}`, (t) => {
    t.like(parsed(message({ flags: f, answer: [A(ptr(12), [1, 2, 3, 4])] })), expected);
  });
}

for (const [ext, low, full] of [
  [0, 0, 0],
  [0, 3, 3],
  [1, 0, 16], // BADVERS
  [1, 7, 23], // BADCOOKIE (RFC 7873 §8)
  [0xff, 0xf, 4095],
] as const) {
  test(`parseReply: extended RCODE ${ext}<<4 | ${low} = ${full}`, (t) => {
    const r = parsed(message({ flags: { qr: true, rcode: low }, additional: [opt({ ext, options: [SERVER_COOKIE] })] }));
    t.is(r.rcode, full);
    t.deepEqual(r.opt?.options, [SERVER_COOKIE]);
  });
}

test('parseReply reports OPT version and payload as sent, and a zero-length RDATA as no options', (t) => {
  const r = parsed(message({ additional: [opt({ payload: 512, version: 1 })] }));
  t.deepEqual(r.opt, { udpPayloadSize: 512, version: 1, dnssecOk: false, options: [] });
  t.deepEqual(r.records, []);
});

test('parseReply: records after an OPT are not reported (and need not even be well-formed)', (t) => {
  const m: Msg = {
    answer: [A(ptr(12), [1, 1, 1, 1])],
    additional: [A(ptr(12), [2, 2, 2, 2]), opt({ options: [NSID] }), A(ptr(12), [3, 3, 3, 3])],
  };
  const r = parsed(message(m));
  t.deepEqual(r.records, spansOf(m));
  t.is(r.records.length, 2);
  t.deepEqual(r.opt?.options, [NSID]);
  // a second OPT and garbage after the first OPT do not matter either
  const junk = message({ ...m, additional: [opt(), opt({ owner: name('x') })], counts: { ar: 3 }, trailing: hex('ffffffffffff') });
  t.true(parseReply(junk).ok);
});

test('parseReply accepts a reply with no records and trailing octets after the last record', (t) => {
  t.like(parsed(message({ trailing: hex('00000000') })), { records: [], questionEnd: 29 });
  const m: Msg = { answer: [A(ptr(12), [1, 2, 3, 4])], trailing: hex('c0') };
  t.deepEqual(parsed(message(m)).records, spansOf(m));
});

test('parseReply follows a chain of backward pointers of exactly 127 hops, and refuses 128', (t) => {
  for (const [hops, ok] of [
    [127, true],
    [128, false],
  ] as const) {
    // Question is the root at 12..16; record 1 has owner root and RDATA = 0x00 then a chain of
    // pointers each pointing at the one before; record 2's owner points at the last pointer.
    const chainStart = 12 + 5 + 11; // first RDATA octet
    const chain = [bytes(0)];
    for (let i = 0; i < hops - 1; i++) chain.push(ptr(i === 0 ? chainStart : chainStart + 1 + (i - 1) * 2));
    const last = chainStart + 1 + (hops - 2) * 2;
    const m: Msg = {
      question: question('', 2),
      answer: [
        { type: 99, rdata: Buffer.concat(chain) },
        { owner: ptr(last), type: 99 },
      ],
    };
    const r = parseReply(message(m));
    t.is(r.ok, ok, `hops=${hops}`);
    if (!r.ok) t.regex(r.reason, /too many compression pointers/);
  }
});

// ---------------------------------------------------------------------------------------------
// parseReply: rejections
// ---------------------------------------------------------------------------------------------

const REJECTS: ReadonlyArray<readonly [string, Buffer, RegExp]> = [
  ['an empty datagram', Buffer.alloc(0), /shorter than the header/],
  ['an 11-octet datagram', message({}).subarray(0, 11), /shorter than the header/],
  ['QR=0 (a query)', message({ flags: { rd: true } }), /QR=0/],
  ['QDCOUNT=0', message({ counts: { qd: 0 } }), /QDCOUNT is 0/],
  ['QDCOUNT=2', message({ counts: { qd: 2 }, trailing: Q }), /QDCOUNT is 2/],
  ['ANCOUNT 1 with nothing after a root question', message({ question: question('', 2), counts: { an: 1 } }), /section counts/],
  ['ANCOUNT 1 with nothing after a longer question', message({ counts: { an: 1 } }), /name runs past the end/],
  ['ANCOUNT 65535', message({ answer: [A(ptr(12), [1, 2, 3, 4])], counts: { an: 0xffff } }), /section counts/],
  // root question (5) + one root-owner record (11) is the minimum for counts 0/1/0/0; claim two
  [
    'counts one record beyond what the length can hold',
    message({ question: question('', 2), answer: [{ type: 99 }], counts: { an: 2 } }),
    /section counts/,
  ],
  ['question without QTYPE/QCLASS', message({ question: hex('01 61 00 00 01') }), /no room for QTYPE/],
  ['question name running off the end', message({ question: hex('3f 61 61 61 61') }), /label runs past|runs past the end/],
  ['question that is a compression pointer', message({ question: Buffer.concat([ptr(12), hex('0001 0001')]) }), /not backwards/],
  [
    'record cut short inside its fixed fields',
    message({ counts: { an: 1 }, trailing: Buffer.concat([ptr(12), hex('0001 0001 0000')]) }),
    /cut short/,
  ],
  [
    'RDATA running past the end',
    message({ counts: { an: 1 }, trailing: Buffer.concat([ptr(12), hex('0001 0001 0000012c 0064 c0000201')]) }),
    /runs past the end/,
  ],
  ['RDATA one octet past the end', message({ answer: [A(ptr(12), [1, 2, 3, 4])] }).subarray(0, 29 + 15), /runs past the end/],
  ['a forward compression pointer', message({ answer: [A(ptr(200), [1, 2, 3, 4])], trailing: Buffer.alloc(200) }), /not backwards/],
  ['a pointer to itself', message({ answer: [A(ptr(29), [1, 2, 3, 4])] }), /not backwards/],
  ['a pointer into the header', message({ answer: [A(ptr(4), [1, 2, 3, 4])] }), /not backwards/],
  // Record 1 owner "a" + pointer back to its own start: the only loop a backward pointer allows.
  [
    'a looping name (label + pointer to itself)',
    message({ answer: [{ owner: Buffer.concat([hex('01 61'), ptr(29)]), type: 1, rdata: Buffer.alloc(4) }] }),
    /exceeds 255/,
  ],
  [
    'a two-pointer loop (forward then back)',
    message({
      answer: [
        { owner: ptr(31), type: 99 },
        { owner: ptr(29), type: 99 },
      ],
    }),
    /not backwards/,
  ],
  ['label type 0x40', message({ answer: [{ owner: hex('41 00'), type: 1, rdata: Buffer.alloc(4) }] }), /unsupported label type 0x41/],
  ['label type 0x80', message({ answer: [{ owner: hex('80 00'), type: 1, rdata: Buffer.alloc(4) }] }), /unsupported label type 0x80/],
  ['a pointer cut short at the end', message({ counts: { an: 1 }, trailing: hex('c0') }), /compression pointer cut short/],
  ['OPT in the answer section', message({ answer: [opt()] }), /OPT record in section 0/],
  ['OPT in the authority section', message({ authority: [opt()] }), /OPT record in section 1/],
  ['OPT with a non-root owner', message({ additional: [opt({ owner: name('a') })] }), /owner is not the root/],
  [
    'OPT whose owner is a pointer (even to a root)',
    message({ question: question('', 2), additional: [opt({ owner: ptr(12) })] }),
    /owner is not the root/,
  ],
  ['OPT option overrunning its RDATA', message({ additional: [opt({ rdata: hex('fde9 0005 0102') })] }), /overruns the OPT RDATA/],
  ['OPT option header cut short', message({ additional: [opt({ rdata: hex('fde9 00') })] }), /option header cut short/],
];

for (const [what, buf, reason] of REJECTS) {
  test(`parseReply rejects ${what}`, (t) => {
    const r = parseReply(buf);
    if (r.ok) return t.fail('accepted');
    t.regex(r.reason, reason);
  });
}

test('parseReply rejects every strict prefix of a valid reply that cuts into a record', (t) => {
  const buf = message(FULL);
  const spans = spansOf(FULL);
  const lastEnd = spans[spans.length - 1]!.end;
  for (let len = 0; len < buf.length; len++) {
    const r = parseReply(buf.subarray(0, len));
    // Shorter than the full message means the OPT (which the counts include) is cut.
    t.false(r.ok, `length ${len} (records end at ${lastEnd})`);
  }
});

// ---------------------------------------------------------------------------------------------
// parseReply: never throws, bounded work
// ---------------------------------------------------------------------------------------------

function assertSpansInBounds(buf: Buffer, reply: UpstreamReply): void {
  let prev = reply.questionEnd;
  for (const s of reply.records) {
    if (!(s.start === prev && s.start < s.ttlOffset && s.ttlOffset + 6 <= s.end && s.end <= buf.length && s.type !== 41)) {
      throw new Error(`bad span ${JSON.stringify(s)} after ${prev} in ${buf.length} octets`);
    }
    prev = s.end;
  }
}

test('property: parseReply never throws on arbitrary buffers; accepted spans are contiguous and in bounds', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (raw, forceReply) => {
      const buf = Buffer.from(raw);
      // Half the time make it look like a one-question reply, so the walk gets past the header.
      if (forceReply && buf.length >= 12) {
        buf[2] = buf[2]! | 0x80;
        buf.writeUInt16BE(1, 4);
        buf.writeUInt16BE(buf[6]! & 0x07, 6);
        buf.writeUInt16BE(buf[8]! & 0x03, 8);
        buf.writeUInt16BE(buf[10]! & 0x03, 10);
      }
      const r = parseReply(buf);
      if (r.ok) assertSpansInBounds(buf, r.reply);
      else if (typeof r.reason !== 'string' || r.reason === '') throw new Error('no reason');
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

const SEEDS: readonly Msg[] = [
  FULL,
  { flags: { qr: true, rcode: 3 }, authority: [SOA(900, 300)], additional: [opt()] },
  { answer: [A(ptr(12), [1, 2, 3, 4]), { owner: ptr(12), type: 65, ttl: 5, rdata: hex('0001 00 0001 0002 0002 6832') }] },
];

test('property: parseReply never throws on mutated and truncated valid replies; storeReply and renderAnswer cope with whatever it accepts', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...SEEDS),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.nat(),
      fc.integer({ min: 0, max: 2000 }),
      (seed, mutations, cut, maxSize) => {
        const buf = Buffer.from(message(seed));
        for (const [at, value] of mutations) buf[at % buf.length] = value;
        const input = cut % 4 === 0 ? buf.subarray(0, cut % (buf.length + 1)) : buf;
        const r = parseReply(input);
        if (!r.ok) return;
        assertSpansInBounds(input, r.reply);
        const s = storeReply(input, r.reply);
        const out = renderAnswer(s, { ...BASE_SPEC, rawQuestion: Q, maxSize });
        if (out.message.length > Math.max(512, maxSize)) throw new Error(`rendered ${out.message.length} > ${maxSize}`);
        if (!parseReply(out.message).ok) throw new Error('rendered message does not parse');
      },
    ),
    { numRuns: 5000 },
  );
  t.pass();
});

test('parseReply walks a 64 KiB message of 127-hop owner names (hops are bounded per name; speed lives in bench/)', (t) => {
  const chainStart = 12 + 5 + 11;
  const chain = [bytes(0)];
  for (let i = 0; i < 126; i++) chain.push(ptr(i === 0 ? chainStart : chainStart + 1 + (i - 1) * 2));
  const last = chainStart + 1 + 125 * 2;
  const head: RR = { type: 99, rdata: Buffer.concat(chain) };
  const each: RR = { owner: ptr(last), type: 99 };
  const room = 65535 - 12 - 5 - encodeRR(head).length;
  const n = Math.floor(room / encodeRR(each).length);
  const buf = message({ question: question('', 2), answer: [head, ...new Array<RR>(n).fill(each)] });
  t.true(buf.length <= 65535 && buf.length > 65535 - 12);
  const r = parsed(buf);
  t.is(r.records.length, n + 1);
});

// ---------------------------------------------------------------------------------------------
// replyMatches (RFC 5452 §9.1)
// ---------------------------------------------------------------------------------------------

const CLIENT_Q = question('Example.COM', 1, 1);

const MATCHES: ReadonlyArray<readonly [string, Msg, number, Buffer, boolean]> = [
  ['same ID and question', { id: 77, question: question('Example.COM') }, 77, CLIENT_Q, true],
  ['name differing in case only', { id: 77, question: question('eXAMPLE.com') }, 77, CLIENT_Q, true],
  ['all-uppercase vs all-lowercase', { id: 77, question: question('EXAMPLE.COM') }, 77, question('example.com'), true],
  ['another ID', { id: 78, question: question('Example.COM') }, 77, CLIENT_Q, false],
  ['ID 0 vs 65535', { id: 0, question: question('Example.COM') }, 0xffff, CLIENT_Q, false],
  ['another name of the same length', { id: 77, question: question('Example.NET') }, 77, CLIENT_Q, false],
  ['a longer name', { id: 77, question: question('www.Example.COM') }, 77, CLIENT_Q, false],
  ['a shorter name', { id: 77, question: question('Example.CO') }, 77, CLIENT_Q, false],
  ['the same labels split differently', { id: 77, question: question('Exampl.eCOM') }, 77, CLIENT_Q, false],
  ['another QTYPE', { id: 77, question: question('Example.COM', 28) }, 77, CLIENT_Q, false],
  ['another QCLASS (CH)', { id: 77, question: question('Example.COM', 1, 3) }, 77, CLIENT_Q, false],
  // Only ASCII letters fold (RFC 4343 §3): '@' (0x40) vs '`' (0x60), '[' (0x5b) vs '{' (0x7b).
  ['@ vs ` in a label', { id: 77, question: question('a@b.test') }, 77, question('a`b.test'), false],
  ['[ vs { in a label', { id: 77, question: question('a[b.test') }, 77, question('a{b.test'), false],
  ['opcode 1 (IQUERY)', { id: 77, flags: { qr: true, opcode: 1 }, question: question('Example.COM') }, 77, CLIENT_Q, false],
  ['opcode 2 (STATUS)', { id: 77, flags: { qr: true, opcode: 2 }, question: question('Example.COM') }, 77, CLIENT_Q, false],
  ['opcode 5 (UPDATE)', { id: 77, flags: { qr: true, opcode: 5 }, question: question('Example.COM') }, 77, CLIENT_Q, false],
];

for (const [what, m, id, raw, expected] of MATCHES) {
  test(`replyMatches: ${what} → ${expected}`, (t) => {
    const buf = message(m);
    t.is(replyMatches(buf, parsed(buf), id, raw), expected);
  });
}

// QTYPE and QCLASS must match exactly; an octet of them that happens to be in 'A'..'Z' must not be
// case-folded like a name octet. Type 65 (HTTPS) is 0x0041 ('A'), type 97 is 0x0061 ('a').
for (const [what, replyQ, clientQ] of [
  ['QTYPE 97 (0x0061) answering QTYPE 65 (0x0041, HTTPS)', question('example.com', 97), question('example.com', 65)],
  ['QTYPE 0x4101 answering QTYPE 0x6101', question('example.com', 0x4101), question('example.com', 0x6101)],
  ['QCLASS 0x0061 answering QCLASS 0x0041', question('example.com', 1, 0x61), question('example.com', 1, 0x41)],
] as const) {
  test(`replyMatches: ${what} does not match`, (t) => {
    const buf = message({ id: 9, question: replyQ });
    t.false(replyMatches(buf, parsed(buf), 9, clientQ));
  });
}

// ---------------------------------------------------------------------------------------------
// storeReply: body and cache lifetime
// ---------------------------------------------------------------------------------------------

test('storeReply: body is the reply up to its last record with ID 0, OPT removed and ARCOUNT adjusted', (t) => {
  const buf = message(FULL);
  const s = storeReply(buf, parsed(buf));
  const spans = spansOf(FULL);
  const expectedBody = message({ ...FULL, id: 0, additional: FULL.additional!.slice(0, 1) });
  t.deepEqual(s.body, expectedBody);
  t.is(s.body.readUInt16BE(10), 1);
  t.is(s.questionLength, 17);
  t.deepEqual(s.sections, [0, 0, 1, 2]);
  t.deepEqual(
    s.ends,
    spans.map((x) => x.end),
  );
  t.deepEqual(
    s.ttlOffsets,
    spans.map((x) => x.ttlOffset),
  );
  t.deepEqual(s.options, [SERVER_COOKIE, NSID, UNKNOWN]);
  t.is(s.rcode, 0);
  t.false(s.aa);
  t.false(s.ad);
  t.is(s.answerClass, 'positive');
  // mutating the datagram afterwards does not reach the stored answer
  const copy = Buffer.from(s.body);
  buf.fill(0xee);
  t.deepEqual(s.body, copy);
  t.deepEqual(s.options, [SERVER_COOKIE, NSID, UNKNOWN]);
});

test('storeReply: records after a mid-section OPT and trailing octets are cut from the body, counts follow', (t) => {
  const m: Msg = {
    id: 0x9999,
    flags: { qr: true, aa: true, ra: true, ad: true },
    answer: [A(ptr(12), [1, 1, 1, 1])],
    additional: [A(ptr(12), [2, 2, 2, 2]), opt(), A(ptr(12), [3, 3, 3, 3])],
    trailing: hex('abcdef'),
  };
  const s = stored(m);
  t.deepEqual(s.body, message({ ...m, id: 0, additional: [A(ptr(12), [2, 2, 2, 2])], trailing: Buffer.alloc(0) }));
  t.deepEqual(s.sections, [0, 2]);
  t.true(s.aa);
  t.true(s.ad);
  t.deepEqual(s.options, []);
});

test('storeReply of a reply with no records: body is header + question, counts all 0 but QDCOUNT', (t) => {
  const s = stored({ id: 5, flags: { qr: true, rcode: 3 }, additional: [opt()] });
  t.deepEqual(s.body, message({ id: 0, flags: { qr: true, rcode: 3 } }));
  t.deepEqual([s.sections, s.ends, s.ttlOffsets], [[], [], []]);
  t.is(s.answerClass, 'nxdomain');
  t.is(s.ttlSeconds, 0); // no SOA
});

const TOP = 0x80000000;

const POSITIVE_TTLS: ReadonlyArray<readonly [string, number[], number[], number[], number, CachePolicy?]> = [
  ['one answer', [300], [], [], 300],
  ['the minimum over answers', [300, 100, 200], [], [], 100],
  ['authority counts', [300], [50], [], 50],
  ['additional does not count', [300], [], [10], 300],
  ['additional does not count even with TTL 0', [300], [400], [0], 300],
  ['capped by maxTtlSeconds (default 86400)', [100000], [], [], 86400],
  ['capped by a custom maxTtlSeconds', [300], [200], [], 60, { ...DEFAULT_CACHE_POLICY, maxTtlSeconds: 60 }],
  ['TTL 0 answers are not cached', [300, 0], [], [], 0],
  ['top bit set counts as 0 (RFC 2181 §8)', [TOP, 300], [], [], 0],
  ['0xffffffff counts as 0', [300], [0xffffffff], [], 0],
  ['0x7fffffff is a real TTL', [0x7fffffff], [], [], 0x7fffffff, { ...DEFAULT_CACHE_POLICY, maxTtlSeconds: Number.MAX_SAFE_INTEGER }],
];

for (const [what, an, ns, ar, expected, policy] of POSITIVE_TTLS) {
  test(`storeReply positive TTL: ${what} → ${expected}`, (t) => {
    const s = stored(
      {
        answer: an.map((ttl, i) => A(ptr(12), [10, 0, 0, i], ttl)),
        authority: ns.map((ttl) => ({ owner: ptr(20), type: 2, ttl, rdata: name('ns.com') })),
        additional: ar.map((ttl) => A(name('ns.com'), [10, 1, 1, 1], ttl)),
      },
      policy,
    );
    t.is(s.answerClass, 'positive');
    t.is(s.ttlSeconds, expected);
  });
}

const NEGATIVE_TTLS: ReadonlyArray<readonly [string, number, readonly RR[], readonly RR[], number, CachePolicy?]> = [
  ['SOA TTL below MINIMUM', 3, [SOA(60, 300)], [], 60],
  ['MINIMUM below SOA TTL', 3, [SOA(900, 300)], [], 300],
  ['both above negativeMaxTtlSeconds (3600)', 3, [SOA(86400, 86400)], [], 3600],
  ['custom negativeMaxTtlSeconds', 3, [SOA(900, 300)], [], 10, { ...DEFAULT_CACHE_POLICY, negativeMaxTtlSeconds: 10 }],
  ['SOA TTL 0', 3, [SOA(0, 300)], [], 0],
  ['MINIMUM 0', 3, [SOA(900, 0)], [], 0],
  ['SOA TTL with the top bit set', 3, [SOA(TOP, 300)], [], 0],
  ['MINIMUM with the top bit set', 3, [SOA(900, TOP + 5)], [], 0],
  ['SOA after an NS in authority', 3, [{ owner: ptr(20), type: 2, ttl: 5, rdata: name('ns.com') }, SOA(900, 300)], [], 300],
  ['no SOA: not cached', 3, [{ owner: ptr(20), type: 2, ttl: 900, rdata: name('ns.com') }], [], 0],
  ['SOA only in additional: not cached', 3, [], [SOA(900, 300)], 0],
  ['SOA with RDATA too short to hold the fixed fields', 3, [{ owner: ptr(20), type: 6, ttl: 900, rdata: Buffer.alloc(21) }], [], 0],
  [
    'SOA with minimal RDATA (root MNAME and RNAME)',
    3,
    [{ owner: ptr(20), type: 6, ttl: 900, rdata: soaRdata(120, bytes(0), bytes(0)) }],
    [],
    120,
  ],
  ['NODATA: SOA TTL below MINIMUM', 0, [SOA(30, 300)], [], 30],
  ['NODATA: MINIMUM below SOA TTL', 0, [SOA(900, 45)], [], 45],
  ['NODATA without SOA', 0, [], [], 0],
];

for (const [what, rcode, ns, ar, expected, policy] of NEGATIVE_TTLS) {
  const kind = rcode === 3 ? 'nxdomain' : 'nodata';
  test(`storeReply ${kind} TTL (RFC 2308 §5): ${what} → ${expected}`, (t) => {
    const s = stored({ flags: { qr: true, rcode }, authority: ns, additional: ar }, policy);
    t.is(s.answerClass, kind);
    t.is(s.ttlSeconds, expected);
    t.is(s.rcode, rcode);
  });
}

test('storeReply: compressed SOA names do not confuse the MINIMUM offset', (t) => {
  const soa: RR = {
    owner: ptr(20),
    type: 6,
    ttl: 900,
    rdata: Buffer.concat([hex('02 6e73'), ptr(20), hex('01 68'), ptr(20), u32(1), u32(2), u32(3), u32(4), u32(77)]),
  };
  t.is(stored({ flags: { qr: true, rcode: 3 }, authority: [soa] }).ttlSeconds, 77);
});

for (const [rcode, klass, expected, policy] of [
  [2, 'servfail', 5, undefined],
  [2, 'servfail', 7, { ...DEFAULT_CACHE_POLICY, servfailTtlSeconds: 7 }],
  [5, 'other', 0, undefined], // REFUSED
  [1, 'other', 0, undefined], // FORMERR
  [4, 'other', 0, undefined], // NOTIMP
] as const) {
  test(`storeReply rcode ${rcode} → ${klass}, TTL ${expected}${policy ? ' (custom policy)' : ''}`, (t) => {
    // An SOA with a long negative TTL must not matter for these.
    const s = stored({ flags: { qr: true, rcode }, authority: [SOA(900, 900)] }, policy);
    t.is(s.answerClass, klass);
    t.is(s.ttlSeconds, expected);
  });
}

test('storeReply: an extended RCODE (BADCOOKIE 23) is "other" with TTL 0 and keeps its full value', (t) => {
  const s = stored({ flags: { qr: true, rcode: 7 }, additional: [opt({ ext: 1, options: [SERVER_COOKIE] })] });
  t.is(s.rcode, 23);
  t.is(s.answerClass, 'other');
  t.is(s.ttlSeconds, 0);
  t.deepEqual(s.options, [SERVER_COOKIE]);
});

test('storeReply: SERVFAIL with answer records is still servfail; NOERROR with only additional is nodata', (t) => {
  t.is(stored({ flags: { qr: true, rcode: 2 }, answer: [A(ptr(12), [1, 2, 3, 4])] }).answerClass, 'servfail');
  t.is(stored({ additional: [A(ptr(12), [1, 2, 3, 4])], authority: [SOA(100, 50)] }).answerClass, 'nodata');
});

// ---------------------------------------------------------------------------------------------
// renderAnswer
// ---------------------------------------------------------------------------------------------

const CLIENT_QUESTION = question('eXAMPLE.com', 1);

const BASE_SPEC: RenderSpec = {
  id: 0x4321,
  rawQuestion: CLIENT_QUESTION,
  rd: true,
  cd: false,
  // dig sets AD in queries by default; the AD tests below vary it.
  ad: true,
  edns: { dnssecOk: false },
  options: 'all',
  ageSeconds: 0,
  stale: false,
  maxSize: 1232,
};

const render = (s: StoredAnswer, spec: Partial<RenderSpec> = {}): ReturnType<typeof renderAnswer> =>
  renderAnswer(s, { ...BASE_SPEC, ...spec });

/** The record list with TTLs rewritten. */
const ttls = (rrs: readonly RR[], f: (ttl: number) => number): RR[] => rrs.map((r) => ({ ...r, ttl: f(r.ttl ?? 0) }));
const nonOpt = (rrs: readonly RR[] | undefined): RR[] => (rrs ?? []).filter((r) => r.type !== 41);

/** The OPT we send clients: payload 1232, ext-rcode, DO, options. */
const ourOpt = (dnssecOk: boolean, options: readonly Option[], ext = 0): RR => opt({ payload: 1232, ext, dnssecOk, options });

// FULL: TTLs 300, 200 (answer), 3600 (authority), 10 (additional); ttlSeconds = 200.
const FULL_STORED = stored({ ...FULL, flags: { qr: true, aa: true, rd: true, ra: true, ad: true } });

function expectedFull(o: { flags: Flags; ttl: (ttl: number) => number; opt?: RR; question?: Buffer; id?: number }): Buffer {
  return message({
    id: o.id ?? 0x4321,
    flags: o.flags,
    question: o.question ?? CLIENT_QUESTION,
    answer: ttls(FULL.answer!, o.ttl),
    authority: ttls(FULL.authority!, o.ttl),
    additional: [...ttls(nonOpt(FULL.additional), o.ttl), ...(o.opt ? [o.opt] : [])],
  });
}

test('renderAnswer, fresh for the fetching client: the exact message', (t) => {
  t.is(FULL_STORED.ttlSeconds, 200);
  const r = render(FULL_STORED, { edns: { dnssecOk: true } });
  t.false(r.truncated);
  t.deepEqual(
    r.message,
    expectedFull({
      flags: { qr: true, rd: true, ra: true, ad: true },
      ttl: (ttl) => Math.min(ttl, 200),
      opt: ourOpt(true, [SERVER_COOKIE, NSID, UNKNOWN]),
    }),
  );
});

test('renderAnswer, shared: COOKIE (and any ECS/padding/keepalive) left out, NSID and unknown options kept in order, no AA', (t) => {
  const s = stored({
    ...FULL,
    flags: { qr: true, aa: true, ra: true },
    additional: [opt({ options: [SERVER_COOKIE, ECS, NSID, PADDING, KEEPALIVE, UNKNOWN] })],
  });
  const r = render(s, { options: 'shared', rd: false });
  t.deepEqual(
    r.message,
    message({
      id: 0x4321,
      flags: { qr: true, ra: true },
      question: CLIENT_QUESTION,
      answer: ttls(FULL.answer!, (x) => Math.min(x, 200)),
      authority: ttls(FULL.authority!, () => 200),
      additional: [ourOpt(false, [NSID, UNKNOWN])],
    }),
  );
  const all = render(s, { options: 'all', rd: false });
  t.deepEqual(parsed(all.message).opt?.options, [SERVER_COOKIE, ECS, NSID, PADDING, KEEPALIVE, UNKNOWN]);
  t.false(parsed(all.message).aa);
  // A client of the same subnet that joined the exchange gets the upstream's ECS (its scope) too.
  const sameSubnet = render(s, { options: 'sameSubnet', rd: false });
  t.deepEqual(parsed(sameSubnet.message).opt?.options, [ECS, NSID, UNKNOWN]);
  t.false(parsed(sameSubnet.message).aa);
});

test('renderAnswer without client EDNS: no OPT at all (and ARCOUNT counts only real records), even with upstream options', (t) => {
  const r = render(FULL_STORED, { edns: undefined });
  t.deepEqual(r.message, expectedFull({ flags: { qr: true, rd: true, ra: true, ad: true }, ttl: (ttl) => Math.min(ttl, 200) }));
  t.is(r.message.readUInt16BE(10), 1);
});

// Relayed answers are never authoritative: not the first copy either (it used to pass AA through
// while cached copies cleared it), whatever the upstream said.
for (const [aa, options, stale, expected] of [
  [true, 'all', false, false],
  [true, 'shared', false, false],
  [true, 'sameSubnet', false, false],
  [true, 'all', true, false],
  [true, 'shared', true, false],
  [false, 'all', false, false],
] as const) {
  test(`renderAnswer AA: upstream aa=${aa}, options=${options}, stale=${stale} → ${expected}`, (t) => {
    const s = stored({ flags: { qr: true, aa }, answer: [A(ptr(12), [1, 2, 3, 4])] });
    const r = parsed(render(s, { options, stale }).message);
    t.is(r.aa, expected);
  });
}

for (const rd of [false, true]) {
  for (const cd of [false, true]) {
    test(`renderAnswer echoes RD=${rd} CD=${cd} whatever upstream said; QR and RA set; Z clear`, (t) => {
      // upstream said the opposite of the client for RD and CD, no RA, and set Z
      const s = stored({ flags: { qr: true, rd: !rd, cd: !cd, z: true }, answer: [A(ptr(12), [1, 2, 3, 4])] });
      const msg = render(s, { rd, cd }).message;
      t.is(msg[2], 0x80 | (rd ? 0x01 : 0));
      t.is(msg[3], 0x80 | (cd ? 0x10 : 0));
    });
  }
}

test('renderAnswer writes the ID modulo 2^16 and the rcode in the header', (t) => {
  const s = stored({ flags: { qr: true, rcode: 3 }, authority: [SOA(100, 60)] });
  const msg = render(s, { id: 0x1_abcd }).message;
  t.is(msg.readUInt16BE(0), 0xabcd);
  t.is(msg[3]! & 0x0f, 3);
});

test("renderAnswer restores the client's question case; a question of another length keeps the stored one", (t) => {
  const s = stored({ question: question('WWW.example.COM'), answer: [A(ptr(12), [1, 2, 3, 4])] });
  t.deepEqual(render(s, { rawQuestion: question('www.EXAMPLE.com') }).message.subarray(12, 12 + 21), question('www.EXAMPLE.com'));
  t.deepEqual(render(s, { rawQuestion: question('x.example.com') }).message.subarray(12, 12 + 21), question('WWW.example.COM'));
});

test('renderAnswer: DO echoed in the OPT; ext-rcode carried in the OPT for rcode > 15', (t) => {
  const s = stored({ flags: { qr: true, rcode: 7 }, additional: [opt({ ext: 1 })] });
  const msg = render(s, { edns: { dnssecOk: true } }).message;
  t.deepEqual(
    msg,
    message({
      id: 0x4321,
      flags: { qr: true, rd: true, ra: true, rcode: 7 },
      question: CLIENT_QUESTION,
      additional: [ourOpt(true, [], 1)],
    }),
  );
  t.is(parsed(msg).rcode, 23);
});

for (const [age, expected] of [
  [0, [200, 200, 200, 10]],
  [1, [199, 199, 199, 9]],
  [10, [190, 190, 190, 0]],
  [50, [150, 150, 150, 0]],
  [199, [1, 1, 1, 0]],
  [200, [0, 0, 0, 0]],
  [100_000, [0, 0, 0, 0]],
] as const) {
  test(`renderAnswer counts TTLs down by age ${age}, capped at ttlSeconds 200 and floored at 0: ${expected.join(',')}`, (t) => {
    const msg = render(FULL_STORED, { ageSeconds: age }).message;
    t.deepEqual(
      parsed(msg).records.map((x) => msg.readUInt32BE(x.ttlOffset)),
      [...expected],
    );
  });
}

test('renderAnswer: an answer stored with ttlSeconds 0 is served with its own TTLs (no cap), minus age', (t) => {
  const s = stored({ flags: { qr: true, rcode: 5 }, answer: [A(ptr(12), [1, 2, 3, 4], 3000), A(ptr(12), [1, 2, 3, 5], 40)] });
  t.is(s.ttlSeconds, 0);
  const msg = render(s, { ageSeconds: 30 }).message;
  t.deepEqual(
    parsed(msg).records.map((x) => msg.readUInt32BE(x.ttlOffset)),
    [2970, 10],
  );
});

test('renderAnswer: a stored record TTL with the top bit set is served as 0', (t) => {
  const s = stored({ answer: [A(ptr(12), [1, 2, 3, 4], 300)], additional: [A(ptr(12), [1, 2, 3, 5], 0xffffffff)] });
  const msg = render(s).message;
  t.deepEqual(
    parsed(msg).records.map((x) => msg.readUInt32BE(x.ttlOffset)),
    [300, 0],
  );
});

test('renderAnswer stale (RFC 8767): every TTL 30, EDE 15 "Stale Answer" (info-code 3) appended after the relayed options', (t) => {
  const r = render(FULL_STORED, { stale: true, ageSeconds: 100_000, edns: { dnssecOk: true } });
  const ede: Option = { code: EDNS_OPTION_EDE, data: hex('0003') };
  t.is(STALE_TTL_SECONDS, 30);
  t.is(EDE_STALE_ANSWER, 3);
  t.deepEqual(
    r.message,
    expectedFull({
      flags: { qr: true, rd: true, ra: true, ad: true },
      ttl: () => 30,
      opt: ourOpt(true, [SERVER_COOKIE, NSID, UNKNOWN, ede]),
    }),
  );
  const shared = render(FULL_STORED, { stale: true, options: 'shared' });
  t.deepEqual(parsed(shared.message).opt?.options, [NSID, UNKNOWN, ede]);
});

test('renderAnswer stale without client EDNS: TTLs 30, no OPT (so no EDE)', (t) => {
  const r = render(FULL_STORED, { stale: true, edns: undefined, ageSeconds: 5 });
  t.deepEqual(r.message, expectedFull({ flags: { qr: true, rd: true, ra: true, ad: true }, ttl: () => 30 }));
});

test('renderAnswer stale: TTLs become 30 even when the stored TTL was lower, 0 or had its top bit set', (t) => {
  const s = stored({ answer: [A(ptr(12), [1, 2, 3, 4], 5), A(ptr(12), [1, 2, 3, 5], 0)], additional: [A(ptr(12), [1, 2, 3, 6], TOP)] });
  const msg = render(s, { stale: true }).message;
  t.deepEqual(
    parsed(msg).records.map((x) => msg.readUInt32BE(x.ttlOffset)),
    [30, 30, 30],
  );
});

test('renderAnswer leaves the stored answer untouched (renders are independent)', (t) => {
  const before = Buffer.from(FULL_STORED.body);
  render(FULL_STORED, { stale: true, ageSeconds: 7, id: 1 });
  render(FULL_STORED, { ageSeconds: 150, rawQuestion: question('EXAMPLE.COM') });
  t.deepEqual(FULL_STORED.body, before);
  t.deepEqual(render(FULL_STORED, { edns: { dnssecOk: true } }).message, render(FULL_STORED, { edns: { dnssecOk: true } }).message);
});

// --- size fitting -----------------------------------------------------------------------------

/** 16-octet A records: owner pointer (2) + fixed (10) + address (4). Ends are 29 + 16k. */
const manyA = (n: number, base: number): RR[] => Array.from({ length: n }, (_, i) => A(ptr(12), [10, base, i >> 8, i & 0xff], 300));

function counts(msg: Buffer): number[] {
  return [msg.readUInt16BE(6), msg.readUInt16BE(8), msg.readUInt16BE(10)];
}

test('size fitting, EDNS client at 512: the longest prefix of answers that leaves room for the OPT, TC set', (t) => {
  const s = stored({ answer: manyA(40, 1), additional: manyA(3, 2) });
  const r = render(s, { maxSize: 512, options: 'shared' });
  // budget 512 - 11 (empty OPT) = 501; 29 + 16k ≤ 501 → k = 29
  t.true(r.truncated);
  t.deepEqual(
    r.message,
    message({
      id: 0x4321,
      flags: { qr: true, tc: true, rd: true, ra: true },
      question: CLIENT_QUESTION,
      answer: manyA(29, 1),
      additional: [ourOpt(false, [])],
    }),
  );
  t.is(r.message.length, 504);
});

test('size fitting without EDNS at 512: 30 answers fit exactly up to 509 octets, TC set, no OPT', (t) => {
  const s = stored({ answer: manyA(40, 1) });
  const r = render(s, { maxSize: 512, edns: undefined });
  t.true(r.truncated);
  t.is(r.message.length, 29 + 30 * 16);
  t.deepEqual(counts(r.message), [30, 0, 0]);
  t.is(r.message[2]! & 0x02, 0x02);
});

test('size fitting: a record ending exactly at the budget is kept', (t) => {
  // 29 + 16*30 = 509; with maxSize 520 and an 11-octet OPT the budget is 509.
  const s = stored({ answer: manyA(31, 1) });
  const r = render(s, { maxSize: 520, options: 'shared' });
  t.deepEqual(counts(r.message), [30, 0, 1]);
  t.is(r.message.length, 520);
  t.true(r.truncated);
});

test('size fitting: dropping only additional records does not set TC', (t) => {
  const s = stored({ answer: manyA(3, 1), additional: manyA(40, 2) });
  const r = render(s, { maxSize: 512, options: 'shared' });
  // answers end at 77; 77 + 16j ≤ 501 → j = 26
  t.false(r.truncated);
  t.is(r.message[2]! & 0x02, 0);
  t.deepEqual(counts(r.message), [3, 0, 27]);
  t.deepEqual(
    r.message,
    message({
      id: 0x4321,
      flags: { qr: true, rd: true, ra: true },
      question: CLIENT_QUESTION,
      answer: manyA(3, 1),
      additional: [...manyA(26, 2), ourOpt(false, [])],
    }),
  );
});

test('size fitting: an authority record left out sets TC', (t) => {
  const ns = Array.from({ length: 40 }, (): RR => ({ owner: ptr(20), type: 2, ttl: 300, rdata: name('a-long-name-server.example') }));
  const s = stored({ answer: manyA(1, 1), authority: ns });
  const r = render(s, { maxSize: 512 });
  t.true(r.truncated);
  t.true(r.message.length <= 512);
  const c = counts(r.message);
  t.is(c[0], 1);
  t.true(c[1]! > 0 && c[1]! < 40);
  t.is(c[2], 1);
});

test('size fitting: maxSize below 512 is treated as 512; a big maxSize keeps everything', (t) => {
  const s = stored({ answer: manyA(40, 1) });
  t.deepEqual(render(s, { maxSize: 100, options: 'shared' }).message, render(s, { maxSize: 512, options: 'shared' }).message);
  t.is(render(s, { maxSize: 0, edns: undefined }).message.length, 509);
  const big = render(s, { maxSize: 65535 });
  t.false(big.truncated);
  t.deepEqual(counts(big.message), [40, 0, 1]);
  t.is(big.message.length, 29 + 40 * 16 + 11);
});

test('size fitting: options that would not leave room for the question are dropped, the OPT is kept', (t) => {
  const huge: Option = { code: 65001, data: Buffer.alloc(600, 0x61) };
  const s = stored({ answer: manyA(5, 1), additional: [opt({ options: [huge] })] });
  const r = render(s, { maxSize: 512, stale: true });
  t.false(r.truncated);
  t.deepEqual(
    r.message,
    message({
      id: 0x4321,
      flags: { qr: true, rd: true, ra: true },
      question: CLIENT_QUESTION,
      answer: ttls(manyA(5, 1), () => 30),
      additional: [ourOpt(false, [])],
    }),
  );
  // with room, the same option is relayed
  t.deepEqual(parsed(render(s, { maxSize: 1232 }).message).opt?.options, [huge]);
});

test('size fitting: options that fit with the question are kept even if they crowd out answers (TC)', (t) => {
  // question ends at 29; OPT 11 + option 4 + 450 = 465 → budget 47: one 16-octet answer (ends 45)
  const big: Option = { code: 65001, data: Buffer.alloc(450, 1) };
  const s = stored({ answer: manyA(5, 1), additional: [opt({ options: [big] })] });
  const r = render(s, { maxSize: 512 });
  t.true(r.truncated);
  t.deepEqual(counts(r.message), [1, 0, 1]);
  t.is(r.message.length, 45 + 465);
  t.deepEqual(parsed(r.message).opt?.options, [big]);
});

// property over random record sets and sizes ---------------------------------------------------

const rrArb = (section: 0 | 1 | 2): fc.Arbitrary<RR> =>
  fc.record({
    owner: fc.constantFrom<Buffer>(ptr(12), ptr(20), name('x.example'), bytes(0)),
    type: section === 1 ? fc.constantFrom(2, 6, 99) : fc.constantFrom(1, 5, 28, 65, 99, 12345),
    ttl: fc.integer({ min: 0, max: 0xffffffff }),
    // Filled with octets below 0xc0: never a compression pointer, which in a CNAME/NS/SOA RDATA
    // could lead a client's name into a TTL field the relay rewrites (parseReply refuses those).
    rdata: fc.integer({ min: 0, max: 300 }).map((n) => Buffer.alloc(n, n & 0x3f)),
  });

const storedArb = fc
  .record({
    answer: fc.array(rrArb(0), { maxLength: 25 }),
    authority: fc.array(rrArb(1), { maxLength: 6 }),
    additional: fc.array(rrArb(2), { maxLength: 10 }),
    rcode: fc.constantFrom(0, 2, 3, 5),
    upstreamOptions: fc.array(fc.constantFrom(COOKIE, NSID, UNKNOWN, PADDING, { code: 65002, data: Buffer.alloc(200, 2) }), {
      maxLength: 4,
    }),
    withOpt: fc.boolean(),
  })
  .map((x) =>
    stored({
      flags: { qr: true, rcode: x.rcode, aa: true },
      answer: x.answer,
      authority: x.authority,
      additional: x.withOpt ? [...x.additional, opt({ options: x.upstreamOptions })] : x.additional,
    }),
  );

const specArb: fc.Arbitrary<RenderSpec> = fc.record({
  id: fc.integer({ min: 0, max: 0xffff }),
  rawQuestion: fc.constantFrom(CLIENT_QUESTION, Q, question('x.example')),
  rd: fc.boolean(),
  cd: fc.boolean(),
  edns: fc.option(fc.record({ dnssecOk: fc.boolean() }), { nil: undefined }),
  options: fc.constantFrom<'all' | 'shared'>('all', 'shared'),
  ageSeconds: fc.integer({ min: 0, max: 100_000 }),
  stale: fc.boolean(),
  maxSize: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 512, max: 1500 }), fc.constant(65535)),
});

test('property: renderAnswer fits the size, keeps the longest prefix of records, TC iff an answer/authority record is left out, consistent counts, OPT iff EDNS', (t) => {
  fc.assert(
    fc.property(storedArb, specArb, (s, spec) => {
      const out = renderAnswer(s, spec);
      const msg = out.message;
      const limit = Math.max(512, spec.maxSize);
      const fail = (why: string): never => {
        throw new Error(why);
      };
      if (msg.length > limit) fail(`length ${msg.length} > ${limit}`);
      const r = parseReply(msg);
      if (!r.ok) return fail(`rendered message does not parse: ${r.reason}`);
      const reply = r.reply;
      const k = reply.records.length;
      if (k > s.ends.length) fail('more records than stored');
      // OPT iff EDNS, and it is the very last thing in the message
      if ((reply.opt !== undefined) !== (spec.edns !== undefined)) fail('OPT presence differs from client EDNS');
      const recordsEnd = k === 0 ? 12 + s.questionLength : reply.records[k - 1]!.end;
      const optLength = msg.length - recordsEnd;
      if (spec.edns ? optLength < 11 : optLength !== 0) fail(`unexpected ${optLength} octets after the records`);
      if (spec.edns && reply.opt!.udpPayloadSize !== 1232) fail('OPT payload is not 1232');
      if (spec.edns && reply.opt!.dnssecOk !== spec.edns.dnssecOk) fail('DO not echoed');
      // a prefix of the stored records, octet for octet apart from TTLs
      for (let i = 0; i < k; i++) {
        const span = reply.records[i]!;
        const start = i === 0 ? 12 + s.questionLength : s.ends[i - 1]!;
        if (span.start !== start || span.end !== s.ends[i] || span.section !== s.sections[i])
          fail(`record ${i} is not the stored record ${i}`);
        const a = Buffer.from(msg.subarray(span.start, span.end));
        const b = Buffer.from(s.body.subarray(start, s.ends[i]));
        a.writeUInt32BE(0, span.ttlOffset - span.start);
        b.writeUInt32BE(0, span.ttlOffset - span.start);
        if (!a.equals(b)) fail(`record ${i} octets differ`);
        const ttl = msg.readUInt32BE(span.ttlOffset);
        if (spec.stale ? ttl !== 30 : ttl > s.ttlSeconds && s.ttlSeconds > 0) fail(`record ${i} TTL ${ttl}`);
      }
      // the longest prefix: the next record would not have fitted
      if (k < s.ends.length && s.ends[k]! + optLength <= limit) fail(`record ${k} would have fitted`);
      // TC iff an answer or authority record is missing
      const lostAnswers = s.sections.slice(k).some((x) => x !== 2);
      if (out.truncated !== lostAnswers || reply.tc !== lostAnswers) fail(`TC ${out.truncated}/${reply.tc}, lost answers ${lostAnswers}`);
      // counts match what is present
      const c = [0, 0, 0];
      for (const span of reply.records) c[span.section]!++;
      const header = counts(msg);
      if (header[0] !== c[0] || header[1] !== c[1] || header[2] !== c[2]! + (spec.edns ? 1 : 0))
        fail(`counts ${header.join(',')} vs ${c.join(',')}`);
      if (reply.id !== spec.id || reply.rcode !== s.rcode) fail('ID or rcode');
    }),
    { numRuns: 1500 },
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// Cache hits: renderHit once per shape and age, patchHit per client
// ---------------------------------------------------------------------------------------------

/** What renderAnswer gives a cache hit's client: shared options, not stale. */
const hitSpec = (spec: RenderSpec & { ad: boolean }): RenderSpec => ({ ...spec, options: 'shared', stale: false });

test("property: a cache hit (renderHit for the client's shape and age, then patchHit) is octet for octet what renderAnswer gives that client", (t) => {
  fc.assert(
    fc.property(storedArb, fc.boolean(), specArb, fc.boolean(), (base, upstreamAd, spec0, ad) => {
      const s: StoredAnswer = { ...base, ad: upstreamAd };
      const spec = hitSpec({ ...spec0, ad });
      const shape = hitShape(spec.maxSize, spec.edns);
      const render = renderHit(s, shape, spec.ageSeconds);
      const client = { id: spec.id, rawQuestion: spec.rawQuestion, flags: { rd: spec.rd, ad, cd: spec.cd } };
      const expected = renderAnswer(s, spec);
      const got = patchHit(render, s, client);
      if (!got.equals(expected.message)) throw new Error(`hit ${got.toString('hex')}\n!= ${expected.message.toString('hex')}`);
      if (render.truncated !== expected.truncated) throw new Error('TC differs');
      // The render is shared: patching it for one client leaves it as it was for the next.
      const again = patchHit(render, s, { ...client, id: (spec.id + 1) & 0xffff });
      if (!again.subarray(2).equals(got.subarray(2))) throw new Error('a patch changed the render');
    }),
    { numRuns: 1500 },
  );
  t.pass();
});

test('hitShape tells apart the size limit (below 512 counting as 512), OPT or not, and DO', (t) => {
  const shapes = new Set<number>();
  for (const maxSize of [512, 513, 1232, 4096, 65535]) {
    for (const edns of [undefined, { dnssecOk: false }, { dnssecOk: true }]) shapes.add(hitShape(maxSize, edns));
  }
  t.is(shapes.size, 15);
  t.is(hitShape(0, undefined), hitShape(512, undefined));
  t.is(hitShape(100, { dnssecOk: true }), hitShape(512, { dnssecOk: true }));
});

test("patchHit: ID, RD, CD, AD (for AD or DO askers) and the question case; TTLs are the render's", (t) => {
  const s: StoredAnswer = { ...FULL_STORED, ad: true };
  const hit = renderHit(s, hitShape(1232, { dnssecOk: false }), 7);
  for (const [rd, cd, ad] of [
    [false, false, false],
    [true, false, false],
    [false, true, false],
    [true, true, true],
  ] as const) {
    const out = patchHit(hit, s, { id: 0xbeef, rawQuestion: CLIENT_QUESTION, flags: { rd, ad, cd } });
    t.is(out.readUInt16BE(0), 0xbeef);
    t.is(out[2], 0x80 | (rd ? 0x01 : 0), 'QR, RD; never AA');
    t.is(out[3], 0x80 | (ad ? 0x20 : 0) | (cd ? 0x10 : 0), 'RA, AD, CD, NOERROR');
    t.deepEqual(out.subarray(12, 12 + CLIENT_QUESTION.length), CLIENT_QUESTION);
    t.deepEqual(out, render(s, { rd, cd, ad, options: 'shared', ageSeconds: 7, id: 0xbeef, edns: { dnssecOk: false } }).message);
  }
  t.is(hit.message.readUInt16BE(0), 0, 'the render itself is never patched');
});

// ---------------------------------------------------------------------------------------------
// cacheKey
// ---------------------------------------------------------------------------------------------

test('cacheKey distinguishes DO, CD, type, class and name, and is stable', (t) => {
  const keys = new Set<string>();
  let n = 0;
  for (const qname of ['example.com', 'example.net', '']) {
    for (const type of [1, 28, 65]) {
      for (const klass of [1, 3]) {
        for (const dnssecOk of [false, true]) {
          for (const cd of [false, true]) {
            keys.add(cacheKey({ name: qname, type, class: klass }, dnssecOk, cd));
            n++;
          }
        }
      }
    }
  }
  t.is(keys.size, n);
  t.is(
    cacheKey({ name: 'example.com', type: 1, class: 1 }, true, false),
    cacheKey({ name: 'example.com', type: 1, class: 1 }, true, false),
  );
});

test('clientSubnetKey: family, source prefix and address count, scope does not; no ECS → ""', (t) => {
  const ecs = (hex: string): { code: number; data: Buffer } => ({ code: 8, data: Buffer.from(hex, 'hex') });
  const nsid = { code: 3, data: Buffer.alloc(0) };
  t.is(clientSubnetKey([]), '');
  t.is(clientSubnetKey([nsid]), '');
  const a = clientSubnetKey([nsid, ecs('00011800c0000200')]); // 192.0.2.0/24 (address 3 octets: 4th is data)
  const keys = new Set([
    clientSubnetKey([ecs('00011800c00002')]), // 192.0.2.0/24
    clientSubnetKey([ecs('00011800c63364')]), // 198.51.100.0/24
    clientSubnetKey([ecs('00011000c000')]), // 192.0.0.0/16
    clientSubnetKey([ecs('00021800c00002')]), // family 2, same octets
    clientSubnetKey([ecs('000100')]), // malformed: still distinct
    a,
  ]);
  t.is(keys.size, 6);
  t.false(keys.has(''));
  // SCOPE PREFIX-LENGTH (octet 3) is not part of the subnet.
  t.is(clientSubnetKey([ecs('00011800c00002')]), clientSubnetKey([ecs('00011818c00002')]));
  const q = { name: 'example.com', type: 1, class: 1 };
  t.is(cacheKey(q, false, false, ''), cacheKey(q, false, false));
  t.not(cacheKey(q, false, false, clientSubnetKey([ecs('00011800c00002')])), cacheKey(q, false, false));
  t.not(
    cacheKey(q, false, false, clientSubnetKey([ecs('00011800c00002')])),
    cacheKey(q, false, false, clientSubnetKey([ecs('00011800c63364')])),
  );
});

test('property: cacheKey is injective, even for names containing "|" and digits, types that are "|" or hex digits, and subnet keys', (t) => {
  const q = fc.record({
    name: fc.string({ unit: fc.constantFrom('a', '1', '|', '.', '0', '\\'), maxLength: 8 }),
    // 124 is "|", 48 and 97 the hex digits "0" and "a" as code units.
    type: fc.constantFrom(1, 11, 48, 97, 111, 124, 65535),
    class: fc.constantFrom(1, 11, 124),
    dnssecOk: fc.boolean(),
    cd: fc.boolean(),
    subnet: fc.constantFrom('', '0118c0a800', '011800', '02300000000a', 'x01'),
  });
  fc.assert(
    fc.property(q, q, (a, b) => {
      const same =
        a.name === b.name &&
        a.type === b.type &&
        a.class === b.class &&
        a.dnssecOk === b.dnssecOk &&
        a.cd === b.cd &&
        a.subnet === b.subnet;
      const ka = cacheKey({ name: a.name, type: a.type, class: a.class }, a.dnssecOk, a.cd, a.subnet);
      const kb = cacheKey({ name: b.name, type: b.type, class: b.class }, b.dnssecOk, b.cd, b.subnet);
      return (ka === kb) === same;
    }),
    { numRuns: 10000 },
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// summarizeMessage
// ---------------------------------------------------------------------------------------------

test('summarizeMessage: A, AAAA, CNAME, NS, PTR in text; unknown types and odd lengths in RFC 3597 generic form', (t) => {
  const buf = message({
    flags: { qr: true, aa: true, tc: true, rd: true, ra: true, ad: true, cd: true, rcode: 0 },
    answer: [
      A(ptr(12), [192, 0, 2, 1], 300),
      { owner: ptr(12), type: 28, ttl: 301, rdata: hex('20010db8 00000000 00000000 00000001') },
      { owner: ptr(12), type: 5, ttl: 60, rdata: Buffer.concat([hex('06 546172676574'), ptr(20)]) },
      { owner: ptr(12), type: 65, ttl: 5, rdata: hex('0001 00 0001 0002 0268 32') },
      { owner: ptr(12), type: 1, ttl: 1, rdata: hex('0102030405') },
      { owner: ptr(12), type: 99, ttl: 2, rdata: Buffer.alloc(0) },
      { owner: ptr(12), type: 16, klass: 3, ttl: 7, rdata: hex('03616263') },
      { owner: name('4.3.2.1.in-addr.arpa'), type: 12, ttl: 8, rdata: name('Host.Example') },
    ],
    authority: [
      { owner: ptr(20), type: 2, ttl: 3600, rdata: Buffer.concat([hex('03 6e7331'), ptr(20)]) },
      { owner: ptr(20), type: 6, ttl: 900, rdata: Buffer.concat([ptr(20), ptr(20), u32(1), u32(2), u32(3), u32(4), u32(5)]) },
    ],
    additional: [
      A(bytes(0), [10, 0, 0, 1], 10),
      { owner: Buffer.concat([hex('03 612e62'), bytes(0)]), type: 1, ttl: 11, rdata: hex('0a000002') },
      opt({ options: [NSID] }),
    ],
  });
  t.deepEqual(summarizeMessage(buf), {
    rcode: 0,
    flags: ['qr', 'aa', 'tc', 'rd', 'ra', 'ad', 'cd'],
    answers: [
      'example.com.\t300\tIN\tA\t192.0.2.1',
      'example.com.\t301\tIN\tAAAA\t2001:db8::1',
      'example.com.\t60\tIN\tCNAME\ttarget.com.',
      'example.com.\t5\tIN\tTYPE65\t\\# 10 00010000010002026832',
      'example.com.\t1\tIN\tA\t\\# 5 0102030405',
      'example.com.\t2\tIN\tTYPE99\t\\# 0',
      'example.com.\t7\tCLASS3\tTXT\t\\# 4 03616263',
      '4.3.2.1.in-addr.arpa.\t8\tIN\tPTR\thost.example.',
    ],
    authority: ['com.\t3600\tIN\tNS\tns1.com.', `com.\t900\tIN\tSOA\t\\# 24 c014c014${'0000000100000002000000030000000400000005'}`],
    additional: ['.\t10\tIN\tA\t10.0.0.1', 'a\\.b.\t11\tIN\tA\t10.0.0.2'],
  });
});

test('summarizeMessage: only qr for a bare NXDOMAIN; extended rcode from OPT; undefined for what parseReply refuses', (t) => {
  t.deepEqual(summarizeMessage(message({ flags: { qr: true, rcode: 3 } })), {
    rcode: 3,
    flags: ['qr'],
    answers: [],
    authority: [],
    additional: [],
  });
  t.is(summarizeMessage(message({ flags: { qr: true, rcode: 7 }, additional: [opt({ ext: 1 })] }))?.rcode, 23);
  t.is(summarizeMessage(message({ flags: { rd: true } })), undefined);
  t.is(summarizeMessage(Buffer.alloc(5)), undefined);
});

// ---------------------------------------------------------------------------------------------
// AD (RFC 6840 §5.8): only for clients that asked with AD or DO
// ---------------------------------------------------------------------------------------------

for (const [clientAd, clientDo, upstreamAd, expected] of [
  [false, false, true, false],
  [true, false, true, true],
  [false, true, true, true],
  [true, true, false, false],
] as const) {
  test(`renderAnswer AD: client AD=${clientAd} DO=${clientDo}, upstream AD=${upstreamAd} → AD=${expected}`, (t) => {
    const buf = message({ flags: { qr: true, ra: true, ad: upstreamAd }, question: CLIENT_QUESTION, answer: [A(ptr(12), [192, 0, 2, 1])] });
    const stored = storeReply(buf, parsed(buf));
    const r = render(stored, { ad: clientAd, edns: { dnssecOk: clientDo } });
    t.is((r.message[3]! & 0x20) !== 0, expected);
  });
}

// ---------------------------------------------------------------------------------------------
// ECS-scoped answers (RFC 7871 §7.3.1) are not cached
// ---------------------------------------------------------------------------------------------

for (const [scope, cached] of [
  [0, true],
  [24, false],
] as const) {
  test(`storeReply: an answer with ECS scope /${scope} is ${cached ? '' : 'not '}cacheable`, (t) => {
    const ecs: Option = { code: 8, data: hex(`0001 18 ${scope.toString(16).padStart(2, '0')} c00002`) };
    const buf = message({
      flags: { qr: true, ra: true },
      answer: [A(ptr(12), [192, 0, 2, 1], 300)],
      additional: [opt({ options: [ecs] })],
    });
    t.is(storeReply(buf, parsed(buf)).ttlSeconds, cached ? 300 : 0);
  });
}

test("renderAnswer keeps the stored question when the client's differs by more than case (records may point into it)", (t) => {
  // Found by the property above (seed 1069775452): a stored question with a 0 inside its first
  // label, and an answer owner pointing at that 0 (the root). Copying the client's question over
  // it would turn the pointer's target into a letter and break the reply.
  const buf = Buffer.from(message(SEEDS[2]!));
  buf[16] = 0;
  buf[30] = 16;
  const r = parsed(buf);
  const out = renderAnswer(storeReply(buf, r), { ...BASE_SPEC, rawQuestion: Q, maxSize: 0 });
  t.true(parseReply(out.message).ok);
  t.deepEqual(out.message.subarray(12, 12 + Q.length), buf.subarray(12, 12 + Q.length));
  // A case-only difference is still echoed in the client's case.
  const same = Buffer.from(message(SEEDS[2]!));
  const echoed = renderAnswer(storeReply(same, parsed(same)), { ...BASE_SPEC, rawQuestion: Q, maxSize: 1232 });
  t.deepEqual(echoed.message.subarray(12, 12 + Q.length), Q);
});

test('a name whose compression pointer leads into a TTL field is refused: rewriting that TTL would corrupt it for the client', (t) => {
  // The additional record's owner "ns1" + pointer into the authority record's TTL (found by the
  // mutation property: the relay's TTL countdown turned it into a pointer that is not backwards).
  const buf = Buffer.from(message(SEEDS[0]!));
  buf[86] = 72;
  const r = parseReply(buf);
  t.false(r.ok);
  if (!r.ok) t.regex(r.reason, /runs through a TTL field/);
  // The same message unmutated is fine, and so is a CNAME whose RDATA points at the question.
  t.true(parseReply(Buffer.from(message(SEEDS[0]!))).ok);
});

test('a pointer in RDATA into a TTL field is refused even when the name it leads to does not decode: the relay rewriting that TTL would make it decode (fast-check seed -1378147507)', (t) => {
  // The NS RDATA "ns1" + pointer to 68: the authority record's class octet (1, a one-octet label)
  // and then its TTL, 0x002d0e10, where 0x2d starts a label running far past the end, so the name
  // does not decode. The relay sets that TTL to 200 (0x000000c8): the name then decodes as
  // "ns1.\0." through the TTL, which the client would read as a name we never vetted.
  const buf = Buffer.from(message(SEEDS[0]!));
  t.is(buf.readUInt16BE(79), 0xc014, 'the NS RDATA pointer of the seed message');
  buf[80] = 68;
  buf[70] = 0x2d;
  const r = parseReply(buf);
  t.false(r.ok);
  if (!r.ok) t.regex(r.reason, /a name at 75 runs through a TTL field at 69/);
});

test('a pointer in RDATA into the header is refused: the relay rewrites the ID and flags per client (fast-check seed -1032317433)', (t) => {
  // The additional A record turned CNAME: its RDATA c0 00 02 35 starts with a pointer to offset 0,
  // the ID. A client's ID would make that a different name for every client.
  const buf = Buffer.from(message(SEEDS[0]!));
  t.is(buf.readUInt16BE(87), 1, 'the additional A record of the seed message');
  buf.writeUInt16BE(5, 87);
  const r = parseReply(buf);
  t.false(r.ok);
  if (!r.ok) t.regex(r.reason, /points to 0, not back to an earlier name/);
});
