/**
 * Prometheus metrics (edge): every `gsdns_*` family, on one prom-client Registry served at /metrics
 * (SPEC §5; names follow CoreDNS where it has an equivalent).
 *
 * Owns: metric names, help texts, label sets and buckets; turning the modules' counters (stats()
 * and status() snapshots, read at scrape time) and their observation hooks into samples.
 * Never: puts an IP address, a query name or a service name in a label (STYLE.md "Metric labels").
 * `upstream` is an upstream's position in `forward.upstreams` (resolv.conf expanded), never its
 * address (/debug/forward maps positions to addresses). Peers and clusters are bounded by config
 * and the sync CA; qtype is folded to a fixed set plus "other".
 * Invariants:
 * - The per-query families (requests, responses, duration, sizes) are counted by `observeQuery` in
 *   plain numbers and typed arrays and handed to prom-client as metric objects at scrape time.
 *   prom-client's own labelled `inc`/`observe` cost 2.3 to 3.9 µs for the five per-query updates
 *   on this machine (bench/metrics-micro.ts), about a fifth of the whole query budget at 50k qps.
 * - Counters read from snapshots are rebuilt on every scrape, so a series whose source is gone (a
 *   removed peer or upstream) disappears instead of freezing.
 */
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type Metric,
} from 'prom-client';
import type { QueryEvent } from '../dns/server.js';
import { logLoss } from '../log.js';
import type { DnsEdgeStats } from '../dns/server.js';
import type { HandlerResult } from '../dns/types.js';
import type { ForwardResult, ForwardStats } from '../forward/forwarder.js';
import type { ProberStats } from '../health/prober.js';
import type { KubernetesSourceStatus } from '../sources/kubernetes/informers.js';
import type { SyncStatus } from '../sync/service.js';
import type { PeerState } from '../sync/client.js';
import { SYNC_REFUSALS } from '../sync/server.js';
import { rcodeName } from './presentation.js';
import { HTTP_CLOSE_REASONS, type HttpListenerStats } from './http.js';

/** Where an answer came from: the `source` label of gsdns_dns_responses_total (docs/metrics.md). */
export type ResponseSource = 'local' | 'remote' | 'degraded' | 'negative' | 'forward' | 'cache' | 'refused' | 'error';

/** CoreDNS's request-duration buckets: prometheus.ExponentialBuckets(0.00025, 2, 16), 0.25 ms … 8.2 s. */
export const DURATION_BUCKETS: readonly number[] = Array.from({ length: 16 }, (_, i) => 0.00025 * 2 ** i);
/** CoreDNS's request/response size buckets (octets). */
export const SIZE_BUCKETS: readonly number[] = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3];
/** Upstream tries, gateway probes and Kubernetes programming: 1 ms … 32 s. */
const SLOW_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 32];

/** The qtype label: these names, everything else "other" (CoreDNS folds types the same way). */
const MONITORED_TYPES = new Map<number, string>([
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

const FORWARD_SOURCES: Readonly<Record<ForwardResult['source'], ResponseSource>> = {
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
export function responseSource(outcome: QueryEvent['outcome'], result: HandlerResult | undefined): ResponseSource {
  if (outcome !== 'answered' || result === undefined) return 'error';
  if (result.kind === 'relay') return FORWARD_SOURCES[(result as Partial<ForwardResult>).source ?? 'upstream'] ?? 'forward';
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

// -------------------------------------------------------------------------------------------------
// Hot-path metric objects: counted in plain numbers, formatted by prom-client's Registry.
// -------------------------------------------------------------------------------------------------

/**
 * What prom-client's Registry reads from a metric at scrape time (registry.js getMetricsAsString:
 * name, help, type as the exposition word, and values with optional metricName). Its .d.ts types
 * `type` as an enum that the runtime does not use, hence this local shape.
 */
interface Exposition {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  readonly values: readonly { readonly metricName?: string; readonly labels: Readonly<Record<string, string | number>>; readonly value: number }[];
}

interface CounterCell {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

/** A counter whose cells are looked up by a caller-built key; `get()` is prom-client's metric shape. */
class HotCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly cells = new Map<string, CounterCell>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** The cell for `key`, made with `labels()` the first time. */
  cell(key: string, labels: () => Record<string, string>): CounterCell {
    let c = this.cells.get(key);
    if (c === undefined) {
      c = { labels: labels(), value: 0 };
      this.cells.set(key, c);
    }
    return c;
  }

  get(): Promise<Exposition> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: [...this.cells.values()].map((c) => ({ labels: c.labels, value: c.value })),
    });
  }
}

interface HistogramCell {
  readonly labels: Readonly<Record<string, string>>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** A histogram with one label; cumulative buckets are computed at scrape time. */
class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly cells = new Map<string, HistogramCell>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly buckets: readonly number[],
  ) {}

  observe(labelValue: string, value: number): void {
    let c = this.cells.get(labelValue);
    if (c === undefined) {
      c = { labels: { [this.labelName]: labelValue }, counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
      this.cells.set(labelValue, c);
    }
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        c.counts[i]!++;
        break;
      }
    }
    c.sum += value;
    c.count++;
  }

  get(): Promise<Exposition> {
    const values: Exposition['values'][number][] = [];
    for (const c of this.cells.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += c.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le: this.buckets[i]! }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le: '+Inf' }, value: c.count });
      values.push({ metricName: `${this.name}_sum`, labels: c.labels, value: c.sum });
      values.push({ metricName: `${this.name}_count`, labels: c.labels, value: c.count });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}

