/**
 * Metrics of the stub-wiring self-test (src/ops/self-test.ts; docs/metrics.md, Ops HTTP, self-test
 * and process). Registered only while the self-test is enabled, so the gauge never reads a
 * misleading 0.
 */
import type { MetricFamily, SnapshotFamily } from '../util/metric-family.js';

/** The last verdict: 1 ok, 0 failing, undefined before the first run (no sample). */
export const STUB_WIRING_OK: SnapshotFamily<0 | 1> = {
  name: 'gsdns_stub_wiring_ok',
  type: 'gauge',
  help: '1 when the last self-test query through the cluster resolver reached gsdns, 0 when it did not (see /readyz).',
  labels: [],
  note: 'See [stub-wiring self-test](operations.md#stub-wiring-self-test).',
  collect: (ok) => [[{}, ok]],
};

/** Observed per run (observeSelfTest). */
export const STUB_WIRING_CHECKS: MetricFamily = {
  name: 'gsdns_stub_wiring_checks_total',
  type: 'counter',
  help: 'Stub-wiring self-tests run, by result (ok, failed).',
  labels: ['result'],
  labelValues: { result: 'ok, failed' },
};

export const SELF_TEST_METRICS: readonly MetricFamily[] = [STUB_WIRING_OK, STUB_WIRING_CHECKS];
