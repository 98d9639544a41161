/**
 * The forwarding resolver for names outside every zone (SPEC §4): the upstream client.
 *
 * Owns: upstream exchanges over UDP with TCP fallback on TC, per-try timeouts inside an overall
 * budget, per-upstream health (down after consecutive failures, revived by a success or by a
 * background `. NS` check), the answer cache, coalescing of identical in-flight queries (identical
 * includes the client subnet when ECS is forwarded),
 * serve-stale (RFC 8767), the bound on in-flight exchanges, and forwarding counters. The tries
 * themselves (sockets, timeouts, the anti-spoofing match) are transport.ts's; the public types
 * live in types.ts and are re-exported here.
 * Never: forwards a name in our zones (the caller only passes out-of-zone questions), re-encodes an
 * upstream record (D12/D13: see message.ts), accepts a reply that fails the anti-spoofing match
 * (source address/port, ID, question), or lets a socket error or timer escape as an exception.
 *
 * Invariants:
 * - Every try uses a fresh UDP socket (a new random source port) and a new random 16-bit ID.
 * - A client never receives an answer fetched for another client subnet: with
 *   `forwardClientSubnet`, exchanges are keyed by subnet and subnet-scoped answers are not cached.
 * - Relayed answers never carry AA (relay-store.ts renderAnswer).
 * - A fresh cache hit is answered synchronously (no promise, no microtask): a render kept per
 *   client shape and answer age (cache.ts hitRender) copied and patched with the client's ID, RD,
 *   CD, AD and question case (relay-store.ts patchHit), octet for octet what renderAnswer would
 *   give it. Per hit it allocates the key, the reply and the result, and reads the clock once.
 * - A client waits at most `budgetMs` (plus scheduling) for a reply; every path ends in a reply.
 * - At most `maxInFlight` exchanges run at once and at most MAX_WAITERS clients wait on one;
 *   beyond either the client gets SERVFAIL (or a stale answer) at once, counted. Memory is bounded
 *   by these and by the cache's bounds, however slowly upstreams answer.
 * - close() releases every socket and timer; exchanges still running end as failures.
 */
import { randomInt } from 'node:crypto';
import { Rcode, rcodeName } from '../answer/types.js';
import type { DnsRequest, EdnsOption } from '../wire/types.js';
import { encodeResponse, responseSizeLimit } from '../wire/wire.js';
import { jittered } from '../util/backoff.js';
import { AllowList } from './acl.js';
import { AnswerCache, type CacheEntry } from './cache.js';
import { buildHealthQuery, buildUpstreamQuery, upstreamOptions } from '../wire/relay.js';
import {
  cacheKey,
  clientSubnetKey,
  hitShape,
  patchHit,
  renderAnswer,
  storeReply,
  DEFAULT_CACHE_POLICY,
  type CachePolicy,
  type RenderSpec,
  type StoredAnswer,
} from '../wire/relay-store.js';
import { UpstreamTransport } from './transport.js';
import type { ForwarderOptions, ForwardLogger, ForwardResult, ForwardSource, ForwardStats, ForwardTry } from './types.js';
import type { Upstream } from './upstreams.js';

export type { ForwarderOptions, ForwardLogger, ForwardTry, ForwardSource, ForwardResult, UpstreamStats, ForwardStats } from './types.js';

/** How a result was obtained (everything of a ForwardResult but the message). */
interface ResultMeta {
  readonly source: ForwardSource;
  readonly upstream?: string | undefined;
  readonly remainingSeconds?: number | undefined;
  readonly ageSeconds?: number | undefined;
  readonly tries: readonly ForwardTry[];
}

const NO_TRIES: readonly ForwardTry[] = Object.freeze([]);

type RenderOptions = RenderSpec['options'];

/** Clients that may wait on one in-flight exchange. */
const MAX_WAITERS = 64;
const DEFAULT_FAILS_TO_DOWN = 2;
const DEFAULT_HEALTH_CHECK_MS = 1000;

interface ExchangeOutcome {
  /** NOERROR/NXDOMAIN from some upstream. */
  readonly answer?: StoredAnswer | undefined;
  /** The last SERVFAIL an upstream sent, when no upstream gave an answer. */
  readonly servfail?: StoredAnswer | undefined;
  readonly upstream?: string | undefined;
  readonly tries: ForwardTry[];
}

