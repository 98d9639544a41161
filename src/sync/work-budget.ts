/**
 * A CPU budget for applying peer catalogs (edge: timers).
 *
 * Owns: how much of each second the sync clients may spend parsing, validating and applying
 * catalogs, on the one thread that also answers DNS.
 * Never: drops work; over budget, the next catalog waits for the next second. Meanwhile the peer's
 * later changes coalesce, since the next fetch returns its latest catalog.
 * Invariants: per one-second window, work starts only while less than `shareOfSecond` of the
 * window has been used (one item may overrun it; the overrun counts against the next window).
 * Measured by bench/sync-scale.ts: without a budget, 50 peers changing once a second each starved
 * DNS (125 qps against 23k quiet).
 */
export class WorkBudget {
  private windowStart = 0;
  private usedMs = 0;
  waits = 0;

  constructor(
    private readonly shareOfSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Resolves when work may start. */
  async acquire(): Promise<void> {
    for (;;) {
      const t = this.now();
      if (t - this.windowStart >= 1000) {
        // Carry an overrun into the new window, so one huge item cannot exceed the share forever.
        this.usedMs = Math.max(0, this.usedMs - this.shareOfSecond * 1000);
        this.windowStart = t;
      }
      if (this.usedMs < this.shareOfSecond * 1000) return;
      this.waits++;
      await new Promise((r) => setTimeout(r, Math.max(1, 1000 - (t - this.windowStart))));
    }
  }

  record(ms: number): void {
    this.usedMs += ms;
  }
}
