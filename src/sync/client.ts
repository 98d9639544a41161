/**
 * Sync client (edge): one long-poll loop per `sync.peers` entry, feeding that peer's catalog into
 * the registry (SPEC §2 "Sync protocol", "Freshness").
 *
 * Owns: the loop of requests to one peer (the requests themselves are peer-transport.ts's): the
 * ETag and long poll, deltas (asked for against the catalog held, delta.ts; one that does not fit
 * what we hold is answered by fetching the full catalog, and only full catalogs for 5 minutes),
 * what is accepted from a response, jittered backoff on errors, the peer's state and status, and
 * withdrawal after `staleAfterSeconds` without a good contact. The catalog held, its decoding and
 * its place in the registry are held-catalog.ts's.
 * Never: accepts a catalog from a server whose certificate names another cluster, or a catalog
 * whose `cluster` differs from the peer's name or is this cluster's own; buffers a body larger
 * than `maxBodyBytes` or validates one with more than `maxServices` services; replaces the last
 * good catalog with a malformed or refused one; keeps a withdrawn peer's services in the registry.
 * Invariants:
 * - The registry holds this peer's last good catalog (origin "sync") from its first good fetch
 *   until `staleAfterSeconds` pass without a good contact (200 or 304); then it is removed.
 * - State is one of connecting → synced ⇄ stale → withdrawn, or rejected (the peer answers but
 *   what it sends, or who it is, is refused); every change records the time and the last error.
 * - Requests to one peer are never back to back: a long poll waits on the server, an error waits
 *   for backoff, and a 200 without an ETag (nothing to long-poll on) waits one poll interval.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../log.js';
import type { ClusterCatalog, RegistryWriter } from '../registry/types.js';
import { Backoff } from '../util/backoff.js';
import type { OffThread } from '../util/off-thread.js';
import type { DecodeRequest, DecodeResult } from './catalog-decoder.js';
import { DELTA_IM, IM_USED, namesDelta } from './delta.js';
import { HeldCatalog, type DecodedCatalog } from './held-catalog.js';
import { ServiceInterner } from './intern.js';
import { PeerTransport, type PeerFailure } from './peer-transport.js';
import type { TlsFiles } from './tls-files.js';
import type { WorkBudget } from './work-budget.js';

/** sync.maxCatalogBytes and sync.maxCatalogServices defaults (config/schema.ts has the reasoning). */
export const DEFAULT_MAX_CATALOG_BYTES = 2 * 1024 * 1024;
export const DEFAULT_MAX_CATALOG_SERVICES = 10_000;

export type PeerState = 'connecting' | 'synced' | 'stale' | 'withdrawn' | 'rejected';

export interface PeerStatus {
  readonly peer: string;
  readonly url: string;
  readonly state: PeerState;
  /** Unix ms of the last state change. */
  readonly sinceMs: number;
  readonly lastError?: string | undefined;
  readonly lastErrorMs?: number | undefined;
  /** Unix ms of the last good contact (200 with a valid catalog, or 304). */
  readonly lastContactMs?: number | undefined;
  /** Unix ms of the last catalog that changed what we hold. */
  readonly lastCatalogMs?: number | undefined;
  readonly etag?: string | undefined;
  readonly services: number;
  readonly updates: number;
  /** Catalogs received as deltas (226 IM Used, delta.ts) rather than in full. */
  readonly deltas: number;
  readonly errors: Readonly<Record<string, number>>;
}

