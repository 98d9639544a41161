/**
 * Metrics of the ops HTTP listeners (docs/metrics.md, Ops HTTP), read from HttpListenerStats at
 * scrape time. `listener` is ops, or debug when /debug has its own listener.
 */
import { HTTP_CLOSE_REASONS, type HttpListenerStats } from './http.js';
import type { SnapshotFamily } from '../util/metric-family.js';

export const HTTP_METRICS: readonly SnapshotFamily<readonly HttpListenerStats[]>[] = [
  {
    name: 'gsdns_http_connections',
    type: 'gauge',
    help: 'Open HTTP connections, by listener (ops, debug).',
    labels: ['listener'],
    labelValues: { listener: 'ops, debug' },
    note: 'See [ops HTTP](operations.md#ops-endpoints).',
    collect: (listeners) => listeners.map((l) => [{ listener: l.listener }, l.open] as const),
  },
  {
    name: 'gsdns_http_connections_closed_total',
    type: 'counter',
    help: 'HTTP connections the server closed, by listener and reason: silent (no byte sent), idle (keep-alive, no new request), headers (request not received in time), malformed, evicted (idle longest, closed at http.maxConnections), refused (at the cap with every connection busy).',
    labels: ['listener', 'reason'],
    labelValues: { reason: HTTP_CLOSE_REASONS.map((r) => `\`${r}\``).join(', ') },
    note: '`silent` and `idle` are timed by `http.idleTimeoutMs`, `headers` by `http.headersTimeoutMs`.',
    collect: (listeners) =>
      listeners.flatMap((l) => HTTP_CLOSE_REASONS.map((reason) => [{ listener: l.listener, reason }, l.closed[reason]] as const)),
  },
];
