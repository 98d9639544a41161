/**
 * The process around a running server (`gsdns serve`): signals, lame duck, fatal errors.
 *
 * Owns: SIGTERM/SIGINT (not ready at once, keep answering for shutdown.lameDuckSeconds, then close
 * in order and exit 0; a second signal exits at once), SIGHUP (re-read followed files), and
 * uncaught exceptions or rejections (log at fatal, exit 70 so the pod restarts).
 * Never: exits without flushing the log, or lets a signal during start be lost.
 */
import type { Config } from './config/index.js';
import { flushLogs, type Logger } from './log.js';
import { startGsdns, type RunningServer } from './main.js';

/**
 * `unhandledRejection` and `uncaughtException` mean a bug left the process in an unknown state:
 * log at fatal and exit non-zero, so Kubernetes restarts the pod (SPEC §5). Returns the handler.
 */
export function fatalHandler(
  logger: Pick<Logger, 'fatal'>,
  exit: (code: number) => void,
): (what: 'uncaughtException' | 'unhandledRejection', err: unknown) => void {
  return (what, err) => {
    logger.fatal(
      { err, event: what },
      `${what === 'uncaughtException' ? 'uncaught exception' : 'unhandled promise rejection'}; exiting so the pod restarts`,
    );
    exit(70); // EX_SOFTWARE
  };
}

/**
 * `gsdns serve`: start; on SIGTERM/SIGINT go not-ready at once, keep answering for
 * shutdown.lameDuckSeconds (endpoints and CoreDNS move away meanwhile), then close in order and
 * exit 0. A second signal exits at once (code 1).
 */
export async function runServer(config: Config, logger: Logger, meta: { configFile: string }): Promise<void> {
  logger.info({ config: meta.configFile }, 'starting gsdns');
  const onFatal = fatalHandler(logger, (code) => {
    void flushLogs().finally(() => process.exit(code));
  });
  process.on('uncaughtException', (err) => onFatal('uncaughtException', err));
  process.on('unhandledRejection', (err) => onFatal('unhandledRejection', err));
  // Handlers go in before anything starts: a signal that arrives while starting (or right after
  // the "serving" line, before this function resumes) must still mean an orderly exit 0.
  let running: RunningServer | undefined;
  let signalled: string | undefined;
  const lameDuckMs = config.shutdown.lameDuckSeconds * 1000;
  const stop = (): void => {
    if (!running || !signalled) return;
    const server = running;
    // Step 1: /readyz is 503 from now on, while every listener keeps serving.
    server.readiness.beginShutdown();
    logger.info(
      { signal: signalled, lameDuckSeconds: config.shutdown.lameDuckSeconds },
      'shutting down: not ready, still answering during lame duck',
    );
    setTimeout(() => {
      logger.info('lame duck over: closing listeners');
      server
        .close()
        .then(() => {
          logger.info('stopped');
          return flushLogs().then(() => process.exit(0));
        })
        .catch((err: unknown) => {
          logger.error({ err }, 'error during shutdown');
          void flushLogs().finally(() => process.exit(1));
        });
    }, lameDuckMs);
  };
  const onSignal = (signal: string): void => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting at once');
      void flushLogs(250).finally(() => process.exit(1));
      return;
    }
    signalled = signal;
    stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // SIGHUP reloads files, as BIND's does; Node's default for it would end the process.
  process.on('SIGHUP', () => {
    if (!running || signalled) return;
    logger.info('SIGHUP: re-reading the catalog file and the sync TLS files (the config file is read only at start)');
    running.reloadFiles().catch((err: unknown) => logger.error({ err }, 'SIGHUP reload failed'));
  });
  running = await startGsdns(config, logger);
  stop();
}
