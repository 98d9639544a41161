/**
 * Prometheus metrics (edge): composes every module's declared `gsdns_*` families (each module's
 * metrics.ts, CoreDNS-style) on one prom-client Registry served at /metrics (SPEC §5), and counts
 * the per-query families.
 *
 * Owns: which families are registered for which features, where each module's stats come from,
 * and the per-query counting (observeQuery) with its `source` and `rcode` labels. The names,
 * help, labels and buckets live beside the modules they measure; docs/metrics.md is generated
 * from them (scripts/gen-metrics-reference.ts, src/ops/metrics-reference.ts).
 * Never: puts an IP address, a query name or a service name in a label (STYLE.md "Metric labels").
 * Invariants:
 * - The per-query families (requests, responses, duration, sizes) are counted by `observeQuery` in
 *   plain numbers and typed arrays and handed to prom-client as metric objects at scrape time
 *   (src/ops/metric-kit.ts; bench/metrics-micro.ts measures why).
 * - Families of an optional module are registered only when it runs, so a gauge never reads a
 *   misleading 0 (gsdns_stub_wiring_ok with the self-test off, gsdns_kubernetes_synced with a file).
 */
import { Registry, type Counter, type Histogram, type Metric } from 'prom-client';
import type { QueryEvent } from '../dns/server.js';
import type { DnsEdgeStats } from '../dns/server.js';
import type { HandlerResult } from '../dns/types.js';
import { DNS_DURATION, DNS_EDGE_SNAPSHOTS, DNS_FAIL_OPEN, DNS_REQUESTS, DNS_REQUEST_SIZE, DNS_RESPONSES, DNS_RESPONSE_SIZE, typeLabel, type ResponseSource } from '../dns/metrics.js';
import type { ForwardResult, ForwardStats } from '../forward/forwarder.js';
import { FORWARD_SNAPSHOTS, FORWARD_UPSTREAM_DURATION } from '../forward/metrics.js';
import type { ProberStats } from '../health/prober.js';
import { GATEWAY_HEALTHY, PROBE_DURATION, PROBE_FAILURES } from '../health/metrics.js';
import { LOCALITY_METRICS } from '../locality/metrics.js';
import { logLoss } from '../log.js';
import { LOG_METRICS } from '../log-metrics.js';
import { REGISTRY_METRICS, type RegistryCounts } from '../registry/metrics.js';
import type { KubernetesSourceStatus } from '../sources/kubernetes/informers.js';
import { KUBERNETES_PROGRAMMING, KUBERNETES_SNAPSHOTS } from '../sources/kubernetes/metrics.js';
import type { SyncStatus } from '../sync/service.js';
import { SYNC_METRICS } from '../sync/metrics.js';
import type { HttpListenerStats } from './http.js';
import { HTTP_METRICS } from './http-metrics.js';
import { HotCounter, HotHistogram, registerCounter, registerHistogram, registerSnapshots } from './metric-kit.js';
import { rcodeName } from './presentation.js';
import { registerProcessMetrics, type BuildInfo } from './process-metrics.js';
import { STUB_WIRING_CHECKS, STUB_WIRING_OK } from './self-test-metrics.js';

export { DURATION_BUCKETS, SIZE_BUCKETS, typeLabel, type ResponseSource } from '../dns/metrics.js';
export type { BuildInfo } from './process-metrics.js';

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

/** Where scrape-time values come from; a getter returns undefined while its module is absent. */
export interface MetricsSources {
  readonly dnsEdge: () => DnsEdgeStats;
  readonly forward: () => ForwardStats;
  readonly registry: () => RegistryCounts;
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

export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new HotCounter(DNS_REQUESTS);
  private readonly responses = new HotCounter(DNS_RESPONSES);
  private readonly duration = new HotHistogram(DNS_DURATION);
  private readonly requestSize = new HotHistogram(DNS_REQUEST_SIZE);
  private readonly responseSize = new HotHistogram(DNS_RESPONSE_SIZE);
  private readonly upstreamDuration: Histogram<string>;
  private readonly probeDuration: Histogram<string> | undefined;
  private readonly probeFailures: Counter<string> | undefined;
  private readonly programming: Histogram<string> | undefined;
  private readonly selfTests: Counter<string> | undefined;

  constructor(sources: MetricsSources, features: MetricsFeatures, build: BuildInfo) {
    const r = this.registry;
    for (const m of [this.requests, this.responses, this.duration, this.requestSize, this.responseSize]) {
      // Hot-path families implement prom-client's metric shape (get/name/help/type) themselves.
      r.registerMetric(m as unknown as Metric);
    }
    registerSnapshots(r, DNS_EDGE_SNAPSHOTS, sources.dnsEdge);
    registerSnapshots(r, LOG_METRICS, () => logLoss);
    registerSnapshots(r, [DNS_FAIL_OPEN], sources.failOpenAnswers);
    registerSnapshots(r, LOCALITY_METRICS, () => sources.geoipLoaded?.() === true);
    registerSnapshots(r, FORWARD_SNAPSHOTS, sources.forward);
    this.upstreamDuration = registerHistogram(r, FORWARD_UPSTREAM_DURATION);
    registerSnapshots(r, REGISTRY_METRICS, sources.registry);
    if (features.sync) registerSnapshots(r, SYNC_METRICS, sources.sync);
    if (features.health) registerSnapshots(r, [GATEWAY_HEALTHY], sources.health);
    this.probeDuration = features.health ? registerHistogram(r, PROBE_DURATION) : undefined;
    this.probeFailures = features.health ? registerCounter(r, PROBE_FAILURES) : undefined;
    if (features.kubernetes) registerSnapshots(r, KUBERNETES_SNAPSHOTS, sources.kubernetes);
    this.programming = features.kubernetes ? registerHistogram(r, KUBERNETES_PROGRAMMING) : undefined;
    if (features.selfTest) registerSnapshots(r, [STUB_WIRING_OK], sources.stubWiring);
    this.selfTests = features.selfTest ? registerCounter(r, STUB_WIRING_CHECKS) : undefined;
    registerSnapshots(r, HTTP_METRICS, () => sources.http?.() ?? []);
    registerProcessMetrics(r, build);
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
