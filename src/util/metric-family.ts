/**
 * The shape of a metric declaration, shared by every module's metrics.ts (CoreDNS keeps a
 * metrics.go beside each plugin the same way).
 *
 * Owns: the declaration types and the one-sample helper. Never: imports prom-client or anything
 * with I/O, so pure modules (registry, answer) can declare their families too. src/ops/metrics.ts
 * registers the declarations on prom-client; scripts/gen-metrics-reference.ts renders them into
 * docs/metrics.md.
 * Invariants: `collect` is a pure function of the module's stats snapshot; it runs at scrape time
 * only, never per query.
 */

/** One series: its labels and its value. */
export type Sample = readonly [labels: Readonly<Record<string, string>>, value: number];

/** A family's name, type, help and labels: what /metrics exposes and docs/metrics.md lists. */
export interface MetricFamily {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  /** The `# HELP` text. */
  readonly help: string;
  readonly labels: readonly string[];
  readonly buckets?: readonly number[];
  /** docs/metrics.md: the values a label takes, where they are bounded and worth listing. */
  readonly labelValues?: Readonly<Record<string, string>>;
  /** docs/metrics.md: what the reference adds to `help` (Markdown: config keys, links, caveats). */
  readonly note?: string;
}

/** A counter or gauge whose samples are read from a module's stats snapshot at scrape time. */
export interface SnapshotFamily<S> extends MetricFamily {
  readonly type: 'counter' | 'gauge';
  readonly collect: (stats: S) => Iterable<Sample>;
}

/** The one sample of an unlabelled family. */
export const single = (value: number): readonly Sample[] => [[{}, value]];
