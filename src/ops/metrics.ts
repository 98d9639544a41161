/**
 * Prometheus metrics (edge): registers the `gsdns_*` families every module declares beside itself
 * (each module's metrics.ts, CoreDNS-style) on one prom-client Registry served at /metrics
 * (SPEC §5), and counts the per-query families.
 *
 * Owns: registration (of whatever plan the composition root hands it: src/metrics-plan.ts says
 * which families run and where each module's stats come from) and the per-query counting
 * (observeQuery). The names, help, labels and buckets live beside the modules they measure;
 * docs/metrics.md is generated from them (scripts/gen-metrics-reference.ts).
 * Never: imports another adapter; puts an IP address, a query name or a service name in a label
 * (STYLE.md "Metric labels").
 * Invariants:
 * - The per-query families (requests, responses, duration, sizes) are counted by `observeQuery` in
 *   plain numbers and typed arrays and handed to prom-client as metric objects at scrape time
 *   (src/ops/metric-kit.ts; bench/metrics-micro.ts measures why).
 * - Only the families in the plan are registered, so an optional module's gauge never reads a
 *   misleading 0 while the module is off.
 */
import { Registry, type Counter, type Histogram, type Metric } from 'prom-client';
import type { MetricFamily, SnapshotFamily } from '../util/metric-family.js';
import { replyRcode, responseSource, typeLabel, type ResponseSource } from '../wire/labels.js';
import type { QueryEvent } from '../wire/types.js';
import { HotCounter, HotHistogram, registerCounter, type CellLabels, registerHistogram, registerSnapshots } from './metric-kit.js';
import { registerProcessMetrics, type BuildInfo } from './process-metrics.js';

export { replyRcode, responseSource, typeLabel, type ResponseSource } from '../wire/labels.js';
export type { BuildInfo } from './process-metrics.js';

/** Families whose samples a module's stats give at scrape time, and the getter of those stats. */
export interface SnapshotGroup<S = unknown> {
  readonly families: readonly SnapshotFamily<S>[];
  /** undefined while the module is absent: no samples. */
  readonly read: () => S | undefined;
}

/** The per-query families, declared by the DNS edge (src/dns/metrics.ts). */
export interface QueryFamilies {
  readonly requests: MetricFamily;
  readonly responses: MetricFamily;
  readonly duration: MetricFamily;
  readonly requestSize: MetricFamily;
  readonly responseSize: MetricFamily;
  /** Answers by the cluster sent first (src/route/metrics.ts). */
  readonly byCluster?: MetricFamily | undefined;
}

/** What to register: built by the composition root from the modules that run. */
export interface MetricsPlan {
  readonly query: QueryFamilies;
  /** Registered in this order (it is the order of /metrics). */
  readonly snapshots: readonly SnapshotGroup[];
  /** Histograms and counters observed by events: present only when their module runs. */
  readonly upstreamTry: MetricFamily;
  readonly probe?: { readonly duration: MetricFamily; readonly failures: MetricFamily } | undefined;
  readonly programming?: MetricFamily | undefined;
  readonly selfTest?: MetricFamily | undefined;
}

const requestLabels: CellLabels = (proto, family, type) => ({ proto, family, type });
const responseLabels: CellLabels = (rcode, source) => ({ rcode, source });
const clusterLabels: CellLabels = (cluster) => ({ cluster });

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: HotCounter;
  private readonly responses: HotCounter;
  private readonly duration: HotHistogram;
  private readonly requestSize: HotHistogram;
  private readonly responseSize: HotHistogram;
  private readonly byCluster: HotCounter | undefined;
  private readonly upstreamDuration: Histogram<string>;
  private readonly probeDuration: Histogram<string> | undefined;
  private readonly probeFailures: Counter<string> | undefined;
  private readonly programming: Histogram<string> | undefined;
  private readonly selfTests: Counter<string> | undefined;

  constructor(plan: MetricsPlan, build: BuildInfo) {
    const r = this.registry;
    const q = plan.query;
    this.requests = new HotCounter(q.requests);
    this.responses = new HotCounter(q.responses);
    this.duration = new HotHistogram(q.duration);
    this.requestSize = new HotHistogram(q.requestSize);
    this.responseSize = new HotHistogram(q.responseSize);
    this.byCluster = q.byCluster ? new HotCounter(q.byCluster) : undefined;
    for (const m of [this.requests, this.responses, this.duration, this.requestSize, this.responseSize, this.byCluster]) {
      if (m === undefined) continue;
      // Hot-path families implement prom-client's metric shape (get/name/help/type) themselves.
      r.registerMetric(m as unknown as Metric);
    }
    for (const group of plan.snapshots) registerSnapshots(r, group.families, group.read);
    this.upstreamDuration = registerHistogram(r, plan.upstreamTry);
    this.probeDuration = plan.probe ? registerHistogram(r, plan.probe.duration) : undefined;
    this.probeFailures = plan.probe ? registerCounter(r, plan.probe.failures) : undefined;
    this.programming = plan.programming ? registerHistogram(r, plan.programming) : undefined;
    this.selfTests = plan.selfTest ? registerCounter(r, plan.selfTest) : undefined;
    registerProcessMetrics(r, build);
  }

  /** One received message (the DNS edge's QueryObserver). Allocation-light: runs per query. */
  observeQuery(ev: QueryEvent): ResponseSource | undefined {
    const proto = ev.transport;
    const family = ev.client.family === 'IPv6' ? '2' : '1';
    const type = typeLabel(ev.question?.type);
    this.requests.cell(proto, family, type, requestLabels).value++;
    this.requestSize.observe(proto, ev.size);
    if (ev.reply === null) return undefined;
    const source = responseSource(ev.outcome, ev.result);
    const rcode = replyRcode(ev.outcome, ev.reply);
    this.responses.cell(rcode, source, '', responseLabels).value++;
    this.duration.observe(source, ev.durationSeconds);
    this.responseSize.observe(proto, ev.reply.length);
    const chosen = ev.result !== undefined && 'chosen' in ev.result ? ev.result.chosen : undefined;
    if (chosen !== undefined && this.byCluster !== undefined) this.byCluster.cell(chosen, '', '', clusterLabels).value++;
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
