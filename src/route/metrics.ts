/**
 * Metrics of the route's answer cache (docs/metrics.md, DNS): its size and how often it answers.
 * Read from AnswerCache.stats() at scrape time; absent while `dns.answerCache.enabled` is false.
 */
import { single, type SnapshotFamily } from '../util/metric-family.js';
import type { AnswerCacheStats } from './answer-cache.js';

export const ANSWER_CACHE_METRICS: readonly SnapshotFamily<AnswerCacheStats>[] = [
  {
    name: 'gsdns_dns_answer_cache_entries',
    type: 'gauge',
    help: 'Encoded in-zone replies held by the answer cache (dns.answerCache.maxEntries bounds it).',
    labels: [],
    collect: (s) => single(s.entries),
  },
  {
    name: 'gsdns_dns_answer_cache_bytes',
    type: 'gauge',
    help: 'Octets held by the answer cache: replies, keys and bookkeeping (dns.answerCache.maxBytes bounds it).',
    labels: [],
    collect: (s) => single(s.bytes),
  },
  {
    name: 'gsdns_dns_answer_cache_hits_total',
    type: 'counter',
    help: 'In-zone queries answered from the answer cache (a reply encoded before, for the same key and generation).',
    labels: [],
    collect: (s) => single(s.hits),
  },
  {
    name: 'gsdns_dns_answer_cache_misses_total',
    type: 'counter',
    help: 'Queries the answer cache did not answer: never seen, evicted, or invalidated by a change since (names outside the zones included).',
    labels: [],
    note: 'Every change that can alter an answer invalidates the whole cache: catalogs, endpoints, freshness, gateway health and RTT (each probe), source readiness.',
    collect: (s) => single(s.misses),
  },
];
