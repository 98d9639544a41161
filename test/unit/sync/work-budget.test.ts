/**
 * WorkBudget: catalog work may use only its share of each second; over it, the next item waits
 * for the next window (and nothing is dropped).
 */
import test from 'ava';
import { WorkBudget } from '../../../src/sync/work-budget.js';

test('under the share, work starts at once; over it, the next item waits for the next window', async (t) => {
  let now = 0;
  const budget = new WorkBudget(0.1, () => now); // 100 ms of each second
  await budget.acquire();
  budget.record(40);
  await budget.acquire();
  t.is(budget.waits, 0, 'still under the share');
  budget.record(80); // 120 ms used: over the share
  let resolved = false;
  const waiting = budget.acquire().then(() => (resolved = true));
  now = 500; // later in the same window: still over
  await new Promise((r) => setTimeout(r, 50));
  t.false(resolved, 'over budget: waits for the next window');
  now = 1000; // the next window
  await waiting;
  t.true(resolved);
  t.true(budget.waits >= 1);
});

test('an overrun carries into the next window', async (t) => {
  let now = 0;
  const budget = new WorkBudget(0.5, () => now);
  await budget.acquire();
  budget.record(1400); // one huge item: 900 ms over the 500 ms share
  now = 1000; // next window: 900 of it is already spent, still over 500 → must wait
  let resolved = false;
  const p = budget.acquire().then(() => (resolved = true));
  await new Promise((r) => setTimeout(r, 20));
  t.false(resolved);
  now = 2000; // the window after: the overrun is paid off
  await p;
  t.true(resolved);
});
