/**
 * The forwarder's cache codec (PURE): an upstream reply kept independently of the query that
 * fetched it (StoredAnswer: octets, record spans, TTL offsets, its RFC 2308 lifetime), rendered for
 * each client (its ID and question case, RD/CD, OPT iff it sent one, TTLs counted down or set to
 * the RFC 8767 stale TTL, fitted to its size limit with TC), and the cache keys.
 *
 * Never: re-encodes a record (KNOWN-DEFECTS D12, D13); only the header, the question's case, TTL
 * fields and the OPT are written. Invariants: see src/wire/relay.ts, which vets every reply first.
 */
import { Rcode, RRType, type Question } from '../answer/types.js';
import {
  EDE_STALE_ANSWER,
  EDNS_OPTION_COOKIE,
  EDNS_OPTION_EDE,
  EDNS_OPTION_PADDING,
  EDNS_OPTION_TCP_KEEPALIVE,
  OPT_FIXED_SIZE,
  STALE_TTL_SECONDS,
  encodeOpt,
  sameQuestionIgnoringCase,
  type SectionIndex,
  type UpstreamReply,
} from './relay.js';
import type { EdnsOption } from './types.js';
import { ADVERTISED_UDP_PAYLOAD, EDNS_OPTION_ECS, HEADER_SIZE, MIN_UDP_PAYLOAD } from './wire.js';

/** How long answers may be cached. */
export interface CachePolicy {
  /** Upper bound on any cached answer's lifetime (and on the TTLs we serve). */
  readonly maxTtlSeconds: number;
  /** Upper bound on negative answers (RFC 2308 §5). */
  readonly negativeMaxTtlSeconds: number;
  /** SERVFAIL is cached this long at most (RFC 2308 §7.1 allows up to 5 minutes; we keep it short). */
  readonly servfailTtlSeconds: number;
}

export const DEFAULT_CACHE_POLICY: CachePolicy = Object.freeze({
  maxTtlSeconds: 86_400,
  negativeMaxTtlSeconds: 3_600,
  servfailTtlSeconds: 5,
});

export type AnswerClass = 'positive' | 'nxdomain' | 'nodata' | 'servfail' | 'other';

/** An upstream answer kept independent of the query that fetched it. */
export interface StoredAnswer {
  /** Header (ID 0, counts without OPT), question as fetched, records in wire order; no OPT. */
  readonly body: Buffer;
  readonly questionLength: number;
  /** Sections and ends (offsets in body) of every record, in order. */
  readonly sections: readonly SectionIndex[];
  readonly ends: readonly number[];
  /** Offsets in body of every record's TTL field. */
  readonly ttlOffsets: readonly number[];
  readonly rcode: number;
  readonly aa: boolean;
  readonly ad: boolean;
  /** The upstream's EDNS options, as received. */
  readonly options: readonly EdnsOption[];
  /** `options` without those tied to one client (COOKIE, ECS, padding, keepalive). */
  readonly sharedOptions: readonly EdnsOption[];
  /** `options` without those tied to one client but ECS, which is tied to a subnet (RenderSpec 'sameSubnet'). */
  readonly subnetOptions: readonly EdnsOption[];
  readonly answerClass: AnswerClass;
  /** Cache lifetime; 0 = serve to the clients waiting for it, but do not cache. */
  readonly ttlSeconds: number;
}

/** Turn a matched reply (TC=0) into a StoredAnswer, deciding its cache lifetime. */
export function storeReply(buf: Buffer, reply: UpstreamReply, policy: CachePolicy = DEFAULT_CACHE_POLICY): StoredAnswer {
  const last = reply.records.length > 0 ? reply.records[reply.records.length - 1]!.end : reply.questionEnd;
  const body = Buffer.from(buf.subarray(0, last));
  body.writeUInt16BE(0, 0);
  const counts = [0, 0, 0];
  for (const r of reply.records) counts[r.section]!++;
  body.writeUInt16BE(counts[0]!, 6);
  body.writeUInt16BE(counts[1]!, 8);
  body.writeUInt16BE(counts[2]!, 10);
  const answerClass = classify(reply);
  const stored: StoredAnswer = {
    body,
    questionLength: reply.questionEnd - HEADER_SIZE,
    sections: reply.records.map((r) => r.section),
    ends: reply.records.map((r) => r.end),
    ttlOffsets: reply.records.map((r) => r.ttlOffset),
    rcode: reply.rcode,
    aa: reply.aa,
    ad: reply.ad,
    options: reply.opt?.options ?? [],
    sharedOptions: (reply.opt?.options ?? []).filter((o) => !CLIENT_BOUND_OPTIONS.has(o.code)),
    subnetOptions: (reply.opt?.options ?? []).filter((o) => o.code === EDNS_OPTION_ECS || !CLIENT_BOUND_OPTIONS.has(o.code)),
    answerClass,
    ttlSeconds: cacheTtl(buf, reply, answerClass, policy),
  };
  return stored;
}

