/**
 * Metrics of the route (docs/metrics.md, DNS): the answer cache's size and how often it answers,
 * read from AnswerCache.stats() at scrape time and absent while `dns.answerCache.enabled` is false;
 * and the answers by the cluster sent first, counted per query by src/ops/metrics.ts observeQuery.
 */
import { single, type MetricFamily, type SnapshotFamily } from '../util/metric-family.js';

export const ANSWERS_BY_CLUSTER: MetricFamily = {
  name: 'gsdns_dns_answers_by_cluster_total',
  type: 'counter',
  help: 'Positive answers for services, by the cluster whose address was sent first (this cluster for a local answer).',
  labels: ['cluster'],
  labelValues: { cluster: 'a cluster name (bounded by the catalogs held)' },
  note: 'What a first-address client reaches: the shares that rotation, policy weighted and dns.localShare produce show here.',
};
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
