/**
 * Size limits and protocol constants shared by the DNS wire codec (PURE).
 *
 * Owns: the numbers the decoder (decode.ts), the encoder (encode.ts) and the name helpers
 * (names.ts) must agree on, each with the RFC or KNOWN-DEFECTS entry it comes from.
 *
 * Never: holds logic or imports anything. A constant private to one of those files stays there.
 *
 * Invariants: MIN_UDP_PAYLOAD ≤ ADVERTISED_UDP_PAYLOAD ≤ MAX_UDP_QUERY ≤ MAX_TCP_MESSAGE.
 */

/** RFC 1035 §4.1.1. */
export const HEADER_SIZE = 12;
/** RFC 1035 §2.3.4: the classic UDP message limit, and the floor for any EDNS payload size. */
export const MIN_UDP_PAYLOAD = 512;
/** Largest UDP query we accept at all; larger datagrams are dropped unparsed (KNOWN-DEFECTS D2). */
export const MAX_UDP_QUERY = 4096;
/** RFC 1035 §4.2.2: the TCP length prefix is 16 bits. */
export const MAX_TCP_MESSAGE = 65535;
/** DNS Flag Day 2020: the UDP payload size we advertise and the cap on any UDP reply (D11). */
export const ADVERTISED_UDP_PAYLOAD = 1232;
/** RFC 7871 §6. */
export const EDNS_OPTION_ECS = 8;
/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, its root label included. */
export const MAX_NAME = 255;
