/**
 * One message in, at most one reply out: the part of the DNS edge both transports share.
 *
 * Owns: decoding (our decoder first, dns2's parser only for uncommon shapes), asking the route
 * (src/route/route.ts) what to send, encoding it, and telling the observer (metrics, query log).
 * Never: decides an rcode itself (step 1 of the route maps what the decoder found; step 5 is
 * FAILURE_RCODE); lets a handler's throw or rejection, or a reply the encoder refuses, escape
 * (KNOWN-DEFECTS D5): each becomes SERVFAIL plus one log line.
 * Invariants:
 * - every received message is decoded by src/wire/decode.ts first. Only the uncommon shapes (records
 *   in answer/authority, or additional records other than one OPT) also go through dns2's
 *   Packet.parse, the "general path", and get FORMERR when it reports any error (D9);
 * - every reply is sized by the encoder to the transport's limit (D10, D11); a relayed reply
 *   arrives already fitted by the forwarder's codec (src/wire/relay.ts);
 * - the observer hears of every message exactly once, with its outcome.
 */
import { Packet } from 'dns2';
import { edgeVerdict, FAILURE_RCODE } from '../route/route.js';
import type {
  ClientAddress,
  DnsHandler,
  DnsRequest,
  EdgeCounters,
  EdgeLogger,
  HandlerResult,
  QueryEvent,
  QueryObserver,
  Transport,
} from './types.js';
import { decodeQuery, type DecodedQuery, type DecodeFailure } from '../wire/decode.js';
import { encodeDecision, encodeResponse, replyContextOf, responseSizeLimit } from '../wire/encode.js';

/**
 * The general path (dns2's Packet.parse) is bounded because dns2 reads bit by bit: about 0.5 µs
 * per octet on a 2-core machine (37 ms for a 64 KB message). No legitimate query of an uncommon
 * shape comes near this size.
 */
const GENERAL_PATH_MAX_OCTETS = 1232;

/** `{ err }` is the key pino's standard serializer expects for errors. */
export function errorFields(err: unknown): object {
  return { err };
}

