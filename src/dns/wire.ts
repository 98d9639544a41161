/**
 * DNS wire codec for the query hot path (PURE).
 *
 * Owns: validating and decoding one query message (header, the single question, every other RR
 * walked with bounds checks, EDNS(0) and ECS), and encoding responses (header bits, the question
 * echoed byte for byte, A/AAAA/NS/CNAME/SOA/SRV/TXT records with name compression, OPT, size fitting
 * with TC).
 *
 * Never: touches sockets, files, timers or loggers; imports dns2 at runtime. This is a deliberate
 * bypass of dns2's parser and serializer on the hot path: dns2 splits a label containing '.' into
 * several labels and re-encodes the question (KNOWN-DEFECTS D8), emits no OPT and no BADVERS (D9),
 * drops OPT from truncated replies (D10), has no upper cap on UDP replies (D11), parses before any
 * size sanity check (D1, D2), and is several times slower (D14). dns2 stays in use at the edge for
 * the general path (src/dns/server.ts).
 *
 * Invariants:
 * - decodeQuery never throws; its work is linear in the message length (every section count is
 *   checked against the length before anything is walked, and compression pointers may only point
 *   backwards with a bounded number of hops).
 * - A decoded name is lowercase presentation format without trailing dot; a '.' or '\' inside a
 *   label is escaped and non-printable octets become \DDD (RFC 4343 §2.1), so distinct wire names
 *   never map to the same string.
 * - encodeResponse never exceeds the size limit it is given (≥ 512) and always keeps the OPT record
 *   when the query had one (RFC 6891 §7); it throws only on records the answer core should never
 *   produce (bad address text, over-long names), which the edge turns into SERVFAIL.
 * - encodeResponse converts a record only when it writes it and stops at the first that overflows,
 *   so its work is bounded by the size limit, not by how many records it is handed; the answer
 *   core is told that bound beforehand (answerRecordBudget).
 */
import { Rcode, RRType, type Question, type ResourceRecord } from '../answer/types.js';
import { formatIPv4, formatIPv6, ipv4Word, parseIPv4, parseIPv6 } from '../util/ip.js';
import type { ClientSubnet, EdnsInfo, EdnsOption, Transport } from './types.js';

// The IP codec lives in util/ip.ts (the one parser); re-exported for the codec's callers.
export { formatIPv4, formatIPv6, ipv4Word, parseIPv4, parseIPv6 };

/** RFC 1035 §4.1.1. */
export const HEADER_SIZE = 12;
/** RFC 1035 §2.3.4: the classic UDP message limit, and the floor for any EDNS payload size. */
export const MIN_UDP_PAYLOAD = 512;
/** Largest UDP query we accept at all; larger datagrams are dropped unparsed (KNOWN-DEFECTS D2). */
export const MAX_UDP_QUERY = 4096;
/** RFC 1035 §4.2.2: the TCP length prefix is 16 bits. */
export const MAX_TCP_MESSAGE = 65535;
/** DNS Flag Day 2020: the UDP payload size we advertise and the cap on any UDP reply (D11). */
export const ADVERTISED_UDP_PAYLOAD = 1232;
/** RFC 7871 §6. */
export const EDNS_OPTION_ECS = 8;

const OPCODE_QUERY = 0;
const MAX_LABEL = 63;
const MAX_NAME = 255;
/** Root label + QTYPE + QCLASS: the smallest possible question. */
const MIN_QUESTION_SIZE = 5;
/** Root owner + TYPE + CLASS + TTL + RDLENGTH: the smallest possible resource record. */
const MIN_RR_SIZE = 11;
/** A name of at most 255 octets has at most 127 labels, so more hops than that is a loop. */
const MAX_POINTER_HOPS = 127;
/** RFC 1035 §4.1.4: a pointer's offset has 14 bits. */
const MAX_POINTER_OFFSET = 0x3fff;

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

