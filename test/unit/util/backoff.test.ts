/** The one backoff and jitter (src/util/backoff.ts) every retry and probe loop uses. */
import test from 'ava';
import fc from 'fast-check';
import { Backoff, jittered } from '../../../src/util/backoff.js';

test('jittered stays within ±fraction, at both ends of the random source', (t) => {
  t.is(
    jittered(1000, 0.2, () => 0),
    800,
  );
  t.is(
    jittered(1000, 0.2, () => 0.999999),
    1200,
  );
  t.is(
    jittered(1000, 0.1, () => 0.5),
    1000,
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 10_000_000 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 0.99999, noNaN: true }),
      (ms, f, r) => {
        const d = jittered(ms, f, () => r);
        return d >= Math.floor(ms * (1 - f)) && d <= Math.ceil(ms * (1 + f));
      },
    ),
  );
});

test('Backoff doubles from initialMs to maxMs, stays at the cap, and reset() starts over', (t) => {
  const b = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0 });
  t.deepEqual(
    Array.from({ length: 9 }, () => b.next()),
    [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
  );
  b.reset();
  t.is(b.next(), 500);
});

test('Backoff never overflows: after thousands of delays it is still maxMs (jittered ±20 % by default)', (t) => {
  const b = new Backoff({ initialMs: 1000, maxMs: 30_000 }, () => 0.5);
  let last = 0;
  for (let i = 0; i < 5000; i++) last = b.next();
  t.is(last, 30_000);
  const low = new Backoff({ initialMs: 1000, maxMs: 30_000 }, () => 0);
  t.is(low.next(), 800);
});