function classify(reply: UpstreamReply): AnswerClass {
  if (reply.rcode === Rcode.SERVFAIL) return 'servfail';
  if (reply.rcode === Rcode.NXDOMAIN) return 'nxdomain';
  if (reply.rcode !== Rcode.NOERROR) return 'other';
  return reply.records.some((r) => r.section === 0) ? 'positive' : 'nodata';
}

function cacheTtl(buf: Buffer, reply: UpstreamReply, answerClass: AnswerClass, policy: CachePolicy): number {
  // RFC 7871 §7.3.1: an answer tailored to a client subnet (SCOPE PREFIX-LENGTH > 0) is valid for
  // that subnet only; a cache keyed without the subnet must not keep it.
  if (reply.opt?.options.some((o) => o.code === EDNS_OPTION_ECS && o.data.length >= 4 && o.data[3]! > 0)) return 0;
  switch (answerClass) {
    case 'other':
      return 0;
    case 'servfail':
      return policy.servfailTtlSeconds;
    case 'positive': {
      // The answer lives as long as its shortest answer or authority record.
      let ttl = policy.maxTtlSeconds;
      for (const r of reply.records) if (r.section !== 2) ttl = Math.min(ttl, ttlOf(buf, r.ttlOffset));
      return ttl;
    }
    case 'nxdomain':
    case 'nodata': {
      // RFC 2308 §5: the negative TTL is the SOA's TTL or its MINIMUM, whichever is less; without an
      // SOA in the authority section the answer is not cached.
      const soa = reply.records.find((r) => r.section === 1 && r.type === RRType.SOA);
      if (soa === undefined || soa.end - soa.ttlOffset < 4 + 2 + 22) return 0;
      const minimum = buf.readUInt32BE(soa.end - 4);
      return Math.min(ttlOf(buf, soa.ttlOffset), clampTtl(minimum), policy.negativeMaxTtlSeconds);
    }
  }
}

/** RFC 2181 §8: a TTL with the top bit set is treated as zero. */
function ttlOf(buf: Buffer, offset: number): number {
  return clampTtl(buf.readUInt32BE(offset));
}

function clampTtl(ttl: number): number {
  return ttl > 0x7fffffff ? 0 : ttl;
}

/** The client a StoredAnswer is rendered for. */
export interface RenderSpec {
  readonly id: number;
  /** The client's question bytes, echoed in its case when they match the stored question's length. */
  readonly rawQuestion: Buffer;
  readonly rd: boolean;
  readonly cd: boolean;
  /** The client set AD in its query (RFC 6840 §5.8: AD goes back only to clients that set AD or DO). */
  readonly ad?: boolean | undefined;
  /** Present iff the client's query had an OPT (RFC 6891 §6.1.1: the reply has one iff so). */
  readonly edns?: { readonly dnssecOk: boolean } | undefined;
  /**
   * 'all': the client whose query fetched this answer just now; every upstream option is relayed.
   * 'shared': any other client (cache hit, coalesced); options tied to one client are left out:
   * COOKIE (RFC 7873), ECS (RFC 7871), padding.
   * 'sameSubnet': a client that joined an exchange keyed by its own ECS subnet (clientSubnetKey):
   * as 'shared', but the upstream's ECS option is relayed, since it answers this very subnet.
   */
  readonly options: 'all' | 'shared' | 'sameSubnet';
  /** Whole seconds since the answer was stored; TTLs are counted down by this much. */
  readonly ageSeconds: number;
  /** RFC 8767: every TTL becomes 30 and an EDE "Stale Answer" is attached. */
  readonly stale: boolean;
  /** The size budget (≥ 512), see responseSizeLimit. */
  readonly maxSize: number;
}

export interface RenderedAnswer {
  readonly message: Buffer;
  readonly truncated: boolean;
}

const CLIENT_BOUND_OPTIONS = new Set([EDNS_OPTION_COOKIE, EDNS_OPTION_ECS, EDNS_OPTION_PADDING, EDNS_OPTION_TCP_KEEPALIVE]);

/** renderAnswer's OPT when the client sent none: shared, never written. */
const NO_OPT = Buffer.alloc(0);

