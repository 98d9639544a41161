/**
 * One operation on a socket (or request) bounded by a timer, settled exactly once: the shape of the
 * forwarder's UDP and TCP tries, the gateway TCP and HTTP probes and the stub-wiring self-test.
 *
 * Owns: the timer, the settled flag, and the listeners registered through `listen()`.
 * Never: settles twice, lets a late event, resolve or reject change the outcome, keeps the timer or
 * a `listen()` listener past settling, or leaves an emitter without an 'error' listener once it took
 * one through `listen()` (a late 'error', e.g. from a destroyed http.ClientRequest, would otherwise
 * crash the process).
 * Invariants, on the first of resolve(), reject() or the timer, and in this order: `settled` turns
 * true, the timer is cleared, `listen()` listeners are removed (an 'error' sink stays), `cleanup`
 * runs exactly once, the promise settles. `cleanup` must not throw (destroy or close in a try).
 */
import type { EventEmitter } from 'node:events';

/**
 * Longest delay setTimeout honours: beyond 2^31 − 1 ms Node fires after 1 ms instead (with a
 * TimeoutOverflowWarning), which would turn a huge configured timeout into an instant one.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SettleOnceOptions<T> {
  /** Milliseconds until the operation settles with `onTimeout()`; capped at MAX_TIMER_MS. */
  readonly timeoutMs: number;
  /** The value the operation resolves with when the timer fires first; a throw rejects instead. */
  readonly onTimeout: () => T;
  /** Releases the operation's resources (destroy the socket, forget it); runs once, on settling. */
  readonly cleanup?: (() => void) | undefined;
}

/** A pending operation; every method is a no-op once it has settled. */
export interface SettleOnce<T> {
  readonly promise: Promise<T>;
  /** True from the moment the operation settled (so callbacks such as connect can bail out). */
  readonly settled: boolean;
  resolve(value: T): void;
  reject(reason: unknown): void;
  /**
   * `emitter.on(event, listener)`, with the listener removed on settling; the listener does not
   * run once the operation has settled.
   */
  // `any[]` as in EventEmitter.on: the arguments are whatever the emitter passes for this event.
  listen(emitter: Pick<EventEmitter, 'on' | 'removeListener'>, event: string, listener: (...args: never[]) => void): void;
}

const ignore = (): void => undefined;

/** Start the timer of one operation; the caller starts the operation and wires its events. */
export function settleOnce<T>(options: SettleOnceOptions<T>): SettleOnce<T> {
  let settle!: { resolve: (value: T) => void; reject: (reason: unknown) => void };
  const promise = new Promise<T>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const listeners: { emitter: Pick<EventEmitter, 'on' | 'removeListener'>; event: string; listener: (...args: unknown[]) => void }[] = [];
  let settled = false;

  const finish = (outcome: { value: T } | { reason: unknown }): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    const sinks = new Set<Pick<EventEmitter, 'on' | 'removeListener'>>();
    for (const { emitter, event, listener } of listeners) {
      emitter.removeListener(event, listener);
      if (event === 'error') sinks.add(emitter);
    }
    listeners.length = 0;
    for (const emitter of sinks) emitter.on('error', ignore);
    try {
      options.cleanup?.();
    } finally {
      if ('value' in outcome) settle.resolve(outcome.value);
      else settle.reject(outcome.reason);
    }
  };

  const timer = setTimeout(
    () => {
      let value: T;
      try {
        value = options.onTimeout();
      } catch (reason) {
        finish({ reason });
        return;
      }
      finish({ value });
    },
    Math.min(options.timeoutMs, MAX_TIMER_MS),
  );

  return {
    promise,
    get settled() {
      return settled;
    },
    resolve: (value) => finish({ value }),
    reject: (reason) => finish({ reason }),
    listen(emitter, event, listener) {
      if (settled) return;
      const guarded = (...args: unknown[]): void => {
        if (!settled) (listener as (...a: unknown[]) => void)(...args);
      };
      listeners.push({ emitter, event, listener: guarded });
      emitter.on(event, guarded);
    },
  };
}
