/**
 * The forwarding cache (PURE: lru-cache is in-memory; time is passed in).
 *
 * Owns: StoredAnswers by cache key, their freshness (RFC 1035 TTLs, RFC 2308 negative TTLs) and
 * their stale window (RFC 8767), bounded in entries and in octets; and, per entry, the renders its
 * cache hits are patched from (relay-store.ts HitRender: one per client shape, for the current age).
 * Never: reads the clock, does I/O, or lets a SERVFAIL displace an answer that could still be
 * served stale.
 * Invariants: an entry is fresh while its age is below its TTL, servable stale for
 * `serveStaleSeconds` after that (positive and negative answers only), and gone after; at most
 * `maxEntries` entries and `maxBytes` octets of bodies and hit renders are held (least recently
 * used go first); an entry keeps at most HIT_RENDERS_PER_ENTRY renders, counted in its size from the
 * start, and a render is reused only for its shape and age (the TTLs it carries).
 */
import { LRUCache } from 'lru-cache';
import { OPT_FIXED_SIZE } from '../wire/relay.js';
import { renderHit, type HitRender, type StoredAnswer } from '../wire/relay-store.js';

export interface CacheOptions {
  readonly maxEntries: number;
  /** Upper bound on the octets held, bodies plus a per-entry overhead estimate. */
  readonly maxBytes: number;
  /** RFC 8767 §5: how long past expiry an answer may still be served when upstreams fail; 0 = never. */
  readonly serveStaleSeconds: number;
}

export interface CacheEntry {
  readonly stored: StoredAnswer;
  readonly storedAtMs: number;
  /** Renders for cache hits (hitRender), at most HIT_RENDERS_PER_ENTRY, oldest first. */
  readonly renders: HitRender[];
}

/**
 * Renders kept per entry. Clients of more shapes (size limit, OPT, DO) than this for one name take
 * turns, each re-rendering, which costs what a render per hit costs.
 */
export const HIT_RENDERS_PER_ENTRY = 2;

export type CacheLookup =
  | { readonly state: 'fresh'; readonly entry: CacheEntry; readonly ageSeconds: number; readonly remainingSeconds: number }
  | { readonly state: 'stale'; readonly entry: CacheEntry; readonly ageSeconds: number };

/** Rough per-entry bookkeeping (key, entry object, arrays), so many tiny answers still count. */
const ENTRY_OVERHEAD_BYTES = 256;

/** Rough per-render bookkeeping (the HitRender and its Buffer object). */
const RENDER_OVERHEAD_BYTES = 96;

/** Octets of an entry, with room for its hit renders: none is longer than the body plus an OPT of the shared options. */
function entrySize(stored: StoredAnswer): number {
  let render = stored.body.length + OPT_FIXED_SIZE + RENDER_OVERHEAD_BYTES;
  for (const o of stored.sharedOptions) render += 4 + o.data.length;
  return stored.body.length + stored.ends.length * 24 + ENTRY_OVERHEAD_BYTES + HIT_RENDERS_PER_ENTRY * render;
}

export class AnswerCache {
  private readonly lru: LRUCache<string, CacheEntry>;

  constructor(private readonly options: CacheOptions) {
    this.lru = new LRUCache<string, CacheEntry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (e) => entrySize(e.stored),
    });
  }

  /**
   * A fresh entry (refreshing its recency), or undefined: the cache-hit path, which allocates
   * nothing. Entries that are not fresh are left for lookup() to judge.
   */
  fresh(key: string, nowMs: number): CacheEntry | undefined {
    const entry = this.lru.get(key);
    if (entry === undefined || nowMs - entry.storedAtMs >= entry.stored.ttlSeconds * 1000) return undefined;
    return entry;
  }

  /**
   * The reply of a fresh entry for clients of `shape` (relay-store hitShape) at `ageSeconds`, to be
   * patched per client (patchHit): the render kept for that shape if it is of that age, else one
   * rendered now and kept in its place (or in place of the oldest render, when every slot holds
   * another shape).
   */
  hitRender(entry: CacheEntry, shape: number, ageSeconds: number): HitRender {
    const renders = entry.renders;
    for (let i = 0; i < renders.length; i++) {
      if (renders[i]!.shape !== shape) continue;
      if (renders[i]!.ageSeconds === ageSeconds) return renders[i]!;
      return (renders[i] = renderHit(entry.stored, shape, ageSeconds));
    }
    const render = renderHit(entry.stored, shape, ageSeconds);
    // Every slot holds another shape: the oldest goes.
    if (renders.length >= HIT_RENDERS_PER_ENTRY) renders.shift();
    renders.push(render);
    return render;
  }

  /** A fresh or stale-servable entry; an entry past its stale window is deleted. */
  lookup(key: string, nowMs: number): CacheLookup | undefined {
    const entry = this.lru.get(key);
    if (entry === undefined) return undefined;
    const ageMs = Math.max(0, nowMs - entry.storedAtMs);
    const ageSeconds = Math.floor(ageMs / 1000);
    const ttlMs = entry.stored.ttlSeconds * 1000;
    if (ageMs < ttlMs) {
      return { state: 'fresh', entry, ageSeconds, remainingSeconds: Math.max(0, entry.stored.ttlSeconds - ageSeconds) };
    }
    if (this.staleServable(entry, ageMs)) return { state: 'stale', entry, ageSeconds };
    this.lru.delete(key);
    return undefined;
  }

  /** A stale-servable entry only (for when every upstream failed); never refreshes recency. */
  stale(key: string, nowMs: number): CacheEntry | undefined {
    const entry = this.lru.peek(key);
    if (entry === undefined) return undefined;
    return this.staleServable(entry, Math.max(0, nowMs - entry.storedAtMs)) ? entry : undefined;
  }

  /**
   * Keep an answer if it is cacheable. A SERVFAIL does not replace an answer that can still be
   * served stale (RFC 8767 §4: keep the data for when the upstreams are back in trouble).
   */
  store(key: string, stored: StoredAnswer, nowMs: number): boolean {
    if (stored.ttlSeconds <= 0) return false;
    // lru-cache drops an entry larger than maxSize, and with it the key's previous entry; refuse first.
    if (entrySize(stored) > this.options.maxBytes) return false;
    if (stored.answerClass === 'servfail' && this.stale(key, nowMs) !== undefined) return false;
    this.lru.set(key, { stored, storedAtMs: nowMs, renders: [] });
    return true;
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  clear(): void {
    this.lru.clear();
  }

  private staleServable(entry: CacheEntry, ageMs: number): boolean {
    const kind = entry.stored.answerClass;
    if (kind !== 'positive' && kind !== 'nxdomain' && kind !== 'nodata') return false;
    return ageMs < (entry.stored.ttlSeconds + this.options.serveStaleSeconds) * 1000;
  }
}
