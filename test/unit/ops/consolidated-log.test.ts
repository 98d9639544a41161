/**
 * ConsolidatedLog (errors { consolidate }): the first of a kind at once, the rest of its window as
 * one summary line, per message and per level, bounded by maxKinds, flushed by close().
 */
import test from 'ava';
import { ConsolidatedLog } from '../../../src/util/consolidated-log.js';
import type { Logger } from '../../../src/log.js';

interface Line {
  readonly level: 'error' | 'warn';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

/** A hand-written logger that keeps every call (pino's LogFn overloads take (obj, msg)). */
function capture(): { logger: Pick<Logger, 'error' | 'warn'>; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: Line['level']) =>
    (...args: unknown[]): void => {
      lines.push({ level, obj: args[0] as Record<string, unknown>, msg: String(args[1]) });
    };
  return { lines, logger: { error: at('error'), warn: at('warn') } };
}

const WINDOW_MS = 50;
const afterWindow = (): Promise<void> => new Promise((r) => setTimeout(r, WINDOW_MS * 4));

test('the first error at once, the next five as one summary after the window', async (t) => {
  const { logger, lines } = capture();
  const log = new ConsolidatedLog(logger, { windowMs: WINDOW_MS });
  t.teardown(() => log.close());
  log.error({ client: 'a' }, 'send failed');
  t.deepEqual(lines, [{ level: 'error', obj: { client: 'a' }, msg: 'send failed' }], 'logged as it happened');
  for (let i = 0; i < 5; i++) log.error({ client: `b${i}` }, 'send failed');
  t.is(lines.length, 1, 'the rest of the window is held');
  await afterWindow();
  t.is(lines.length, 2);
  t.is(lines[1]!.level, 'error');
  t.like(lines[1]!.obj, { client: 'a', consolidated: 5 });
  t.regex(lines[1]!.msg, /^5 more like "send failed"/);
  // A new window starts afresh: the next one is logged at once again.
  log.error({ client: 'c' }, 'send failed');
  t.is(lines.length, 3);
  t.deepEqual(lines[2]!.obj, { client: 'c' });
});

test('different messages are independent', async (t) => {
  const { logger, lines } = capture();
  const log = new ConsolidatedLog(logger, { windowMs: WINDOW_MS });
  log.error({}, 'one');
  log.error({}, 'two');
  log.error({}, 'one');
  log.error({}, 'one');
  log.error({}, 'two');
  t.deepEqual(
    lines.map((l) => l.msg),
    ['one', 'two'],
  );
  await afterWindow();
  const summaries = lines.slice(2);
  t.is(summaries.length, 2);
  t.is(summaries.find((l) => /"one"/.test(l.msg))?.obj['consolidated'], 2);
  t.is(summaries.find((l) => /"two"/.test(l.msg))?.obj['consolidated'], 1);
});

test('warn and error of the same message are separate kinds', async (t) => {
  const { logger, lines } = capture();
  const log = new ConsolidatedLog(logger, { windowMs: WINDOW_MS });
  log.warn({}, 'slow');
  log.error({}, 'slow');
  log.warn({}, 'slow');
  log.warn({}, 'slow');
  log.warn({}, 'slow');
  t.deepEqual(
    lines.map((l) => l.level),
    ['warn', 'error'],
  );
  await afterWindow();
  t.is(lines.length, 3, 'only the warn kind had repeats');
  t.like(lines[2], { level: 'warn', obj: { consolidated: 3 } });
});

test('a message seen once has no summary', async (t) => {
  const { logger, lines } = capture();
  const log = new ConsolidatedLog(logger, { windowMs: WINDOW_MS });
  log.error({ x: 1 }, 'once');
  await afterWindow();
  t.is(lines.length, 1);
  log.close();
  t.is(lines.length, 1);
});

test('close() flushes pending summaries at once', (t) => {
  const { logger, lines } = capture();
  const log = new ConsolidatedLog(logger, { windowMs: 60_000 });
  log.error({}, 'a');
  log.error({}, 'a');
  log.error({}, 'a');
  log.warn({}, 'b');
  log.warn({}, 'b');
  log.error({}, 'c');
  t.is(lines.length, 3);
  log.close();
  t.is(lines.length, 5);
  t.like(
    lines.find((l) => /more like "a"/.test(l.msg)),
    { level: 'error', obj: { consolidated: 2 } },
  );
  t.like(
    lines.find((l) => /more like "b"/.test(l.msg)),
    { level: 'warn', obj: { consolidated: 1 } },
  );
  t.false(lines.some((l) => /more like "c"/.test(l.msg)));
  log.close();
  t.is(lines.length, 5, 'a second close logs nothing more');
});

test('maxKinds: a kind beyond the bound is logged every time and never summarised', async (t) => {
  const { logger, lines } = capture();
  const log = new ConsolidatedLog(logger, { windowMs: WINDOW_MS, maxKinds: 2 });
  log.error({}, 'k1');
  log.error({}, 'k2');
  for (let i = 0; i < 3; i++) log.error({ i }, 'k3');
  log.error({}, 'k1');
  t.deepEqual(
    lines.map((l) => l.msg),
    ['k1', 'k2', 'k3', 'k3', 'k3'],
  );
  await afterWindow();
  t.deepEqual(
    lines.slice(5).map((l) => l.obj['consolidated']),
    [1],
  );
  t.regex(lines[5]!.msg, /"k1"/);
  t.false(lines.some((l) => l.obj['consolidated'] !== undefined && /"k3"/.test(l.msg)));
});
