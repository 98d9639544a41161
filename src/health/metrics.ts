/**
 * Metrics of gateway health probing (docs/metrics.md, Health): healthy gateways read from
 * ProberStats at scrape time, and per-probe duration and failures observed through the prober's
 * onProbe hook. Registered only when probes run. `cluster` is bounded by the catalogs.
 */
import type { ProberStats } from './prober.js';
import type { MetricFamily, SnapshotFamily } from '../util/metric-family.js';

/** Gateway probes, from 1 ms to 32 s. */
export const PROBE_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 32];

export const GATEWAY_HEALTHY: SnapshotFamily<ProberStats> = {
  name: 'gsdns_gateway_healthy',
  type: 'gauge',
  help: 'Healthy (or not yet probed) gateways of each cluster.',
  labels: ['cluster'],
  collect: (s) => Object.entries(s.healthyByCluster).map(([cluster, n]) => [{ cluster }, n] as const),
};

export const PROBE_DURATION: MetricFamily = {
  name: 'gsdns_gateway_probe_duration_seconds',
  type: 'histogram',
  help: 'Duration of each gateway probe, by cluster listing the gateway.',
  labels: ['cluster'],
  buckets: PROBE_BUCKETS,
};

export const PROBE_FAILURES: MetricFamily = {
  name: 'gsdns_gateway_probe_failures_total',
  type: 'counter',
  help: 'Failed gateway probes, by cluster listing the gateway.',
  labels: ['cluster'],
};

export const HEALTH_METRICS: readonly MetricFamily[] = [GATEWAY_HEALTHY, PROBE_DURATION, PROBE_FAILURES];