function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** dns2's parser for shapes our decoder does not interpret (D9: FORMERR on packet.errors). */
function generalPathError(message: Buffer): string | undefined {
  if (message.length > GENERAL_PATH_MAX_OCTETS) {
    return `uncommon query shape of ${message.length} octets exceeds ${GENERAL_PATH_MAX_OCTETS}`;
  }
  try {
    const packet = Packet.parse(message);
    return packet.errors.length > 0 ? packet.errors.map((e) => e.message).join('; ') : undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The request the route sees for a decoded query. */
function requestOf(query: DecodedQuery, transport: Transport, client: ClientAddress): DnsRequest {
  return {
    id: query.header.id,
    question: query.question,
    rawQuestion: query.rawQuestion,
    // The header carries rd, ad and cd: the request's flags, with no object of their own.
    flags: query.header,
    edns: query.edns,
    transport,
    client,
  };
}

export interface MessageHandlerOptions {
  readonly handler: DnsHandler;
  /** Decode EDNS Client Subnet and echo it with the handler's scope (RFC 7871). */
  readonly ecsEnabled: boolean;
  readonly observer?: QueryObserver | undefined;
  readonly counters: EdgeCounters;
  readonly log: EdgeLogger;
}

/** One received message on its way through; lives for that message only. */
interface Exchange {
  readonly transport: Transport;
  readonly client: ClientAddress;
  readonly size: number;
  /** performance.now() at receipt; 0 without an observer. */
  readonly started: number;
}

export class MessageHandler {
  private readonly handler: DnsHandler;
  private readonly ecsEnabled: boolean;
  private readonly observer: QueryObserver | undefined;
  private readonly counters: EdgeCounters;
  private readonly log: EdgeLogger;

  constructor(options: MessageHandlerOptions) {
    this.handler = options.handler;
    this.ecsEnabled = options.ecsEnabled;
    this.observer = options.observer;
    this.counters = options.counters;
    this.log = options.log;
  }

  /** The reply, null for "send nothing", or a promise of either that never rejects. */
  readonly handle = (message: Buffer, transport: Transport, client: ClientAddress): Buffer | null | Promise<Buffer | null> => {
    this.counters.queries[transport]++;
    const ex: Exchange = { transport, client, size: message.length, started: this.observer ? performance.now() : 0 };
    const decoded = decodeQuery(message, transport, { ecs: this.ecsEnabled });
    if (!decoded.ok) return this.rejectUndecoded(ex, decoded);
    const query = decoded.query;
    if (!query.simple) {
      const reason = generalPathError(message);
      if (reason !== undefined) return this.rejectGeneralPath(ex, query, reason);
    }
    let result: HandlerResult | PromiseLike<HandlerResult>;
    try {
      result = this.handler(requestOf(query, transport, client));
    } catch (err) {
      return this.failed(ex, query, err);
    }
    if (!isPromiseLike(result)) return this.answered(ex, query, result);
    // D5: a rejection never escapes.
    return Promise.resolve(result).then(
      (r) => this.answered(ex, query, r),
      (err: unknown) => this.failed(ex, query, err),
    );
  };

  /** Route step 1 for a message the decoder could not take as a query. */
  private rejectUndecoded(ex: Exchange, decoded: DecodeFailure): Buffer | null {
    const verdict = edgeVerdict(decoded.action);
    if (verdict === 'drop' || decoded.action === 'drop') {
      this.counters.dropped++;
      this.log.debug({ transport: ex.transport, client: ex.client.address, reason: decoded.reason }, 'query dropped');
      this.report(ex, 'dropped', null, decoded.id);
      return null;
    }
    const rejection = decoded;
    this.counters[rejection.action]++;
    this.log.debug(
      { transport: ex.transport, client: ex.client.address, rcode: rejection.action, reason: rejection.reason },
      'query rejected',
    );
    const reply = encodeResponse(replyContextOf(rejection), {
      rcode: verdict,
      maxSize: responseSizeLimit(ex.transport, rejection.edns),
    }).message;
    if (this.observer) {
      this.emit({ ...this.eventBase(ex), id: rejection.id, edns: rejection.edns, outcome: rejection.action, reply });
    }
    return reply;
  }

  /** Route step 1 for an uncommon shape dns2's parser finds malformed (D9). */
  private rejectGeneralPath(ex: Exchange, query: DecodedQuery, reason: string): Buffer {
    this.counters.formerr++;
    this.log.debug({ transport: ex.transport, client: ex.client.address, rcode: 'formerr', reason }, 'query rejected');
    const reply = encodeResponse(replyContextOf(query), {
      rcode: edgeVerdict('formerr') as number,
      maxSize: responseSizeLimit(ex.transport, query.edns),
    }).message;
    if (this.observer) this.reportQuery(ex, query, 'formerr', reply);
    return reply;
  }

  /** Encode a Decision, or pass a relayed message through; an encoder refusal is route step 5. */
  private answered(ex: Exchange, query: DecodedQuery, result: HandlerResult): Buffer {
    let reply: Buffer;
    try {
      reply = this.encode(ex.transport, query, result);
    } catch (err) {
      // A record the encoder refuses (bad address text, over-long name) is a bug upstream of us.
      return this.failed(ex, query, err);
    }
    if (this.observer) this.reportQuery(ex, query, 'answered', reply, result.kind === 'encoded' ? result.decision : result);
    return reply;
  }

  private encode(transport: Transport, query: DecodedQuery, result: HandlerResult): Buffer {
    if (result.kind === 'relay' || result.kind === 'encoded') {
      if (result.truncated) this.counters.truncated++;
      return result.message;
    }
    const encoded = encodeDecision(replyContextOf(query), result, this.ecsEnabled, responseSizeLimit(transport, query.edns));
    if (encoded.truncated) this.counters.truncated++;
    return encoded.message;
  }

  /** Route step 5: SERVFAIL, one log line (consolidated by the caller's logger). */
  private failed(ex: Exchange, query: DecodedQuery, err: unknown): Buffer {
    this.counters.servfailOnException++;
    this.log.error(
      { ...errorFields(err), qname: query.question.name, qtype: query.question.type, transport: ex.transport },
      'query handling failed; answered SERVFAIL',
    );
    const reply = encodeResponse(replyContextOf(query), {
      rcode: FAILURE_RCODE,
      maxSize: responseSizeLimit(ex.transport, query.edns),
    }).message;
    if (this.observer) this.reportQuery(ex, query, 'servfail', reply);
    return reply;
  }

  // --- the observer ----------------------------------------------------------------------------

  private eventBase(ex: Exchange): Pick<QueryEvent, 'transport' | 'client' | 'size' | 'durationSeconds'> {
    return { transport: ex.transport, client: ex.client, size: ex.size, durationSeconds: (performance.now() - ex.started) / 1000 };
  }

  private report(ex: Exchange, outcome: QueryEvent['outcome'], reply: Buffer | null, id: number | undefined): void {
    if (this.observer) this.emit({ ...this.eventBase(ex), id, outcome, reply });
  }

  private reportQuery(
    ex: Exchange,
    query: DecodedQuery,
    outcome: QueryEvent['outcome'],
    reply: Buffer,
    result?: QueryEvent['result'],
  ): void {
    this.emit({
      transport: ex.transport,
      client: ex.client,
      size: ex.size,
      id: query.header.id,
      question: query.question,
      edns: query.edns,
      outcome,
      result,
      reply,
      durationSeconds: (performance.now() - ex.started) / 1000,
    });
  }

  /** A throwing observer is a bug, logged, never allowed to reach a socket. */
  private emit(event: QueryEvent): void {
    try {
      this.observer!.observe(event);
    } catch (err) {
      this.log.error(errorFields(err), 'query observer failed');
    }
  }
}
