/**
 * DNS query decoder for the hot path (PURE).
 *
 * Owns: validating and decoding one query message: the header, the single question, every other
 * RR walked with bounds checks, EDNS(0) (RFC 6891) and ECS (RFC 7871); and the verdict types the
 * edge acts on (answer, drop, or FORMERR / NOTIMP / BADVERS with what the reply must echo).
 *
 * Never: touches sockets, files, timers or loggers; imports dns2 at runtime. This bypasses dns2's
 * parser on the hot path: dns2 splits a label containing '.' into several labels (KNOWN-DEFECTS
 * D8), parses before any size sanity check (D1, D2), and is several times slower (D14).
 *
 * Invariants:
 * - decodeQuery never throws; its work is linear in the message length (every section count is
 *   checked against the length before anything is walked, and compression pointers may only point
 *   backwards with a bounded number of hops).
 * - A decoded name is lowercase presentation format without trailing dot (names.ts), so distinct
 *   wire names never map to the same string.
 * - rawQuestion is a copy of the question as received, never a view of the caller's buffer.
 */
import { RRType, type Question } from '../answer/types.js';
import { formatIPv4, formatIPv6 } from '../util/ip.js';
import { EDNS_OPTION_ECS, HEADER_SIZE, MAX_NAME, MAX_TCP_MESSAGE, MAX_UDP_QUERY, MIN_UDP_PAYLOAD } from './limits.js';
import { WalkError, labelToPresentation, skipName } from './names.js';
import type { ClientSubnet, EdnsInfo, EdnsOption, Transport } from './types.js';

const OPCODE_QUERY = 0;
/** Root label + QTYPE + QCLASS: the smallest possible question. */
const MIN_QUESTION_SIZE = 5;
/** Root owner + TYPE + CLASS + TTL + RDLENGTH: the smallest possible resource record. */
const MIN_RR_SIZE = 11;

export interface QueryHeader {
  readonly id: number;
  readonly opcode: number;
  readonly rd: boolean;
  /** AD in a query: the client understands AD in the reply (RFC 6840 §5.7). */
  readonly ad: boolean;
  readonly cd: boolean;
  readonly qdcount: number;
  readonly ancount: number;
  readonly nscount: number;
  readonly arcount: number;
}

export interface DecodedQuery {
  readonly header: QueryHeader;
  readonly question: Question;
  /** QNAME + QTYPE + QCLASS exactly as received (a copy, not a view of the datagram). */
  readonly rawQuestion: Buffer;
  readonly edns?: EdnsInfo | undefined;
  /**
   * True for the common shape: the question plus at most one OPT in the additional section. Other
   * shapes passed every structural check here but carry records we did not interpret.
   */
  readonly simple: boolean;
}

/** Nothing may be sent back: the header is unreadable, or answering would be unsafe. */
export interface DecodeDrop {
  readonly ok: false;
  readonly action: 'drop';
  readonly reason: string;
  readonly id?: number | undefined;
}

/** The query must be answered with an error RCODE; carries what the reply echoes. */
export interface DecodeRejection {
  readonly ok: false;
  readonly action: 'formerr' | 'notimp' | 'badvers';
  readonly reason: string;
  readonly id: number;
  readonly header: QueryHeader;
  /** Present when the message had exactly one question that could be read. */
  readonly rawQuestion?: Buffer | undefined;
  readonly questionName?: string | undefined;
  /**
   * Present when the records walked cleanly and held exactly one OPT, whose fixed fields were read
   * (always for BADVERS; also for FORMERR over a malformed option or ECS, or trailing data): the
   * reply then carries an OPT (RFC 6891 §6.1.1). `options` is empty: nothing is echoed.
   */
  readonly edns?: EdnsInfo | undefined;
}

export type DecodeFailure = DecodeDrop | DecodeRejection;
export type DecodeResult = { readonly ok: true; readonly query: DecodedQuery } | DecodeFailure;

export interface DecodeOptions {
  /** Decode and validate ECS (RFC 7871); default true. When false, option 8 is just another unknown option. */
  readonly ecs?: boolean | undefined;
}

function readHeader(buf: Buffer): QueryHeader {
  return {
    id: buf.readUInt16BE(0),
    opcode: (buf[2]! >> 3) & 0x0f,
    rd: (buf[2]! & 0x01) !== 0,
    ad: (buf[3]! & 0x20) !== 0,
    cd: (buf[3]! & 0x10) !== 0,
    qdcount: buf.readUInt16BE(4),
    ancount: buf.readUInt16BE(6),
    nscount: buf.readUInt16BE(8),
    arcount: buf.readUInt16BE(10),
  };
}