export interface PeerClientOptions {
  readonly name: string;
  readonly url: string;
  readonly trustDomain: string;
  readonly tls: TlsFiles;
  readonly registry: Pick<RegistryWriter, 'putRemote' | 'patchRemote' | 'removeRemote'>;
  readonly staleAfterSeconds: number;
  readonly logger: Logger;
  /** Long-poll wait asked of the server. Default: staleAfterSeconds / 3, between 1 and 30. */
  readonly waitSeconds?: number | undefined;
  /** Retry backoff after an error. Default 500 ms doubling to 30 s, jittered ±20 %. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number } | undefined;
  /** Shared CPU budget for parsing and applying catalogs (see work-budget.ts). */
  readonly budget?: WorkBudget | undefined;
  /** Largest catalog accepted, in octets (sync.maxCatalogBytes). Default 2 MiB. */
  readonly maxBodyBytes?: number | undefined;
  /** Most services in one catalog (sync.maxCatalogServices). Default 10,000. */
  readonly maxServices?: number | undefined;
  /** This cluster's name: a catalog that claims it is refused. */
  readonly localCluster?: string | undefined;
  readonly now?: (() => number) | undefined;
  /**
   * The worker that decodes bodies (JSON, schema, difference from what we hold) off the DNS thread,
   * shared by every peer. Absent: decoded on this thread (unit tests).
   */
  readonly decoder?: OffThread<DecodeRequest, DecodeResult> | undefined;
  /**
   * The table of distinct remote services, shared by every peer's client (intern.ts), so that a
   * service held from many peers is one object. Absent: one of the client's own.
   */
  readonly interner?: ServiceInterner | undefined;
}

/** After a delta that does not fit, catalogs are fetched in full for this long. */
const DELTA_PAUSE_MS = 5 * 60_000;

type FetchResult =
  | {
      readonly kind: 'catalog';
      readonly decoded: DecodedCatalog;
      /** The catalog the decoded difference is against (what we held when the request left). */
      readonly base: ClusterCatalog | undefined;
      readonly etag: string | undefined;
      /** It came as a delta against `base`. */
      readonly delta: boolean;
    }
  | { readonly kind: 'not-modified' }
  | PeerFailure;

export class PeerClient {
  private state: PeerState = 'connecting';
  private sinceMs: number;
  private lastError: string | undefined;
  private lastErrorMs: number | undefined;
  private lastContactMs: number | undefined;
  private lastCatalogMs: number | undefined;
  private etag: string | undefined;
  /** What we hold from the peer; every service in it is one use of its entry in the interner. */
  private readonly held: HeldCatalog;
  private readonly transport: PeerTransport;
  /** Until then (ms, our clock) requests ask for the full catalog: a delta did not add up. */
  private noDeltaUntilMs = 0;
  private deltas = 0;
  private updates = 0;
  private readonly errors: Record<string, number> = {};
  private running = false;
  private freshnessTimer: NodeJS.Timeout | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private readonly retry: Backoff;
  private warnedNoEtag = false;
  private readonly now: () => number;
  private readonly waitSeconds: number;

  constructor(private readonly opts: PeerClientOptions) {
    this.held = new HeldCatalog({
      name: opts.name,
      registry: opts.registry,
      interner: opts.interner ?? new ServiceInterner(),
      maxServices: opts.maxServices ?? DEFAULT_MAX_CATALOG_SERVICES,
      decoder: opts.decoder,
    });
    this.transport = new PeerTransport(opts);
    this.now = opts.now ?? Date.now;
    this.sinceMs = this.now();
    this.waitSeconds = opts.waitSeconds ?? Math.max(1, Math.min(30, Math.floor(opts.staleAfterSeconds / 3)));
    this.retry = new Backoff(opts.backoff ?? { initialMs: 500, maxMs: 30_000 });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.freshnessTimer = setInterval(() => this.checkFreshness(), Math.min(1000, (this.opts.staleAfterSeconds * 1000) / 4));
    this.freshnessTimer.unref();
    void this.loop();
  }

  stop(): void {
    this.running = false;
    if (this.freshnessTimer) clearInterval(this.freshnessTimer);
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    this.transport.destroy();
  }

  status(): PeerStatus {
    return {
      peer: this.opts.name,
      url: this.opts.url,
      state: this.state,
      sinceMs: this.sinceMs,
      lastError: this.lastError,
      lastErrorMs: this.lastErrorMs,
      lastContactMs: this.lastContactMs,
      lastCatalogMs: this.lastCatalogMs,
      etag: this.etag,
      services: this.held.current?.services.length ?? 0,
      updates: this.updates,
      deltas: this.deltas,
      errors: { ...this.errors },
    };
  }

