/**
 * Process metrics (docs/metrics.md, Ops HTTP, self-test and process): gsdns_build_info, and
 * prom-client's default process_* and nodejs_* families under their standard names, so stock
 * dashboards and alerts work.
 */
import { Gauge, collectDefaultMetrics, type Registry } from 'prom-client';
import type { MetricFamily } from '../util/metric-family.js';

export interface BuildInfo {
  readonly version: string;
  readonly nodeVersion: string;
}

export const BUILD_INFO: MetricFamily = {
  name: 'gsdns_build_info',
  type: 'gauge',
  help: 'Always 1; labels carry the gsdns version and the Node.js version.',
  labels: ['version', 'nodejs'],
};

export const PROCESS_METRICS: readonly MetricFamily[] = [BUILD_INFO];

export function registerProcessMetrics(registry: Registry, build: BuildInfo): void {
  new Gauge({ name: BUILD_INFO.name, help: BUILD_INFO.help, labelNames: [...BUILD_INFO.labels], registers: [registry] }).set(
    { version: build.version, nodejs: build.nodeVersion },
    1,
  );
  collectDefaultMetrics({ register: registry });
}