/** Decode one query message. Never throws. */
export function decodeQuery(buf: Buffer, transport: Transport, decodeOptions: DecodeOptions = {}): DecodeResult {
  // RFC 1035 §4.1.1: without a whole header there is no ID to answer to.
  if (buf.length < HEADER_SIZE) return drop(`message of ${buf.length} octets is shorter than the header`);
  const id = buf.readUInt16BE(0);
  // Size caps before any parsing (D2). TCP framing cannot exceed 65535, but a caller might pass
  // a reassembled buffer, so check anyway.
  const cap = transport === 'udp' ? MAX_UDP_QUERY : MAX_TCP_MESSAGE;
  if (buf.length > cap) return drop(`${transport} message of ${buf.length} octets exceeds ${cap}`, id);
  // D3: never answer a response; answering one is how two servers (or one, spoofed) loop forever.
  if ((buf[2]! & 0x80) !== 0) return drop('QR=1: a response, not a query', id);

  const header = readHeader(buf);
  // D1: every question needs ≥5 octets and every RR ≥11, so counts the length cannot hold are
  // rejected before anything is walked.
  const minimum = header.qdcount * MIN_QUESTION_SIZE + (header.ancount + header.nscount + header.arcount) * MIN_RR_SIZE;
  if (minimum > buf.length - HEADER_SIZE) {
    return reject('formerr', header, `section counts need ≥${minimum} octets, message has ${buf.length - HEADER_SIZE}`);
  }

  // RFC 1035 §4.1.1: RCODE 4 for a kind of query we do not implement (NOTIFY, UPDATE, STATUS...).
  if (header.opcode !== OPCODE_QUERY) {
    const echo = header.qdcount === 1 ? tryReadQuestion(buf) : undefined;
    return reject('notimp', header, `opcode ${header.opcode} is not implemented`, echo);
  }
  // D5: exactly one question; none and several are both malformed for QUERY.
  if (header.qdcount !== 1) return reject('formerr', header, `QDCOUNT is ${header.qdcount}, expected 1`);

  let q: ParsedQuestion;
  try {
    q = readQuestion(buf);
  } catch (e) {
    return reject('formerr', header, reasonOf(e));
  }

  let walk: WalkResult;
  try {
    walk = walkRecords(buf, q.end, header);
  } catch (e) {
    return reject('formerr', header, reasonOf(e), q);
  }
  const opt = walk.opt;
  if (walk.end !== buf.length) {
    return reject('formerr', header, `${buf.length - walk.end} octets of trailing data after the last record`, q, optFields(buf, opt));
  }

  // D2 / RFC 6891 §4.3: a UDP query beyond 512 octets is only legitimate from an EDNS client.
  if (transport === 'udp' && buf.length > MIN_UDP_PAYLOAD && opt === undefined) {
    return drop(`UDP query of ${buf.length} octets without EDNS`, id);
  }
  if (opt === undefined) {
    return { ok: true, query: { header, question: q.question, rawQuestion: q.raw, simple: walk.simple } };
  }

  const bare = optFields(buf, opt)!;
  const { udpPayloadSize, version, dnssecOk } = bare;
  // RFC 6891 §6.1.3: an unknown version gets BADVERS before its options are interpreted, since
  // their meaning may differ in that version.
  if (version !== 0) return reject('badvers', header, `EDNS version ${version} is not supported`, q, bare);

  let options: EdnsOption[];
  let ecs: ClientSubnet | undefined;
  try {
    options = readOptions(buf, opt.rdataOffset, opt.rdataEnd);
    // With ECS off the option is one we do not understand, and RFC 6891 §6.1.2 says to ignore it.
    if (decodeOptions.ecs !== false) ecs = decodeEcsOptions(options);
  } catch (e) {
    // RFC 6891 §6.1.1 / §7: the OPT itself was read, so the FORMERR carries one (as BIND and Knot
    // answer a malformed option or ECS), without echoing options we could not make sense of.
    return reject('formerr', header, reasonOf(e), q, bare);
  }
  const edns: EdnsInfo = ecs ? { udpPayloadSize, version, dnssecOk, options, ecs } : { udpPayloadSize, version, dnssecOk, options };
  return { ok: true, query: { header, question: q.question, rawQuestion: q.raw, edns, simple: walk.simple } };
}

/** The fixed fields of a located OPT (payload size, version, DO), with no options; undefined without OPT. */
function optFields(buf: Buffer, opt: OptLocation | undefined): EdnsInfo | undefined {
  if (opt === undefined) return undefined;
  return {
    udpPayloadSize: opt.udpPayloadSize,
    version: buf[opt.ttlOffset + 1]!,
    dnssecOk: (buf[opt.ttlOffset + 2]! & 0x80) !== 0,
    options: [],
  };
}

