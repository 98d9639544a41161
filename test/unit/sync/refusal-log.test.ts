/**
 * The sync port's refusal log is a rolling ConsolidatedLog: a flood of one kind is one line when it
 * starts and then one line per window with the count, for as long as it lasts; the window closes
 * after a quiet one, and the next occurrence is logged at once again.
 */
import test from 'ava';
import { ConsolidatedLog } from '../../../src/util/consolidated-log.js';
import type { Logger } from '../../../src/log.js';

interface Line {
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

function capture(): { logger: Pick<Logger, 'error' | 'warn'>; lines: Line[] } {
  const lines: Line[] = [];
  const at = (...args: unknown[]): void => void lines.push({ obj: args[0] as Record<string, unknown>, msg: String(args[1]) });
  return { lines, logger: { error: at, warn: at } };
}

const WINDOW_MS = 50;

/** Event-driven: resolves when the n-th line has been logged (the window timers fired). */
async function lineCount(lines: Line[], n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (lines.length < n) {
    if (Date.now() > deadline) throw new Error(`only ${lines.length} of ${n} lines within 10 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('rolling: a flood is one line per window with its count, never a fresh first line per window', async (t) => {
  const { logger, lines } = capture();
  const log = new ConsolidatedLog(logger, { windowMs: WINDOW_MS, rolling: true });
  t.teardown(() => log.close());
  log.warn({ refusal: 'per_source' }, 'refused');
  t.is(lines.length, 1, 'the first at once');
  for (let i = 0; i < 100; i++) log.warn({ refusal: 'per_source' }, 'refused');
  await lineCount(lines, 2);
  t.like(lines[1]!.obj, { refusal: 'per_source', consolidated: 100 });
  // The window re-opened: more of the same are held, not logged as a new first line.
  for (let i = 0; i < 50; i++) log.warn({ refusal: 'per_source' }, 'refused');
  t.is(lines.length, 2, 'held in the re-opened window');
  await lineCount(lines, 3);
  t.like(lines[2]!.obj, { consolidated: 50 });
  t.regex(lines[2]!.msg, /^50 more like "refused"/);
  // A quiet window closes it: two windows later (timers fire in order), the next is logged at once.
  await new Promise((r) => setTimeout(r, WINDOW_MS * 2.5));
  log.warn({ refusal: 'per_source' }, 'refused');
  t.is(lines.length, 4);
  t.deepEqual(lines[3]!.obj, { refusal: 'per_source' });
});

test('rolling: close() flushes the pending count and stops the windows', (t) => {
  const { logger, lines } = capture();
  const log = new ConsolidatedLog(logger, { windowMs: 60_000, rolling: true });
  log.warn({}, 'a');
  log.warn({}, 'a');
  log.warn({}, 'b');
  log.close();
  t.deepEqual(
    lines.map((l) => l.msg),
    ['a', 'b', '1 more like "a" in the last 60 s'],
  );
});