// -------------------------------------------------------------------------------------------------

/** Where scrape-time values come from; a getter returns undefined while its module is absent. */
export interface MetricsSources {
  readonly dnsEdge: () => DnsEdgeStats;
  readonly forward: () => ForwardStats;
  readonly registry: () => { readonly local: number; readonly remote: number };
  readonly sync: () => SyncStatus | undefined;
  readonly health: () => ProberStats | undefined;
  readonly kubernetes: () => KubernetesSourceStatus | undefined;
  /** 1 ok, 0 failing, undefined while the self-test is off or has not run. */
  readonly stubWiring: () => 0 | 1 | undefined;
  readonly failOpenAnswers: () => number;
  /** Every ops HTTP listener (ops, and debug when /debug has its own); absent reads as none. */
  readonly http?: () => readonly HttpListenerStats[];
  /** Whether geoip-lite (about 150 MB) is in memory; absent reads as not loaded. */
  readonly geoipLoaded?: () => boolean;
}

/**
 * Which optional modules run. Their families are registered only then, so a gauge never reads a
 * misleading 0 (gsdns_stub_wiring_ok with the self-test off, gsdns_kubernetes_synced with a file).
 */
export interface MetricsFeatures {
  readonly sync: boolean;
  readonly health: boolean;
  readonly kubernetes: boolean;
  readonly selfTest: boolean;
}

export interface BuildInfo {
  readonly version: string;
  readonly nodeVersion: string;
}

const PEER_STATES: readonly PeerState[] = ['connecting', 'synced', 'stale', 'withdrawn', 'rejected'];

type Snapshot = () => Iterable<readonly [Record<string, string>, number]>;

/**
 * A counter or gauge whose values are read from a module's snapshot at scrape time. Every series
 * is rebuilt on each scrape, so one whose source is gone disappears instead of freezing.
 */