interface Pending {
  readonly promise: Promise<ExchangeOutcome>;
  waiters: number;
}

class UpstreamState {
  consecutiveFailures = 0;
  down = false;
  downSinceMs: number | undefined;
  lastError: string | undefined;
  checkTimer: NodeJS.Timeout | undefined;
  requests = 0;
  timeouts = 0;
  errors = 0;
  mismatched = 0;
  tcpFallbacks = 0;
  durationMsTotal = 0;
  readonly responses: Record<string, number> = {};
  constructor(
    readonly upstream: Upstream,
    /** Position in `forward.upstreams` (resolv.conf expanded), kept when others are excluded: the metrics label. */
    readonly index: number,
  ) {}
}

export class Forwarder {
  private readonly opts: ForwarderOptions;
  private readonly acl: AllowList;
  private readonly cache: AnswerCache;
  private readonly policy: CachePolicy;
  private states: UpstreamState[];
  private readonly pending = new Map<string, Pending>();
  private readonly transport: UpstreamTransport;
  private readonly now: () => number;
  private readonly log: ForwardLogger | undefined;
  private closed = false;
  private inFlight = 0;
  private readonly counters = {
    queries: 0,
    refused: 0,
    cacheHits: 0,
    cacheMisses: 0,
    coalesced: 0,
    staleServed: 0,
    servfail: 0,
    overloadRejected: 0,
    inFlightHighWater: 0,
  };

  constructor(options: ForwarderOptions) {
    this.opts = options;
    this.acl = new AllowList(options.allowFrom);
    this.policy = options.cachePolicy ?? DEFAULT_CACHE_POLICY;
    this.cache = new AnswerCache({
      maxEntries: options.cache.maxEntries,
      maxBytes: options.cache.maxBytes,
      serveStaleSeconds: options.serveStaleSeconds,
    });
    this.states = options.upstreams.map((u, i) => new UpstreamState(u, i));
    this.now = options.now ?? Date.now;
    this.log = options.logger;
    this.transport = new UpstreamTransport(options.logger);
  }

  /** Whether this client may have out-of-zone names resolved; a refusal is counted unless told not to. */
  allows(address: string, options: { count?: boolean } = {}): boolean {
    if (this.acl.allows(address)) return true;
    if (options.count !== false) this.counters.refused++;
    return false;
  }

  /** The upstreams in use, in order. */
  upstreams(): Upstream[] {
    return this.states.map((s) => s.upstream);
  }

  /** Stop using these upstreams (e.g. ones that would loop back to us). */
  exclude(upstreams: readonly Upstream[]): void {
    const labels = new Set(upstreams.map((u) => u.label));
    for (let i = this.states.length - 1; i >= 0; i--) if (labels.has(this.states[i]!.upstream.label)) this.states.splice(i, 1);
  }

  /**
   * Resolve one out-of-zone query for an allowed client. Never rejects. A fresh cache hit is
   * answered synchronously: its key, one lookup, and a copy of a render kept for the client's shape
   * and the answer's age, patched with the client's ID, flags and question case (cacheHit).
   */
  resolve(request: DnsRequest): ForwardResult | Promise<ForwardResult> {
    this.counters.queries++;
    const edns = request.edns;
    const dnssecOk = edns !== undefined && edns.dnssecOk;
    const key = cacheKey(request.question, dnssecOk, request.flags.cd);
    const nowMs = this.now();
    const fresh = this.cache.fresh(key, nowMs);
    if (fresh !== undefined) return this.cacheHit(request, fresh, nowMs);
    return this.resolveMiss(request, key, dnssecOk, nowMs);
  }

