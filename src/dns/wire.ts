/**
 * DNS wire codec for the query hot path (PURE).
 *
 * Owns: validating and decoding one query message (header, the single question, every other RR
 * walked with bounds checks, EDNS(0) and ECS), and encoding responses (header bits, the question
 * echoed byte for byte, A/AAAA/NS/CNAME/SOA/SRV records with name compression, OPT, size fitting
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
 */
import { Rcode, RRType, type Question, type ResourceRecord } from '../answer/types.js';
import type { ClientSubnet, EdnsInfo, EdnsOption, Transport } from './types.js';

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
  /** Present when the query had one well-formed OPT (always for BADVERS). */
  readonly edns?: EdnsInfo | undefined;
}

export type DecodeFailure = DecodeDrop | DecodeRejection;
export type DecodeResult = { readonly ok: true; readonly query: DecodedQuery } | DecodeFailure;

export interface DecodeOptions {
  /** Decode and validate ECS (RFC 7871). When false, option 8 is just another unknown option. */
  readonly ecs?: boolean | undefined;
}

/** Everything a response echoes from its query. */
export interface ReplyContext {
  readonly id: number;
  readonly opcode: number;
  readonly rd: boolean;
  readonly cd: boolean;
  readonly rawQuestion?: Buffer | undefined;
  /** Presentation form of the question name, used to compress owner names against it. */
  readonly questionName?: string | undefined;
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

class WalkError {
  constructor(readonly reason: string) {}
}

function readHeader(buf: Buffer): QueryHeader {
  return {
    id: buf.readUInt16BE(0),
    opcode: (buf[2]! >> 3) & 0x0f,
    rd: (buf[2]! & 0x01) !== 0,
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
  if (walk.end !== buf.length) {
    return reject('formerr', header, `${buf.length - walk.end} octets of trailing data after the last record`, q);
  }

  const opt = walk.opt;
  // D2 / RFC 6891 §4.3: a UDP query beyond 512 octets is only legitimate from an EDNS client.
  if (transport === 'udp' && buf.length > MIN_UDP_PAYLOAD && opt === undefined) {
    return drop(`UDP query of ${buf.length} octets without EDNS`, id);
  }
  if (opt === undefined) {
    return { ok: true, query: { header, question: q.question, rawQuestion: q.raw, simple: walk.simple } };
  }

  const version = buf[opt.ttlOffset + 1]!;
  const dnssecOk = (buf[opt.ttlOffset + 2]! & 0x80) !== 0;
  const udpPayloadSize = opt.udpPayloadSize;
  // RFC 6891 §6.1.3: an unknown version gets BADVERS before its options are interpreted, since
  // their meaning may differ in that version.
  if (version !== 0) {
    const edns: EdnsInfo = { udpPayloadSize, version, dnssecOk, options: [] };
    return reject('badvers', header, `EDNS version ${version} is not supported`, q, edns);
  }

  let options: EdnsOption[];
  let ecs: ClientSubnet | undefined;
  try {
    options = readOptions(buf, opt.rdataOffset, opt.rdataEnd);
    // RFC 7871 §7.1.1: a server that does not do ECS ignores the option, so only decode it when on.
    if (decodeOptions.ecs !== false) ecs = decodeEcsOptions(options);
  } catch (e) {
    return reject('formerr', header, reasonOf(e), q);
  }
  const edns: EdnsInfo = ecs ? { udpPayloadSize, version, dnssecOk, options, ecs } : { udpPayloadSize, version, dnssecOk, options };
  return { ok: true, query: { header, question: q.question, rawQuestion: q.raw, edns, simple: walk.simple } };
}
