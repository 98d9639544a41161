/**
 * GatewayState (PURE, src/health/gateway-state.ts): the fall/rise state machine of one probed
 * gateway and its RTT average (SPEC §3 "Gateways"), table-driven over result sequences.
 *
 * Sequences are strings: `S` a successful probe, `F` a failed one. After each result the table
 * gives the status (`?` unknown, `H` healthy, `U` unhealthy); a status that differs from the one
 * before means record() must have returned true.
 */
import test from 'ava';
import { GatewayState, RTT_EWMA_ALPHA, type GatewayStatus } from '../../../src/health/gateway-state.js';

const STATUS: Record<string, GatewayStatus> = { '?': 'unknown', H: 'healthy', U: 'unhealthy' };

interface Row {
  readonly title: string;
  readonly fall: number;
  readonly rise: number;
  readonly results: string;
  /** Status after each result, one letter per result. */
  readonly after: string;
}

const rows: readonly Row[] = [
  // unknown → the first result decides, whatever fall and rise are
  { title: 'unknown: a first success makes it healthy at once', fall: 3, rise: 2, results: 'S', after: 'H' },
  { title: 'unknown: a first failure makes it unhealthy at once', fall: 3, rise: 2, results: 'F', after: 'U' },
  { title: 'unknown: first failure decides even with large fall', fall: 10, rise: 10, results: 'F', after: 'U' },
  { title: 'unknown: first success decides even with large rise', fall: 10, rise: 10, results: 'S', after: 'H' },
  // healthy → unhealthy only after `fall` consecutive failures
  { title: 'healthy: fall=3 needs three failures in a row', fall: 3, rise: 2, results: 'SFFF', after: 'HHHU' },
  { title: 'healthy: fall=1 goes down on the first failure', fall: 1, rise: 2, results: 'SF', after: 'HU' },
  { title: 'healthy: fall=5', fall: 5, rise: 2, results: 'SFFFFF', after: 'HHHHHU' },
  { title: 'healthy: more failures keep it unhealthy', fall: 2, rise: 2, results: 'SFFFF', after: 'HHUUU' },
  // unhealthy → healthy only after `rise` consecutive successes
  { title: 'unhealthy: rise=2 needs two successes in a row', fall: 3, rise: 2, results: 'FSS', after: 'UUH' },
  { title: 'unhealthy: rise=1 comes back on the first success', fall: 3, rise: 1, results: 'FS', after: 'UH' },
  { title: 'unhealthy: rise=4', fall: 3, rise: 4, results: 'FSSSS', after: 'UUUUH' },
  { title: 'down after fall, back after rise, down again after fall', fall: 3, rise: 2, results: 'SFFFSSFFF', after: 'HHHUUHHHU' },
  // interleaved results reset the counters
  { title: 'healthy: a success between failures resets the failure count', fall: 3, rise: 2, results: 'SFFSFF', after: 'HHHHHH' },
  { title: 'healthy: after a reset it takes fall failures again', fall: 3, rise: 2, results: 'SFFSFFF', after: 'HHHHHHU' },
  { title: 'healthy: alternating results never bring it down (fall=2)', fall: 2, rise: 2, results: 'SFSFSFSF', after: 'HHHHHHHH' },
  { title: 'unhealthy: a failure between successes resets the success count', fall: 3, rise: 3, results: 'FSSFSS', after: 'UUUUUU' },
  { title: 'unhealthy: after a reset it takes rise successes again', fall: 3, rise: 3, results: 'FSSFSSS', after: 'UUUUUUH' },
  { title: 'unhealthy: alternating results never bring it back (rise=2)', fall: 2, rise: 2, results: 'FSFSFSFS', after: 'UUUUUUUU' },
  { title: 'successes while healthy do not count towards a later rise', fall: 2, rise: 3, results: 'SSSSFFSS', after: 'HHHHHUUU' },
  { title: 'failures while unhealthy do not count towards a later fall', fall: 3, rise: 1, results: 'FFFFSFF', after: 'UUUUHHH' },
  { title: 'fall=1 rise=1 follows every result', fall: 1, rise: 1, results: 'SFSFFS', after: 'HUHUUH' },
];

