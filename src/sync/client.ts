/**
 * Sync client (edge): one long-poll loop per `sync.peers` entry, feeding that peer's catalog into
 * the registry (SPEC §2 "Sync protocol", "Freshness").
 *
 * Owns: the HTTPS requests to one peer (our certificate as client certificate, the peer's
 * certificate checked against `sync.tls.ca` and against the peer's configured name), the ETag and
 * long poll, deltas (asked for against the catalog held, delta.ts; one that does not fit what we
 * hold is answered by fetching the full catalog, and only full catalogs for 5 minutes), jittered
 * backoff on errors, the peer's state, and withdrawal after
 * `staleAfterSeconds` without a good contact.
 * Never: accepts a catalog from a server whose certificate names another cluster, or a catalog
 * whose `cluster` differs from the peer's name or is this cluster's own; buffers a body larger
 * than `maxBodyBytes` (refused from its Content-Length, or aborted once the streamed octets pass
 * it) or validates one with more than `maxServices` services; replaces the last good catalog with
 * a malformed or refused one; keeps a withdrawn peer's services in the registry.
 * Invariants:
 * - The registry holds this peer's last good catalog (origin "sync") from its first good fetch
 *   until `staleAfterSeconds` pass without a good contact (200 or 304); then it is removed.
 * - State is one of connecting → synced ⇄ stale → withdrawn, or rejected (the peer answers but
 *   what it sends, or who it is, is refused); every change records the time and the last error.
 * - Requests to one peer are never back to back: a long poll waits on the server, an error waits
 *   for backoff, and a 200 without an ETag (nothing to long-poll on) waits one poll interval.
 * - Every service of the catalog held is the interner's object (intern.ts, shared by all peers) and
 *   one use of it: a changed service is interned when applied, a dropped one released, and a
 *   withdrawal releases them all.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from '../log.js';
import type { ClusterCatalog, RegistryWriter } from '../registry/types.js';
import { recordsEqual } from '../registry/records.js';
import { Backoff } from '../util/backoff.js';
import type { OffThread } from '../util/off-thread.js';
import {
  decodeCatalog,
  deltaScratch,
  rebuildCatalog,
  removedServices,
  type DecodeRequest,
  type DecodeResult,
  type DeltaScratch,
} from './catalog-decoder.js';
import { DELTA_IM, IM_USED, namesDelta } from './delta.js';
import { checkPeerIdentity } from './identity.js';
import { ServiceInterner } from './intern.js';
import type { TlsFiles } from './tls-files.js';
import type { WorkBudget } from './work-budget.js';

export const SYNC_ORIGIN = 'sync';
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

const NO_FINGERPRINTS = new Float64Array(0);
/** Deltas up to this size are decoded on this thread (within the apply budget), not in the worker. */
const INLINE_DELTA_BYTES = 32 * 1024;
/** After a delta that does not fit, catalogs are fetched in full for this long. */
const DELTA_PAUSE_MS = 5 * 60_000;

type FetchResult =
  | {
      readonly kind: 'catalog';
      readonly decoded: Extract<DecodeResult, { kind: 'catalog' }>;
      /** The catalog the decoded difference is against (what we held when the request left). */
      readonly base: ClusterCatalog | undefined;
      readonly etag: string | undefined;
      /** It came as a delta against `base`. */
      readonly delta: boolean;
    }
  | { readonly kind: 'not-modified' }
  | { readonly kind: 'refused'; readonly reason: string; readonly message: string }
  | { readonly kind: 'failed'; readonly reason: string; readonly message: string };

export class PeerClient {
  private state: PeerState = 'connecting';
  private sinceMs: number;
  private lastError: string | undefined;
  private lastErrorMs: number | undefined;
  private lastContactMs: number | undefined;
  private lastCatalogMs: number | undefined;
  private etag: string | undefined;
  private held: ClusterCatalog | undefined;
  /** Fingerprints of `held`'s services, sent with each body so the decoder returns only changes. */
  private heldFingerprints: Float64Array = NO_FINGERPRINTS;
  private heldKeys: Float64Array = NO_FINGERPRINTS;
  /**
   * Inline deltas allocate no typed arrays (DecodeRequest.scratch): one set of arrays backs
   * heldFingerprints/heldKeys when a delta was decoded into it, the spare set takes the next delta,
   * and the two swap when it is applied.
   */
  private heldScratch: DeltaScratch | undefined;
  private spareScratch: DeltaScratch | undefined;
  private keptScratch = new Uint8Array(0);
  /** Until then (ms, our clock) requests ask for the full catalog: a delta did not add up. */
  private noDeltaUntilMs = 0;
  private deltas = 0;
  private updates = 0;
  private readonly errors: Record<string, number> = {};
  private running = false;
  private agent: Agent | undefined;
  private agentVersion = -1;
  private freshnessTimer: NodeJS.Timeout | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private inflight: { destroy(): void } | undefined;
  private readonly retry: Backoff;
  private warnedNoEtag = false;
  private readonly now: () => number;
  private readonly waitSeconds: number;
  /** Every service of `held` is one use of its entry here. */
  private readonly interner: ServiceInterner;

