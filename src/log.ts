/**
 * Logging (edge): one pino root logger, a child per module (SPEC §5 "Logs").
 * Modules receive a `Logger` and never create their own root; tests pass `silentLogger()`.
 * Lines are JSON, or readable (pino-pretty) with `log.format: pretty`, or `auto` on a terminal.
 *
 * The destination is fd 1 through pino's sonic-boom, written asynchronously (issue 13: a log
 * destination that fails must not crash or stall DNS):
 * - a failing write (EPIPE when the reader went away, ENOSPC on a full disk or /dev/full) is
 *   counted and dropped, never thrown: the 'error' event has a listener;
 * - a reader that stops reading blocks a libuv thread, not the event loop (Node writes pipes on
 *   stdout synchronously on Linux; sonic-boom's async mode does not), and what waits is bounded by
 *   `MAX_BUFFERED_BYTES`: later lines are dropped and counted;
 * - `flushLogs()` waits, bounded in time, for what is buffered before the process exits. Nothing
 *   calls sonic-boom's flushSync, which retries a failing write forever (ENOSPC: the process
 *   would never exit); so the destination is built here, without pino's exit hook that calls it.
 */
import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import sonicBoom from 'sonic-boom';

export type { Logger };

/** Log octets held while the destination is slow or failing; beyond this, lines are dropped. */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** Log lines lost to a failing or slow destination, for /debug and metrics. */
export const logLoss = { writeErrors: 0, dropped: 0, lastError: undefined as string | undefined };

type Destination = InstanceType<typeof sonicBoom.SonicBoom>;

/** The root destination and the octets given to it that are neither written nor dropped yet. */
let root: { dest: Destination; pending: number; failing: boolean } | undefined;

/** `log.format`: json lines, readable lines, or readable on a terminal only. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** Whether lines are written for people: `pretty`, or `auto` with a terminal on stdout. */
export function isPretty(format: LogFormat, stdoutIsTty: boolean = process.stdout.isTTY === true): boolean {
  return format === 'pretty' || (format === 'auto' && stdoutIsTty);
}

/**
 * pino-pretty's synchronous formatter, applied to each JSON line on its way to the destination, so
 * the bounds above hold for readable lines too (pino-pretty's own stream would write to fd 1 by
 * itself). Colours only on a terminal.
 */
function prettyLine(colorize: boolean): (line: string) => string {
  const format = prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,svc', singleLine: true });
  return (line) => format(line);
}

export function createLogger(level: string, destination?: NodeJS.WritableStream, format: LogFormat = 'json'): Logger {
  const pretty = isPretty(format) ? prettyLine(process.stdout.isTTY === true) : undefined;
  if (destination !== undefined) {
    if (pretty === undefined) return pino({ level, base: { svc: 'gsdns' } }, destination);
    return pino({ level, base: { svc: 'gsdns' } }, { write: (line: string) => destination.write(pretty(line)) });
  }
  // SonicBoom itself, not pino.destination(): pino registers an exit hook on its destinations that
  // calls flushSync, which never returns while the write keeps failing (stdout on a full disk).
  const dest = new sonicBoom.SonicBoom({ fd: 1, sync: false, minLength: 0, maxLength: MAX_BUFFERED_BYTES });
  const state = { dest, pending: 0, failing: false };
  dest.on('error', (err: NodeJS.ErrnoException) => {
    logLoss.writeErrors++;
    logLoss.lastError = err.code ?? err.message;
    state.failing = true;
  });
  dest.on('write', (n: number) => {
    state.pending = Math.max(0, state.pending - n);
    state.failing = false;
  });
  dest.on('drop', (data: string) => {
    logLoss.dropped++;
    state.pending = Math.max(0, state.pending - Buffer.byteLength(data));
  });
  root = state;
  // pino writes through this object so that the octets in flight are known to flushLogs().
  const counting = {
    write(json: string): boolean {
      const line = pretty === undefined ? json : pretty(json);
      state.pending += Buffer.byteLength(line);
      return dest.write(line);
    },
  };
  return pino({ level, base: { svc: 'gsdns' } }, counting);
}

/**
 * Resolves once the buffered log lines are written, the destination fails, or `timeoutMs` passes,
 * whichever is first; never rejects. Call it before process.exit.
 */
export function flushLogs(timeoutMs = 1000): Promise<void> {
  const state = root;
  if (state === undefined || state.pending === 0 || state.failing) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      state.dest.off('write', check);
      state.dest.off('error', done);
      resolve();
    };
    const check = (): void => {
      if (state.pending === 0) done();
    };
    const timer = setTimeout(done, timeoutMs);
    state.dest.on('write', check);
    state.dest.on('error', done);
  });
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
