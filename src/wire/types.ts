/**
 * Contract between the DNS edge and whatever answers queries (types only, PURE): the vocabulary
 * the edge, the route, the forwarder, metrics and the query log share.
 *
 * Owns: the decoded request the edge hands to a handler, the result a handler returns, and the
 * event the edge reports for every message.
 * Never: knows sockets, dns2 or the answer logic; a handler never sees a malformed query.
 * Invariants: a DnsRequest has exactly one question (QDCOUNT=1, RFC 1035 §4.1.2 as used by every
 * implementation), opcode QUERY, and at most one valid EDNS(0) OPT (RFC 6891 §6.1.1). The question
 * name is lowercase presentation format with no trailing dot; bytes that are not printable ASCII,
 * and a literal '.' or '\' inside a label, are escaped (`\.`, `\\`, `\DDD`, RFC 4343 §2.1), so a
 * label that contains a dot can never look like two labels.
 */
import type { Decision, Question } from '../answer/types.js';

export type Transport = 'udp' | 'tcp';

/** One EDNS option as it came on the wire (RFC 6891 §6.1.2); unknown codes are kept, not interpreted. */
export interface EdnsOption {
  readonly code: number;
  readonly data: Buffer;
}

/** A validated EDNS Client Subnet option (RFC 7871 §6). */
export interface ClientSubnet {
  /** 1 = IPv4, 2 = IPv6 (IANA address family numbers). */
  readonly family: 1 | 2;
  readonly sourcePrefix: number;
  /** As sent by the client; RFC 7871 §6 says queries set it to 0. */
  readonly scopePrefix: number;
  /** The subnet address, zero-padded to a full address, in canonical text form. */
  readonly address: string;
  /** ADDRESS exactly as on the wire (ceil(sourcePrefix/8) octets), echoed byte for byte (§7.2.1). */
  readonly addressBytes: Buffer;
}

/** What the query's OPT pseudo-record said (RFC 6891 §6.1.3). */
export interface EdnsInfo {
  /** The requestor's UDP payload size, as sent (values below 512 are treated as 512, §6.2.5). */
  readonly udpPayloadSize: number;
  readonly version: number;
  /** DO bit (RFC 3225 §3). */
  readonly dnssecOk: boolean;
  /** Every option in wire order, including ECS and unknown ones. */
  readonly options: readonly EdnsOption[];
  /** Present only when the query carried a valid ECS option and ECS is enabled on this server. */
  readonly ecs?: ClientSubnet | undefined;
}

export interface ClientAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

export interface DnsRequest {
  readonly id: number;
  readonly question: Question;
  /** The question section exactly as received (QNAME, QTYPE, QCLASS), in the client's case. */
  readonly rawQuestion: Buffer;
  /** RD, AD (RFC 6840 §5.7: the client understands AD) and CD, as the query set them. */
  readonly flags: { readonly rd: boolean; readonly ad: boolean; readonly cd: boolean };
  /** Present iff the query had an OPT record. */
  readonly edns?: EdnsInfo | undefined;
  readonly transport: Transport;
  readonly client: ClientAddress;
}

/**
 * A complete reply built elsewhere from upstream octets (the forwarder relays bytes rather than
 * re-encoding them: KNOWN-DEFECTS D12, D13). It already carries the query's ID and question and is
 * already fitted to the transport's limit (responseSizeLimit); the edge sends it as is.
 */
export interface RelayResult {
  readonly kind: 'relay';
  readonly message: Buffer;
  /** TC was set because answer or authority records did not fit. */
  readonly truncated: boolean;
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

/** A relayed reply plus how the forwarder obtained it (src/forward/forwarder.ts). */
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

/**
 * An in-zone decision the route already encoded (src/route/route.ts, with its answer cache): the
 * edge sends `message` as is and reports `decision`.
 */
export interface EncodedResult {
  readonly kind: 'encoded';
  readonly message: Buffer;
  /** TC was set because answer or authority records did not fit. */
  readonly truncated: boolean;
  readonly decision: Decision;
}

/**
 * What a handler returns, discriminated by `kind`: an answer-core Decision, which the edge encodes,
 * or a RelayResult or EncodedResult, which it sends as is.
 */
export type HandlerResult = Decision | RelayResult | EncodedResult;

/**
 * Answers one query. May be sync or async. It may throw or reject: the edge turns that into
 * SERVFAIL plus one log line, and never lets it reach the event loop (KNOWN-DEFECTS D5).
 */
export type DnsHandler = (request: DnsRequest) => HandlerResult | Promise<HandlerResult>;

/** What happened to one received message (src/ops/metrics.ts, src/ops/query-log.ts). */
export interface QueryEvent {
  readonly transport: Transport;
  readonly client: ClientAddress;
  /** Octets received. */
  readonly size: number;
  /** Present when the message was decoded far enough to echo; absent for unreadable drops. */
  readonly id?: number | undefined;
  readonly question?: { readonly name: string; readonly type: number; readonly class: number } | undefined;
  readonly edns?: EdnsInfo | undefined;
  /**
   * `answered`: the handler's result was sent; `formerr`/`notimp`/`badvers`: rejected by the edge;
   * `servfail`: the handler threw or its result could not be encoded; `dropped`: nothing was sent.
   */
  readonly outcome: 'answered' | 'formerr' | 'notimp' | 'badvers' | 'servfail' | 'dropped';
  /** The handler's result (outcome `answered`); for an EncodedResult, the decision it encodes. */
  readonly result?: Decision | RelayResult | undefined;
  /** The reply sent, or null when dropped. */
  readonly reply: Buffer | null;
  /** From receipt to reply ready, in seconds. */
  readonly durationSeconds: number;
}

export interface QueryObserver {
  observe(event: QueryEvent): void;
}