function drop(reason: string, id?: number): DecodeDrop {
  return id === undefined ? { ok: false, action: 'drop', reason } : { ok: false, action: 'drop', reason, id };
}

function reject(
  action: DecodeRejection['action'],
  header: QueryHeader,
  reason: string,
  question?: ParsedQuestion,
  edns?: EdnsInfo,
): DecodeRejection {
  return {
    ok: false,
    action,
    reason,
    id: header.id,
    header,
    rawQuestion: question?.raw,
    questionName: question?.question.name,
    edns,
  };
}

function reasonOf(e: unknown): string {
  if (e instanceof WalkError) return e.reason;
  // Only a bug in this module could get here; report it as a malformed message rather than throw.
  return `internal decoder error: ${e instanceof Error ? e.message : String(e)}`;
}

interface ParsedQuestion {
  readonly question: Question;
  readonly raw: Buffer;
  /** Offset just past QCLASS. */
  readonly end: number;
}

/**
 * Read the question at offset 12. RFC 1035 §4.1.4 allows pointers only to earlier names, and the
 * question's name is the first one in a query, so a pointer here is malformed.
 */
function readQuestion(buf: Buffer): ParsedQuestion {
  let pos = HEADER_SIZE;
  let wireLength = 1; // the root label
  // The name in presentation form, lowercased, is written into `nameScratch` while every octet is
  // plain (most names), and made one string at the end; the first other octet switches to
  // per-label escaping (labelToPresentation) for the rest of the name.
  let plain = 0;
  let name: string | undefined;
  for (;;) {
    if (pos >= buf.length) throw new WalkError('question name runs past the end of the message');
    const len = buf[pos]!;
    if (len === 0) {
      pos += 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) throw new WalkError('compression pointer in the question of a query');
    // RFC 6891 §5 retired the 0x40 extended label type; 0x80 is reserved (RFC 1035 §4.1.4).
    if ((len & 0xc0) !== 0) throw new WalkError(`unsupported label type 0x${len.toString(16)}`);
    wireLength += len + 1;
    if (wireLength > MAX_NAME) throw new WalkError(`question name exceeds ${MAX_NAME} octets`);
    if (pos + 1 + len > buf.length) throw new WalkError('question label runs past the end of the message');
    if (name === undefined && copyPlainLabel(buf, pos + 1, len, plain)) {
      plain += plain === 0 ? len : len + 1;
    } else {
      if (name === undefined) name = nameScratch.toString('latin1', 0, plain);
      const label = labelToPresentation(buf, pos + 1, pos + 1 + len);
      name = name === '' ? label : `${name}.${label}`;
    }
    pos += 1 + len;
  }
  if (name === undefined) name = nameScratch.toString('latin1', 0, plain);
  if (pos + 4 > buf.length) throw new WalkError('question has no room for QTYPE and QCLASS');
  const question: Question = { name, type: buf.readUInt16BE(pos), class: buf.readUInt16BE(pos + 2) };
  const end = pos + 4;
  const raw = Buffer.allocUnsafe(end - HEADER_SIZE);
  buf.copy(raw, 0, HEADER_SIZE, end);
  return { question, raw, end };
}

/** A name of plain octets in presentation form is never longer than its wire form. */
const nameScratch = Buffer.alloc(MAX_NAME);

/**
 * Append one label, lowercased, to `nameScratch` at `at` (after a dot unless first), if every
 * octet is one presentation format writes as itself: printable ASCII other than '.' and '\'.
 * False, with nothing to show for it, at the first other octet.
 */
function copyPlainLabel(buf: Buffer, start: number, len: number, at: number): boolean {
  let out = at === 0 ? 0 : at + 1;
  for (let i = start; i < start + len; i++) {
    const c = buf[i]!;
    if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) return false;
    nameScratch[out++] = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
  }
  if (at !== 0) nameScratch[at] = 0x2e;
  return true;
}

function tryReadQuestion(buf: Buffer): ParsedQuestion | undefined {
  try {
    return readQuestion(buf);
  } catch {
    return undefined;
  }
}

interface OptLocation {
  readonly udpPayloadSize: number;
  /** Offset of the 4-octet TTL field: extended RCODE, VERSION, flags (RFC 6891 §6.1.3). */
  readonly ttlOffset: number;
  readonly rdataOffset: number;
  readonly rdataEnd: number;
}

const SECTIONS = ['answer', 'authority', 'additional'] as const;

interface WalkResult {
  readonly end: number;
  readonly opt?: OptLocation | undefined;
  readonly simple: boolean;
}

/**
 * Walk every answer, authority and additional record with bounds checks, locating the OPT.
 * RFC 6891 §6.1.1: OPT may appear only in the additional section, at most once, owned by root.
 */
