/**
 * The forwarder's vocabulary: its options, results, per-try record and statistics (types only).
 * forwarder.ts re-exports every one of them, so importers keep importing from there.
 */
import type { ForwardResult, ForwardSource, ForwardTry } from '../wire/types.js';

export type { ForwardResult, ForwardSource, ForwardTry };
import type { CachePolicy } from '../wire/relay-store.js';
import type { Upstream } from './upstreams.js';

export interface ForwarderOptions {
  readonly upstreams: readonly Upstream[];
  readonly allowFrom: readonly string[];
  readonly timeoutMs: number;
  readonly budgetMs: number;
  readonly serveStaleSeconds: number;
  readonly cache: { readonly maxEntries: number; readonly maxBytes: number };
  readonly maxInFlight: number;
  /** Pass the client's ECS option upstream (RFC 7871); answers scoped to a subnet are then not cached. */
  readonly forwardClientSubnet: boolean;
  readonly cachePolicy?: CachePolicy | undefined;
  /** Consecutive failed tries that mark an upstream down. Default 2 (CoreDNS `max_fails`). */
  readonly failsToDown?: number | undefined;
  /** How often a down upstream is checked with `. NS`. Default 1000 (jittered ±20 %). */
  readonly healthCheckIntervalMs?: number | undefined;
  readonly logger?: ForwardLogger | undefined;
  /** Told of every finished try: its upstream's index (UpstreamStats.index) and milliseconds, for the duration histogram. */
  readonly onTry?: ((index: number, ms: number) => void) | undefined;
  /** Clock in epoch milliseconds; tests may pass their own. */
  readonly now?: (() => number) | undefined;
}

export interface ForwardLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface UpstreamStats {
  readonly upstream: string;
  /** Position in `forward.upstreams` (resolv.conf expanded): the `upstream` label of the metrics, which never carry an address. */
  readonly index: number;
  readonly healthy: boolean;
  readonly consecutiveFailures: number;
  readonly downSinceMs?: number | undefined;
  readonly lastError?: string | undefined;
  readonly requests: number;
  readonly timeouts: number;
  readonly errors: number;
  /** Replies ignored by the anti-spoofing match (wrong source, ID or question) or malformed. */
  readonly mismatched: number;
  readonly tcpFallbacks: number;
  /** Replies by RCODE name. */
  readonly responses: Readonly<Record<string, number>>;
  readonly durationMsTotal: number;
}

export interface ForwardStats {
  /** Out-of-zone queries from allowed clients. */
  readonly queries: number;
  /** Out-of-zone queries from clients outside allowFrom (answered REFUSED). */
  readonly refused: number;
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly coalesced: number;
  readonly staleServed: number;
  /** SERVFAIL because every upstream failed and nothing stale was at hand. */
  readonly servfail: number;
  /** SERVFAIL (or stale) because the in-flight or waiter bound was reached. */
  readonly overloadRejected: number;
  readonly cacheEntries: number;
  readonly cacheBytes: number;
  readonly inFlight: number;
  readonly inFlightHighWater: number;
  readonly upstreams: readonly UpstreamStats[];
}
