/**
 * Metrics of the Kubernetes source (docs/metrics.md, Kubernetes): informer health read from
 * KubernetesSourceStatus at scrape time, and the network-programming latency observed through
 * the source's onProgrammed hook. Registered only with `source.type: kubernetes`.
 */
import type { KubernetesSourceStatus } from './informers.js';
import type { MetricFamily, SnapshotFamily } from '../../util/metric-family.js';

/** Kubernetes programming latency, from 1 ms to 32 s. */
export const PROGRAMMING_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 32];

/** Informer counters summed per resource (several informers may watch one resource). */
function byResource(
  s: KubernetesSourceStatus,
  count: (i: KubernetesSourceStatus['informers'][number]) => number,
): [Record<string, string>, number][] {
  const sums = new Map<string, number>();
  for (const i of s.informers) sums.set(i.resource, (sums.get(i.resource) ?? 0) + count(i));
  return [...sums].map(([resource, n]) => [{ resource }, n]);
}

export const KUBERNETES_SNAPSHOTS: readonly SnapshotFamily<KubernetesSourceStatus>[] = [
  {
    name: 'gsdns_kubernetes_watch_restarts_total',
    type: 'counter',
    help: 'Informer restarts after an error or a silent watch (watchdog), by resource.',
    labels: ['resource'],
    collect: (s) => byResource(s, (i) => i.restarts + i.watchdogRestarts),
  },
  {
    name: 'gsdns_kubernetes_events_total',
    type: 'counter',
    help: 'Watch events applied, by resource.',
    labels: ['resource'],
    collect: (s) => byResource(s, (i) => i.events),
  },
  {
    name: 'gsdns_kubernetes_synced',
    type: 'gauge',
    help: '1 once every informer has listed at least once.',
    labels: [],
    collect: (s) => [[{}, s.synced ? 1 : 0]],
  },
  {
    name: 'gsdns_kubernetes_invalid_annotations_total',
    type: 'counter',
    help: 'Traffic annotation values ignored as invalid (gsdns.io/policy, gsdns.io/weight, gsdns.io/local-share), once per Service and value; each is logged once.',
    labels: [],
    collect: (s) => [[{}, s.invalidAnnotations]],
  },
  {
    name: 'gsdns_kubernetes_stale',
    type: 'gauge',
    help: '1 while the local data is stale: an informer has been out of sync for source.kubernetes.staleAfterSeconds.',
    labels: [],
    collect: (s) => [[{}, s.stale ? 1 : 0]],
  },
  {
    name: 'gsdns_kubernetes_out_of_sync_seconds',
    type: 'gauge',
    help: 'How long the longest out-of-sync Service/EndpointSlice informer has not been watching (0 when in sync).',
    labels: [],
    collect: (s) => [[{}, s.outOfSyncSeconds]],
  },
];

/** Observed per EndpointSlice change carrying the trigger-time annotation (onProgrammed). */
export const KUBERNETES_PROGRAMMING: MetricFamily = {
  name: 'gsdns_kubernetes_programming_duration_seconds',
  type: 'histogram',
  help: "From an EndpointSlice change (its endpoints.kubernetes.io/last-change-trigger-time) to gsdns answering with it, as kube-proxy's network programming SLI.",
  labels: [],
  buckets: PROGRAMMING_BUCKETS,
  note: 'Slices without the annotation and initial lists are not measured.',
};

export const KUBERNETES_METRICS: readonly MetricFamily[] = [...KUBERNETES_SNAPSHOTS, KUBERNETES_PROGRAMMING];