function snapshotMetric(kind: 'counter' | 'gauge', registry: Registry, name: string, help: string, labelNames: readonly string[], read: Snapshot): void {
  const common = { name, help, labelNames: [...labelNames], registers: [registry] };
  if (kind === 'counter') {
    new Counter({
      ...common,
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
  } else {
    new Gauge({
      ...common,
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  }
}

const snapshotCounter = (registry: Registry, name: string, help: string, labelNames: readonly string[], read: Snapshot): void =>
  snapshotMetric('counter', registry, name, help, labelNames, read);
const snapshotGauge = (registry: Registry, name: string, help: string, labelNames: readonly string[], read: Snapshot): void =>
  snapshotMetric('gauge', registry, name, help, labelNames, read);

export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new HotCounter('gsdns_dns_requests_total', 'DNS messages received, by transport, address family and query type.');
  private readonly responses = new HotCounter('gsdns_dns_responses_total', 'DNS replies sent, by RCODE name and where the answer came from.');
  private readonly duration = new HotHistogram(
    'gsdns_dns_request_duration_seconds',
    'Time from receiving a query to having its reply ready, by answer source.',
    'source',
    DURATION_BUCKETS,
  );
  private readonly requestSize = new HotHistogram('gsdns_dns_request_size_bytes', 'Size of received DNS messages in octets, by transport.', 'proto', SIZE_BUCKETS);
  private readonly responseSize = new HotHistogram('gsdns_dns_response_size_bytes', 'Size of sent DNS replies in octets, by transport.', 'proto', SIZE_BUCKETS);
  private readonly upstreamDuration: Histogram<'upstream'>;
  private readonly probeDuration: Histogram<'cluster'> | undefined;
  private readonly probeFailures: Counter<'cluster'> | undefined;
  private readonly programming: Histogram<string> | undefined;
  private readonly selfTests: Counter<'result'> | undefined;

  constructor(sources: MetricsSources, features: MetricsFeatures, build: BuildInfo) {
    const r = this.registry;
    for (const m of [this.requests, this.responses, this.duration, this.requestSize, this.responseSize]) {
      // Hot-path families implement prom-client's metric shape (get/name/help/type) themselves.
      r.registerMetric(m as unknown as Metric);
    }

    // --- DNS edge -------------------------------------------------------------------------------
    snapshotCounter(r, 'gsdns_dns_dropped_total', 'Messages dropped unanswered (unreadable, a response, or from port 0).', [], () => [[{}, sources.dnsEdge().dropped]]);
    snapshotCounter(r, 'gsdns_dns_panics_total', 'Queries whose handling threw and were answered SERVFAIL (a bug; see the error log).', [], () => [
      [{}, sources.dnsEdge().servfailOnException],
    ]);
    snapshotCounter(r, 'gsdns_dns_truncated_total', 'Replies sent with TC set because they did not fit.', [], () => [[{}, sources.dnsEdge().truncated]]);
    snapshotCounter(r, 'gsdns_dns_udp_bind_failures_total', 'Binds of a local address under a wildcard dns.listen that failed (retried at each interface rescan).', [], () => [[{}, sources.dnsEdge().udpBindFailures]]);
    snapshotCounter(r, 'gsdns_log_write_errors_total', 'Writes to the log destination (stdout) that failed (EPIPE, ENOSPC, ...); their lines are retried with the next write.', [], () => [[{}, logLoss.writeErrors]]);
    snapshotCounter(r, 'gsdns_log_lines_dropped_total', 'Log lines dropped because the log destination was failing or more than 4 MiB behind.', [], () => [[{}, logLoss.dropped]]);
    snapshotGauge(r, 'gsdns_dns_tcp_connections', 'Open DNS-over-TCP connections.', [], () => [[{}, sources.dnsEdge().tcpConnectionsOpen]]);
    snapshotCounter(
      r,
      'gsdns_dns_tcp_connections_rejected_total',
      'New TCP connections refused at dns.tcp.maxConnections or maxConnectionsPerClient because every connection that could make room had a query in flight.',
      [],
      () => [[{}, sources.dnsEdge().tcpConnectionsRejected]],
    );
    snapshotCounter(r, 'gsdns_dns_tcp_connections_closed_total', 'TCP connections the server destroyed, by reason.', ['reason'], () => {
      const s = sources.dnsEdge();
      return [
        [{ reason: 'idle' }, s.tcpIdleTimeouts],
        [{ reason: 'message_timeout' }, s.tcpMessageTimeouts],
        [{ reason: 'evicted_idle' }, s.tcpEvictedIdle],
        [{ reason: 'evicted_incomplete' }, s.tcpEvictedIncomplete],
        [{ reason: 'malformed' }, s.tcpClosedMalformed],
      ];
    });
    snapshotCounter(r, 'gsdns_dns_fail_open_answers_total', 'Answers given with unhealthy gateways because no healthy candidate existed (source="degraded").', [], () => [
      [{}, sources.failOpenAnswers()],
    ]);

    // --- Locality -------------------------------------------------------------------------------
    snapshotGauge(r, 'gsdns_geoip_loaded', '1 once geoip-lite (about 150 MB) is loaded: locality.geoipPreload, or the first remote ranking for an ECS client or an unlocated cluster; 0 before.', [], () => [
      [{}, sources.geoipLoaded?.() === true ? 1 : 0],
    ]);

    // --- Forwarding -----------------------------------------------------------------------------
    snapshotCounter(r, 'gsdns_forward_requests_total', 'Out-of-zone queries from allowed clients.', [], () => [[{}, sources.forward().queries]]);
    snapshotCounter(r, 'gsdns_forward_refused_total', 'Out-of-zone queries refused because the client is outside forward.allowFrom.', [], () => [
      [{}, sources.forward().refused],
    ]);
    snapshotCounter(r, 'gsdns_forward_cache_hits_total', 'Forwarded queries answered from the cache (fresh).', [], () => [[{}, sources.forward().cacheHits]]);
    snapshotCounter(r, 'gsdns_forward_cache_misses_total', 'Forwarded queries not in the cache.', [], () => [[{}, sources.forward().cacheMisses]]);
    snapshotGauge(r, 'gsdns_forward_cache_entries', 'Entries in the forwarding cache.', [], () => [[{}, sources.forward().cacheEntries]]);
    snapshotGauge(r, 'gsdns_forward_cache_size_bytes', 'Octets held by the forwarding cache.', [], () => [[{}, sources.forward().cacheBytes]]);
    snapshotCounter(r, 'gsdns_forward_stale_served_total', 'Stale cache entries served because no upstream answered (RFC 8767).', [], () => [
      [{}, sources.forward().staleServed],
    ]);
    snapshotCounter(r, 'gsdns_forward_coalesced_total', 'Queries that waited on an identical exchange already in flight.', [], () => [
      [{}, sources.forward().coalesced],
    ]);
    snapshotCounter(r, 'gsdns_forward_overload_total', 'Queries refused a new exchange by forward.maxInFlight or the waiter bound.', [], () => [
      [{}, sources.forward().overloadRejected],
    ]);
    snapshotGauge(r, 'gsdns_forward_in_flight', 'Upstream exchanges in flight.', [], () => [[{}, sources.forward().inFlight]]);
    snapshotCounter(
      r,
      'gsdns_forward_upstream_requests_total',
      'Tries sent to each upstream (label: its position in forward.upstreams; /debug/forward lists the addresses), by outcome: the reply RCODE name, or timeout / error (network error or refused port).',
      ['upstream', 'rcode'],
      () =>
        sources.forward().upstreams.flatMap((u) => [
          ...Object.entries(u.responses).map(([rcode, n]) => [{ upstream: String(u.index), rcode }, n] as const),
          [{ upstream: String(u.index), rcode: 'timeout' }, u.timeouts] as const,
          [{ upstream: String(u.index), rcode: 'error' }, u.errors] as const,
        ]),
    );
    snapshotGauge(r, 'gsdns_forward_upstream_healthy', '1 while an upstream is in use, 0 while it is marked down.', ['upstream'], () =>
      sources.forward().upstreams.map((u) => [{ upstream: String(u.index) }, u.healthy ? 1 : 0] as const),
    );
    this.upstreamDuration = new Histogram({
      name: 'gsdns_forward_upstream_request_duration_seconds',
      help: 'Duration of each try against an upstream (UDP, or TCP after truncation).',
      labelNames: ['upstream'],
      buckets: [...SLOW_BUCKETS],
      registers: [r],
    });

    // --- Registry and sync ----------------------------------------------------------------------
    snapshotGauge(r, 'gsdns_registry_services', 'Services in the registry: local (this cluster) and remote (summed over peer catalogs).', ['origin'], () => {
      const counts = sources.registry();
      return [
        [{ origin: 'local' }, counts.local],
        [{ origin: 'remote' }, counts.remote],
      ];
    });
    if (features.sync) this.registerSync(sources);
    if (features.health) {
      snapshotGauge(r, 'gsdns_gateway_healthy', 'Healthy (or not yet probed) gateways of each cluster.', ['cluster'], () =>
        Object.entries(sources.health()?.healthyByCluster ?? {}).map(([cluster, n]) => [{ cluster }, n] as const),
      );
      this.probeDuration = new Histogram({
        name: 'gsdns_gateway_probe_duration_seconds',
        help: 'Duration of each gateway probe, by cluster listing the gateway.',
        labelNames: ['cluster'],
        buckets: [...SLOW_BUCKETS],
        registers: [r],
      });
      this.probeFailures = new Counter({
        name: 'gsdns_gateway_probe_failures_total',
        help: 'Failed gateway probes, by cluster listing the gateway.',
        labelNames: ['cluster'],
        registers: [r],
      });
    }
    if (features.kubernetes) {
      this.registerKubernetes(sources);
      this.programming = new Histogram({
        name: 'gsdns_kubernetes_programming_duration_seconds',
        help: "From an EndpointSlice change (its endpoints.kubernetes.io/last-change-trigger-time) to gsdns answering with it, as kube-proxy's network programming SLI.",
        buckets: [...SLOW_BUCKETS],
        registers: [r],
      });
    }
    if (features.selfTest) {
      snapshotGauge(r, 'gsdns_stub_wiring_ok', '1 when the last self-test query through the cluster resolver reached gsdns, 0 when it did not (see /readyz).', [], () => {
        const ok = sources.stubWiring();
        return ok === undefined ? [] : [[{}, ok]];
      });
      this.selfTests = new Counter({
        name: 'gsdns_stub_wiring_checks_total',
        help: 'Stub-wiring self-tests run, by result (ok, failed).',
        labelNames: ['result'],
        registers: [r],
      });
    }

    // --- Ops HTTP -------------------------------------------------------------------------------
    snapshotGauge(r, 'gsdns_http_connections', 'Open HTTP connections, by listener (ops, debug).', ['listener'], () =>
      (sources.http?.() ?? []).map((l) => [{ listener: l.listener }, l.open] as const),
    );
    snapshotCounter(
      r,
      'gsdns_http_connections_closed_total',
      'HTTP connections the server closed, by listener and reason: silent (no byte sent), idle (keep-alive, no new request), headers (request not received in time), malformed, evicted (idle longest, closed at http.maxConnections), refused (at the cap with every connection busy).',
      ['listener', 'reason'],
      () => (sources.http?.() ?? []).flatMap((l) => HTTP_CLOSE_REASONS.map((reason) => [{ listener: l.listener, reason }, l.closed[reason]] as const)),
    );

    // --- Process --------------------------------------------------------------------------------
    new Gauge({
      name: 'gsdns_build_info',
      help: 'Always 1; labels carry the gsdns version and the Node.js version.',
      labelNames: ['version', 'nodejs'],
      registers: [r],
    }).set({ version: build.version, nodejs: build.nodeVersion }, 1);
    // process_* and nodejs_* keep their standard names, so stock dashboards and alerts work.
    collectDefaultMetrics({ register: r });
  }

  private registerSync(sources: MetricsSources): void {
    const r = this.registry;
    snapshotGauge(r, 'gsdns_sync_peer_state', '1 for the state each configured peer is in, 0 for the others.', ['peer', 'state'], () =>
      (sources.sync()?.peers ?? []).flatMap((p) => PEER_STATES.map((state) => [{ peer: p.peer, state }, p.state === state ? 1 : 0] as const)),
    );
    snapshotCounter(r, 'gsdns_sync_catalog_updates_total', 'Peer catalogs applied that changed what gsdns holds.', ['peer'], () =>
      (sources.sync()?.peers ?? []).map((p) => [{ peer: p.peer }, p.updates] as const),
    );
    snapshotCounter(r, 'gsdns_sync_catalog_deltas_total', 'Peer catalogs received as deltas (226 IM Used) instead of in full.', ['peer'], () =>
      (sources.sync()?.peers ?? []).map((p) => [{ peer: p.peer }, p.deltas] as const),
    );
    snapshotCounter(r, 'gsdns_sync_errors_total', 'Failed fetches of a peer catalog, by reason.', ['peer', 'reason'], () =>
      (sources.sync()?.peers ?? []).flatMap((p) => Object.entries(p.errors).map(([reason, n]) => [{ peer: p.peer, reason }, n] as const)),
    );
    snapshotGauge(r, 'gsdns_sync_last_change_timestamp_seconds', 'Unix time of the last peer catalog that changed what gsdns holds.', ['peer'], () =>
      (sources.sync()?.peers ?? []).filter((p) => p.lastCatalogMs !== undefined).map((p) => [{ peer: p.peer }, p.lastCatalogMs! / 1000] as const),
    );
    snapshotGauge(r, 'gsdns_sync_last_contact_timestamp_seconds', 'Unix time of the last good contact with a peer (a catalog or 304).', ['peer'], () =>
      (sources.sync()?.peers ?? []).filter((p) => p.lastContactMs !== undefined).map((p) => [{ peer: p.peer }, p.lastContactMs! / 1000] as const),
    );
    snapshotCounter(r, 'gsdns_sync_server_fetches_total', 'Our catalog served to each peer (200 and 304), by the identity in its certificate.', ['peer'], () =>
      Object.entries(sources.sync()?.server.fetches ?? {}).map(([peer, n]) => [{ peer }, n] as const),
    );
    snapshotCounter(r, 'gsdns_sync_server_deltas_total', 'Our catalog served as a delta (226 IM Used) to peers that asked for one.', [], () => [[{}, sources.sync()?.server.deltas ?? 0] as const]);
    snapshotCounter(
      r,
      'gsdns_sync_server_refused_total',
      'Sync connections and requests refused, by reason: before authentication evicted (oldest unauthenticated, at sync.maxConnections), max_connections, per_source, descriptors, handshake_timeout, handshake (failed); after it identity, connections (per peer).',
      ['reason'],
      () => {
        const s = sources.sync()?.server;
        if (!s) return [];
        return SYNC_REFUSALS.map((reason) => [{ reason }, s.refused[reason]] as const);
      },
    );
    snapshotGauge(r, 'gsdns_sync_server_connections', 'Open connections to the sync port, by state: unauthenticated (TLS handshake not finished) or authenticated.', ['state'], () => {
      const c = sources.sync()?.server.connections;
      if (!c) return [];
      return [
        [{ state: 'unauthenticated' }, c.unauthenticated],
        [{ state: 'authenticated' }, c.open - c.unauthenticated],
      ];
    });
  }

  private registerKubernetes(sources: MetricsSources): void {
    const r = this.registry;
    snapshotCounter(r, 'gsdns_kubernetes_watch_restarts_total', 'Informer restarts after an error or a silent watch (watchdog), by resource.', ['resource'], () => {
      const byResource = new Map<string, number>();
      for (const i of sources.kubernetes()?.informers ?? []) byResource.set(i.resource, (byResource.get(i.resource) ?? 0) + i.restarts + i.watchdogRestarts);
      return [...byResource].map(([resource, n]) => [{ resource }, n] as const);
    });
    snapshotCounter(r, 'gsdns_kubernetes_events_total', 'Watch events applied, by resource.', ['resource'], () => {
      const byResource = new Map<string, number>();
      for (const i of sources.kubernetes()?.informers ?? []) byResource.set(i.resource, (byResource.get(i.resource) ?? 0) + i.events);
      return [...byResource].map(([resource, n]) => [{ resource }, n] as const);
    });
    snapshotGauge(r, 'gsdns_kubernetes_synced', '1 once every informer has listed at least once.', [], () => {
      const k = sources.kubernetes();
      return k ? [[{}, k.synced ? 1 : 0]] : [];
    });
    snapshotGauge(r, 'gsdns_kubernetes_stale', '1 while the local data is stale: an informer has been out of sync for source.kubernetes.staleAfterSeconds.', [], () => {
      const k = sources.kubernetes();
      return k ? [[{}, k.stale ? 1 : 0]] : [];
    });
    snapshotGauge(r, 'gsdns_kubernetes_out_of_sync_seconds', 'How long the longest out-of-sync Service/EndpointSlice informer has not been watching (0 when in sync).', [], () => {
      const k = sources.kubernetes();
      return k ? [[{}, k.outOfSyncSeconds]] : [];
    });
  }

  /** One received message (the DNS edge's QueryObserver). Allocation-light: runs per query. */
  observeQuery(ev: QueryEvent): ResponseSource | undefined {
    const proto = ev.transport;
    const family = ev.client.family === 'IPv6' ? '2' : '1';
    const type = typeLabel(ev.question?.type);
    this.requests.cell(`${proto}|${family}|${type}`, () => ({ proto, family, type })).value++;
    this.requestSize.observe(proto, ev.size);
    if (ev.reply === null) return undefined;
    const source = responseSource(ev.outcome, ev.result);
    const rcode = replyRcode(ev.outcome, ev.reply);
    this.responses.cell(`${rcode}|${source}`, () => ({ rcode, source })).value++;
    this.duration.observe(source, ev.durationSeconds);
    this.responseSize.observe(proto, ev.reply.length);
    return source;
  }

  observeUpstreamTry(index: number, ms: number): void {
    this.upstreamDuration.observe({ upstream: String(index) }, ms / 1000);
  }

  observeProbe(clusters: readonly string[], ms: number, ok: boolean): void {
    for (const cluster of clusters) {
      this.probeDuration?.observe({ cluster }, ms / 1000);
      if (!ok) this.probeFailures?.inc({ cluster });
    }
  }

  observeProgramming(seconds: number): void {
    this.programming?.observe(seconds);
  }

  observeSelfTest(ok: boolean): void {
    this.selfTests?.inc({ result: ok ? 'ok' : 'failed' });
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
