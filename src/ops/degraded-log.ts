/**
 * Fail-open accounting (edge): counts answers given with no healthy candidate (SPEC §1 "fail
 * open") and logs them at most once per name per minute.
 *
 * Owns: the counter the metrics module exposes and the rate-limited warning.
 * Never: logs the same name twice within `intervalMs`, or remembers more than `maxNames` names
 * (the memory is cleared when full, so a flood of names costs log lines, not memory).
 */
import type { Logger } from '../log.js';

export class DegradedLog {
  count = 0;
  private readonly lastLogged = new Map<string, number>();

  constructor(
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly intervalMs = 60_000,
    private readonly maxNames = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  note(name: string): void {
    this.count++;
    const t = this.now();
    const last = this.lastLogged.get(name);
    if (last !== undefined && t - last < this.intervalMs) return;
    if (this.lastLogged.size >= this.maxNames) this.lastLogged.clear();
    this.lastLogged.set(name, t);
    this.logger.warn(
      { name, failOpenAnswers: this.count },
      'no healthy candidate: answered with every known gateway (fail open, degraded TTL)',
    );
  }
}