  private cacheHit(request: DnsRequest, entry: CacheEntry, nowMs: number): ForwardResult {
    this.counters.cacheHits++;
    const stored = entry.stored;
    const ageSeconds = nowMs > entry.storedAtMs ? Math.floor((nowMs - entry.storedAtMs) / 1000) : 0;
    const edns = request.edns;
    const render = this.cache.hitRender(entry, hitShape(responseSizeLimit(request.transport, edns), edns), ageSeconds);
    return {
      kind: 'relay',
      message: patchHit(render, stored, request),
      truncated: render.truncated,
      rcode: stored.rcode,
      source: 'cache',
      upstream: undefined,
      remainingSeconds: Math.max(0, stored.ttlSeconds - ageSeconds),
      ageSeconds,
      tries: NO_TRIES,
    };
  }

  private resolveMiss(request: DnsRequest, key: string, dnssecOk: boolean, nowMs: number): ForwardResult | Promise<ForwardResult> {
    const hit = this.cache.lookup(key, nowMs);
    this.counters.cacheMisses++;

    // Clients join an exchange only when the upstream would be asked the same thing: with the
    // client's ECS forwarded, the answer may be tailored to its subnet (RFC 7871 §7.3), so the
    // subnet is part of the exchange's key and each subnet gets its own exchange.
    const upstreamOpts = upstreamOptions(request.edns?.options ?? [], this.opts.forwardClientSubnet);
    const subnet = this.opts.forwardClientSubnet ? clientSubnetKey(upstreamOpts) : '';
    const flightKey = subnet === '' ? key : cacheKey(request.question, dnssecOk, request.flags.cd, subnet);
    const joined = this.pending.get(flightKey);
    if (joined !== undefined) {
      if (joined.waiters >= MAX_WAITERS) return this.overloaded(request, key);
      joined.waiters++;
      this.counters.coalesced++;
      // Same subnet as the leader: the upstream's ECS option (its scope) answers this client too.
      return joined.promise.then((outcome) => this.finish(request, key, outcome, subnet === '' ? 'shared' : 'sameSubnet', 'coalesced'));
    }

    // RFC 8767 §5: with every upstream known down there is no point making the client wait a
    // budget for the stale answer it is going to get anyway; the health checks revive upstreams.
    if (hit?.state === 'stale' && this.states.length > 0 && this.states.every((s) => s.down)) {
      return this.serveStale(request, key, [])!;
    }
    if (this.inFlight >= this.opts.maxInFlight) return this.overloaded(request, key);

    this.inFlight++;
    if (this.inFlight > this.counters.inFlightHighWater) this.counters.inFlightHighWater = this.inFlight;
    const promise = this.exchange(request, dnssecOk, upstreamOpts).finally(() => {
      this.inFlight--;
      this.pending.delete(flightKey);
    });
    this.pending.set(flightKey, { promise, waiters: 0 });
    return promise.then((outcome) => {
      if (outcome.answer) this.cache.store(key, outcome.answer, this.now());
      else if (outcome.servfail) this.cache.store(key, outcome.servfail, this.now());
      return this.finish(request, key, outcome, 'all', 'upstream');
    });
  }

  stats(): ForwardStats {
    return {
      ...this.counters,
      cacheEntries: this.cache.size,
      cacheBytes: this.cache.bytes,
      inFlight: this.inFlight,
      upstreams: this.states.map((s) => ({
        upstream: s.upstream.label,
        index: s.index,
        healthy: !s.down,
        consecutiveFailures: s.consecutiveFailures,
        downSinceMs: s.downSinceMs,
        lastError: s.lastError,
        requests: s.requests,
        timeouts: s.timeouts,
        errors: s.errors,
        mismatched: s.mismatched,
        tcpFallbacks: s.tcpFallbacks,
        responses: { ...s.responses },
        durationMsTotal: s.durationMsTotal,
      })),
    };
  }

  /** Stop health checks and end every exchange; later queries get SERVFAIL. */
  close(): void {
    this.closed = true;
    for (const s of this.states) {
      if (s.checkTimer) clearTimeout(s.checkTimer);
      s.checkTimer = undefined;
    }
    this.transport.close();
  }

  // -------------------------------------------------------------------------------------------

