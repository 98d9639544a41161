/**
 * The forwarding resolver for names outside every zone (SPEC §4): the upstream client.
 *
 * Owns: upstream exchanges over UDP with TCP fallback on TC, per-try timeouts inside an overall
 * budget, per-upstream health (down after consecutive failures, revived by a success or by a
 * background `. NS` check), the answer cache, coalescing of identical in-flight queries (identical
 * includes the client subnet when ECS is forwarded),
 * serve-stale (RFC 8767), the bound on in-flight exchanges, and forwarding counters.
 * Never: forwards a name in our zones (the caller only passes out-of-zone questions), re-encodes an
 * upstream record (D12/D13: see message.ts), accepts a reply that fails the anti-spoofing match
 * (source address/port, ID, question), or lets a socket error or timer escape as an exception.
 *
 * Invariants:
 * - Every try uses a fresh UDP socket (a new random source port) and a new random 16-bit ID.
 * - A client never receives an answer fetched for another client subnet: with
 *   `forwardClientSubnet`, exchanges are keyed by subnet and subnet-scoped answers are not cached.
 * - Relayed answers never carry AA (message.ts renderAnswer).
 * - A client waits at most `budgetMs` (plus scheduling) for a reply; every path ends in a reply.
 * - At most `maxInFlight` exchanges run at once and at most MAX_WAITERS clients wait on one;
 *   beyond either the client gets SERVFAIL (or a stale answer) at once, counted. Memory is bounded
 *   by these and by the cache's bounds, however slowly upstreams answer.
 * - close() releases every socket and timer; exchanges still running end as failures.
 */
import { randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket as TcpSocket } from 'node:net';
import { Rcode, rcodeName } from '../answer/types.js';
import type { DnsRequest, EdnsOption, RelayResult } from '../dns/types.js';
import { encodeResponse, responseSizeLimit } from '../dns/wire.js';
import { jittered } from '../util/backoff.js';
import { canonicalIp } from '../util/ip.js';
import { settleOnce, type SettleOnce } from '../util/settle-once.js';
import { FrameDecoder, frameMessage } from '../util/tcp-framing.js';
import { AllowList } from './acl.js';
import { AnswerCache } from './cache.js';
import {
  buildHealthQuery,
  buildUpstreamQuery,
  cacheKey,
  clientSubnetKey,
  parseReply,
  renderAnswer,
  replyMatches,
  storeReply,
  upstreamOptions,
  DEFAULT_CACHE_POLICY,
  type CachePolicy,
  type RenderSpec,
  type StoredAnswer,
  type UpstreamReply,
} from './message.js';
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
  /** Told of every finished try (its upstream and milliseconds), for the duration histogram. */
  /** Each try's duration, by the upstream's index (UpstreamStats.index). */
  readonly onTry?: ((index: number, ms: number) => void) | undefined;
  /** Clock in epoch milliseconds; tests may pass their own. */
  readonly now?: (() => number) | undefined;
}

export interface ForwardLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** One try against one upstream, for /debug/resolve. */
export interface ForwardTry {
  readonly upstream: string;
  readonly transport: 'udp' | 'tcp';
  /** `answer` (NOERROR/NXDOMAIN), an upstream RCODE name (SERVFAIL, REFUSED …), `timeout`, `error`, `malformed`. */
  readonly outcome: string;
  readonly ms: number;
  readonly detail?: string | undefined;
}

export type ForwardSource = 'cache' | 'upstream' | 'coalesced' | 'stale' | 'servfail' | 'overload';

/** A relayed reply plus how it was obtained. */
export interface ForwardResult extends RelayResult {
  readonly source: ForwardSource;
  readonly rcode: number;
  /** The upstream that answered (upstream/coalesced), or that answered originally (cache/stale). */
  readonly upstream?: string | undefined;
  /** Cache hits: seconds the entry stays fresh; stale: seconds past expiry. */
  readonly remainingSeconds?: number | undefined;
  readonly ageSeconds?: number | undefined;
  /** The tries of the exchange this client led or waited on. */
  readonly tries: readonly ForwardTry[];
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

type Attempt =
  | { readonly kind: 'reply'; readonly buf: Buffer; readonly reply: UpstreamReply }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'error'; readonly message: string };

