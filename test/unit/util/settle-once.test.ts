/** One timer-bounded, settle-exactly-once operation (src/util/settle-once.ts), used by every socket try and probe. */
import { EventEmitter, once } from 'node:events';
import test from 'ava';
import fc from 'fast-check';
import { settleOnce } from '../../../src/util/settle-once.js';

/** Timers alive in this process right now (a cleared or fired one no longer counts). */
const activeTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** An operation whose timer cannot fire during a test: only resolve/reject settle it. */
function longOp(cleanups: { count: number }, timeouts: { count: number } = { count: 0 }) {
  return settleOnce<string>({
    timeoutMs: 600_000,
    onTimeout: () => {
      timeouts.count++;
      return 'timeout';
    },
    cleanup: () => {
      cleanups.count++;
    },
  });
}

test('the first resolve wins; later resolves and rejects are ignored; cleanup runs once, before the promise settles', async (t) => {
  const cleanups = { count: 0 };
  const op = longOp(cleanups);
  t.false(op.settled);
  op.resolve('first');
  t.true(op.settled);
  t.is(cleanups.count, 1);
  op.resolve('second');
  op.reject(new Error('late'));
  t.is(cleanups.count, 1);
  t.is(await op.promise, 'first');
});

test('the first reject wins; a later resolve is ignored', async (t) => {
  const cleanups = { count: 0 };
  const op = longOp(cleanups);
  const reason = new Error('refused');
  op.reject(reason);
  op.resolve('late');
  op.reject(new Error('later'));
  t.is(await t.throwsAsync(op.promise), reason);
  t.is(cleanups.count, 1);
});

test('settling clears the timer at once', (t) => {
  const before = activeTimers();
  const op = longOp({ count: 0 });
  t.is(activeTimers(), before + 1);
  op.resolve('done');
  t.is(activeTimers(), before);
});

test('the timer settles with onTimeout(); cleanup runs once; later resolve and reject are ignored', async (t) => {
  const cleanups = { count: 0 };
  let timeouts = 0;
  const op = settleOnce<string>({
    timeoutMs: 1,
    onTimeout: () => {
      timeouts++;
      return 'timeout';
    },
    cleanup: () => {
      cleanups.count++;
    },
  });
  t.is(await op.promise, 'timeout');
  t.true(op.settled);
  t.is(timeouts, 1);
  t.is(cleanups.count, 1);
  op.resolve('late');
  op.reject(new Error('late'));
  t.is(cleanups.count, 1);
  t.is(await op.promise, 'timeout');
});

test('an onTimeout that throws rejects with its error', async (t) => {
  const reason = new Error('gave up');
  let cleanups = 0;
  const op = settleOnce<string>({
    timeoutMs: 1,
    onTimeout: () => {
      throw reason;
    },
    cleanup: () => cleanups++,
  });
  t.is(await t.throwsAsync(op.promise), reason);
  t.is(cleanups, 1);
});

test('a timeout beyond setTimeout’s limit is capped instead of firing at once', async (t) => {
  const op = settleOnce<string>({ timeoutMs: 2 ** 40, onTimeout: () => 'timeout' });
  // Node fires an overflowing delay after 1 ms; a 20 ms timer that must fire proves this one did not.
  const control = settleOnce<string>({ timeoutMs: 20, onTimeout: () => 'control' });
  t.is(await control.promise, 'control');
  t.false(op.settled);
  op.resolve('done');
  t.is(await op.promise, 'done');
});