  private finish(
    request: DnsRequest,
    key: string,
    outcome: ExchangeOutcome,
    options: RenderOptions,
    source: 'upstream' | 'coalesced',
  ): ForwardResult {
    if (outcome.answer) {
      return this.render(request, outcome.answer, options, 0, false, { source, upstream: outcome.upstream, tries: outcome.tries });
    }
    const stale = this.serveStale(request, key, outcome.tries);
    if (stale) return stale;
    this.counters.servfail++;
    if (outcome.servfail) {
      return this.render(request, outcome.servfail, options, 0, false, {
        source: 'servfail',
        upstream: outcome.upstream,
        tries: outcome.tries,
      });
    }
    return this.servfailReply(request, { source: 'servfail', tries: outcome.tries });
  }

  private serveStale(request: DnsRequest, key: string, tries: readonly ForwardTry[]): ForwardResult | undefined {
    const nowMs = this.now();
    const entry = this.cache.stale(key, nowMs);
    if (entry === undefined) return undefined;
    this.counters.staleServed++;
    const ageSeconds = Math.floor((nowMs - entry.storedAtMs) / 1000);
    return this.render(request, entry.stored, 'shared', ageSeconds, true, {
      source: 'stale',
      ageSeconds: Math.max(0, ageSeconds - entry.stored.ttlSeconds),
      tries,
    });
  }

  private overloaded(request: DnsRequest, key: string): ForwardResult {
    this.counters.overloadRejected++;
    const stale = this.serveStale(request, key, []);
    if (stale) return stale;
    return this.servfailReply(request, { source: 'overload', tries: NO_TRIES });
  }

  /** Render `stored` for this client: an upstream, coalesced, stale or SERVFAIL reply (a fresh cache hit is cacheHit's). */
  private render(
    request: DnsRequest,
    stored: StoredAnswer,
    options: RenderOptions,
    ageSeconds: number,
    stale: boolean,
    meta: ResultMeta,
  ): ForwardResult {
    const rendered = renderAnswer(stored, {
      id: request.id,
      rawQuestion: request.rawQuestion,
      rd: request.flags.rd,
      cd: request.flags.cd,
      ad: request.flags.ad,
      edns: request.edns ? { dnssecOk: request.edns.dnssecOk } : undefined,
      options,
      ageSeconds,
      stale,
      maxSize: responseSizeLimit(request.transport, request.edns),
    });
    return {
      kind: 'relay',
      message: rendered.message,
      truncated: rendered.truncated,
      rcode: stored.rcode,
      source: meta.source,
      upstream: meta.upstream,
      remainingSeconds: meta.remainingSeconds,
      ageSeconds: meta.ageSeconds,
      tries: meta.tries,
    };
  }

  private servfailReply(request: DnsRequest, meta: ResultMeta): ForwardResult {
    const encoded = encodeResponse(
      { id: request.id, opcode: 0, rd: request.flags.rd, cd: request.flags.cd, rawQuestion: request.rawQuestion, edns: request.edns },
      { rcode: Rcode.SERVFAIL, recursionAvailable: true, maxSize: responseSizeLimit(request.transport, request.edns) },
    );
    return { kind: 'relay', message: encoded.message, truncated: false, rcode: Rcode.SERVFAIL, ...meta };
  }

  /** Up upstreams in config order; if none is up, every upstream (a down one may be back). */
  private candidates(): UpstreamState[] {
    const up = this.states.filter((s) => !s.down);
    return up.length > 0 ? up : [...this.states];
  }

