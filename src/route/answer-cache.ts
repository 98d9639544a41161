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
  /** The reply as encoded for the first asker; patched per hit. */
  readonly message: Buffer;
  readonly truncated: boolean;
  /** The decision it encodes (metrics and the query log label replies by its kind). */
  readonly decision: Decision;
}

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

  /** The reply for `request` at `generation`, patched for it; undefined on a miss. */
  lookup(key: string, generation: number, request: DnsRequest): CachedReply | undefined {
    const e = this.entries.get(key);
    if (e === undefined || e.generation !== generation) {
      this.missCount++;
      return undefined;
    }
    this.hitCount++;
    return { message: patch(e.message, request), truncated: e.truncated, decision: e.decision };
  }

  /** Keep the reply just encoded for this key (the caller checked `cacheable`). */
  store(key: string, generation: number, message: Buffer, truncated: boolean, decision: Decision): void {
    this.entries.set(key, { generation, message, truncated, decision });
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
  const id = request.id;
  out[0] = (id >> 8) & 0xff;
  out[1] = id & 0xff;
  out[2] = (out[2]! & ~0x01) | (request.flags.rd ? 0x01 : 0);
  out[3] = (out[3]! & ~0x10) | (request.flags.cd ? 0x10 : 0);
  // The question is echoed at offset 12, and the key matched it up to case: same length.
  out.set(request.rawQuestion, 12);
  return out;
}
