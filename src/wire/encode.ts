/**
 * DNS response encoder for the hot path (PURE).
 *
 * Owns: encoding responses (header bits, the question echoed byte for byte, A/AAAA/NS/CNAME/SOA/
 * SRV/TXT records with name compression, OPT with the ECS echo, size fitting with TC), the size
 * budget of a reply (responseSizeLimit) and of an answer (answerRecordBudget), and encoding a
 * question section for the probes and the self-test.
 *
 * Never: touches sockets, files, timers or loggers; imports dns2 at runtime. This bypasses dns2's
 * serializer on the hot path: dns2 re-encodes the question (KNOWN-DEFECTS D8), emits no OPT and
 * no BADVERS (D9), drops OPT from truncated replies (D10), has no upper cap on UDP replies (D11),
 * and is several times slower (D14). dns2 stays in use at the edge for the general path
 * (src/dns/server.ts).
 *
 * Invariants:
 * - encodeResponse never exceeds the size limit it is given (≥ 512) and always keeps the OPT record
 *   when the query had one (RFC 6891 §7); it throws only on records the answer core should never
 *   produce (bad address text, over-long names), which the edge turns into SERVFAIL.
 * - encodeResponse converts a record only when it writes it and stops at the first that overflows,
 *   so its work is bounded by the size limit, not by how many records it is handed; the answer
 *   core is told that bound beforehand (answerRecordBudget).
 * - Encoding is synchronous and writes into one module-level scratch buffer; every result is a copy.
 */
import { Rcode, RRType, type Decision, type ResourceRecord } from '../answer/types.js';
import { ipv4Word, parseIPv6 } from '../util/ip.js';
import type { DecodedQuery, DecodeRejection } from './decode.js';
import { ADVERTISED_UDP_PAYLOAD, EDNS_OPTION_ECS, HEADER_SIZE, MAX_TCP_MESSAGE, MIN_UDP_PAYLOAD } from './limits.js';
import { presentationToLabels } from './names.js';
import { checkInt, MessageWriter, NameCache, OVERFLOW, type PreparedName } from './writer.js';
import type { ClientSubnet, EdnsInfo, Transport } from './types.js';

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
 * One scratch buffer for every response: encoding is synchronous, so it is never shared between
 * two messages, and the result is copied out at the end.
 */
const scratch = Buffer.allocUnsafe(MAX_TCP_MESSAGE);

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

/** What writeSections left in the message. */
interface SectionsWritten {
  /** Records written per section: answer, authority, additional (OPT not included). */
  readonly counts: readonly [number, number, number];
  readonly truncated: boolean;
  readonly omitted: number;
}

/**
 * Write the answer, authority and additional records after the question, stopping at the first
 * that does not fit w.limit; TC is due when that was an answer or authority record, and a partly
 * written RRset in the additional section is backed off whole.
 */
function writeSections(w: MessageWriter, sections: readonly (readonly ResourceRecord[])[]): SectionsWritten {
  const names = new NameCache();
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
  return { counts: [counts[0]!, counts[1]!, counts[2]!], truncated, omitted };
}

/** The OPT record (RFC 6891 §6.1.2), with the ECS option echoed when `ecs` is set (RFC 7871 §7.2.1). */
function writeOpt(
  w: MessageWriter,
  edns: EdnsInfo,
  rcode: number,
  ecs: ClientSubnet | undefined,
  ecsLength: number,
  ecsScopePrefix: number | undefined,
): void {
  w.u8(0); // owner: root
  w.u16(RRType.OPT);
  w.u16(ADVERTISED_UDP_PAYLOAD); // RFC 6891 §6.2.5: our own receive size
  // TTL: extended RCODE (high 8 bits of 12), VERSION 0, DO echoed (RFC 3225 §3), rest of Z zero.
  w.u8((rcode >> 4) & 0xff);
  w.u8(0);
  w.u16(edns.dnssecOk ? 0x8000 : 0);
  w.u16(ecs ? 4 + ecsLength : 0);
  if (ecs) {
    // RFC 7871 §7.2.1: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as in the query; SCOPE is ours.
    const maxPrefix = ecs.family === 1 ? 32 : 128;
    w.u16(EDNS_OPTION_ECS);
    w.u16(ecsLength);
    w.u16(ecs.family);
    w.u8(ecs.sourcePrefix);
    w.u8(Math.max(0, Math.min(maxPrefix, Math.floor(ecsScopePrefix ?? 0))));
    w.bytes(ecs.addressBytes);
  }
}

/** The 12-octet header, written last: its counts and TC are known only once the sections are. */
function writeHeader(
  b: Buffer,
  ctx: ReplyContext,
  spec: ResponseSpec,
  rcode: number,
  truncated: boolean,
  counts: readonly [number, number, number],
): void {
  b.writeUInt16BE(ctx.id, 0);
  // QR=1, OPCODE echoed, AA, TC, RD echoed (RFC 1035 §4.1.1).
  b[2] = 0x80 | ((ctx.opcode & 0x0f) << 3) | (spec.authoritative ? 0x04 : 0) | (truncated ? 0x02 : 0) | (ctx.rd ? 0x01 : 0);
  // RA, Z=0, AD=0, CD echoed (RFC 4035 §3.2.2), low 4 bits of RCODE.
  b[3] = (spec.recursionAvailable ? 0x80 : 0) | (ctx.cd ? 0x10 : 0) | (rcode & 0x0f);
  b.writeUInt16BE(ctx.rawQuestion ? 1 : 0, 4);
  b.writeUInt16BE(counts[0], 6);
  b.writeUInt16BE(counts[1], 8);
  b.writeUInt16BE(counts[2], 10);
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

  const { counts, truncated, omitted } = writeSections(w, sections);

  let arcount = counts[2];
  if (ctx.edns) {
    w.limit = limit;
    writeOpt(w, ctx.edns, rcode, ecs, ecsLength, spec.ecsScopePrefix);
    arcount++;
  }

  writeHeader(scratch, ctx, spec, rcode, truncated, [counts[0], counts[1], arcount]);
  return { message: Buffer.from(scratch.subarray(0, w.pos)), truncated, omitted };
}

/**
 * The reply for an answer-core Decision: its records and rcode, AA as decided, and the query's ECS
 * echoed with the scope the answer depended on when `ecsEcho` (RFC 7871 §7.2.1). The DNS edge and
 * the route's answer cache both encode through here, so their octets agree.
 */
export function encodeDecision(ctx: ReplyContext, d: Decision, ecsEcho: boolean, maxSize: number): EncodedResponse {
  return encodeResponse(ctx, {
    rcode: d.rcode,
    authoritative: d.authoritative,
    answers: d.answers,
    authority: d.authority,
    additional: d.additional,
    ecsScopePrefix: ecsEcho && ctx.edns?.ecs ? d.ecsScopePrefix : undefined,
    maxSize,
  });
}