for (const row of rows) {
  test(`fall=${row.fall} rise=${row.rise} ${row.results}: ${row.title}`, (t) => {
    t.is(row.results.length, row.after.length, 'table row is well-formed');
    const s = new GatewayState(row.fall, row.rise);
    t.is(s.status, 'unknown');
    t.is(s.healthy(), undefined, 'unknown health is reported as undefined (answered as healthy)');
    let prev: GatewayStatus = 'unknown';
    for (let i = 0; i < row.results.length; i++) {
      const ok = row.results[i] === 'S';
      const changed = s.record(ok ? { ok: true, rttMs: 1 } : { ok: false, error: 'ECONNREFUSED' }, 1000 + i);
      const want = STATUS[row.after[i]!]!;
      t.is(s.status, want, `after result #${i + 1} (${row.results.slice(0, i + 1)})`);
      t.is(changed, want !== prev, `record() #${i + 1} reports a change iff the status changed`);
      t.is(s.healthy(), want === 'healthy', `healthy() after #${i + 1}`);
      prev = want;
    }
  });
}

test('consecutive counters follow the last run of equal results', (t) => {
  const s = new GatewayState(3, 2);
  const seq = 'SSFFFSF';
  const want: [number, number][] = [
    [1, 0],
    [2, 0],
    [0, 1],
    [0, 2],
    [0, 3],
    [1, 0],
    [0, 1],
  ];
  for (let i = 0; i < seq.length; i++) {
    s.record({ ok: seq[i] === 'S' }, i);
    t.deepEqual([s.consecutiveSuccesses, s.consecutiveFailures], want[i], `after ${seq.slice(0, i + 1)}`);
  }
  t.is(s.probes, 7);
  t.is(s.failures, 4);
});

// ---- RTT EWMA ---------------------------------------------------------------------------------

test('the EWMA weight is 0.3', (t) => {
  t.is(RTT_EWMA_ALPHA, 0.3);
});

const ewmaRows: readonly { title: string; results: readonly ({ ok: true; rttMs?: number } | { ok: false })[]; rtt: number | undefined }[] =
  [
    { title: 'no probe: no RTT', results: [], rtt: undefined },
    { title: 'a failure alone gives no RTT', results: [{ ok: false }], rtt: undefined },
    { title: 'a success without an RTT gives no RTT', results: [{ ok: true }], rtt: undefined },
    { title: 'the first sample is taken as is', results: [{ ok: true, rttMs: 10 }], rtt: 10 },
    {
      title: 'second sample: 0.3 new + 0.7 old',
      results: [
        { ok: true, rttMs: 10 },
        { ok: true, rttMs: 20 },
      ],
      rtt: 0.3 * 20 + 0.7 * 10,
    },
    {
      title: 'three samples',
      results: [
        { ok: true, rttMs: 10 },
        { ok: true, rttMs: 20 },
        { ok: true, rttMs: 40 },
      ],
      rtt: 0.3 * 40 + 0.7 * (0.3 * 20 + 0.7 * 10),
    },
    {
      title: 'failures leave the average alone',
      results: [{ ok: true, rttMs: 10 }, { ok: false }, { ok: false }, { ok: true, rttMs: 20 }],
      rtt: 13,
    },
    { title: 'a success without an RTT leaves the average alone', results: [{ ok: true, rttMs: 10 }, { ok: true }], rtt: 10 },
    { title: 'first sample after failures is taken as is', results: [{ ok: false }, { ok: true, rttMs: 7 }], rtt: 7 },
    { title: 'a steady RTT stays put', results: Array.from({ length: 20 }, () => ({ ok: true as const, rttMs: 5 })), rtt: 5 },
  ];

