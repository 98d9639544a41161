/**
 * Logging (edge): one pino root logger, a child per module (SPEC §5 "Logs").
 * Modules receive a `Logger` and never create their own root; tests pass `silentLogger()`.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { svc: 'gsdns' } }, destination ?? process.stdout);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