/** Everything a response echoes from its query. */
export interface ReplyContext {
  readonly id: number;
  readonly opcode: number;
  readonly rd: boolean;
  readonly cd: boolean;
  /** Echoed byte for byte (D8); owner names equal to (a suffix of) it compress against it. */
  readonly rawQuestion?: Buffer | undefined;
  /** The reply carries OPT iff this is set (RFC 6891 §6.1.1). */
  readonly edns?: EdnsInfo | undefined;
}

export interface ResponseSpec {
  /** Full RCODE; values above 15 put their high bits in the OPT TTL (RFC 6891 §6.1.3). */
  readonly rcode: number;
  readonly authoritative?: boolean | undefined;
  readonly recursionAvailable?: boolean | undefined;
  readonly answers?: readonly ResourceRecord[] | undefined;
  readonly authority?: readonly ResourceRecord[] | undefined;
  readonly additional?: readonly ResourceRecord[] | undefined;
  /** Echo the query's ECS option with this SCOPE PREFIX-LENGTH (RFC 7871 §7.2.1); omit: no echo. */
  readonly ecsScopePrefix?: number | undefined;
  /** Byte budget of the whole message, see responseSizeLimit(). Clamped to [512, 65535]. */
  readonly maxSize: number;
}

export interface EncodedResponse {
  readonly message: Buffer;
  /** TC was set: answer or authority records did not fit. */
  readonly truncated: boolean;
  /** Records left out (any section), whether or not that required TC. */
  readonly omitted: number;
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

export class WalkError {
  constructor(readonly reason: string) {}
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
  const minimum =
    header.qdcount * MIN_QUESTION_SIZE + (header.ancount + header.nscount + header.arcount) * MIN_RR_SIZE;
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
  return { udpPayloadSize: opt.udpPayloadSize, version: buf[opt.ttlOffset + 1]!, dnssecOk: (buf[opt.ttlOffset + 2]! & 0x80) !== 0, options: [] };
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
  let name = '';
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
    const label = labelToPresentation(buf, pos + 1, pos + 1 + len);
    name = name === '' ? label : `${name}.${label}`;
    pos += 1 + len;
  }
  if (pos + 4 > buf.length) throw new WalkError('question has no room for QTYPE and QCLASS');
  const question: Question = { name, type: buf.readUInt16BE(pos), class: buf.readUInt16BE(pos + 2) };
  const end = pos + 4;
  return { question, raw: Buffer.from(buf.subarray(HEADER_SIZE, end)), end };
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
  const sections: Array<[string, number]> = [
    ['answer', header.ancount],
    ['authority', header.nscount],
    ['additional', header.arcount],
  ];
  for (const [section, count] of sections) {
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

/**
 * Skip a possibly compressed name; returns the offset just past it in the record stream.
 * Pointers must point backwards and past the header, hops are bounded, and the expanded name must
 * stay within 255 octets, so a crafted loop ends after at most 127 hops (RFC 1035 §4.1.4).
 */
export function skipName(buf: Buffer, start: number): number {
  let pos = start;
  let after = -1;
  let hops = 0;
  let wireLength = 1;
  for (;;) {
    if (pos >= buf.length) throw new WalkError('name runs past the end of the message');
    const len = buf[pos]!;
    if (len === 0) return after < 0 ? pos + 1 : after;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new WalkError('compression pointer cut short');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target < HEADER_SIZE || target >= pos) throw new WalkError(`compression pointer to ${target} is not backwards`);
      if (++hops > MAX_POINTER_HOPS) throw new WalkError('too many compression pointers');
      if (after < 0) after = pos + 2;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new WalkError(`unsupported label type 0x${len.toString(16)}`);
    wireLength += len + 1;
    if (wireLength > MAX_NAME) throw new WalkError(`name exceeds ${MAX_NAME} octets`);
    if (pos + 1 + len > buf.length) throw new WalkError('label runs past the end of the message');
    pos += 1 + len;
  }
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
    const mask = 0xff >> sourcePrefix % 8;
    if ((addressBytes[expected - 1]! & mask) !== 0) throw new WalkError('ECS address has bits set beyond the source prefix');
  }
  const full = new Uint8Array(bits / 8);
  full.set(addressBytes);
  const address = family === 1 ? formatIPv4(full) : formatIPv6(full);
  return { family, sourcePrefix, scopePrefix, address, addressBytes };
}

