/**
 * DNS wire codec for the query hot path (PURE): the public surface of decode.ts, encode.ts,
 * names.ts and limits.ts, for callers outside src/dns.
 *
 * Owns: nothing of its own; it only re-exports. Modules inside src/dns import the file that owns
 * what they need.
 *
 * Never: holds logic, or parses IP addresses: the IP codec lives in src/util/ip.ts (the one
 * parser) and is re-exported here for the codec's callers.
 *
 * Invariants: see the headers of decode.ts (decodeQuery never throws and is linear in the message
 * length), encode.ts (encodeResponse never exceeds its size limit and keeps OPT) and names.ts
 * (the presentation format is injective).
 */
export { formatIPv4, formatIPv6, ipv4Word, parseIPv4, parseIPv6 } from '../util/ip.js';
export { ADVERTISED_UDP_PAYLOAD, EDNS_OPTION_ECS, HEADER_SIZE, MAX_TCP_MESSAGE, MAX_UDP_QUERY, MIN_UDP_PAYLOAD } from './limits.js';
export { WalkError, labelToPresentation, presentationToLabels, skipName } from './names.js';
export {
  decodeEcs,
  decodeQuery,
  readOptions,
  type DecodeDrop,
  type DecodeFailure,
  type DecodeOptions,
  type DecodeRejection,
  type DecodeResult,
  type DecodedQuery,
  type QueryHeader,
} from './decode.js';
export {
  answerRecordBudget,
  encodeErrorResponse,
  encodeQuestion,
  encodeResponse,
  rcodeOfRejection,
  replyContextOf,
  responseSizeLimit,
  type EncodedResponse,
  type ReplyContext,
  type ResponseSpec,
} from './encode.js';
