/**
 * log.format (src/log.ts): JSON lines for collectors, readable lines (pino-pretty) for people, and
 * `auto` choosing by whether stdout is a terminal; the config key validates its values.
 */
import test from 'ava';
import { Writable } from 'node:stream';
import { createLogger, isPretty, type LogFormat } from '../../../src/log.js';
import { loadConfig } from '../../../src/config/index.js';

function capture(format: LogFormat): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, log: createLogger('info', sink, format) };
}

test('pretty: one readable line per entry with time, level, message and fields; no JSON object line', (t) => {
  const { lines, log } = capture('pretty');
  log.child({ module: 'dns' }).info({ listen: '127.0.0.1:53' }, 'gsdns serving');
  log.debug('below the level');
  t.is(lines.length, 1);
  t.regex(lines[0]!, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: gsdns serving \{"module":"dns","listen":"127.0.0.1:53"\}\n$/);
});

test('json: one JSON object per line with level, time, svc and msg', (t) => {
  const { lines, log } = capture('json');
  log.warn({ peer: 'eu' }, 'sync peer stale');
  t.is(lines.length, 1);
  const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
  t.like(entry, { level: 40, svc: 'gsdns', peer: 'eu', msg: 'sync peer stale' });
  t.is(typeof entry['time'], 'number');
});

test('auto is pretty on a terminal and JSON otherwise; json and pretty ignore the terminal', (t) => {
  t.true(isPretty('auto', true));
  t.false(isPretty('auto', false));
  t.false(isPretty('json', true));
  t.true(isPretty('pretty', false));
});

test('log.format defaults to auto and refuses other values with its key path', (t) => {
  const ok = loadConfig({ env: {}, sets: ['cluster.name=a', 'source.file.path=/tmp/catalog.yaml'] });
  t.true(ok.ok);
  if (ok.ok) t.is(ok.config.log.format, 'auto');
  const bad = loadConfig({ env: {}, sets: ['cluster.name=a', 'source.file.path=/tmp/catalog.yaml', 'log.format=xml'] });
  t.false(bad.ok);
  if (!bad.ok)
    t.true(
      bad.errors.some((e) => JSON.stringify(e).includes('log.format')),
      JSON.stringify(bad.errors),
    );
});