// ---------------------------------------------------------------------------------------------
// Names in presentation format (RFC 1035 §5.1, RFC 4343 §2.1)
// ---------------------------------------------------------------------------------------------

/**
 * One wire label → lowercase presentation text. Only ASCII letters are case-folded (RFC 4343 §3).
 * '.' and '\' are backslash-escaped and octets outside 0x21..0x7E become \DDD, so the mapping is
 * injective and a label "a.b" reads `a\.b`, never `a.b`.
 */
export function labelToPresentation(buf: Uint8Array, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) out += String.fromCharCode(c + 0x20);
    else if (c === 0x2e) out += '\\.';
    else if (c === 0x5c) out += '\\\\';
    else if (c > 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += `\\${c < 10 ? '00' : c < 100 ? '0' : ''}${c}`;
  }
  return out;
}

/**
 * Presentation text → wire labels (no case change). Accepts `\.`, `\\`, `\X` and `\DDD` escapes and
 * an optional trailing dot; "" and "." are the root. Throws on empty labels, labels over 63 octets,
 * names over 255 octets and characters outside Latin-1.
 */
export function presentationToLabels(name: string): Uint8Array[] {
  const labels: Uint8Array[] = [];
  if (name === '' || name === '.') return labels;
  let current: number[] = [];
  let wireLength = 1;
  const finish = (): void => {
    if (current.length === 0) throw new RangeError(`empty label in name "${name}"`);
    if (current.length > MAX_LABEL) throw new RangeError(`label of ${current.length} octets in name "${name}"`);
    wireLength += current.length + 1;
    labels.push(Uint8Array.from(current));
    current = [];
  };
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (ch === 0x2e) {
      finish();
      continue;
    }
    if (ch === 0x5c) {
      const d = name.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) throw new RangeError(`escape \\${d} out of range in name "${name}"`);
        current.push(v);
        i += 3;
      } else {
        if (i + 1 >= name.length) throw new RangeError(`dangling backslash in name "${name}"`);
        current.push(name.charCodeAt(i + 1));
        i += 1;
      }
      if (current[current.length - 1]! > 0xff) throw new RangeError(`non-Latin-1 character in name "${name}"`);
      continue;
    }
    if (ch > 0xff) throw new RangeError(`non-Latin-1 character in name "${name}"`);
    current.push(ch);
  }
  // A trailing dot (absolute name) leaves nothing pending; otherwise close the last label.
  if (current.length > 0 || name.charCodeAt(name.length - 1) !== 0x2e) finish();
  if (wireLength > MAX_NAME) throw new RangeError(`name "${name}" is ${wireLength} octets on the wire`);
  return labels;
}

/** Canonical (lowercase, escaped) presentation of a sequence of wire labels. */
function labelsKey(labels: readonly Uint8Array[], from: number): string {
  let key = '';
  for (let i = from; i < labels.length; i++) {
    const label = labels[i]!;
    const text = labelToPresentation(label, 0, label.length);
    key = key === '' ? text : `${key}.${text}`;
  }
  return key;
}

// ---------------------------------------------------------------------------------------------
// Addresses (text ↔ octets) without node:net, so this module stays pure
// ---------------------------------------------------------------------------------------------



/** A question section (QNAME, QTYPE, QCLASS) for a presentation-format name; throws on a bad name. */
export function encodeQuestion(name: string, type: number, klass: number): Buffer {
  const labels = presentationToLabels(name);
  const raw = Buffer.alloc(labels.reduce((n, l) => n + 1 + l.length, 0) + 5);
  let pos = 0;
  for (const l of labels) {
    raw[pos++] = l.length;
    raw.set(l, pos);
    pos += l.length;
  }
  raw[pos++] = 0;
  raw.writeUInt16BE(type, pos);
  raw.writeUInt16BE(klass, pos + 2);
  return raw;
}


// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/** The reply budget: TCP 65535; UDP 512 without EDNS, else the client's size capped at 1232 (D11). */
export function responseSizeLimit(transport: Transport, edns?: EdnsInfo): number {
  if (transport === 'tcp') return MAX_TCP_MESSAGE;
  if (edns === undefined) return MIN_UDP_PAYLOAD;
  // RFC 6891 §6.2.5: values below 512 are treated as 512.
  return Math.max(MIN_UDP_PAYLOAD, Math.min(edns.udpPayloadSize, ADVERTISED_UDP_PAYLOAD));
}

/** The smallest address record: an A record whose owner is a pointer (2 + 10 + 4 octets). */
const MIN_ANSWER_RR_SIZE = 16;

/**
 * A lower bound of a record's encoded size, known without converting it: its owner as a pointer
 * (1 octet for the root), the fixed fields, and the least RDATA its type can have (names as
 * pointers, or the root for the uncompressed SRV target).
 */
function minWireSize(rr: ResourceRecord): number {
  const owner = rr.name === '' || rr.name === '.' ? 1 : 2;
  const t = rr.data.type;
  const rdata = t === RRType.A ? 4 : t === RRType.AAAA ? 16 : t === RRType.SOA ? 24 : t === RRType.SRV ? 7 : t === RRType.TXT ? 1 : 2;
  return owner + 10 + rdata;
}

/**
 * How many records the answer core needs to produce for a reply of `maxSize` octets: as many of
 * the smallest record (MIN_ANSWER_RR_SIZE; every owner gsdns answers with is the question name or
 * a suffix of it, so it compresses to a pointer) as fit after the header, the question and a bare
 * OPT, plus one, so that an answer larger than the reply still overflows in encodeResponse and
 * gets TC (RFC 2181 §9) rather than looking complete.
 */
export function answerRecordBudget(transport: Transport, edns: EdnsInfo | undefined, questionLength: number): number {
  const room = responseSizeLimit(transport, edns) - HEADER_SIZE - questionLength - (edns ? 11 : 0);
  return Math.max(0, Math.floor(room / MIN_ANSWER_RR_SIZE)) + 1;
}

export function replyContextOf(source: DecodedQuery | DecodeRejection): ReplyContext {
  if ('question' in source) {
    const { header, rawQuestion, edns } = source;
    return { id: header.id, opcode: header.opcode, rd: header.rd, cd: header.cd, rawQuestion, edns };
  }
  const { header, rawQuestion, edns } = source;
  return { id: header.id, opcode: header.opcode, rd: header.rd, cd: header.cd, rawQuestion, edns };
}

export function rcodeOfRejection(action: DecodeRejection['action']): number {
  return action === 'formerr' ? Rcode.FORMERR : action === 'notimp' ? Rcode.NOTIMP : Rcode.BADVERS;
}

/** FORMERR / NOTIMP / BADVERS reply for a rejected query. */
export function encodeErrorResponse(rejection: DecodeRejection, maxSize: number): Buffer {
  return encodeResponse(replyContextOf(rejection), { rcode: rcodeOfRejection(rejection.action), maxSize }).message;
}

/**
 * A name converted to wire labels, with the canonical key of each suffix (keys[i]: from label i).
 * Prepared names live for one message (NameCache), so `at` can remember where it was written.
 */
interface PreparedName {
  readonly labels: readonly Uint8Array[];
  readonly keys: readonly string[];
  /** Offset a pointer to the whole name may use, once it is in the message; -1 before. */
  at: number;
}

function prepareName(name: string): PreparedName {
  const labels = presentationToLabels(name);
  const keys: string[] = new Array(labels.length);
  let key = '';
  for (let i = labels.length - 1; i >= 0; i--) {
    const text = labelToPresentation(labels[i]!, 0, labels[i]!.length);
    key = key === '' ? text : `${text}.${key}`;
    keys[i] = key;
  }
  return { labels, keys, at: -1 };
}

