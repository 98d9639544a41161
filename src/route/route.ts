/**
 * The query path (PURE): every response code gsdns sends is decided here, or by the one function
 * named here, in this order. Like a CoreDNS plugin chain, each step either answers or passes on.
 *
 * | step | what                        | rcodes                                   | decided by                         |
 * |------|-----------------------------|------------------------------------------|------------------------------------|
 * | 1    | edge rejections             | drop, FORMERR, NOTIMP, BADVERS           | `edgeVerdict` (what the decoder, wire/decode.ts, found) |
 * | 1'   | the answer cache            | a reply encoded before, for the same key and generation | `createRouter`, src/route/answer-cache.ts |
 * | 2    | the self-test tap           | none (it only notes the name)            | `route`                            |
 * | 3    | in-zone answer              | NOERROR, NXDOMAIN, SERVFAIL (not ready), REFUSED (other class, transfer, CHAOS) | `answer` (answer/answer.ts), called by `route` |
 * | 4    | forward or REFUSED          | REFUSED (out of zone, client not allowed) | `route`                           |
 * | 4'   | forwarded                   | the upstream's rcode; SERVFAIL when no upstream answers, the cache's or a stale answer | `Forwarder.resolve` (forward/forwarder.ts) |
 * | 5    | failure                     | SERVFAIL when a step throws, or its answer cannot be encoded | `FAILURE_RCODE`, applied by the edge (dns/message.ts) |
 *
 * Owns: the order of the steps and the choice between answering, forwarding and refusing.
 * Never: does I/O, reads the clock, or touches a socket; forwarding is a step the caller runs
 * (`createRouter` hands the query to the injected forwarder), so the route itself stays pure.
 * Invariants:
 * - cheap checks first: the zone and class are matched (by `answer`) and the forwarding ACL is one
 *   prefix match, before any ECS geolocation; the ECS client's location is read lazily, only to
 *   rank remote clusters (SPEC §6; locality/geoip.ts `EcsClient`);
 * - an in-zone name, another class or a zone transfer is never forwarded (SPEC §1): only a decision
 *   of kind `outOfZone` reaches step 4;
 * - one query costs no allocation here beyond the ECS context of a query that carries ECS.
 */
import { answer } from '../answer/answer.js';
import { NO_DRAW, type Draws } from '../answer/order.js';
import { canonicalAnswers } from '../answer/records.js';
import { Rcode, type AnswerContext, type Decision } from '../answer/types.js';
import { encodeDecision, responseSizeLimit, type ReplyContext } from '../wire/encode.js';
import { answerKey, cacheable, type AnswerCache } from './answer-cache.js';
import type { ClientSubnet, DnsHandler, DnsRequest, HandlerResult } from '../wire/types.js';

/** What locating a client by its subnet needs (ECS, or /debug/resolve?subnet=). */
export type SubnetRef = Pick<ClientSubnet, 'address' | 'sourcePrefix'>;

/** What the decoder found wrong with a message (wire/decode.ts `DecodeFailure['action']`). */
export type DecodeFinding = 'drop' | 'formerr' | 'notimp' | 'badvers';

/** Step 1: the edge's verdict on a message it could not take as a query: drop it, or this rcode. */
export function edgeVerdict(finding: DecodeFinding): number | 'drop' {
  switch (finding) {
    case 'drop':
      // Unreadable header, a response (QR=1), or a message not worth an answer (RFC 5452 §9.1).
      return 'drop';
    case 'formerr':
      return Rcode.FORMERR; // RFC 1035 §4.1.1, RFC 6891 §6.1.1 (malformed OPT)
    case 'notimp':
      return Rcode.NOTIMP; // an opcode other than QUERY (RFC 1035 §4.1.1)
    case 'badvers':
      return Rcode.BADVERS; // EDNS version other than 0 (RFC 6891 §6.1.3)
  }
}

/** Step 5: what a step that throws, or an answer the encoder refuses, becomes. */
export const FAILURE_RCODE = Rcode.SERVFAIL;

/** Step 4's forwarder, as the route sees it: an ACL and a resolver. */
export interface ForwardStep {
  /** forward.allowFrom; `count: false` for a look that is not a query (/debug). */
  allows(address: string, options?: { count?: boolean }): boolean;
  /** Never rejects (forward/forwarder.ts). */
  resolve(request: DnsRequest): HandlerResult | Promise<HandlerResult>;
}

export interface RouteEnv {
  /** The answer core's context for a query without ECS. */
  readonly context: AnswerContext;
  /** The context for a query with ECS (undefined: ECS does not change answers, `locality.ecs: false`). */
  readonly contextFor?: ((ecs: SubnetRef) => AnswerContext) | undefined;
  readonly forward: ForwardStep;
  /** Step 2: told of every name starting with the self-test prefix (ops/self-test.ts). */
  readonly selfTest?: { readonly prefix: string; note(name: string, client: string): void } | undefined;
  /** Told of every fail-open answer (ops/degraded-log.ts). */
  readonly onDegraded?: ((name: string) => void) | undefined;
  /** Record budget of a reply (wire/encode.ts `answerRecordBudget`). */
  readonly recordBudget: (request: DnsRequest) => number;
  /**
   * The wire-level answer cache (step 1', src/route/answer-cache.ts) and the generation its entries
   * must match: bumped by every change that can alter an answer. Absent: every query is routed.
   */
  readonly answerCache?: { readonly cache: AnswerCache; readonly generation: () => number } | undefined;
  /** ECS is echoed in replies (locality.ecs), as the edge's encoder does. */
  readonly ecsEcho?: boolean | undefined;
  /**
   * The draws of the order of addresses (answer/order.ts), stepped once per query here; the answer
   * contexts' `draw` is this same object, so the full path and a cache hit of one query draw alike.
   * Absent: the canonical order, and every local-share split draws the local answer.
   */
  readonly draws?: Draws | undefined;
  /** dns.rotate (default true); false: cached answers keep the canonical order (the draws still split dns.localShare). */
  readonly rotate?: boolean | undefined;
}

