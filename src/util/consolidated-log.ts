/**
 * Error-log consolidation (edge), like CoreDNS's `errors { consolidate 10s }`: the first error of a
 * kind in a window is logged as it happens, and the rest of that window become one summary line,
 * "N errors like ... in the last 10 s".
 *
 * Owns: grouping by message, the window timers, and the per-kind counts.
 * Never: logs more than two lines per kind per window (one, after the first, when `rolling`), or holds more than `maxKinds` kinds (a flood
 * of distinct messages is logged as it comes once the table is full, never buffered).
 * Invariants: every error is either logged or counted into exactly one summary; close() flushes
 * the pending summaries.
 */
import type { Logger } from '../log.js';

interface Pending {
  count: number;
  readonly first: object;
  readonly timer: NodeJS.Timeout;
}

export interface ConsolidatedLogOptions {
  readonly windowMs?: number | undefined;
  readonly maxKinds?: number | undefined;
  /**
   * true: a summary with a count re-opens the window, so a kind that keeps occurring (a flood) is
   * one line per window for as long as it lasts, not a first line plus a summary per window. The
   * window closes after one without occurrences. Default false.
   */
  readonly rolling?: boolean | undefined;
}

export class ConsolidatedLog {
  private readonly pending = new Map<string, Pending>();
  private readonly windowMs: number;
  private readonly maxKinds: number;
  private readonly rolling: boolean;

  constructor(
    private readonly logger: Pick<Logger, 'error' | 'warn'>,
    options: ConsolidatedLogOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 10_000;
    this.maxKinds = options.maxKinds ?? 1000;
    this.rolling = options.rolling ?? false;
  }

  error(obj: object, msg: string): void {
    this.write('error', obj, msg);
  }

  warn(obj: object, msg: string): void {
    this.write('warn', obj, msg);
  }

  /** Log every pending summary now and stop the timers (shutdown). */
  close(): void {
    for (const key of [...this.pending.keys()]) this.flush(key, false);
  }

  private write(level: 'error' | 'warn', obj: object, msg: string): void {
    const key = `${level}\u0000${msg}`;
    const p = this.pending.get(key);
    if (p) {
      p.count++;
      return;
    }
    this.logger[level](obj, msg);
    if (this.pending.size >= this.maxKinds) return;
    const timer = setTimeout(() => this.flush(key), this.windowMs);
    timer.unref();
    this.pending.set(key, { count: 0, first: obj, timer });
  }

  private flush(key: string, reopen = this.rolling): void {
    const p = this.pending.get(key);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(key);
    if (p.count === 0) return;
    const [level, msg] = key.split('\u0000') as ['error' | 'warn', string];
    const seconds = this.windowMs / 1000;
    this.logger[level](
      { ...p.first, consolidated: p.count, windowSeconds: seconds },
      `${p.count} more like "${msg}" in the last ${seconds} s`,
    );
    if (!reopen) return;
    const timer = setTimeout(() => this.flush(key), this.windowMs);
    timer.unref();
    this.pending.set(key, { count: 0, first: p.first, timer });
  }
}