export function renderAnswer(stored: StoredAnswer, spec: RenderSpec): RenderedAnswer {
  const maxSize = Math.max(MIN_UDP_PAYLOAD, spec.maxSize);
  let opt: Buffer = NO_OPT;
  if (spec.edns) {
    let options = spec.options === 'all' ? stored.options : spec.options === 'sameSubnet' ? stored.subnetOptions : stored.sharedOptions;
    if (spec.stale) options = [...options, { code: EDNS_OPTION_EDE, data: Buffer.from([0, EDE_STALE_ANSWER]) }];
    let optionOctets = 0;
    for (const o of options) optionOctets += 4 + o.data.length;
    // Options that would not leave room for the question are dropped rather than the reply.
    if (HEADER_SIZE + stored.questionLength + OPT_FIXED_SIZE + optionOctets > maxSize) options = [];
    opt = encodeOpt(ADVERTISED_UDP_PAYLOAD, stored.rcode >> 4, spec.edns.dnssecOk, options);
  }
  const budget = maxSize - opt.length;
  // Keep the longest prefix of records that fits: a prefix never loses a compression target.
  const ends = stored.ends;
  const sections = stored.sections;
  let kept = 0;
  let end = HEADER_SIZE + stored.questionLength;
  while (kept < ends.length && ends[kept]! <= budget) end = ends[kept++]!;
  let truncated = false;
  for (let i = kept; i < sections.length; i++) if (sections[i] !== 2) truncated = true;

  const message = Buffer.allocUnsafe(end + opt.length);
  message.set(end === stored.body.length ? stored.body : stored.body.subarray(0, end));
  if (opt.length > 0) message.set(opt, end);
  message[0] = (spec.id >> 8) & 0xff;
  message[1] = spec.id & 0xff;
  // QR=1, OPCODE=QUERY, TC from fitting, RD echoed. AA never: a relayed answer is not ours, whatever
  // the upstream said (RFC 1035 §4.1.1: AA speaks for the responding server; BIND, Unbound and
  // CoreDNS forward clear it), and the first copy must look like every cached copy.
  message[2] = 0x80 | (truncated ? 0x02 : 0) | (spec.rd ? 0x01 : 0);
  // RA=1: we recurse (by forwarding) for this client. AD as the upstream set it, for clients that
  // asked with AD or DO (RFC 6840 §5.8); CD echoed.
  const adWanted = spec.ad === true || spec.edns?.dnssecOk === true;
  message[3] = 0x80 | (stored.ad && adWanted ? 0x20 : 0) | (spec.cd ? 0x10 : 0) | (stored.rcode & 0x0f);
  let answers = 0;
  let authority = 0;
  let additional = spec.edns ? 1 : 0;
  for (let i = 0; i < kept; i++) {
    const section = sections[i];
    if (section === 0) answers++;
    else if (section === 1) authority++;
    else additional++;
  }
  message.writeUInt16BE(answers, 6);
  message.writeUInt16BE(authority, 8);
  message.writeUInt16BE(additional, 10);
  // D8: the question is echoed in the client's case. Only a case difference is allowed: records may
  // point into the question's name, so its label structure must stay byte-identical.
  if (sameQuestionIgnoringCase(spec.rawQuestion, stored.body, stored.questionLength)) message.set(spec.rawQuestion, HEADER_SIZE);
  const cap = stored.ttlSeconds > 0 ? stored.ttlSeconds : Number.MAX_SAFE_INTEGER;
  for (let i = 0; i < kept; i++) {
    const offset = stored.ttlOffsets[i]!;
    const original = ttlOf(stored.body, offset);
    const ttl = spec.stale ? STALE_TTL_SECONDS : Math.max(0, Math.min(original, cap) - spec.ageSeconds);
    message.writeUInt32BE(ttl, offset);
  }
  return { message, truncated };
}

// ---------------------------------------------------------------------------------------------
// Cache hits: rendered once per client shape and age, patched per client
// ---------------------------------------------------------------------------------------------

/**
 * A cache hit's reply before it is patched for one client: renderAnswer's output for every client
 * of one shape (hitShape) at one age, rendered with ID 0, RD and CD clear, AD as for a client that
 * did not set AD (so set only for a shape with DO, when the upstream set it), the stored question's
 * case, and only the options any client may see ('shared', not stale). patchHit writes the rest;
 * the pair gives octet for octet what renderAnswer gives that client.
 */
