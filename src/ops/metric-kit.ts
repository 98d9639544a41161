/**
 * Registering metric declarations (src/util/metric-family.ts) on a prom-client Registry: counters
 * and gauges read from snapshots at scrape time, histograms and counters observed as events, and
 * the hot-path families that count per query in plain numbers.
 *
 * Invariants:
 * - A snapshot family is rebuilt on every scrape, so a series whose source is gone (a removed
 *   peer or upstream) disappears instead of freezing. A stats getter that returns undefined (its
 *   module not built yet) yields no labelled series; an unlabelled family then reads 0, as
 *   prom-client resets it.
 * - HotCounter and HotHistogram allocate nothing per update once a label set has been seen.
 *   prom-client's own labelled `inc`/`observe` cost 2.3 to 3.9 µs for the five per-query updates
 *   on this machine (bench/metrics-micro.ts), about a fifth of the whole query budget at 50k qps.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { MetricFamily, SnapshotFamily } from '../util/metric-family.js';

/** Registers each family, reading `stats()` once per family per scrape. */
export function registerSnapshots<S>(registry: Registry, families: readonly SnapshotFamily<S>[], stats: () => S | undefined): void {
  for (const family of families) {
    const common = { name: family.name, help: family.help, labelNames: [...family.labels], registers: [registry] };
    if (family.type === 'counter') {
      new Counter({
        ...common,
        collect() {
          this.reset();
          const s = stats();
          if (s !== undefined) for (const [labels, value] of family.collect(s)) this.inc(labels, value);
        },
      });
    } else {
      new Gauge({
        ...common,
        collect() {
          this.reset();
          const s = stats();
          if (s !== undefined) for (const [labels, value] of family.collect(s)) this.set(labels, value);
        },
      });
    }
  }
}

/** A histogram observed as events happen (an upstream try, a probe). */
export function registerHistogram(registry: Registry, family: MetricFamily): Histogram<string> {
  return new Histogram({
    name: family.name,
    help: family.help,
    labelNames: [...family.labels],
    buckets: [...(family.buckets ?? [])],
    registers: [registry],
  });
}

/** A counter incremented as events happen. */
export function registerCounter(registry: Registry, family: MetricFamily): Counter<string> {
  return new Counter({ name: family.name, help: family.help, labelNames: [...family.labels], registers: [registry] });
}

// -------------------------------------------------------------------------------------------------
// Hot-path families: counted in plain numbers, formatted by prom-client's Registry.
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
  readonly values: readonly {
    readonly metricName?: string;
    readonly labels: Readonly<Record<string, string | number>>;
    readonly value: number;
  }[];
}

interface CounterCell {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

/** Label values → the labels of a new cell; a function made once (per family), never per call. */
export type CellLabels = (a: string, b: string, c: string) => Record<string, string>;

/**
 * A counter whose cells are looked up by up to three label values, one Map level each: the values
 * are the interned label strings the hot path already holds, so a lookup builds no key string and
 * allocates nothing (a key joined per query cost a string and a closure each).
 */
export class HotCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly tree = new Map<string, Map<string, Map<string, CounterCell>>>();
  private readonly cells: CounterCell[] = [];

  constructor(family: MetricFamily) {
    this.name = family.name;
    this.help = family.help;
  }

  /** The cell for the values (a, b, c) (pass '' for an unused one), made with `labels` the first time. */
  cell(a: string, b: string, c: string, labels: CellLabels): CounterCell {
    let byB = this.tree.get(a);
    if (byB === undefined) this.tree.set(a, (byB = new Map<string, Map<string, CounterCell>>()));
    let byC = byB.get(b);
    if (byC === undefined) byB.set(b, (byC = new Map<string, CounterCell>()));
    let cell = byC.get(c);
    if (cell === undefined) {
      cell = { labels: labels(a, b, c), value: 0 };
      byC.set(c, cell);
      this.cells.push(cell);
    }
    return cell;
  }

  get(): Promise<Exposition> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.cells.map((c) => ({ labels: c.labels, value: c.value })),
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
export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly labelName: string;
  private readonly buckets: readonly number[];
  private readonly cells = new Map<string, HistogramCell>();

  constructor(family: MetricFamily) {
    this.name = family.name;
    this.help = family.help;
    this.labelName = family.labels[0]!;
    this.buckets = family.buckets ?? [];
  }

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
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}