  constructor(private readonly opts: PeerClientOptions) {
    this.interner = opts.interner ?? new ServiceInterner();
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
    this.inflight?.destroy();
    this.agent?.destroy();
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
      services: this.held?.services.length ?? 0,
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
      { from, to: state, lastError: state === 'synced' ? undefined : this.lastError, services: this.held?.services.length ?? 0 },
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
      else if (this.state !== 'withdrawn' && this.state !== 'rejected') this.setState(this.held ? 'stale' : 'connecting');
      await this.sleep(this.backoff());
    }
  }

  /**
   * A decoded catalog: rebuilt from what we held plus what changed (unchanged services stay the
   * same objects, so the registry's diff is cheap; changed ones are interned, so a service that
   * every peer exports is one object), and put into the registry unless nothing changed.
   */
  private apply(result: Extract<FetchResult, { kind: 'catalog' }>): void {
    const { decoded, base, etag } = result;
    this.etag = etag;
    if (result.delta) this.deltas++;
    if (base !== undefined && base === this.held && decoded.sameServices && recordsEqual(decoded.meta, metaOf(base))) return;
    const interner = this.interner;
    // Interned before the released ones go (below): a changed service equal to a released one keeps its entry.
    const fresh = decoded.packed !== undefined ? interner.internPacked(decoded.packed) : decoded.fresh.map((s) => interner.intern(s));
    let catalog = rebuildCatalog(base, decoded, fresh);
    // What we held was withdrawn while this was in flight (its uses are gone): the kept services
    // are interned again, and the catalog is put whole.
    const patch = base !== undefined && base === this.held;
    if (!patch && base !== undefined) {
      const services = catalog.services.slice();
      for (let i = 0; i < services.length; i++) if (decoded.refs[i]! >= 0) services[i] = interner.intern(services[i]!);
      catalog = { ...catalog, services };
    }
    this.held = catalog;
    this.heldFingerprints = decoded.fingerprints;
    this.heldKeys = decoded.keys;
    if (this.spareScratch !== undefined && decoded.fingerprints.buffer === this.spareScratch.fingerprints.buffer) {
      const previous = this.heldScratch;
      this.heldScratch = this.spareScratch;
      this.spareScratch = previous;
    } else this.heldScratch = undefined;
    this.updates++;
    this.lastCatalogMs = this.now();
    this.opts.logger.debug({ services: catalog.services.length, changed: fresh.length, etag }, 'sync: peer catalog applied');
    // Only the changed services touch the registry's indexes: as a patch of what we wrote before
    // (O(changes) there), else diffed against what it holds.
    if (patch) {
      if (this.keptScratch.length < base.services.length) this.keptScratch = new Uint8Array(withHeadroom(base.services.length));
      const removed = removedServices(base, decoded, this.keptScratch);
      this.opts.registry.patchRemote(SYNC_ORIGIN, base, catalog, removed, fresh);
      for (const s of removed) interner.release(s);
    } else this.opts.registry.putRemote(SYNC_ORIGIN, catalog);
  }

  /** Withdraw the peer's services once it has been silent for staleAfterSeconds. */
  private checkFreshness(): void {
    if (!this.held) return;
    const last = this.lastContactMs ?? this.sinceMs;
    if (this.now() - last < this.opts.staleAfterSeconds * 1000) return;
    this.opts.registry.removeRemote(this.opts.name, SYNC_ORIGIN);
    for (const s of this.held.services) this.interner.release(s);
    this.held = undefined;
    this.heldFingerprints = NO_FINGERPRINTS;
    this.heldKeys = NO_FINGERPRINTS;
    this.heldScratch = undefined;
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

  /** One request; the agent is rebuilt when the TLS files rotate, so new connections use them. */
  private currentAgent(): Agent {
    const m = this.opts.tls.current();
    if (!this.agent || this.agentVersion !== m.version) {
      this.agent?.destroy();
      const expected = this.opts.name;
      const td = this.opts.trustDomain;
      this.agent = new Agent({
        keepAlive: true,
        maxSockets: 1,
        ca: m.ca,
        cert: m.cert,
        key: m.key,
        minVersion: 'TLSv1.2',
        // The URL's host is usually an IP; what must match is the cluster the certificate names.
        checkServerIdentity: (_host: string, cert: PeerCertificate) => {
          const problem = checkPeerIdentity(cert.subjectaltname, expected, td);
          return problem ? Object.assign(new Error(problem), { code: 'GSDNS_PEER_IDENTITY' }) : undefined;
        },
      });
      this.agentVersion = m.version;
    }
    return this.agent;
  }

  private fetchOnce(): Promise<FetchResult> {
    const url = new URL('/v1/catalog', this.opts.url);
    url.searchParams.set('wait', String(this.etag ? this.waitSeconds : 0));
    // A delta is asked for against the catalog we hold, named by its ETag (delta.ts).
    const deltaBase = this.held !== undefined && this.etag !== undefined && this.now() >= this.noDeltaUntilMs ? this.etag : undefined;
    const maxBody = this.opts.maxBodyBytes ?? DEFAULT_MAX_CATALOG_BYTES;
    const tooLarge = (what: string): FetchResult => ({
      kind: 'refused',
      reason: 'too-large',
      message: `catalog ${what} sync.maxCatalogBytes (${maxBody} octets); refused without reading it, the last good catalog is kept`,
    });
    return new Promise<FetchResult>((resolve) => {
      let settled = false;
      const done = (r: FetchResult): void => {
        if (settled) return;
        settled = true;
        this.inflight = undefined;
        resolve(r);
      };
      const req = request(url, {
        method: 'GET',
        agent: this.currentAgent(),
        headers: {
          accept: 'application/json',
          ...(this.etag ? { 'if-none-match': this.etag } : {}),
          ...(deltaBase !== undefined ? { 'a-im': DELTA_IM } : {}),
        },
        timeout: this.requestTimeoutMs(),
      });
      this.inflight = req;
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.requestTimeoutMs() / 1000} s`)));
      req.on('error', (err: NodeJS.ErrnoException) => done(requestFailure(err)));
      req.on('response', (res) => this.onResponse(req, res, { maxBody, deltaBase, tooLarge, done }));
      req.end();
    });
  }

  /** A response to the catalog request: 304, or a body read within maxBody and then decoded. */
  private onResponse(
    req: ClientRequest,
    res: IncomingMessage,
    ctx: { maxBody: number; deltaBase: string | undefined; tooLarge: (what: string) => FetchResult; done: (r: FetchResult) => void },
  ): void {
    const { maxBody, deltaBase, tooLarge, done } = ctx;
    const status = res.statusCode ?? 0;
    if (status === 304) {
      res.resume();
      return done({ kind: 'not-modified' });
    }
    // Refuse an oversize body from its Content-Length before reading any of it, and count the
    // octets as they stream (a body may be chunked, or lie about its length).
    const declared = res.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBody) {
      req.destroy();
      return done(tooLarge(`of ${declared} octets (Content-Length) is larger than`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) {
        chunks.length = 0;
        req.destroy();
        done(tooLarge(`passed ${size} octets while streaming, more than`));
        return;
      }
      chunks.push(c);
    });
    res.on('error', (err) => done({ kind: 'failed', reason: 'unreachable', message: err.message }));
    res.on('end', () => {
      // Applying waits for the budget (sync.applyBudgetPercent of each second on the DNS thread).
      const budget = this.opts.budget;
      const run = (): void =>
        void this.finishBody(res, chunks, status, deltaBase).then(done, (err: unknown) =>
          done({ kind: 'failed', reason: 'internal', message: (err as Error).message }),
        );
      if (budget) budget.acquire().then(run, run);
      else run();
    });
  }

  /**
   * A complete response body: status, then JSON, schema and the difference from what we hold
   * (decoded in the worker, off the DNS thread), then the identity of the claimed cluster.
   */
  private async finishBody(res: IncomingMessage, chunks: Buffer[], status: number, deltaBase: string | undefined): Promise<FetchResult> {
    const delta = status === IM_USED;
    if (delta && (deltaBase === undefined || this.held === undefined || !namesDelta(res.headers['im']))) {
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
    const base = this.held;
    const request: DecodeRequest = {
      body,
      baseFingerprints: this.heldFingerprints,
      baseKeys: this.heldKeys,
      maxServices: this.opts.maxServices ?? DEFAULT_MAX_CATALOG_SERVICES,
      deltaBase: delta ? deltaBase : undefined,
    };
    // A small delta is decoded here: parsing a few services costs less than the round trip to the
    // worker (copying the held fingerprints there and the new ones back, 16 octets per service).
    const decoder = delta && body.length <= INLINE_DELTA_BYTES ? undefined : this.opts.decoder;
    if (decoder === undefined) {
      const held = this.heldFingerprints.length;
      // Room for the held services and then some; a delta that adds more allocates (and the spare grows next time).
      if (this.spareScratch === undefined || this.spareScratch.fingerprints.length < held + 1)
        this.spareScratch = deltaScratch(withHeadroom(held));
    }
    const decoded = decoder ? await decoder.run(request, [body.buffer]) : decodeCatalog({ ...request, scratch: this.spareScratch });
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

/** A capacity for `n` services that leaves room for a few added ones before it must grow. */
function withHeadroom(n: number): number {
  return n + Math.max(64, n >> 4);
}

function metaOf(c: ClusterCatalog): Omit<ClusterCatalog, 'services'> {
  const { services: _services, ...meta } = c;
  return meta;
}

/** Why a catalog request failed: the peer's identity, TLS, or the network. */
function requestFailure(err: NodeJS.ErrnoException): FetchResult {
  const code = err.code ?? '';
  if (code === 'GSDNS_PEER_IDENTITY') return { kind: 'refused', reason: 'identity', message: err.message };
  if (/CERT|SELF_SIGNED|UNABLE_TO|SSL|TLS|ERR_SSL/.test(code) || /certificate|handshake|alert/i.test(err.message)) {
    return { kind: 'refused', reason: 'tls', message: `TLS: ${err.message}${code ? ` (${code})` : ''}` };
  }
  return { kind: 'failed', reason: 'unreachable', message: `${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}` };
}
