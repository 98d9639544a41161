/**
 * Metrics of forwarding (docs/metrics.md, Forwarding): read from ForwardStats at scrape time, plus
 * the per-try duration histogram observed through the forwarder's onTry hook.
 *
 * Never: labels with an upstream's address. `upstream` is its position in `forward.upstreams`
 * (resolv.conf expanded); /debug/forward maps positions to addresses.
 */
import type { ForwardStats } from './forwarder.js';
import { single, type MetricFamily, type SnapshotFamily } from '../util/metric-family.js';

/** Upstream tries, from 1 ms to 32 s. */
export const UPSTREAM_TRY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 32];

const UPSTREAM = 'position in `forward.upstreams`';

export const FORWARD_SNAPSHOTS: readonly SnapshotFamily<ForwardStats>[] = [
  {
    name: 'gsdns_forward_requests_total',
    type: 'counter',
    help: 'Out-of-zone queries from allowed clients.',
    labels: [],
    collect: (s) => single(s.queries),
  },
  {
    name: 'gsdns_forward_refused_total',
    type: 'counter',
    help: 'Out-of-zone queries refused because the client is outside forward.allowFrom.',
    labels: [],
    collect: (s) => single(s.refused),
  },
  {
    name: 'gsdns_forward_cache_hits_total',
    type: 'counter',
    help: 'Forwarded queries answered from the cache (fresh).',
    labels: [],
    collect: (s) => single(s.cacheHits),
  },
  {
    name: 'gsdns_forward_cache_misses_total',
    type: 'counter',
    help: 'Forwarded queries not in the cache.',
    labels: [],
    collect: (s) => single(s.cacheMisses),
  },
  {
    name: 'gsdns_forward_cache_entries',
    type: 'gauge',
    help: 'Entries in the forwarding cache.',
    labels: [],
    collect: (s) => single(s.cacheEntries),
  },
  {
    name: 'gsdns_forward_cache_size_bytes',
    type: 'gauge',
    help: 'Octets held by the forwarding cache.',
    labels: [],
    collect: (s) => single(s.cacheBytes),
  },
  {
    name: 'gsdns_forward_stale_served_total',
    type: 'counter',
    help: 'Stale cache entries served because no upstream answered (RFC 8767).',
    labels: [],
    collect: (s) => single(s.staleServed),
  },
  {
    name: 'gsdns_forward_coalesced_total',
    type: 'counter',
    help: 'Queries that waited on an identical exchange already in flight.',
    labels: [],
    collect: (s) => single(s.coalesced),
  },
  {
    name: 'gsdns_forward_overload_total',
    type: 'counter',
    help: 'Queries refused a new exchange by forward.maxInFlight or the waiter bound.',
    labels: [],
    note: 'They get SERVFAIL, or a stale answer, at once.',
    collect: (s) => single(s.overloadRejected),
  },
  { name: 'gsdns_forward_in_flight', type: 'gauge', help: 'Upstream exchanges in flight.', labels: [], collect: (s) => single(s.inFlight) },
  {
    name: 'gsdns_forward_upstream_requests_total',
    type: 'counter',
    help: 'Tries sent to each upstream (label: its position in forward.upstreams; /debug/forward lists the addresses), by outcome: the reply RCODE name, or timeout / error (network error or refused port).',
    labels: ['upstream', 'rcode'],
    labelValues: { upstream: UPSTREAM, rcode: 'RCODE name, `timeout`, `error`' },
    collect: (s) =>
      s.upstreams.flatMap((u) => [
        ...Object.entries(u.responses).map(([rcode, n]) => [{ upstream: String(u.index), rcode }, n] as const),
        [{ upstream: String(u.index), rcode: 'timeout' }, u.timeouts] as const,
        [{ upstream: String(u.index), rcode: 'error' }, u.errors] as const,
      ]),
  },
  {
    name: 'gsdns_forward_upstream_healthy',
    type: 'gauge',
    help: '1 while an upstream is in use, 0 while it is marked down.',
    labels: ['upstream'],
    labelValues: { upstream: UPSTREAM },
    collect: (s) => s.upstreams.map((u) => [{ upstream: String(u.index) }, u.healthy ? 1 : 0] as const),
  },
];

/** Observed per try (Forwarder's onTry), labelled with the upstream's position. */
export const FORWARD_UPSTREAM_DURATION: MetricFamily = {
  name: 'gsdns_forward_upstream_request_duration_seconds',
  type: 'histogram',
  help: 'Duration of each try against an upstream (UDP, or TCP after truncation).',
  labels: ['upstream'],
  labelValues: { upstream: UPSTREAM },
  buckets: UPSTREAM_TRY_BUCKETS,
};

export const FORWARD_METRICS: readonly MetricFamily[] = [...FORWARD_SNAPSHOTS, FORWARD_UPSTREAM_DURATION];