  private setState(state: PeerState): void {
    if (state === this.state) return;
    const from = this.state;
    this.state = state;
    this.sinceMs = this.now();
    const log = state === 'synced' ? this.opts.logger.info.bind(this.opts.logger) : this.opts.logger.warn.bind(this.opts.logger);
    // The child logger already carries `peer`.
    log(
      { from, to: state, lastError: state === 'synced' ? undefined : this.lastError, services: this.held.current?.services.length ?? 0 },
      `sync peer ${state}`,
    );
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let result: FetchResult;
      try {
        result = await this.fetchOnce();
      } catch (err) {
        result = { kind: 'failed', reason: 'internal', message: (err as Error).message };
      }
      if (!this.running) return;
      if (result.kind === 'catalog' || result.kind === 'not-modified') {
        this.retry.reset();
        this.lastContactMs = this.now();
        // A good contact clears the last error (the counters in `errors` keep the history).
        this.lastError = undefined;
        if (result.kind === 'catalog') {
          const started = performance.now();
          this.apply(result);
          this.opts.budget?.record(performance.now() - started);
        }
        this.setState('synced');
        // A 200 without an ETag cannot be long-polled (no If-None-Match): asking again at once
        // would loop as fast as the peer answers. Poll at the long-poll interval instead.
        if (result.kind === 'catalog' && result.etag === undefined) {
          if (!this.warnedNoEtag)
            this.opts.logger.warn(
              { pollSeconds: this.waitSeconds },
              'sync: the peer sends no ETag, so its catalog cannot be long-polled; polling instead',
            );
          this.warnedNoEtag = true;
          await this.sleep(this.waitSeconds * 1000);
        }
        continue;
      }
      this.errors[result.reason] = (this.errors[result.reason] ?? 0) + 1;
      if (result.kind === 'refused' && result.reason === 'invalid-delta') {
        // The peer's delta did not fit what we hold: ask for the full catalog at once, and only
        // for full catalogs for a while (so a peer whose deltas never fit costs one request per
        // change, as before deltas). Nothing we hold changed, so neither does the state.
        this.opts.logger.warn(
          { error: result.message, fullForSeconds: DELTA_PAUSE_MS / 1000 },
          'sync: a catalog delta was refused; fetching the full catalog',
        );
        this.noDeltaUntilMs = this.now() + DELTA_PAUSE_MS;
        continue;
      }
      // While withdrawn, say so alongside the latest error: that is what an operator looks for.
      this.lastError =
        this.state === 'withdrawn'
          ? `services withdrawn after ${this.opts.staleAfterSeconds} s (sync.staleAfterSeconds) without a good contact; last error: ${result.message}`
          : result.message;
      this.lastErrorMs = this.now();
      if (result.kind === 'refused') this.setState('rejected');
      else if (this.state !== 'withdrawn' && this.state !== 'rejected') this.setState(this.held.current ? 'stale' : 'connecting');
      await this.sleep(this.backoff());
    }
  }

  /** A decoded catalog, applied to what we hold (held-catalog.ts) unless nothing changed. */
  private apply(result: Extract<FetchResult, { kind: 'catalog' }>): void {
    const { decoded, base, etag } = result;
    this.etag = etag;
    if (result.delta) this.deltas++;
    const applied = this.held.apply(decoded, base);
    if (applied === undefined) return;
    this.updates++;
    this.lastCatalogMs = this.now();
    this.opts.logger.debug({ services: applied.catalog.services.length, changed: applied.changed, etag }, 'sync: peer catalog applied');
  }

  /** Withdraw the peer's services once it has been silent for staleAfterSeconds. */
  private checkFreshness(): void {
    if (!this.held.current) return;
    const last = this.lastContactMs ?? this.sinceMs;
    if (this.now() - last < this.opts.staleAfterSeconds * 1000) return;
    this.held.withdraw();
    this.etag = undefined;
    this.lastError = `no good contact for ${this.opts.staleAfterSeconds} s (sync.staleAfterSeconds); services withdrawn${this.lastError ? `; last error: ${this.lastError}` : ''}`;
    this.setState('withdrawn');
  }

  /**
   * The long-poll wait plus a margin that is a fraction of the stale window (at most 10 s), so a
   * peer that hangs instead of refusing shows as stale well before it is withdrawn.
   */
  private requestTimeoutMs(): number {
    const margin = Math.min(10, Math.max(1, this.opts.staleAfterSeconds / 4));
    return Math.round((this.waitSeconds + margin) * 1000);
  }

  private backoff(): number {
    return this.retry.next();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
      this.sleepTimer.unref();
    });
  }

  /** One request, and what it brought once the apply budget lets it be decoded. */
  private async fetchOnce(): Promise<FetchResult> {
    // A delta is asked for against the catalog we hold, named by its ETag (delta.ts).
    const deltaBase =
      this.held.current !== undefined && this.etag !== undefined && this.now() >= this.noDeltaUntilMs ? this.etag : undefined;
    const response = await this.transport.get({
      etag: this.etag,
      waitSeconds: this.etag ? this.waitSeconds : 0,
      delta: deltaBase !== undefined,
      maxBody: this.opts.maxBodyBytes ?? DEFAULT_MAX_CATALOG_BYTES,
      timeoutMs: this.requestTimeoutMs(),
    });
    if (response.kind !== 'body') return response;
    // Applying waits for the budget (sync.applyBudgetPercent of each second on the DNS thread).
    await this.opts.budget?.acquire().then(undefined, () => undefined);
    return this.finishBody(response.res, response.chunks, response.status, deltaBase);
  }

  /**
   * A complete response body: status, then JSON, schema and the difference from what we hold
   * (decoded in the worker, off the DNS thread: held-catalog.ts), then the identity of the claimed cluster.
   */
  private async finishBody(res: IncomingMessage, chunks: Buffer[], status: number, deltaBase: string | undefined): Promise<FetchResult> {
    const delta = status === IM_USED;
    if (delta && (deltaBase === undefined || this.held.current === undefined || !namesDelta(res.headers['im']))) {
      return {
        kind: 'refused',
        reason: 'invalid-delta',
        message: `HTTP 226 without a ${DELTA_IM} delta we asked for (IM: ${String(res.headers['im'] ?? 'none')})`,
      };
    }
    if (status !== 200 && !delta) {
      const reason = status === 403 ? 'forbidden' : `http-${status}`;
      const text = Buffer.concat(chunks).subarray(0, 300).toString('utf8');
      return { kind: status >= 500 ? 'failed' : 'refused', reason, message: `HTTP ${status}: ${text}` };
    }
    // A fresh copy of the octets: its ArrayBuffer moves to the worker (never a pooled slab).
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const body = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      body.set(c, at);
      at += c.length;
    }
    chunks.length = 0;
    const { decoded, base } = await this.held.decode(body, delta ? deltaBase : undefined);
    if (decoded.kind === 'refused') return decoded;
    const cluster = decoded.meta.cluster;
    if (this.opts.localCluster !== undefined && cluster === this.opts.localCluster) {
      return {
        kind: 'refused',
        reason: 'local-cluster',
        message: `catalog claims cluster ${cluster}, which is this cluster (cluster.name); a peer cannot speak for us: refused`,
      };
    }
    if (cluster !== this.opts.name) {
      return {
        kind: 'refused',
        reason: 'cluster-mismatch',
        message: `catalog claims cluster ${cluster}, but this peer is ${this.opts.name}; refused`,
      };
    }
    const etag = res.headers['etag'];
    return { kind: 'catalog', decoded, base, etag: typeof etag === 'string' ? etag : undefined, delta };
  }
}