test('listen(): listeners run until settling, are removed then, and an error sink stays', async (t) => {
  const emitter = new EventEmitter();
  const op = longOp({ count: 0 });
  const seen: string[] = [];
  op.listen(emitter, 'data', (chunk: string) => seen.push(chunk));
  op.listen(emitter, 'error', (err: Error) => op.resolve(`error: ${err.message}`));
  emitter.emit('data', 'a');
  t.is(emitter.listenerCount('data'), 1);
  emitter.emit('error', new Error('reset'));
  t.is(await op.promise, 'error: reset');
  t.deepEqual(seen, ['a']);
  t.is(emitter.listenerCount('data'), 0);
  // A destroyed socket or request may still emit 'error'; without a listener that would throw.
  t.is(emitter.listenerCount('error'), 1);
  t.notThrows(() => emitter.emit('error', new Error('late')));
  emitter.emit('data', 'b');
  t.deepEqual(seen, ['a']);
  op.listen(emitter, 'data', (chunk: string) => seen.push(chunk));
  t.is(emitter.listenerCount('data'), 0, 'listen() after settling is a no-op');
});

test('listen(): a listener that settles stops the other listeners of the same emit', async (t) => {
  const emitter = new EventEmitter();
  const op = longOp({ count: 0 });
  let second = 0;
  op.listen(emitter, 'close', () => op.resolve('closed'));
  op.listen(emitter, 'close', () => second++);
  emitter.emit('close');
  t.is(await op.promise, 'closed');
  t.is(second, 0);
});

test('listen(): the timer removes listeners too, and cleanup sees them gone', async (t) => {
  const emitter = new EventEmitter();
  let listenersAtCleanup = -1;
  const op = settleOnce<string>({
    timeoutMs: 1,
    onTimeout: () => 'timeout',
    cleanup: () => (listenersAtCleanup = emitter.listenerCount('message')),
  });
  op.listen(emitter, 'message', () => op.resolve('message'));
  const timedOut = op.promise;
  t.is(await timedOut, 'timeout');
  t.is(listenersAtCleanup, 0);
  emitter.emit('message');
  t.is(await op.promise, 'timeout');
});

test('any sequence of resolves, rejects and events settles once, with the first outcome, and cleans up once', async (t) => {
  type Step =
    | { readonly kind: 'resolve'; readonly value: string }
    | { readonly kind: 'reject'; readonly value: string }
    | { readonly kind: 'emit'; readonly value: string };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ kind: fc.constant('resolve' as const), value: fc.string() }),
    fc.record({ kind: fc.constant('reject' as const), value: fc.string() }),
    fc.record({ kind: fc.constant('emit' as const), value: fc.string() }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
      const before = activeTimers();
      const emitter = new EventEmitter();
      const cleanups = { count: 0 };
      const op = longOp(cleanups);
      op.listen(emitter, 'message', (value: string) => op.resolve(`event ${value}`));
      for (const s of steps) {
        if (s.kind === 'resolve') op.resolve(s.value);
        else if (s.kind === 'reject') op.reject(new Error(s.value));
        else emitter.emit('message', s.value);
      }
      // Counted before any await: tests of this file run concurrently and have timers of their own.
      const timerCleared = activeTimers() === before;
      const first = steps[0]!;
      const outcome = await op.promise.then(
        (value) => ({ kind: 'resolved', value }),
        (err: Error) => ({ kind: 'rejected', value: err.message }),
      );
      const expected =
        first.kind === 'reject'
          ? { kind: 'rejected', value: first.value }
          : { kind: 'resolved', value: first.kind === 'emit' ? `event ${first.value}` : first.value };
      return (
        cleanups.count === 1 &&
        timerCleared &&
        emitter.listenerCount('message') === 0 &&
        outcome.kind === expected.kind &&
        outcome.value === expected.value
      );
    }),
  );
  t.pass();
});

test('a real socket-shaped use: the emitter closes in cleanup and its late close event changes nothing', async (t) => {
  const socket = new EventEmitter() as EventEmitter & { destroy(): void };
  socket.destroy = () => queueMicrotask(() => socket.emit('close'));
  const op = settleOnce<string>({ timeoutMs: 600_000, onTimeout: () => 'timeout', cleanup: () => socket.destroy() });
  op.listen(socket, 'close', () => op.resolve('closed early'));
  op.listen(socket, 'data', () => op.resolve('reply'));
  const closed = once(socket, 'close');
  socket.emit('data');
  await closed;
  t.is(await op.promise, 'reply');
});
