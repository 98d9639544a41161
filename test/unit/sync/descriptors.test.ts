/**
 * Descriptor accounting (src/util/descriptors.ts): the soft RLIMIT_NOFILE as the shell sees it,
 * the count of open descriptors following what the process opens, and the budget's admission
 * against limit − reserve with a sampled count (at most one count per interval under a flood).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { countOpenDescriptors, DescriptorBudget, parseSoftNofile, readSoftNofile } from '../../../src/util/descriptors.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

test('parseSoftNofile reads the soft Max open files; unlimited or absent is undefined', (t) => {
  t.is(parseSoftNofile(LIMITS), 1024);
  t.is(parseSoftNofile(LIMITS.replace('1024                 524288', 'unlimited            unlimited')), undefined);
  t.is(parseSoftNofile('Limit  Soft Limit  Hard Limit  Units\n'), undefined);
});

test('readSoftNofile is the limit a child shell reports (ulimit -n), on Linux', (t) => {
  if (process.platform !== 'linux') {
    t.is(readSoftNofile(), undefined);
    return;
  }
  // A child inherits the soft limit; lower it in the child to see that the reading is the live value.
  const ours = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  t.is(readSoftNofile(), ours);
  const lowered = execFileSync(
    'sh',
    [
      '-c',
      `ulimit -n 300 && exec "$0" --input-type=module -e "$1"`,
      process.execPath,
      `import { readFileSync } from 'node:fs'; const m = /^Max open files\\s+(\\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8')); process.stdout.write(m[1]);`,
    ],
    { encoding: 'utf8' },
  );
  t.is(lowered, '300');
});

test('countOpenDescriptors follows the descriptors this process opens and closes', (t) => {
  const before = countOpenDescriptors();
  if (before === undefined) return t.fail('no descriptor directory (/proc/self/fd or /dev/fd)');
  const fds = Array.from({ length: 50 }, () => openSync(process.execPath, 'r'));
  const during = countOpenDescriptors()!;
  for (const fd of fds) closeSync(fd);
  const after = countOpenDescriptors()!;
  // Other descriptors may come and go (the worker's own I/O): allow a few either way.
  t.true(during - before >= 45 && during - before <= 55, `+${during - before} for 50 opened`);
  t.true(Math.abs(after - before) <= 5, `${after - before} after closing them`);
});

test('DescriptorBudget admits up to limit − reserve, refuses beyond, and frees on release', (t) => {
  let open = 100;
  const budget = new DescriptorBudget({ limit: 200, reserve: 50, count: () => open, sampleIntervalMs: 1000, now: () => 0 });
  // A fresh count includes the connection just accepted: 100 in use, 150 allowed.
  open = 101;
  t.true(budget.tryAcquire());
  let admitted = 1;
  while (budget.tryAcquire()) {
    admitted++;
    if (admitted > 1000) break;
  }
  t.is(admitted, 50, '101 … 150 in use');
  t.is(budget.status().inUse, 150);
  t.is(budget.status().refused, 1);
  budget.release();
  t.true(budget.tryAcquire(), 'a released descriptor is available again');
  t.false(budget.tryAcquire());
  t.like(budget.status(), { limit: 200, reserve: 50, budget: 150, inUse: 150, refused: 2 });
});

test("DescriptorBudget counts at most once per interval under a flood, and follows others' descriptors at the next count", (t) => {
  let counts = 0;
  let open = 10;
  let clock = 0;
  const budget = new DescriptorBudget({
    limit: 1000,
    reserve: 100,
    count: () => (counts++, open),
    sampleIntervalMs: 250,
    now: () => clock,
  });
  for (let i = 0; i < 10_000; i++) {
    if (budget.tryAcquire()) budget.release();
  }
  t.is(counts, 1, 'one count for 10,000 admissions within one interval');
  // Someone else (DNS over TCP) took 895 descriptors: seen at the next count, not before.
  open = 905;
  t.true(budget.tryAcquire());
  budget.release();
  clock = 250;
  t.false(budget.tryAcquire(), '905 in use + 1 is past 900');
  t.is(counts, 2);
});

test('DescriptorBudget without a known limit admits everything and says so', (t) => {
  const budget = new DescriptorBudget({ limit: null, reserve: 100, count: () => 5 });
  for (let i = 0; i < 100; i++) t.true(budget.tryAcquire());
  t.like(budget.status(), { limit: undefined, budget: undefined, inUse: 5, refused: 0 });
});