/** Step 4 said: forward this query. A sentinel, so that routing allocates nothing. */
export const FORWARD = Symbol('forward');

/** Steps 2–4 for one decoded query: the decision to send, or FORWARD. */
export function route(request: DnsRequest, env: RouteEnv): Decision | typeof FORWARD {
  const name = request.question.name;
  // Step 2. The self-test's names start with "_" (0x5f): one comparison on the hot path.
  if (env.selfTest && name.charCodeAt(0) === 0x5f && name.startsWith(env.selfTest.prefix)) {
    env.selfTest.note(name, request.client.address);
  }
  // Step 3. answer() matches the class and the zone before anything else, and reads an ECS
  // client's location only when it ranks remote clusters.
  const ecs = request.edns?.ecs;
  const context = ecs !== undefined && env.contextFor ? env.contextFor(ecs) : env.context;
  const decision = answer(request.question, context, { explain: false, maxRecords: env.recordBudget(request) });
  if (decision.kind === 'degraded') env.onDegraded?.(name);
  // Step 4. Only IN-class, non-transfer names outside every zone are outOfZone (REFUSED unless
  // forwarded), and only for clients forward.allowFrom admits.
  if (decision.kind !== 'outOfZone' || !env.forward.allows(request.client.address)) return decision;
  return FORWARD;
}

/**
 * The DNS edge's handler: step 1', the answer cache, then the route, with step 4's forwarding run
 * when the route says so. An in-zone decision worth caching is encoded here (as the edge would)
 * and kept; a hit is that reply patched for the asker.
 */
export function createRouter(env: RouteEnv): DnsHandler {
  const answerCache = env.answerCache;
  const draws = env.draws;
  if (answerCache === undefined) {
    return (request) => {
      draws?.next();
      const routed = route(request, env);
      return routed === FORWARD ? env.forward.resolve(request) : routed;
    };
  }
  const { cache, generation } = answerCache;
  const ecsEcho = env.ecsEcho === true;
  const selfTestPrefix = env.selfTest?.prefix;
  const draw = draws === undefined || env.rotate === false ? NO_DRAW : draws;
  return (request): HandlerResult | Promise<HandlerResult> => {
    draws?.next();
    const name = request.question.name;
    // The self-test's names must reach the tap (step 2) every time: never cached.
    const tapped = selfTestPrefix !== undefined && name.charCodeAt(0) === 0x5f && name.startsWith(selfTestPrefix);
    const limit = responseSizeLimit(request.transport, request.edns);
    const key = tapped ? '' : answerKey(request, limit, ecsEcho);
    const current = generation();
    const hit = tapped ? undefined : cache.lookup(key, current, request, draw);
    if (hit !== undefined) return { kind: 'encoded', message: hit.message, truncated: hit.truncated, decision: hit.decision };
    const routed = route(request, env);
    if (routed === FORWARD) return env.forward.resolve(request);
    if (tapped || !cacheable(routed)) return routed;
    if (routed.order !== undefined) {
      // Kept in canonical order, arranged per hit; this query gets the order the answer drew.
      const answers = canonicalAnswers(routed.order);
      const canonical = encodeDecision(replyContextOfRequest(request), { ...routed, answers }, ecsEcho, limit);
      cache.store(key, current, canonical.message, canonical.truncated, routed);
      return routed;
    }
    const encoded = encodeDecision(replyContextOfRequest(request), routed, ecsEcho, limit);
    cache.store(key, current, encoded.message, encoded.truncated, routed);
    return { kind: 'encoded', message: encoded.message, truncated: encoded.truncated, decision: routed };
  };
}

/** The reply context of a decoded query (opcode QUERY: the edge rejects every other). */
function replyContextOfRequest(request: DnsRequest): ReplyContext {
  return { id: request.id, opcode: 0, rd: request.flags.rd, cd: request.flags.cd, rawQuestion: request.rawQuestion, edns: request.edns };
}

/**
 * The same route for /debug/resolve: the decision with its explanation, or FORWARD for an
 * out-of-zone name whose client may forward (that look does not count as a refusal).
 */
export function routeExplained(
  question: DnsRequest['question'],
  context: AnswerContext,
  client: string,
  forward: ForwardStep,
): Decision | typeof FORWARD {
  const decision = answer(question, context, { explain: true });
  if (decision.kind === 'outOfZone' && forward.allows(client, { count: false })) return FORWARD;
  return decision;
}
