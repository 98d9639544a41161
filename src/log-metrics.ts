/**
 * Metrics of the log destination (src/log.ts): writes that failed and lines dropped, read from
 * `logLoss` at scrape time (docs/metrics.md, DNS: the DNS path never waits for logs).
 */
import type { logLoss } from './log.js';
import { single, type SnapshotFamily } from './util/metric-family.js';

export const LOG_METRICS: readonly SnapshotFamily<typeof logLoss>[] = [
  {
    name: 'gsdns_log_write_errors_total',
    type: 'counter',
    help: 'Writes to the log destination (stdout) that failed (EPIPE, ENOSPC, ...); their lines are retried with the next write.',
    labels: [],
    note: 'A failed write is never thrown.',
    collect: (s) => single(s.writeErrors),
  },
  {
    name: 'gsdns_log_lines_dropped_total',
    type: 'counter',
    help: 'Log lines dropped because the log destination was failing or more than 4 MiB behind.',
    labels: [],
    note: 'DNS never waits for logs.',
    collect: (s) => single(s.dropped),
  },
];
