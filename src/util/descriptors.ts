/**
 * Descriptor accounting (edge: reads /proc): the process's soft RLIMIT_NOFILE, the descriptors in
 * use, and a budget that lets a listener refuse connections before the process runs out.
 *
 * Owns: reading the soft limit (`Max open files` in /proc/self/limits), counting open descriptors
 * (/proc/self/fd, else /dev/fd), and DescriptorBudget: admission against `limit − reserve`, where
 * `reserve` is what the caller keeps for everything else (DNS over TCP, forwarding, HTTP, files).
 * Never: reads /proc on every admission. Under a flood the count is sampled at most once per
 * `sampleIntervalMs`; between samples the budget adds the connections it admitted and subtracts
 * those released, so its estimate follows its own listener exactly and everyone else's use as of
 * the last sample (the reserve absorbs their change in between).
 * Invariants: where the limit cannot be read (not Linux, or `unlimited`) the budget admits
 * everything and says so (`limit: undefined`); the listener's other caps still apply. Where the
 * count cannot be read, the estimate is what this budget admitted.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The soft `Max open files` from the text of /proc/self/limits; undefined when absent or unlimited. */
export function parseSoftNofile(limitsText: string): number | undefined {
  for (const line of limitsText.split('\n')) {
    if (!line.startsWith('Max open files')) continue;
    const soft = line.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === undefined || !/^\d+$/.test(soft)) return undefined;
    return Number(soft);
  }
  return undefined;
}

/** The soft RLIMIT_NOFILE, or undefined where /proc/self/limits is not available (not Linux). */
export function readSoftNofile(): number | undefined {
  try {
    return parseSoftNofile(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Descriptors open in this process, or undefined if no descriptor directory is readable. One
 * readdir of up to `limit` entries (about 2 ms at 20,000 here): call it at a bounded rate.
 */
export function countOpenDescriptors(): number | undefined {
  for (const dir of ['/proc/self/fd', '/dev/fd']) {
    try {
      // The listing holds one descriptor of its own, for the directory being read.
      return Math.max(0, readdirSync(dir).length - 1);
    } catch {
      // try the next one
    }
  }
  return undefined;
}

export interface DescriptorBudgetOptions {
  /** Descriptors kept for everything but this budget's users. */
  readonly reserve: number;
  /** The soft limit; default readSoftNofile(). null: unknown or unlimited (nothing is refused). */
  readonly limit?: number | null | undefined;
  /** Default countOpenDescriptors. */
  readonly count?: (() => number | undefined) | undefined;
  /** Least time between two counts. Default 250 ms. */
  readonly sampleIntervalMs?: number | undefined;
  /** Default performance.now. */
  readonly now?: (() => number) | undefined;
}

export interface DescriptorBudgetStatus {
  /** The soft RLIMIT_NOFILE; absent: unknown or unlimited, and nothing is refused for descriptors. */
  readonly limit: number | undefined;
  readonly reserve: number;
  /** Descriptors this budget may let the process reach: limit − reserve. */
  readonly budget: number | undefined;
  /** Estimated descriptors in use: the last count plus what was admitted, minus released, since. */
  readonly inUse: number | undefined;
  /** Age of the last count, ms. */
  readonly sampledAgoMs: number | undefined;
  /** Connections refused because inUse reached the budget. */
  readonly refused: number;
}

export class DescriptorBudget {
  readonly limit: number | undefined;
  readonly reserve: number;
  private readonly count: () => number | undefined;
  private readonly sampleIntervalMs: number;
  private readonly now: () => number;
  private sample: number | undefined;
  private sampledAt = Number.NEGATIVE_INFINITY;
  private delta = 0;
  private refusedCount = 0;

  constructor(opts: DescriptorBudgetOptions) {
    this.reserve = opts.reserve;
    this.limit = opts.limit === undefined ? readSoftNofile() : (opts.limit ?? undefined);
    this.count = opts.count ?? countOpenDescriptors;
    this.sampleIntervalMs = opts.sampleIntervalMs ?? 250;
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * A connection was accepted (its descriptor is already open): true if the process stays within
   * limit − reserve with it, and it is then counted until release(); false: close it, and do not
   * call release().
   */
  tryAcquire(): boolean {
    if (this.limit === undefined) return true;
    const fresh = this.resampleIfDue();
    // A count taken now includes the new descriptor already; an older one does not.
    const withNew = (this.sample ?? 0) + this.delta + (fresh ? 0 : 1);
    if (withNew > this.limit - this.reserve) {
      this.refusedCount++;
      return false;
    }
    // Counted from now on; when the count just included it, release() after the next count evens out.
    this.delta += fresh ? 0 : 1;
    return true;
  }

  /** A connection admitted by tryAcquire() closed. */
  release(): void {
    if (this.limit === undefined) return;
    this.delta--;
  }

  status(): DescriptorBudgetStatus {
    const inUse = this.limit === undefined ? this.count() : this.estimate();
    return {
      limit: this.limit,
      reserve: this.reserve,
      budget: this.limit === undefined ? undefined : this.limit - this.reserve,
      inUse,
      sampledAgoMs: Number.isFinite(this.sampledAt) ? Math.round(this.now() - this.sampledAt) : undefined,
      refused: this.refusedCount,
    };
  }

  private estimate(): number {
    this.resampleIfDue();
    return (this.sample ?? 0) + this.delta;
  }

  /** Count again if the last count is older than the interval; true if the count is new. */
  private resampleIfDue(): boolean {
    const t = this.now();
    if (t - this.sampledAt < this.sampleIntervalMs) return false;
    this.sampledAt = t;
    const n = this.count();
    if (n === undefined) return false;
    this.sample = n;
    this.delta = 0;
    return true;
  }
}
