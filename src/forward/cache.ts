/**
 * The forwarding cache (PURE: lru-cache is in-memory; time is passed in).
 *
 * Owns: StoredAnswers by cache key, their freshness (RFC 1035 TTLs, RFC 2308 negative TTLs) and
 * their stale window (RFC 8767), bounded in entries and in octets.
 * Never: reads the clock, does I/O, or lets a SERVFAIL displace an answer that could still be
 * served stale.
 * Invariants: an entry is fresh while its age is below its TTL, servable stale for
 * `serveStaleSeconds` after that (positive and negative answers only), and gone after; at most
 * `maxEntries` entries and `maxBytes` octets of bodies are held (least recently used go first).
 */
import { LRUCache } from 'lru-cache';
import type { StoredAnswer } from '../wire/relay-store.js';

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
}

export type CacheLookup =
  | { readonly state: 'fresh'; readonly entry: CacheEntry; readonly ageSeconds: number; readonly remainingSeconds: number }
  | { readonly state: 'stale'; readonly entry: CacheEntry; readonly ageSeconds: number };

/** Rough per-entry bookkeeping (key, entry object, arrays), so many tiny answers still count. */
const ENTRY_OVERHEAD_BYTES = 256;

function entrySize(stored: StoredAnswer): number {
  return stored.body.length + stored.ends.length * 24 + ENTRY_OVERHEAD_BYTES;
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
    this.lru.set(key, { stored, storedAtMs: nowMs });
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
