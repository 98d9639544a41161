/**
 * The wire-level answer cache (PURE: memory only): fully encoded in-zone replies, keyed by what
 * changes their octets, so a repeated question skips the answer core and the encoder. A hit is the
 * stored reply with only the ID, the question's case and the echoed RD and CD bits patched in.
 *
 * Owns: the key of a query, the entries and their bounds (entries and octets, least recently used
 * out first), and the patch. Never: holds an answer across a generation change (every change that
 * can alter an answer bumps it: catalogs, endpoint readiness, gateway health and RTT, freshness and
 * staleness, source readiness); holds an answer that depends on who asks (out-of-zone names: the
 * forwarding ACL), a SERVFAIL for an unsynced source, or a fail-open answer (those two states are
 * the ones to leave at once, and are rare).
 * Invariants:
 * - a hit's octets equal what the full path would encode for that query, apart from nothing: the
 *   key holds the lowercase question, the reply's size limit (transport and EDNS payload), whether
 *   the reply carries OPT and DO, and the ECS option echoed (family, source prefix and address, the
 *   subnet the ranking used); test/unit/route/answer-cache.test.ts checks it against the full path;
 * - cost per lookup: one key string and one Map lookup; a hit copies the reply once.
 */
import { LRUCache } from 'lru-cache';
import { arrange, type Draw, type OrderPlan } from '../answer/order.js';
import type { Decision } from '../answer/types.js';
import type { DnsRequest } from '../wire/types.js';

export interface AnswerCacheLimits {
  /** Most replies held. */
  readonly maxEntries: number;
  /** Most octets held (replies and keys). */
  readonly maxBytes: number;
}

interface Entry {
  readonly generation: number;
  /** The reply as encoded for the first asker (an ordered answer: its canonical order); patched per hit. */
  readonly message: Buffer;
  readonly truncated: boolean;
  /** The decision it encodes (metrics and the query log label replies by its kind). */
  readonly decision: Decision;
  /** An answer whose order is drawn per query: where its records are, and the plan. */
  readonly order: Slots | undefined;
}

/**
 * The answer section of an ordered reply, as fixed-size records: A records of 16 octets then AAAA
 * records of 28, each owned by a pointer to the question name (what wire/encode.ts writes for the
 * owner of a remote or local answer), so a hit can lay them out in any order.
 */
interface Slots {
  readonly plan: OrderPlan;
  /** Offset of the answer section (after the question). */
  readonly start: number;
  readonly n4: number;
  readonly n6: number;
  /** Offset just after the answer section: the authority and additional sections follow. */
  readonly end: number;
  /** The decision for each group sent first (its `chosen`), made once at store time. */
  readonly decisions: readonly Decision[];
}

const A_SLOT = 16;
const AAAA_SLOT = 28;

/** For metrics (src/route/metrics.ts): size now, and lookups since start. */
export interface AnswerCacheStats {
  readonly entries: number;
  readonly bytes: number;
  readonly hits: number;
  readonly misses: number;
}

/** What a hit gives: the patched reply, and the decision it came from. */
export interface CachedReply {
  readonly message: Buffer;
  readonly truncated: boolean;
  readonly decision: Decision;
}

/** Decisions whose reply is the same for every asker of the key, and worth keeping. */
export function cacheable(decision: Decision): boolean {
  // The dns.localShare split: another query may draw the other answer (issue 16).
  if (decision.split === true) return false;
  switch (decision.kind) {
    case 'local':
    case 'remote':
    case 'apex':
    case 'nodata':
    case 'nxdomain':
    case 'chaos':
    case 'refused':
      return true;
    case 'degraded':
    case 'notReady':
    case 'outOfZone':
      return false;
  }
}

/**
 * The key of a query: every input of the encoded reply except the ID, the question's case and the
 * RD/CD bits. `limit` is the reply's size limit (responseSizeLimit), which the record budget
 * follows; `ecs` says whether an ECS option is echoed (locality.ecs on and the query had one).
 */
export function answerKey(request: DnsRequest, limit: number, ecs: boolean): string {
  const q = request.question;
  const edns = request.edns;
  const shape = edns === undefined ? 'n' : edns.dnssecOk ? 'd' : 'e';
  const base = `${limit}${shape}${q.type}/${q.class}/${q.name}`;
  const subnet = ecs ? edns?.ecs : undefined;
  if (subnet === undefined) return base;
  return `${base}|${subnet.family}/${subnet.sourcePrefix}/${subnet.addressBytes.toString('hex')}`;
}

export class AnswerCache {
  private readonly entries: LRUCache<string, Entry>;
  private hitCount = 0;
  private missCount = 0;

  constructor(limits: AnswerCacheLimits) {
    this.entries = new LRUCache<string, Entry>({
      max: limits.maxEntries,
      maxSize: limits.maxBytes,
      sizeCalculation: (e, key) => e.message.length + key.length * 2 + 64,
    });
  }

