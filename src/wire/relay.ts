/**
 * Wire codec of the forwarder (PURE).
 *
 * Owns: the query sent upstream (the client's question bytes under a new ID, with our own OPT),
 * vetting an upstream reply (bounds-checked walk, anti-spoofing match of ID and question), turning
 * a reply into a cacheable StoredAnswer (record spans, TTL offsets, RFC 2308 negative TTL), and
 * rendering a StoredAnswer for one client (its ID and question case, RD/CD, OPT iff it sent one,
 * TTLs counted down or set to the RFC 8767 stale TTL, fitted to its size limit with TC).
 *
 * Never: re-encodes a record (KNOWN-DEFECTS D12, D13). Record octets, unknown types and upstream
 * EDNS options are copied as received; only the header, the question's case, TTL fields and the OPT
 * record (which is hop-by-hop, RFC 6891 §6.1.1) are written. Imports no I/O and no dns2.
 *
 * Invariants:
 * - parseResponse never throws and does work linear in the message length.
 * - A StoredAnswer's body has no OPT and ends at its last record; compression pointers in it stay
 *   valid because only a suffix (records after an OPT) is ever cut.
 * - renderAnswer never exceeds the size it is given (≥ 512); it keeps a prefix of the records, so
 *   every compression pointer still points at octets that were sent, and sets TC iff an answer or
 *   authority record was left out.
 */
import { RRType, typeName } from '../answer/types.js';
import type { EdnsOption } from './types.js';
import {
  ADVERTISED_UDP_PAYLOAD,
  EDNS_OPTION_ECS,
  HEADER_SIZE,
  WalkError,
  formatIPv4,
  formatIPv6,
  labelToPresentation,
  readOptions,
  skipName,
} from './wire.js';

/** RFC 7873 §4. */
export const EDNS_OPTION_COOKIE = 10;
/** RFC 7828: hop-by-hop, meaningless on the upstream leg. */
export const EDNS_OPTION_TCP_KEEPALIVE = 11;
/** RFC 7830: hop-by-hop padding. */
export const EDNS_OPTION_PADDING = 12;
/** RFC 8914 Extended DNS Errors. */
export const EDNS_OPTION_EDE = 15;
/** RFC 8914 §4.4: "Stale Answer". */
export const EDE_STALE_ANSWER = 3;
/** RFC 8767 §4: the TTL of a record served stale. */
export const STALE_TTL_SECONDS = 30;

const MIN_RR_SIZE = 11;
export const OPT_FIXED_SIZE = 11;

export type SectionIndex = 0 | 1 | 2;

/** One non-OPT record of a reply, as offsets into the message it was found in. */
export interface RecordSpan {
  readonly section: SectionIndex;
  readonly start: number;
  readonly end: number;
  readonly type: number;
  readonly ttlOffset: number;
}

export interface ReplyOpt {
  readonly udpPayloadSize: number;
  readonly version: number;
  readonly dnssecOk: boolean;
  readonly options: readonly EdnsOption[];
}

/** A structurally valid reply from an upstream. */
export interface UpstreamReply {
  readonly id: number;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly ra: boolean;
  readonly ad: boolean;
  /** The full RCODE: header bits plus the OPT's extended bits (RFC 6891 §6.1.3). */
  readonly rcode: number;
  /** Offset just past QCLASS. */
  readonly questionEnd: number;
  /** Every record except the OPT, in wire order; records after an OPT are not included. */
  readonly records: readonly RecordSpan[];
  readonly opt?: ReplyOpt | undefined;
}

export type ParseReplyResult = { readonly ok: true; readonly reply: UpstreamReply } | { readonly ok: false; readonly reason: string };

/** What the query sent upstream carries. */
export interface UpstreamQuerySpec {
  readonly id: number;
  /** The client's question section (QNAME in the client's case, QTYPE, QCLASS), copied verbatim. */
  readonly rawQuestion: Buffer;
  readonly rd: boolean;
  readonly cd: boolean;
  readonly dnssecOk: boolean;
  /** Options to send (already filtered by upstreamOptions). */
  readonly options: readonly EdnsOption[];
}

/**
 * Which of the client's EDNS options go upstream. Unknown options (and COOKIE) pass unchanged;
 * TCP keepalive and padding are hop-by-hop and dropped; ECS only when the operator opted in.
 */
export function upstreamOptions(options: readonly EdnsOption[], forwardClientSubnet: boolean): EdnsOption[] {
  return options.filter(
    (o) => o.code !== EDNS_OPTION_TCP_KEEPALIVE && o.code !== EDNS_OPTION_PADDING && (o.code !== EDNS_OPTION_ECS || forwardClientSubnet),
  );
}