function parseReplyOk(buf: Buffer): UpstreamReply | undefined {
  const r = parseReply(buf);
  return r.ok ? r.reply : undefined;
}

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
  private readonly sockets = new Set<UdpSocket | TcpSocket>();
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

  /** Resolve one out-of-zone query for an allowed client. Never rejects. */
  resolve(request: DnsRequest): ForwardResult | Promise<ForwardResult> {
    this.counters.queries++;
    const dnssecOk = request.edns?.dnssecOk ?? false;
    const key = cacheKey(request.question, dnssecOk, request.flags.cd);
    const nowMs = this.now();
    const hit = this.cache.lookup(key, nowMs);
    if (hit?.state === 'fresh') {
      this.counters.cacheHits++;
      return this.render(request, hit.entry.stored, 'shared', hit.ageSeconds, false, {
        source: 'cache',
        remainingSeconds: hit.remainingSeconds,
        ageSeconds: hit.ageSeconds,
        tries: NO_TRIES,
      });
    }
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
    for (const socket of this.sockets) destroySocket(socket);
    this.sockets.clear();
  }

  // -------------------------------------------------------------------------------------------

  private finish(request: DnsRequest, key: string, outcome: ExchangeOutcome, options: RenderOptions, source: 'upstream' | 'coalesced'): ForwardResult {
    if (outcome.answer) {
      return this.render(request, outcome.answer, options, 0, false, { source, upstream: outcome.upstream, tries: outcome.tries });
    }
    const stale = this.serveStale(request, key, outcome.tries);
    if (stale) return stale;
    this.counters.servfail++;
    if (outcome.servfail) {
      return this.render(request, outcome.servfail, options, 0, false, { source: 'servfail', upstream: outcome.upstream, tries: outcome.tries });
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

  /** Render `stored` for this client; one object literal, since this is the cache-hit hot path. */
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
      const query = buildUpstreamQuery({ id, rawQuestion: request.rawQuestion, rd: request.flags.rd, cd: request.flags.cd, dnssecOk, options });
      state.requests++;
      let started = this.now();
      let transport: 'udp' | 'tcp' = 'udp';
      let attempt = await this.udpTry(state, query, id, request.rawQuestion, Math.min(this.opts.timeoutMs, remaining));
      if (attempt.kind === 'reply' && attempt.reply.tc) {
        // RFC 7766 §5 / RFC 1035 §4.2.2: a truncated UDP reply is retried over TCP, same upstream.
        tries.push({ upstream: label, transport, outcome: 'truncated', ms: this.now() - started });
        state.tcpFallbacks++;
        remaining = deadline - this.now();
        if (remaining <= 0) break;
        transport = 'tcp';
        started = this.now();
        attempt = await this.tcpTry(state, query, id, request.rawQuestion, Math.min(this.opts.timeoutMs, remaining));
      }
      const ms = this.now() - started;
      state.durationMsTotal += ms;
      this.opts.onTry?.(state.index, ms);
      if (attempt.kind !== 'reply') {
        if (attempt.kind === 'timeout') state.timeouts++;
        else state.errors++;
        this.markFailure(state, attempt.kind === 'timeout' ? `timeout after ${ms} ms` : attempt.message);
        tries.push({ upstream: label, transport, outcome: attempt.kind, ms, detail: attempt.kind === 'error' ? attempt.message : undefined });
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
      this.udpTry(state, query, id, query.subarray(12, 17), this.opts.timeoutMs)
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

  /** One UDP try on a fresh socket; ignores anything but a matching reply from the upstream. */
  private udpTry(state: UpstreamState, query: Buffer, id: number, rawQuestion: Buffer, timeoutMs: number): Promise<Attempt> {
    const { address, port, family } = state.upstream;
    if (this.closed) return Promise.resolve({ kind: 'error', message: 'forwarder closed' });
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    const op = this.track(socket, timeoutMs);
    op.listen(socket, 'error', (err: Error) => op.resolve({ kind: 'error', message: err.message }));
    op.listen(socket, 'close', () => op.resolve({ kind: 'error', message: 'socket closed' }));
    op.listen(socket, 'message', (msg: Buffer, rinfo: RemoteInfo) => {
      // RFC 5452 §9.1: only the address and port we sent to, our ID and our question count.
      if (rinfo.port !== port || canonicalIp(rinfo.address) !== address) {
        state.mismatched++;
        return;
      }
      const reply = parseReplyOk(msg);
      if (reply === undefined || !replyMatches(msg, reply, id, rawQuestion)) {
        state.mismatched++;
        this.log?.debug({ upstream: state.upstream.label }, 'ignored a reply that does not match the query');
        return;
      }
      op.resolve({ kind: 'reply', buf: msg, reply });
    });
    // connect() makes the kernel drop datagrams from other sources and report ICMP
    // port-unreachable as ECONNREFUSED, so a stopped upstream fails fast instead of timing out.
    socket.connect(port, address, () => {
      if (op.settled) return;
      socket.send(query, (err) => {
        if (err) op.resolve({ kind: 'error', message: err.message });
      });
    });
    return op.promise;
  }

  /** One TCP try (RFC 7766): a new connection, one length-prefixed query, one reply. */
  private tcpTry(state: UpstreamState, query: Buffer, id: number, rawQuestion: Buffer, timeoutMs: number): Promise<Attempt> {
    const { address, port } = state.upstream;
    if (this.closed) return Promise.resolve({ kind: 'error', message: 'forwarder closed' });
    const socket = connect({ host: address, port });
    const op = this.track(socket, timeoutMs);
    const frames = new FrameDecoder();
    socket.setNoDelay(true);
    op.listen(socket, 'error', (err: Error) => op.resolve({ kind: 'error', message: err.message }));
    op.listen(socket, 'close', () => op.resolve({ kind: 'error', message: 'connection closed before a reply' }));
    op.listen(socket, 'connect', () => socket.write(frameMessage(query)));
    op.listen(socket, 'data', (chunk: Buffer) => {
      frames.push(chunk);
      for (const frame of frames.messages()) {
        // A copy: the reply may be cached, and the frame is a view into a larger chunk.
        const msg = Buffer.from(frame);
        const reply = parseReplyOk(msg);
        if (reply !== undefined && replyMatches(msg, reply, id, rawQuestion)) {
          op.resolve({ kind: 'reply', buf: msg, reply });
          return;
        }
        state.mismatched++;
      }
    });
    return op.promise;
  }

  /** A try's socket, tracked for close() until the try settles (on a reply, an error or the timer). */
  private track(socket: UdpSocket | TcpSocket, timeoutMs: number): SettleOnce<Attempt> {
    this.sockets.add(socket);
    return settleOnce<Attempt>({
      timeoutMs,
      onTimeout: () => ({ kind: 'timeout' }),
      cleanup: () => {
        this.sockets.delete(socket);
        destroySocket(socket);
      },
    });
  }
}

function destroySocket(socket: UdpSocket | TcpSocket): void {
  try {
    if ('destroy' in socket) socket.destroy();
    else socket.close();
  } catch {
    // already closed
  }
}