function walkRecords(buf: Buffer, start: number, header: QueryHeader): WalkResult {
  let pos = start;
  let opt: OptLocation | undefined;
  for (let s = 0; s < 3; s++) {
    const section = SECTIONS[s]!;
    const count = s === 0 ? header.ancount : s === 1 ? header.nscount : header.arcount;
    for (let i = 0; i < count; i++) {
      const owner = pos;
      pos = skipName(buf, pos);
      if (pos + 10 > buf.length) throw new WalkError(`${section} record ${i} is cut short`);
      const type = buf.readUInt16BE(pos);
      const rdlength = buf.readUInt16BE(pos + 8);
      const rdataOffset = pos + 10;
      const rdataEnd = rdataOffset + rdlength;
      if (rdataEnd > buf.length) throw new WalkError(`${section} record ${i} RDLENGTH ${rdlength} runs past the end`);
      if (type === RRType.OPT) {
        if (section !== 'additional') throw new WalkError(`OPT record in the ${section} section`);
        if (opt !== undefined) throw new WalkError('more than one OPT record');
        // The owner must be the root name itself, a single zero octet (RFC 6891 §6.1.2).
        if (buf[owner] !== 0) throw new WalkError('OPT record owner is not the root');
        opt = { udpPayloadSize: buf.readUInt16BE(pos + 2), ttlOffset: pos + 4, rdataOffset, rdataEnd };
      }
      pos = rdataEnd;
    }
  }
  const simple = header.ancount === 0 && header.nscount === 0 && header.arcount === (opt ? 1 : 0);
  return { end: pos, opt, simple };
}

/** RFC 6891 §6.1.2: {OPTION-CODE, OPTION-LENGTH, OPTION-DATA}*, exactly filling RDATA. */
export function readOptions(buf: Buffer, start: number, end: number): EdnsOption[] {
  const options: EdnsOption[] = [];
  let pos = start;
  while (pos < end) {
    if (pos + 4 > end) throw new WalkError('EDNS option header cut short');
    const code = buf.readUInt16BE(pos);
    const length = buf.readUInt16BE(pos + 2);
    if (pos + 4 + length > end) throw new WalkError(`EDNS option ${code} length ${length} overruns the OPT RDATA`);
    options.push({ code, data: Buffer.from(buf.subarray(pos + 4, pos + 4 + length)) });
    pos += 4 + length;
  }
  return options;
}

function decodeEcsOptions(options: readonly EdnsOption[]): ClientSubnet | undefined {
  let ecs: ClientSubnet | undefined;
  for (const option of options) {
    if (option.code !== EDNS_OPTION_ECS) continue;
    // One client, one subnet: two ECS options cannot both be honoured, so the query is malformed.
    if (ecs !== undefined) throw new WalkError('more than one ECS option');
    ecs = decodeEcs(option.data);
  }
  return ecs;
}

/** Decode and validate one ECS option (RFC 7871 §6). Exported for unit tests. */
export function decodeEcs(data: Buffer): ClientSubnet {
  if (data.length < 4) throw new WalkError(`ECS option of ${data.length} octets is too short`);
  const family = data.readUInt16BE(0);
  const sourcePrefix = data[2]!;
  const scopePrefix = data[3]!;
  if (family !== 1 && family !== 2) throw new WalkError(`ECS family ${family} is not IPv4 (1) or IPv6 (2)`);
  const bits = family === 1 ? 32 : 128;
  if (sourcePrefix > bits) throw new WalkError(`ECS source prefix ${sourcePrefix} exceeds ${bits}`);
  if (scopePrefix > bits) throw new WalkError(`ECS scope prefix ${scopePrefix} exceeds ${bits}`);
  const addressBytes = Buffer.from(data.subarray(4));
  // RFC 7871 §6: ADDRESS is truncated to ceil(SOURCE PREFIX-LENGTH / 8) octets, and bits past the
  // prefix are zero; anything else is malformed.
  const expected = Math.ceil(sourcePrefix / 8);
  if (addressBytes.length !== expected) {
    throw new WalkError(`ECS address has ${addressBytes.length} octets, source prefix ${sourcePrefix} needs ${expected}`);
  }
  if (sourcePrefix % 8 !== 0 && expected > 0) {
    const mask = 0xff >> (sourcePrefix % 8);
    if ((addressBytes[expected - 1]! & mask) !== 0) throw new WalkError('ECS address has bits set beyond the source prefix');
  }
  const full = new Uint8Array(bits / 8);
  full.set(addressBytes);
  const address = family === 1 ? formatIPv4(full) : formatIPv6(full);
  return { family, sourcePrefix, scopePrefix, address, addressBytes };
}