  /**
   * The reply for `request` at `generation`, patched for it, its records in the order `draw` gives
   * (order.ts); undefined on a miss.
   */
  lookup(key: string, generation: number, request: DnsRequest, draw: Draw): CachedReply | undefined {
    const e = this.entries.get(key);
    if (e === undefined || e.generation !== generation) {
      this.missCount++;
      return undefined;
    }
    this.hitCount++;
    return e.order === undefined
      ? { message: patch(e.message, request), truncated: e.truncated, decision: e.decision }
      : ordered(e, e.order, request, draw);
  }

  /**
   * Keep the reply just encoded for this key (the caller checked `cacheable`); for a decision with
   * an order, `message` is its canonical order (`decision.order`'s candidates). False when an ordered
   * reply is not laid out as fixed-size records (then it is not kept).
   */
  store(key: string, generation: number, message: Buffer, truncated: boolean, decision: Decision): boolean {
    let order: Slots | undefined;
    if (decision.order !== undefined) {
      if (truncated) return false;
      order = slotsOf(message, decision);
      if (order === undefined) return false;
    }
    this.entries.set(key, { generation, message, truncated, decision, order });
    return true;
  }

  stats(): AnswerCacheStats {
    return { entries: this.entries.size, bytes: this.entries.calculatedSize, hits: this.hitCount, misses: this.missCount };
  }
}

/** A copy of `stored` with this query's ID, RD and CD, and its question octets (their case). */
function patch(stored: Buffer, request: DnsRequest): Buffer {
  // TypedArray set, not Buffer copy: the same octets without Buffer.copy's argument checks (this
  // runs per hit; src/wire/relay-store.ts patchHit does the same for forwarded hits).
  const out = Buffer.allocUnsafe(stored.length);
  out.set(stored);
  patchHeader(out, request);
  return out;
}

/** The answer records of a canonical reply as slots, if every one is a 16- or 28-octet record in A-then-AAAA order. */
function slotsOf(message: Buffer, decision: Decision): Slots | undefined {
  const order = decision.order!;
  const n4 = order.v4.length;
  const n6 = order.v6.length;
  if (message.length < 12 || message.readUInt16BE(6) !== n4 + n6) return undefined;
  // The question: one name (labels, or a pointer) then type and class.
  let at = 12;
  while (at < message.length && message[at] !== 0) {
    if ((message[at]! & 0xc0) !== 0) return undefined;
    at += message[at]! + 1;
  }
  const start = at + 5;
  const end = start + n4 * A_SLOT + n6 * AAAA_SLOT;
  if (end > message.length) return undefined;
  for (let i = 0; i < n4 + n6; i++) {
    const r = i < n4 ? start + i * A_SLOT : start + n4 * A_SLOT + (i - n4) * AAAA_SLOT;
    const type = i < n4 ? 1 : 28;
    if (message.readUInt16BE(r) !== 0xc00c || message.readUInt16BE(r + 2) !== type || message.readUInt16BE(r + 10) !== (i < n4 ? 4 : 16))
      return undefined;
  }
  const decisions = order.plan.groups.map((g) => ({ ...decision, chosen: g.cluster ?? decision.chosen }));
  return { plan: order.plan, start, n4, n6, end, decisions };
}

/** A hit on an ordered entry: the records laid out in the order `draw` gives, at most the plan's caps. */
function ordered(e: Entry, slots: Slots, request: DnsRequest, draw: Draw): CachedReply {
  const a = arrange(slots.plan, draw);
  const stored = e.message;
  const tail = stored.length - slots.end;
  const out = Buffer.allocUnsafe(slots.start + a.v4Count * A_SLOT + a.v6Count * AAAA_SLOT + tail);
  stored.copy(out, 0, 0, slots.start);
  patchHeader(out, request);
  out.writeUInt16BE(a.v4Count + a.v6Count, 6);
  let w = slots.start;
  for (let i = 0; i < a.v4Count; i++) {
    copySlot(stored, slots.start + a.v4[i]! * A_SLOT, out, w, A_SLOT);
    w += A_SLOT;
  }
  const six = slots.start + slots.n4 * A_SLOT;
  for (let i = 0; i < a.v6Count; i++) {
    copySlot(stored, six + a.v6[i]! * AAAA_SLOT, out, w, AAAA_SLOT);
    w += AAAA_SLOT;
  }
  if (tail > 0) stored.copy(out, w, slots.end);
  return { message: out, truncated: e.truncated, decision: slots.decisions[a.firstGroup] ?? e.decision };
}

/** This query's ID, RD and CD, and its question octets (their case), into a copy of a stored reply. */
function patchHeader(out: Buffer, request: DnsRequest): void {
  const id = request.id;
  out[0] = (id >> 8) & 0xff;
  out[1] = id & 0xff;
  out[2] = (out[2]! & ~0x01) | (request.flags.rd ? 0x01 : 0);
  out[3] = (out[3]! & ~0x10) | (request.flags.cd ? 0x10 : 0);
  // The question is echoed at offset 12, and the key matched it up to case: same length.
  out.set(request.rawQuestion, 12);
}

/** Copy `n` octets (a record slot): a loop, not a subarray view per record. */
function copySlot(from: Buffer, at: number, to: Buffer, w: number, n: number): void {
  for (let i = 0; i < n; i++) to[w + i] = from[at + i]!;
}