/**
 * The upstream query: header with the new ID, the client's question bytes (so any QTYPE, known to
 * us or not, goes out exactly as asked: D12), and our OPT advertising 1232 with the client's DO.
 * We always send OPT, so large answers arrive over UDP and can be served to EDNS clients later.
 */
export function buildUpstreamQuery(spec: UpstreamQuerySpec): Buffer {
  const opt = encodeOpt(ADVERTISED_UDP_PAYLOAD, 0, spec.dnssecOk, spec.options);
  const out = Buffer.alloc(HEADER_SIZE + spec.rawQuestion.length + opt.length);
  out.writeUInt16BE(spec.id & 0xffff, 0);
  out[2] = spec.rd ? 0x01 : 0x00; // QR=0, OPCODE=QUERY
  // AD=1 (RFC 6840 §5.7): we understand AD, so the upstream reports validated data whatever the
  // client asked; renderAnswer passes it on only to clients that asked with AD or DO.
  out[3] = 0x20 | (spec.cd ? 0x10 : 0x00);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(1, 10);
  spec.rawQuestion.copy(out, HEADER_SIZE);
  opt.copy(out, HEADER_SIZE + spec.rawQuestion.length);
  return out;
}

/** The root `. IN NS` query used to check whether a down upstream answers again. */
export function buildHealthQuery(id: number): Buffer {
  const rawQuestion = Buffer.from([0, 0, RRType.NS, 0, 1]);
  return buildUpstreamQuery({ id, rawQuestion, rd: true, cd: false, dnssecOk: false, options: [] });
}

/** RFC 6891 §6.1.2: owner root, TYPE 41, CLASS = payload size, TTL = ext-rcode|version|DO|Z. */
export function encodeOpt(payload: number, extendedRcode: number, dnssecOk: boolean, options: readonly EdnsOption[]): Buffer {
  let rdlength = 0;
  for (const o of options) rdlength += 4 + o.data.length;
  const out = Buffer.alloc(OPT_FIXED_SIZE + rdlength);
  out[0] = 0;
  out.writeUInt16BE(RRType.OPT, 1);
  out.writeUInt16BE(payload, 3);
  out[5] = extendedRcode & 0xff;
  out[6] = 0; // version 0
  out[7] = dnssecOk ? 0x80 : 0;
  out[8] = 0;
  out.writeUInt16BE(rdlength, 9);
  let pos = OPT_FIXED_SIZE;
  for (const o of options) {
    out.writeUInt16BE(o.code, pos);
    out.writeUInt16BE(o.data.length, pos + 2);
    o.data.copy(out, pos + 4);
    pos += 4 + o.data.length;
  }
  return out;
}

