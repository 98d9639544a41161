/**
 * The labels of one query's reply (PURE): its qtype folded to a bounded set, where the answer came
 * from (`source`) and its rcode. Metrics (src/ops/metrics.ts) and the query log
 * (src/ops/query-log.ts) label every query with these, so both agree.
 *
 * Never: yields a label value outside a fixed, small set (STYLE.md "Metric labels").
 */
import { rcodeName } from '../answer/types.js';
import type { QueryEvent } from './types.js';

/** Where an answer came from: the `source` label of gsdns_dns_responses_total and the duration. */
export const RESPONSE_SOURCES = ['local', 'remote', 'degraded', 'negative', 'forward', 'cache', 'refused', 'error'] as const;
export type ResponseSource = (typeof RESPONSE_SOURCES)[number];

/** The qtype label: these names, everything else "other" (CoreDNS folds types the same way). */
export const MONITORED_TYPES: ReadonlyMap<number, string> = new Map<number, string>([
  [1, 'A'],
  [2, 'NS'],
  [5, 'CNAME'],
  [6, 'SOA'],
  [12, 'PTR'],
  [15, 'MX'],
  [16, 'TXT'],
  [28, 'AAAA'],
  [33, 'SRV'],
  [35, 'NAPTR'],
  [43, 'DS'],
  [48, 'DNSKEY'],
  [64, 'SVCB'],
  [65, 'HTTPS'],
  [99, 'SPF'],
  [251, 'IXFR'],
  [252, 'AXFR'],
  [255, 'ANY'],
]);

export function typeLabel(qtype: number | undefined): string {
  return qtype === undefined ? 'other' : (MONITORED_TYPES.get(qtype) ?? 'other');
}

const FORWARD_SOURCES: Readonly<Record<string, ResponseSource>> = {
  cache: 'cache',
  stale: 'cache',
  upstream: 'forward',
  coalesced: 'forward',
  servfail: 'error',
  overload: 'error',
};

/**
 * The `source` of a reply. `error` is every reply gsdns itself made an error of: edge rejections
 * (FORMERR, NOTIMP, BADVERS), SERVFAIL from an exception, an unsynced source, or a failed or
 * overloaded forward. Zone data (SOA, NS, glue) counts as `local`.
 */
export function responseSource(outcome: QueryEvent['outcome'], result: QueryEvent['result']): ResponseSource {
  if (outcome !== 'answered' || result === undefined) return 'error';
  if (result.kind === 'relay') return FORWARD_SOURCES[(result as { source?: string }).source ?? 'upstream'] ?? 'forward';
  switch (result.kind) {
    case 'local':
    case 'apex':
    case 'chaos':
      return 'local';
    case 'remote':
      return 'remote';
    case 'degraded':
      return 'degraded';
    case 'nodata':
    case 'nxdomain':
      return 'negative';
    case 'notReady':
      return 'error';
    case 'outOfZone':
    case 'refused':
      return 'refused';
  }
}

/** RCODE name of a reply as sent (header RCODE; BADVERS lives in the OPT, RFC 6891 §6.1.3). */
export function replyRcode(outcome: QueryEvent['outcome'], reply: Buffer): string {
  if (outcome === 'badvers') return 'BADVERS';
  return rcodeName(reply.length >= 4 ? reply[3]! & 0x0f : 2);
}