export interface HitRender {
  readonly shape: number;
  /** Whole seconds since the answer was stored, as the TTLs were counted down. */
  readonly ageSeconds: number;
  readonly message: Buffer;
  readonly truncated: boolean;
}

/** What a client's cache hit needs of its query. */
export interface HitClient {
  readonly id: number;
  readonly rawQuestion: Buffer;
  readonly flags: { readonly rd: boolean; readonly ad: boolean; readonly cd: boolean };
}

/**
 * Everything of a client that shapes its reply's octets beyond what patchHit writes: its size
 * limit (responseSizeLimit; below 512 counts as 512), whether it sent an OPT, and DO (the OPT's DO
 * bit). A small integer, compared rather than hashed.
 */
export function hitShape(maxSize: number, edns: { readonly dnssecOk: boolean } | undefined): number {
  return Math.max(MIN_UDP_PAYLOAD, maxSize) * 4 + (edns === undefined ? 0 : edns.dnssecOk ? 3 : 2);
}

/** Render `stored` for every client of `shape` at `ageSeconds` (see HitRender). */
export function renderHit(stored: StoredAnswer, shape: number, ageSeconds: number): HitRender {
  const edns = shape & 2 ? { dnssecOk: (shape & 1) === 1 } : undefined;
  const rendered = renderAnswer(stored, {
    id: 0,
    rawQuestion: stored.body.subarray(HEADER_SIZE, HEADER_SIZE + stored.questionLength),
    rd: false,
    cd: false,
    ad: false,
    edns,
    options: 'shared',
    ageSeconds,
    stale: false,
    maxSize: shape >> 2,
  });
  return { shape, ageSeconds, message: rendered.message, truncated: rendered.truncated };
}

/**
 * This client's reply from a render of its shape: a copy with its ID, RD and CD echoed, AD as
 * renderAnswer sets it (the upstream's AD, for clients that asked with AD or DO: the render has it
 * for DO), and its question's case (D8, as renderAnswer: only when the question differs from the
 * stored one by case alone).
 */
export function patchHit(render: HitRender, stored: StoredAnswer, client: HitClient): Buffer {
  const template = render.message;
  const out = Buffer.allocUnsafe(template.length);
  out.set(template);
  const id = client.id;
  out[0] = (id >> 8) & 0xff;
  out[1] = id & 0xff;
  const flags = client.flags;
  if (flags.rd) out[2] = template[2]! | 0x01;
  const ad = stored.ad && flags.ad;
  if (flags.cd || ad) out[3] = template[3]! | (flags.cd ? 0x10 : 0) | (ad ? 0x20 : 0);
  const question = client.rawQuestion;
  if (sameQuestionIgnoringCase(question, stored.body, stored.questionLength)) out.set(question, HEADER_SIZE);
  return out;
}

/**
 * The cache key: (lower-case name, type, class, DO, CD). CD answers may hold data a validator rejects.
 * The name is followed by three UTF-16 code units, QTYPE, QCLASS and the DO/CD bits (0–3): one
 * concatenation, no number formatting (this runs on every forwarded query), and a suffix of fixed
 * length keeps keys apart whatever the name holds.
 * `subnet` (clientSubnetKey) is appended after a "|" for keys that must also tell client subnets
 * apart: the key of an in-flight exchange whose query carries the client's ECS upstream. Such a key
 * never equals one without (its last unit is a hex digit, never a DO/CD unit), and the answers
 * cached under the plain key are never tailored to a subnet (scope 0, see cacheTtl), so it needs none.
 */
export function cacheKey(question: Question, dnssecOk: boolean, cd: boolean, subnet = ''): string {
  const key = question.name + String.fromCharCode(question.type, question.class, (dnssecOk ? 2 : 0) | (cd ? 1 : 0));
  return subnet === '' ? key : `${key}|${subnet}`;
}

/**
 * The client subnet an upstream query carries, as a key part: FAMILY, SOURCE PREFIX-LENGTH and
 * ADDRESS of its ECS option in hex (RFC 7871 §6), SCOPE left out (a query's is 0 and means
 * nothing); '' without ECS. Works on the raw option, so it holds whether or not ECS was decoded.
 */
export function clientSubnetKey(options: readonly EdnsOption[]): string {
  for (const o of options) {
    if (o.code !== EDNS_OPTION_ECS) continue;
    // Shorter than the fixed part: malformed, but still a distinct subnet (it goes upstream as is).
    if (o.data.length < 4) return `x${o.data.toString('hex')}`;
    return `${o.data.subarray(0, 3).toString('hex')}${o.data.subarray(4).toString('hex')}`;
  }
  return '';
}