/** Walk an upstream reply with bounds checks. Never throws. */
export function parseReply(buf: Buffer): ParseReplyResult {
  try {
    return { ok: true, reply: walkReply(buf) };
  } catch (e) {
    if (e instanceof WalkError) return { ok: false, reason: e.reason };
    return { ok: false, reason: `internal reply decoder error: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function walkReply(buf: Buffer): UpstreamReply {
  if (buf.length < HEADER_SIZE) throw new WalkError(`reply of ${buf.length} octets is shorter than the header`);
  if ((buf[2]! & 0x80) === 0) throw new WalkError('QR=0: a query, not a reply');
  const qdcount = buf.readUInt16BE(4);
  const counts = [buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
  if (qdcount !== 1) throw new WalkError(`QDCOUNT is ${qdcount}, expected 1`);
  // D1 applies to replies too: counts the length cannot hold are refused before any walking.
  const minimum = 5 + (counts[0] + counts[1] + counts[2]) * MIN_RR_SIZE;
  if (minimum > buf.length - HEADER_SIZE) throw new WalkError(`section counts need ≥${minimum} octets`);
  // The question is the first name: skipName refuses a pointer there (it cannot point backwards).
  let pos = skipName(buf, HEADER_SIZE);
  if (pos + 4 > buf.length) throw new WalkError('question has no room for QTYPE and QCLASS');
  pos += 4;
  const questionEnd = pos;
  const records: RecordSpan[] = [];
  let opt: ReplyOpt | undefined;
  let extendedRcode = 0;
  walk: for (let section = 0 as SectionIndex; section <= 2; section = (section + 1) as SectionIndex) {
    for (let i = 0; i < counts[section]; i++) {
      const start = pos;
      pos = skipName(buf, pos);
      if (pos + 10 > buf.length) throw new WalkError(`record ${i} of section ${section} is cut short`);
      const type = buf.readUInt16BE(pos);
      const ttlOffset = pos + 4;
      const rdlength = buf.readUInt16BE(pos + 8);
      const end = pos + 10 + rdlength;
      if (end > buf.length) throw new WalkError(`record ${i} of section ${section} runs past the end`);
      if (type === RRType.OPT) {
        if (section !== 2) throw new WalkError(`OPT record in section ${section}`);
        if (buf[start] !== 0) throw new WalkError('OPT record owner is not the root');
        extendedRcode = buf[ttlOffset]!;
        opt = {
          udpPayloadSize: buf.readUInt16BE(pos + 2),
          version: buf[ttlOffset + 1]!,
          dnssecOk: (buf[ttlOffset + 2]! & 0x80) !== 0,
          options: readOptions(buf, pos + 10, end),
        };
        // Anything after the OPT (a TSIG we could not verify anyway) is cut, which keeps every
        // earlier compression target at its offset.
        break walk;
      }
      records.push({ section, start, end, type, ttlOffset });
      pos = end;
    }
  }
  checkNamesAvoidTtls(buf, records);
  return {
    id: buf.readUInt16BE(0),
    opcode: (buf[2]! >> 3) & 0x0f,
    aa: (buf[2]! & 0x04) !== 0,
    tc: (buf[2]! & 0x02) !== 0,
    ra: (buf[3]! & 0x80) !== 0,
    ad: (buf[3]! & 0x20) !== 0,
    rcode: (extendedRcode << 4) | (buf[3]! & 0x0f),
    questionEnd,
    records,
    opt,
  };
}

/** RDATA offsets (from the RDATA start) of the names a client decompresses (RFC 3597 §4: only these types may be compressed). */
const RDATA_NAMES: ReadonlyMap<number, (buf: Buffer, rdata: number) => number[]> = new Map([
  [RRType.NS, (_b: Buffer, r: number) => [r]],
  [RRType.CNAME, (_b: Buffer, r: number) => [r]],
  [RRType.PTR, (_b: Buffer, r: number) => [r]],
  [15 /* MX */, (_b: Buffer, r: number) => [r + 2]],
  [RRType.SOA, (b: Buffer, r: number) => [r, skipName(b, r)]],
]);

/**
 * The relay rewrites every record's TTL for each client (the cache's countdown, serve-stale's 30).
 * A compression pointer is meant to name an earlier name (RFC 1035 §4.1.4); one whose name runs
 * through a TTL field would decode differently, or not at all, once that TTL is rewritten. Such a
 * reply is refused as malformed, so no client ever receives a corrupted name.
 */
function checkNamesAvoidTtls(buf: Buffer, records: readonly RecordSpan[]): void {
  if (records.length === 0) return;
  const ttlByte = new Uint8Array(buf.length);
  for (const r of records) ttlByte.fill(1, r.ttlOffset, r.ttlOffset + 4);
  // `directEnd`: where the name's own octets must end (its RDATA); a name whose labels run past it
  // before any pointer is malformed the same way whatever the TTLs, and is relayed as it came. Once
  // a pointer is followed, every octet it leads to is checked, well-formed or not: rewriting a TTL
  // could turn a name that does not decode into one that does.
  const check = (start: number, directEnd = buf.length): void => {
    let pos = start;
    // Bounded like skipName (127 pointer hops, RFC 1035 §4.1.4), which accepted every owner name.
    for (let hops = 0; hops <= 127 && pos < buf.length;) {
      if (hops === 0 && pos >= directEnd) return;
      const len = buf[pos]!;
      if (ttlByte[pos] === 1) throw new WalkError(`a name at ${start} runs through a TTL field at ${pos}`);
      if (len === 0) return;
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= buf.length) return;
        const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
        // The header (ID, flags) is rewritten per client like the TTLs, and what follows the OPT is
        // cut: a pointer must lead back to an earlier name, as skipName requires of owner names.
        if (target < HEADER_SIZE || target >= pos)
          throw new WalkError(`a name at ${start} points to ${target}, not back to an earlier name`);
        pos = target;
        hops++;
        continue;
      }
      if (hops === 0 && pos + 1 + len > directEnd) return;
      for (let i = pos + 1; i <= pos + len && i < buf.length; i++) {
        if (ttlByte[i] === 1) throw new WalkError(`a name at ${start} runs through a TTL field at ${i}`);
      }
      pos += 1 + len;
    }
  };
  for (const r of records) {
    check(r.start);
    const names = RDATA_NAMES.get(r.type);
    if (names === undefined) continue;
    const rdata = r.ttlOffset + 6;
    if (rdata >= r.end) continue;
    // A name in RDATA is checked even when it does not decode (check says how far).
    let starts: readonly number[];
    try {
      starts = names(buf, rdata);
    } catch {
      starts = [rdata]; // the SOA's first name is malformed: its second cannot be found
    }
    for (const at of starts) if (at < r.end) check(at, r.end);
  }
}

/**
 * The anti-spoofing check (RFC 5452 §9.1): same ID, a QUERY reply, and the same question: name
 * compared case-insensitively (RFC 4343), QTYPE and QCLASS exactly. A reply that fails it is ignored.
 */
export function replyMatches(buf: Buffer, reply: UpstreamReply, id: number, rawQuestion: Buffer): boolean {
  if (reply.id !== id || reply.opcode !== 0) return false;
  if (reply.questionEnd - HEADER_SIZE !== rawQuestion.length) return false;
  const nameLength = rawQuestion.length - 4;
  for (let i = 0; i < nameLength; i++) {
    if (foldCase(buf[HEADER_SIZE + i]!) !== foldCase(rawQuestion[i]!)) return false;
  }
  // QTYPE and QCLASS are numbers: compared exactly.
  return buf.compare(rawQuestion, nameLength, rawQuestion.length, HEADER_SIZE + nameLength, reply.questionEnd) === 0;
}

/** True when `raw` is the question at offset 12 of `body`, up to ASCII case in the name. */
export function sameQuestionIgnoringCase(raw: Buffer, body: Buffer, length: number): boolean {
  if (raw.length !== length) return false;
  const nameLength = length - 4;
  for (let i = 0; i < length; i++) {
    const a = raw[i]!;
    const b = body[HEADER_SIZE + i]!;
    if (a !== b && (i >= nameLength || foldCase(a) !== foldCase(b))) return false;
  }
  return true;
}

/** ASCII letters only (RFC 4343 §3); applied to name octets only (length octets ≤ 63 are never letters). */
function foldCase(octet: number): number {
  return octet >= 0x41 && octet <= 0x5a ? octet | 0x20 : octet;
}

/** A relayed message in dig-like text, for /debug/resolve and `gsdns explain` (never on the hot path). */
export interface MessageSummary {
  readonly rcode: number;
  readonly flags: readonly string[];
  readonly answers: readonly string[];
  readonly authority: readonly string[];
  readonly additional: readonly string[];
}

export function summarizeMessage(buf: Buffer): MessageSummary | undefined {
  const parsed = parseReply(buf);
  if (!parsed.ok) return undefined;
  const reply = parsed.reply;
  const flags = [
    'qr',
    ...(reply.aa ? ['aa'] : []),
    ...(reply.tc ? ['tc'] : []),
    ...((buf[2]! & 0x01) !== 0 ? ['rd'] : []),
    ...(reply.ra ? ['ra'] : []),
    ...(reply.ad ? ['ad'] : []),
    ...((buf[3]! & 0x10) !== 0 ? ['cd'] : []),
  ];
  const sections: string[][] = [[], [], []];
  for (const r of reply.records) sections[r.section]!.push(formatWireRecord(buf, r));
  return { rcode: reply.rcode, flags, answers: sections[0]!, authority: sections[1]!, additional: sections[2]! };
}

function formatWireRecord(buf: Buffer, r: RecordSpan): string {
  const owner = readName(buf, r.start);
  const ttl = buf.readUInt32BE(r.ttlOffset);
  const cls = buf.readUInt16BE(r.ttlOffset - 2);
  const rdata = r.ttlOffset + 6;
  const length = r.end - rdata;
  let text: string;
  if (r.type === RRType.A && length === 4) text = formatIPv4(buf.subarray(rdata, r.end));
  else if (r.type === RRType.AAAA && length === 16) text = formatIPv6(buf.subarray(rdata, r.end));
  else if (r.type === RRType.NS || r.type === RRType.CNAME || r.type === RRType.PTR) text = readName(buf, rdata);
  // RFC 3597 §5: the generic form for everything else.
  else text = `\\# ${length}${length > 0 ? ` ${buf.subarray(rdata, r.end).toString('hex')}` : ''}`;
  const typeText = typeName(r.type);
  return `${owner}\t${ttl}\t${cls === 1 ? 'IN' : `CLASS${cls}`}\t${typeText}\t${text}`;
}

/** A possibly compressed name in presentation form with a trailing dot; bounded like skipName. */
function readName(buf: Buffer, start: number): string {
  const labels: string[] = [];
  let pos = start;
  for (let hops = 0; hops <= 127 && pos < buf.length;) {
    const len = buf[pos]!;
    if (len === 0) return `${labels.join('.')}.`;
    if ((len & 0xc0) === 0xc0) {
      pos = ((len & 0x3f) << 8) | (buf[pos + 1] ?? 0);
      hops++;
      continue;
    }
    labels.push(labelToPresentation(buf, pos + 1, Math.min(buf.length, pos + 1 + len)));
    pos += 1 + len;
  }
  return `${labels.join('.')}.`;
}