  private async exchange(request: DnsRequest, dnssecOk: boolean, options: readonly EdnsOption[]): Promise<ExchangeOutcome> {
    const deadline = this.now() + this.opts.budgetMs;
    const tries: ForwardTry[] = [];
    let servfail: StoredAnswer | undefined;
    let servfailFrom: string | undefined;
    for (const state of this.candidates()) {
      if (this.closed) break;
      const label = state.upstream.label;
      let remaining = deadline - this.now();
      if (remaining <= 0) break;
      const id = randomInt(0, 0x10000);
      const query = buildUpstreamQuery({
        id,
        rawQuestion: request.rawQuestion,
        rd: request.flags.rd,
        cd: request.flags.cd,
        dnssecOk,
        options,
      });
      state.requests++;
      let started = this.now();
      let transport: 'udp' | 'tcp' = 'udp';
      const tryQuery = { message: query, id, rawQuestion: request.rawQuestion };
      let attempt = await this.transport.udp(state, tryQuery, Math.min(this.opts.timeoutMs, remaining));
      if (attempt.kind === 'reply' && attempt.reply.tc) {
        // RFC 7766 §5 / RFC 1035 §4.2.2: a truncated UDP reply is retried over TCP, same upstream.
        tries.push({ upstream: label, transport, outcome: 'truncated', ms: this.now() - started });
        state.tcpFallbacks++;
        remaining = deadline - this.now();
        if (remaining <= 0) break;
        transport = 'tcp';
        started = this.now();
        attempt = await this.transport.tcp(state, tryQuery, Math.min(this.opts.timeoutMs, remaining));
      }
      const ms = this.now() - started;
      state.durationMsTotal += ms;
      this.opts.onTry?.(state.index, ms);
      if (attempt.kind !== 'reply') {
        if (attempt.kind === 'timeout') state.timeouts++;
        else state.errors++;
        this.markFailure(state, attempt.kind === 'timeout' ? `timeout after ${ms} ms` : attempt.message);
        tries.push({
          upstream: label,
          transport,
          outcome: attempt.kind,
          ms,
          detail: attempt.kind === 'error' ? attempt.message : undefined,
        });
        continue;
      }
      const reply = attempt.reply;
      const name = rcodeName(reply.rcode);
      state.responses[name] = (state.responses[name] ?? 0) + 1;
      // Any well-formed matching reply proves the upstream alive, whatever its RCODE.
      this.markAlive(state);
      if (reply.tc) {
        tries.push({ upstream: label, transport, outcome: 'truncated', ms, detail: 'TC set over TCP' });
        continue;
      }
      if (reply.rcode === Rcode.NOERROR || reply.rcode === Rcode.NXDOMAIN) {
        tries.push({ upstream: label, transport, outcome: 'answer', ms, detail: name });
        return { answer: storeReply(attempt.buf, reply, this.policy), upstream: label, tries };
      }
      // SERVFAIL, REFUSED, NOTIMP, FORMERR, extended RCODEs: this upstream cannot answer this
      // question; another might.
      tries.push({ upstream: label, transport, outcome: name, ms });
      if (reply.rcode === Rcode.SERVFAIL) {
        servfail = storeReply(attempt.buf, reply, this.policy);
        servfailFrom = label;
      }
    }
    return { servfail, upstream: servfailFrom, tries };
  }

  private markFailure(state: UpstreamState, reason: string): void {
    state.consecutiveFailures++;
    state.lastError = reason;
    if (state.down || state.consecutiveFailures < (this.opts.failsToDown ?? DEFAULT_FAILS_TO_DOWN)) return;
    state.down = true;
    state.downSinceMs = this.now();
    this.log?.warn({ upstream: state.upstream.label, reason }, 'upstream marked down; checking it in the background');
    this.scheduleCheck(state);
  }

  private markAlive(state: UpstreamState): void {
    state.consecutiveFailures = 0;
    if (!state.down) return;
    state.down = false;
    state.downSinceMs = undefined;
    if (state.checkTimer) clearTimeout(state.checkTimer);
    state.checkTimer = undefined;
    this.log?.info({ upstream: state.upstream.label }, 'upstream is answering again');
  }

  private scheduleCheck(state: UpstreamState): void {
    if (this.closed || state.checkTimer) return;
    const base = this.opts.healthCheckIntervalMs ?? DEFAULT_HEALTH_CHECK_MS;
    const delay = jittered(base, 0.2);
    state.checkTimer = setTimeout(() => {
      state.checkTimer = undefined;
      if (this.closed || !state.down) return;
      const id = randomInt(0, 0x10000);
      const query = buildHealthQuery(id);
      this.transport
        .udp(state, { message: query, id, rawQuestion: query.subarray(12, 17) }, this.opts.timeoutMs)
        .then((attempt) => {
          if (attempt.kind === 'reply') this.markAlive(state);
          else {
            state.lastError = attempt.kind === 'timeout' ? 'health check timed out' : attempt.message;
            this.scheduleCheck(state);
          }
        })
        .catch(() => this.scheduleCheck(state));
    }, delay);
    state.checkTimer.unref();
  }
}
