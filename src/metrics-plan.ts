/**
 * Which metrics run, part of the composition root: every module declares its families beside itself
 * (its metrics.ts); this file is the one place that knows them all, registers those of the modules
 * that run (src/ops/metrics.ts does the registering), and lists them all for docs/metrics.md.
 *
 * Owns: the order of /metrics, which optional module's families are registered, and where each
 * module's stats come from at scrape time. Never: registers a family of a module that does not run
 * (its gauge would read a misleading 0: gsdns_stub_wiring_ok with the self-test off,
 * gsdns_kubernetes_synced with a file source).
 */
import {
  DNS_DURATION,
  DNS_EDGE_SNAPSHOTS,
  DNS_FAIL_OPEN,
  DNS_METRICS,
  DNS_REQUESTS,
  DNS_REQUEST_SIZE,
  DNS_RESPONSES,
  DNS_RESPONSE_SIZE,
} from './dns/metrics.js';
import type { DnsEdgeStats } from './dns/types.js';
import type { ForwardStats } from './forward/forwarder.js';
import { FORWARD_METRICS, FORWARD_SNAPSHOTS, FORWARD_UPSTREAM_DURATION } from './forward/metrics.js';
import { GATEWAY_HEALTHY, HEALTH_METRICS, PROBE_DURATION, PROBE_FAILURES } from './health/metrics.js';
import type { ProberStats } from './health/prober.js';
import { LOCALITY_METRICS } from './locality/metrics.js';
import type { AnswerCacheStats } from './route/answer-cache.js';
import { ANSWER_CACHE_METRICS, ANSWERS_BY_CLUSTER } from './route/metrics.js';
import { logLoss } from './log.js';
import { LOG_METRICS } from './log-metrics.js';
import type { HttpListenerStats } from './ops/http.js';
import { HTTP_METRICS } from './ops/http-metrics.js';
import { Metrics, type MetricsPlan, type SnapshotGroup } from './ops/metrics.js';
import type { MetricGroup } from './ops/metrics-reference.js';
import { PROCESS_METRICS, type BuildInfo } from './ops/process-metrics.js';
import { SELF_TEST_METRICS, STUB_WIRING_CHECKS, STUB_WIRING_OK } from './ops/self-test-metrics.js';
import { REGISTRY_METRICS, type RegistryCounts } from './registry/metrics.js';
import type { KubernetesSourceStatus } from './sources/kubernetes/informers.js';
import { KUBERNETES_METRICS, KUBERNETES_PROGRAMMING, KUBERNETES_SNAPSHOTS } from './sources/kubernetes/metrics.js';
import { SYNC_METRICS } from './sync/metrics.js';
import type { SyncStatus } from './sync/service.js';
import type { SnapshotFamily } from './util/metric-family.js';

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
  /** The answer cache's counters; absent (no families) while dns.answerCache.enabled is false. */
  readonly answerCache?: (() => AnswerCacheStats) | undefined;
}

/** Which optional modules run. */
export interface MetricsFeatures {
  readonly sync: boolean;
  readonly health: boolean;
  readonly kubernetes: boolean;
  readonly selfTest: boolean;
}

/**
 * Families with the getter of the stats they read. The pairing is type-checked here; the group is
 * then held as one of many, each of its own stats type (SnapshotGroup's default).
 */
const group = <S>(families: readonly SnapshotFamily<S>[], read: () => S | undefined): SnapshotGroup =>
  ({ families, read }) as unknown as SnapshotGroup;

/** The families of the modules that run, each paired with where its stats come from. */
export function metricsPlan(sources: MetricsSources, features: MetricsFeatures): MetricsPlan {
  const snapshots: SnapshotGroup[] = [
    group(DNS_EDGE_SNAPSHOTS, sources.dnsEdge),
    group(LOG_METRICS, () => logLoss),
    group([DNS_FAIL_OPEN], sources.failOpenAnswers),
    group(LOCALITY_METRICS, () => sources.geoipLoaded?.() === true),
    group(FORWARD_SNAPSHOTS, sources.forward),
    group(REGISTRY_METRICS, sources.registry),
  ];
  if (sources.answerCache) snapshots.push(group(ANSWER_CACHE_METRICS, sources.answerCache));
  if (features.sync) snapshots.push(group(SYNC_METRICS, sources.sync));
  if (features.health) snapshots.push(group([GATEWAY_HEALTHY], sources.health));
  if (features.kubernetes) snapshots.push(group(KUBERNETES_SNAPSHOTS, sources.kubernetes));
  if (features.selfTest) snapshots.push(group([STUB_WIRING_OK], sources.stubWiring));
  snapshots.push(group(HTTP_METRICS, () => sources.http?.() ?? []));
  return {
    query: {
      requests: DNS_REQUESTS,
      responses: DNS_RESPONSES,
      duration: DNS_DURATION,
      requestSize: DNS_REQUEST_SIZE,
      responseSize: DNS_RESPONSE_SIZE,
      byCluster: ANSWERS_BY_CLUSTER,
    },
    snapshots,
    upstreamTry: FORWARD_UPSTREAM_DURATION,
    probe: features.health ? { duration: PROBE_DURATION, failures: PROBE_FAILURES } : undefined,
    programming: features.kubernetes ? KUBERNETES_PROGRAMMING : undefined,
    selfTest: features.selfTest ? STUB_WIRING_CHECKS : undefined,
  };
}

/** The metrics of a server with these modules. */
export function createMetrics(sources: MetricsSources, features: MetricsFeatures, build: BuildInfo): Metrics {
  return new Metrics(metricsPlan(sources, features), build);
}

/** Every gsdns_ family, grouped as docs/metrics.md presents them. */
export const METRIC_GROUPS: readonly MetricGroup[] = [
  { id: 'dns', families: [...DNS_METRICS, ANSWERS_BY_CLUSTER, ...ANSWER_CACHE_METRICS, ...LOG_METRICS, ...LOCALITY_METRICS] },
  { id: 'forward', families: FORWARD_METRICS },
  { id: 'registry-sync', families: [...REGISTRY_METRICS, ...SYNC_METRICS] },
  { id: 'health', families: HEALTH_METRICS },
  { id: 'kubernetes', families: KUBERNETES_METRICS },
  { id: 'ops', families: [...HTTP_METRICS, ...SELF_TEST_METRICS, ...PROCESS_METRICS] },
];
