/**
 * Retry delays (PURE but for the injected random source): one jittered exponential backoff and one
 * jitter for every retry and probe loop (Kubernetes informers, sync peers, forwarder health checks,
 * gateway probes), so their shape is defined and tested once.
 *
 * Invariants: `jittered(ms, f)` is within [ms·(1−f), ms·(1+f)], rounded to whole ms; `Backoff.next()`
 * returns initialMs·2^n capped at maxMs (n = delays since the last reset), jittered; the doubling
 * stops growing at the cap, so it never overflows.
 */

/** `ms` spread uniformly by ±`fraction` (0.2: ±20 %), in whole milliseconds. */
export function jittered(ms: number, fraction: number, random: () => number = Math.random): number {
  return Math.round(ms * (1 - fraction + random() * 2 * fraction));
}

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** ± fraction of each delay; default 0.2. */
  readonly jitter?: number | undefined;
}

/** Exponential backoff: initialMs doubling to maxMs, each delay jittered; reset() after a success. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** The next delay, in ms. */
  next(): number {
    const base = this.attempt >= 52 ? this.opts.maxMs : Math.min(this.opts.maxMs, this.opts.initialMs * 2 ** this.attempt);
    this.attempt++;
    return jittered(base, this.opts.jitter ?? 0.2, this.random);
  }

  reset(): void {
    this.attempt = 0;
  }
}