for (const row of ewmaRows) {
  test(`RTT EWMA: ${row.title}`, (t) => {
    const s = new GatewayState(3, 2);
    row.results.forEach((r, i) => s.record(r, i));
    if (row.rtt === undefined) t.is(s.rttMs, undefined);
    else t.true(Math.abs(s.rttMs! - row.rtt) < 1e-9, `rtt ${s.rttMs} ≠ ${row.rtt}`);
  });
}

test('RTT EWMA converges towards a new level: after n samples the old level weighs 0.7^n', (t) => {
  const s = new GatewayState(3, 2);
  s.record({ ok: true, rttMs: 100 }, 0);
  for (let i = 1; i <= 10; i++) s.record({ ok: true, rttMs: 0 }, i);
  t.true(Math.abs(s.rttMs! - 100 * 0.7 ** 10) < 1e-9);
});

// ---- snapshot --------------------------------------------------------------------------------

test('snapshot of a new gateway: unknown, zero counters, no times', (t) => {
  t.deepEqual(new GatewayState(3, 2).snapshot(), {
    status: 'unknown',
    consecutiveSuccesses: 0,
    consecutiveFailures: 0,
    rttMs: undefined,
    lastProbeMs: undefined,
    lastChangeMs: undefined,
    lastError: undefined,
    probes: 0,
    failures: 0,
  });
});

test('snapshot fields through a fall and a rise: times, last error, totals, RTT rounded to 0.01 ms', (t) => {
  const s = new GatewayState(2, 2);
  s.record({ ok: true, rttMs: 1.23456 }, 1000);
  t.deepEqual(s.snapshot(), {
    status: 'healthy',
    consecutiveSuccesses: 1,
    consecutiveFailures: 0,
    rttMs: 1.23,
    lastProbeMs: 1000,
    lastChangeMs: 1000,
    lastError: undefined,
    probes: 1,
    failures: 0,
  });

  s.record({ ok: false, error: 'ECONNREFUSED' }, 2000);
  t.deepEqual(s.snapshot(), {
    status: 'healthy',
    consecutiveSuccesses: 0,
    consecutiveFailures: 1,
    rttMs: 1.23,
    lastProbeMs: 2000,
    lastChangeMs: 1000,
    lastError: 'ECONNREFUSED',
    probes: 2,
    failures: 1,
  });

  s.record({ ok: false, error: 'no TCP connect within 500 ms' }, 3000);
  t.like(s.snapshot(), {
    status: 'unhealthy',
    consecutiveFailures: 2,
    lastProbeMs: 3000,
    lastChangeMs: 3000,
    lastError: 'no TCP connect within 500 ms',
    probes: 3,
    failures: 2,
  });

  s.record({ ok: true, rttMs: 3 }, 4000);
  t.like(s.snapshot(), {
    status: 'unhealthy',
    consecutiveSuccesses: 1,
    consecutiveFailures: 0,
    lastProbeMs: 4000,
    lastChangeMs: 3000,
    lastError: undefined,
    probes: 4,
    failures: 2,
  });
  // 0.3 × 3 + 0.7 × 1.23456 = 1.764192 → 1.76
  t.is(s.snapshot().rttMs, 1.76);

  s.record({ ok: true, rttMs: 3 }, 5000);
  t.like(s.snapshot(), { status: 'healthy', consecutiveSuccesses: 2, lastProbeMs: 5000, lastChangeMs: 5000, probes: 5, failures: 2 });
});

test('the snapshot is a copy: later results do not change it', (t) => {
  const s = new GatewayState(3, 2);
  s.record({ ok: true, rttMs: 2 }, 1);
  const snap = s.snapshot();
  s.record({ ok: false, error: 'x' }, 2);
  t.is(snap.consecutiveFailures, 0);
  t.is(snap.probes, 1);
  t.is(snap.lastError, undefined);
});
