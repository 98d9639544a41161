/**
 * Metrics of the DNS edge: the per-query families and the edge's counters (docs/metrics.md, DNS).
 *
 * Owns: their names, help, labels and buckets, and reading DnsEdgeStats into samples (the label
 * values of a query, its type, source and rcode, come from src/wire/labels.ts). Never: labels with a client address or a query name.
 * Invariants: the five per-query families are only declared here; src/ops/metrics.ts counts them
 * in plain numbers per query (observeQuery) without going through prom-client.
 */
import type { DnsEdgeStats } from './types.js';
import { MONITORED_TYPES, RESPONSE_SOURCES } from '../wire/labels.js';

/** CoreDNS's request-duration buckets: prometheus.ExponentialBuckets(0.00025, 2, 16), 0.25 ms … 8.2 s. */
export const DURATION_BUCKETS: readonly number[] = Array.from({ length: 16 }, (_, i) => 0.00025 * 2 ** i);
/** CoreDNS's request/response size buckets (octets). */
export const SIZE_BUCKETS: readonly number[] = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3];
import { single, type MetricFamily, type SnapshotFamily } from '../util/metric-family.js';

const PROTO = 'udp, tcp';
const code = (values: readonly string[]): string => values.map((v) => `\`${v}\``).join(', ');
const SOURCE = `${code(RESPONSE_SOURCES)}; see below`;

// --- Per query (counted by src/ops/metrics.ts observeQuery) -------------------------------------

export const DNS_REQUESTS: MetricFamily = {
  name: 'gsdns_dns_requests_total',
  type: 'counter',
  help: 'DNS messages received, by transport, address family and query type.',
  labels: ['proto', 'family', 'type'],
  labelValues: { proto: PROTO, family: '1 IPv4, 2 IPv6', type: `${[...MONITORED_TYPES.values()].join(', ')}, other` },
  note: 'Malformed and dropped messages count too (`type="other"` when unreadable).',
};
export const DNS_RESPONSES: MetricFamily = {
  name: 'gsdns_dns_responses_total',
  type: 'counter',
  help: 'DNS replies sent, by RCODE name and where the answer came from.',
  labels: ['rcode', 'source'],
  labelValues: { rcode: '`NOERROR`, `NXDOMAIN`, …', source: SOURCE },
};
export const DNS_DURATION: MetricFamily = {
  name: 'gsdns_dns_request_duration_seconds',
  type: 'histogram',
  help: 'Time from receiving a query to having its reply ready, by answer source.',
  labels: ['source'],
  buckets: DURATION_BUCKETS,
  note: "CoreDNS's buckets, 0.25 ms to 8.2 s doubling.",
};
export const DNS_REQUEST_SIZE: MetricFamily = {
  name: 'gsdns_dns_request_size_bytes',
  type: 'histogram',
  help: 'Size of received DNS messages in octets, by transport.',
  labels: ['proto'],
  buckets: SIZE_BUCKETS,
  note: "CoreDNS's size buckets.",
};
export const DNS_RESPONSE_SIZE: MetricFamily = {
  name: 'gsdns_dns_response_size_bytes',
  type: 'histogram',
  help: 'Size of sent DNS replies in octets, by transport.',
  labels: ['proto'],
  buckets: SIZE_BUCKETS,
};

// --- Read from DnsEdgeStats at scrape time ------------------------------------------------------

const TCP_CLOSE_REASONS = ['idle', 'message_timeout', 'evicted_idle', 'evicted_incomplete', 'malformed'] as const;

export const DNS_EDGE_SNAPSHOTS: readonly SnapshotFamily<DnsEdgeStats>[] = [
  {
    name: 'gsdns_dns_dropped_total',
    type: 'counter',
    help: 'Messages dropped unanswered (unreadable, a response, or from port 0).',
    labels: [],
    collect: (s) => single(s.dropped),
  },
  {
    name: 'gsdns_dns_panics_total',
    type: 'counter',
    help: 'Queries whose handling threw and were answered SERVFAIL (a bug; see the error log).',
    labels: [],
    collect: (s) => single(s.servfailOnException),
  },
  {
    name: 'gsdns_dns_truncated_total',
    type: 'counter',
    help: 'Replies sent with TC set because they did not fit.',
    labels: [],
    collect: (s) => single(s.truncated),
  },
  {
    name: 'gsdns_dns_udp_bind_failures_total',
    type: 'counter',
    help: 'Binds of a local address under a wildcard dns.listen that failed (retried at each interface rescan).',
    labels: [],
    collect: (s) => single(s.udpBindFailures),
  },
  {
    name: 'gsdns_dns_tcp_connections',
    type: 'gauge',
    help: 'Open DNS-over-TCP connections.',
    labels: [],
    collect: (s) => single(s.tcpConnectionsOpen),
  },
  {
    name: 'gsdns_dns_tcp_connections_rejected_total',
    type: 'counter',
    help: 'New TCP connections refused at dns.tcp.maxConnections or maxConnectionsPerClient because every connection that could make room had a query in flight.',
    labels: [],
    collect: (s) => single(s.tcpConnectionsRejected),
  },
  {
    name: 'gsdns_dns_tcp_connections_closed_total',
    type: 'counter',
    help: 'TCP connections the server destroyed, by reason.',
    labels: ['reason'],
    labelValues: { reason: code(TCP_CLOSE_REASONS) },
    note: 'Idle for `dns.tcp.idleTimeoutMs`, a message not whole within `dns.tcp.messageTimeoutMs` of its first octet, closed at a cap to admit a new connection (between messages, or mid-message), or a peer that sent what no DNS client sends.',
    collect: (s) => {
      const counts = [s.tcpIdleTimeouts, s.tcpMessageTimeouts, s.tcpEvictedIdle, s.tcpEvictedIncomplete, s.tcpClosedMalformed];
      return TCP_CLOSE_REASONS.map((reason, i) => [{ reason }, counts[i]!] as const);
    },
  },
];

/** Read from the degraded-answer log's count (src/ops/degraded-log.ts). */
export const DNS_FAIL_OPEN: SnapshotFamily<number> = {
  name: 'gsdns_dns_fail_open_answers_total',
  type: 'counter',
  help: 'Answers given with unhealthy gateways because no healthy candidate existed (source="degraded").',
  labels: [],
  collect: single,
};

/** Every DNS family, in the order docs/metrics.md lists them. */
export const DNS_METRICS: readonly MetricFamily[] = [
  DNS_REQUESTS,
  DNS_RESPONSES,
  DNS_DURATION,
  DNS_REQUEST_SIZE,
  DNS_RESPONSE_SIZE,
  ...DNS_EDGE_SNAPSHOTS,
  DNS_FAIL_OPEN,
];