/**
 * Names already prepared for one message, by presentation text: the records of an answer share
 * their owner (and an SRV answer its target), so each distinct name is converted once.
 */
class NameCache {
  private readonly names = new Map<string, PreparedName>();
  get(name: string): PreparedName {
    let n = this.names.get(name);
    if (n === undefined) {
      n = prepareName(name);
      this.names.set(name, n);
    }
    return n;
  }
}

/** Thrown inside the writer when the next octets would cross the budget; never escapes. */
const OVERFLOW = Symbol('overflow');

/**
 * One scratch buffer for every response: encoding is synchronous, so it is never shared between
 * two messages, and the result is copied out at the end.
 */
const scratch = Buffer.allocUnsafe(MAX_TCP_MESSAGE);

class MessageWriter {
  pos = 0;
  /** Canonical name suffix → offset, for compression (RFC 1035 §4.1.4). */
  readonly names = new Map<string, number>();
  constructor(
    readonly buf: Buffer,
    public limit: number,
  ) {}

  private room(n: number): void {
    if (this.pos + n > this.limit) throw OVERFLOW;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.room(2);
    const b = this.buf;
    b[this.pos++] = v >>> 8;
    b[this.pos++] = v & 0xff;
  }
  u32(v: number): void {
    this.room(4);
    const b = this.buf;
    b[this.pos++] = v >>> 24;
    b[this.pos++] = (v >>> 16) & 0xff;
    b[this.pos++] = (v >>> 8) & 0xff;
    b[this.pos++] = v & 0xff;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** RDATA names of SRV must not be compressed (RFC 2782), others may (RFC 3597 §4). */
  name(n: PreparedName, compress: boolean): void {
    // The common case: the owner of every record of an answer, already in the message.
    if (compress && n.at >= 0) {
      this.u16(0xc000 | n.at);
      return;
    }
    const { labels, keys } = n;
    for (let i = 0; i < labels.length; i++) {
      const key = keys[i]!;
      const known = this.names.get(key);
      if (compress && known !== undefined) {
        this.u16(0xc000 | known);
        if (i === 0) n.at = known;
        return;
      }
      if (known === undefined && this.pos <= MAX_POINTER_OFFSET) this.names.set(key, this.pos);
      const label = labels[i]!;
      this.u8(label.length);
      this.bytes(label);
    }
    this.u8(0);
    if (labels.length > 0) n.at = this.names.get(keys[0]!) ?? -1;
  }
  /** Remember every suffix of the echoed question so owners point at the client's spelling. */
  registerQuestion(at: number, raw: Buffer): void {
    const labels: Uint8Array[] = [];
    const offsets: number[] = [];
    for (let p = 0; p < raw.length && raw[p]! !== 0; p += 1 + raw[p]!) {
      offsets.push(at + p);
      labels.push(raw.subarray(p + 1, p + 1 + raw[p]!));
    }
    for (let i = 0; i < labels.length; i++) {
      const key = labelsKey(labels, i);
      if (offsets[i]! <= MAX_POINTER_OFFSET && !this.names.has(key)) this.names.set(key, offsets[i]!);
    }
  }
}

function checkInt(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what} ${value} out of range`);
  return value;
}

const NO_RECORDS: readonly ResourceRecord[] = [];

/** Canonical key of an owner name; undefined for a name that cannot be encoded (it matches nothing). */
function ownerKeyOf(name: string, names: NameCache): string | undefined {
  try {
    return names.get(name).keys[0] ?? '';
  } catch {
    return undefined;
  }
}

/**
 * Validate, convert and write one record (owner already prepared). Throws OVERFLOW when it does
 * not fit (the caller rewinds), RangeError on data the answer core should never produce.
 */
function writeRecord(w: MessageWriter, rr: ResourceRecord, owner: PreparedName, names: NameCache): void {
  // RFC 2181 §8: TTLs are 0..2^31-1.
  const ttl = Number.isFinite(rr.ttl) ? Math.max(0, Math.min(0x7fffffff, Math.floor(rr.ttl))) : 0;
  const d = rr.data;
  w.name(owner, true);
  w.u16(d.type);
  w.u16(rr.class ?? 1); // IN unless the record says otherwise (CHAOS TXT)
  w.u32(ttl);
  const rdlengthAt = w.pos;
  w.u16(0);
  switch (d.type) {
    case RRType.A:
      w.u32(ipv4Word(d.address));
      break;
    case RRType.AAAA:
      w.bytes(parseIPv6(d.address));
      break;
    case RRType.NS:
      w.name(names.get(d.host), true);
      break;
    case RRType.CNAME:
      w.name(names.get(d.target), true);
      break;
    case RRType.SOA: {
      const mname = names.get(d.mname);
      const rname = names.get(d.rname);
      const nums = [d.serial, d.refresh, d.retry, d.expire, d.minimum].map((n) => checkInt(n, 0xffffffff, 'SOA field'));
      w.name(mname, true);
      w.name(rname, true);
      for (const n of nums) w.u32(n);
      break;
    }
    case RRType.SRV: {
      const target = names.get(d.target);
      const fields = [d.priority, d.weight, d.port].map((n) => checkInt(n, 0xffff, 'SRV field'));
      for (const n of fields) w.u16(n);
      w.name(target, false);
      break;
    }
    case RRType.TXT: {
      // RFC 1035 §3.3.14: one or more <character-string>s, each a length octet and ≤255 octets.
      const strings = (d.strings.length > 0 ? d.strings : ['']).map((x) => Buffer.from(x, 'utf8'));
      for (const x of strings) checkInt(x.length, 255, 'TXT string length');
      for (const x of strings) {
        w.u8(x.length);
        w.bytes(x);
      }
      break;
    }
    default: {
      const unknown: { type: number } = d;
      throw new RangeError(`cannot encode record type ${unknown.type}`);
    }
  }
  w.buf.writeUInt16BE(w.pos - rdlengthAt - 2, rdlengthAt);
}

/**
 * Encode a response. Records that do not fit the budget are dropped whole from the end; TC is set
 * when an answer or authority record had to go (RFC 2181 §9), while dropping additional records
 * only (whole RRsets) does not need it. The OPT record is always kept (RFC 6891 §7, D10).
 * Records are validated and converted as they are written, and nothing after the first one that
 * overflows is looked at: the work is bounded by the reply, however many records are passed (a
 * bad record past that point is never seen; one within it still throws).
 */
export function encodeResponse(ctx: ReplyContext, spec: ResponseSpec): EncodedResponse {
  const limit = Math.max(MIN_UDP_PAYLOAD, Math.min(MAX_TCP_MESSAGE, Math.floor(spec.maxSize) || 0));
  const sections = [spec.answers ?? NO_RECORDS, spec.authority ?? NO_RECORDS, spec.additional ?? NO_RECORDS];
  const names = new NameCache();
  let rcode = spec.rcode;
  // An RCODE above 15 needs OPT to carry its high bits; without one it cannot be expressed.
  if (rcode > 0xf && ctx.edns === undefined) rcode = Rcode.SERVFAIL;

  const ecs = ctx.edns?.ecs !== undefined && spec.ecsScopePrefix !== undefined ? ctx.edns.ecs : undefined;
  const ecsLength = ecs ? 4 + ecs.addressBytes.length : 0;
  const optSize = ctx.edns ? 11 + (ecs ? 4 + ecsLength : 0) : 0;

  const w = new MessageWriter(scratch, limit - optSize);
  w.pos = HEADER_SIZE;
  if (ctx.rawQuestion) {
    w.registerQuestion(HEADER_SIZE, ctx.rawQuestion);
    w.bytes(ctx.rawQuestion);
  }

  const counts = [0, 0, 0];
  // Additional records written (start offset, owner, type), for the RRset back-off below.
  const starts: number[] = [];
  const writtenOwners: PreparedName[] = [];
  const writtenTypes: number[] = [];
  let stoppedIn = -1;
  let overflowed: ResourceRecord | undefined;
  outer: for (let s = 0; s < 3; s++) {
    for (const rr of sections[s]!) {
      const mark = w.pos;
      // A record that cannot fit even at its smallest is not converted at all.
      let fits = mark + minWireSize(rr) <= w.limit;
      if (fits) {
        const owner = names.get(rr.name);
        try {
          writeRecord(w, rr, owner, names);
        } catch (e) {
          if (e !== OVERFLOW) throw e;
          w.pos = mark;
          fits = false;
        }
        if (fits && s === 2) {
          starts.push(mark);
          writtenOwners.push(owner);
          writtenTypes.push(rr.data.type);
        }
      }
      if (!fits) {
        stoppedIn = s;
        overflowed = rr;
        break outer;
      }
      counts[s]!++;
    }
  }
  const all = sections[0]!.length + sections[1]!.length + sections[2]!.length;
  let truncated = false;
  if (stoppedIn >= 0 && stoppedIn < 2) truncated = true;
  if (stoppedIn === 2) {
    // Do not leave half an RRset in the additional section: back off to the RRset's start. The
    // record that did not fit may never have been prepared: compare its owner text as written.
    const firstKey = ownerKeyOf(overflowed!.name, names);
    const firstType = overflowed!.data.type;
    while (counts[2]! > 0) {
      const last = counts[2]! - 1;
      if ((writtenOwners[last]!.keys[0] ?? '') !== firstKey || writtenTypes[last] !== firstType) break;
      counts[2]!--;
      w.pos = starts[counts[2]!]!;
    }
  }
  const omitted = all - counts[0]! - counts[1]! - counts[2]!;

  let arcount = counts[2]!;
  if (ctx.edns) {
    w.limit = limit;
    w.u8(0); // owner: root
    w.u16(RRType.OPT);
    w.u16(ADVERTISED_UDP_PAYLOAD); // RFC 6891 §6.2.5: our own receive size
    // TTL: extended RCODE (high 8 bits of 12), VERSION 0, DO echoed (RFC 3225 §3), rest of Z zero.
    w.u8((rcode >> 4) & 0xff);
    w.u8(0);
    w.u16(ctx.edns.dnssecOk ? 0x8000 : 0);
    w.u16(ecs ? 4 + ecsLength : 0);
    if (ecs) {
      // RFC 7871 §7.2.1: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as in the query; SCOPE is ours.
      const maxPrefix = ecs.family === 1 ? 32 : 128;
      w.u16(EDNS_OPTION_ECS);
      w.u16(ecsLength);
      w.u16(ecs.family);
      w.u8(ecs.sourcePrefix);
      w.u8(Math.max(0, Math.min(maxPrefix, Math.floor(spec.ecsScopePrefix ?? 0))));
      w.bytes(ecs.addressBytes);
    }
    arcount++;
  }

  const b = scratch;
  b.writeUInt16BE(ctx.id, 0);
  // QR=1, OPCODE echoed, AA, TC, RD echoed (RFC 1035 §4.1.1).
  b[2] = 0x80 | ((ctx.opcode & 0x0f) << 3) | (spec.authoritative ? 0x04 : 0) | (truncated ? 0x02 : 0) | (ctx.rd ? 0x01 : 0);
  // RA, Z=0, AD=0, CD echoed (RFC 4035 §3.2.2), low 4 bits of RCODE.
  b[3] = (spec.recursionAvailable ? 0x80 : 0) | (ctx.cd ? 0x10 : 0) | (rcode & 0x0f);
  b.writeUInt16BE(ctx.rawQuestion ? 1 : 0, 4);
  b.writeUInt16BE(counts[0]!, 6);
  b.writeUInt16BE(counts[1]!, 8);
  b.writeUInt16BE(arcount, 10);
  return { message: Buffer.from(b.subarray(0, w.pos)), truncated, omitted };
}
