/**
 * Micro-benchmark: the cost per query of the five per-query metric updates (requests, responses,
 * duration, request size, response size), done with prom-client's labelled Counter/Histogram
 * versus gsdns's Metrics.observeQuery (plain counters and typed-array buckets, exposed through
 * prom-client's Registry at scrape time). Justifies the bypass described in src/ops/metric-kit.ts.
 * Usage: npm run bench:metrics-micro. In-process only; no sockets.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { DURATION_BUCKETS, SIZE_BUCKETS } from '../src/dns/metrics.js';
import { createMetrics } from '../src/metrics-plan.js';
import type { QueryEvent } from '../src/wire/types.js';
import type { Decision } from '../src/answer/types.js';

const N = 1_000_000;
const ROUNDS = 5;

function promClientPerQuery(): () => void {
  const r = new Registry();
  const requests = new Counter({ name: 'req_total', help: 'h', labelNames: ['proto', 'family', 'type'], registers: [r] });
  const responses = new Counter({ name: 'resp_total', help: 'h', labelNames: ['rcode', 'source'], registers: [r] });
  const duration = new Histogram({ name: 'dur', help: 'h', labelNames: ['source'], buckets: [...DURATION_BUCKETS], registers: [r] });
  const reqSize = new Histogram({ name: 'reqsize', help: 'h', labelNames: ['proto'], buckets: [...SIZE_BUCKETS], registers: [r] });
  const respSize = new Histogram({ name: 'respsize', help: 'h', labelNames: ['proto'], buckets: [...SIZE_BUCKETS], registers: [r] });
  let i = 0;
  return () => {
    requests.inc({ proto: 'udp', family: '1', type: 'A' });
    responses.inc({ rcode: 'NOERROR', source: 'local' });
    duration.observe({ source: 'local' }, 0.0001 * (i++ % 7));
    reqSize.observe({ proto: 'udp' }, 40);
    respSize.observe({ proto: 'udp' }, 90);
  };
}

function gsdnsPerQuery(): () => void {
  const none = () => undefined;
  const m = createMetrics(
    {
      dnsEdge: () => {
        throw new Error('not scraped');
      },
      forward: () => {
        throw new Error('not scraped');
      },
      registry: () => ({ local: 0, remote: 0 }),
      sync: none,
      health: none,
      kubernetes: none,
      stubWiring: none,
      failOpenAnswers: () => 0,
    },
    { sync: false, health: false, kubernetes: false, selfTest: false },
    { version: 'bench', nodeVersion: process.version },
  );
  const result = { kind: 'local', clusters: [] } as unknown as Decision;
  const reply = Buffer.from([0, 1, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  let i = 0;
  const ev = (): QueryEvent => ({
    transport: 'udp',
    client: { address: '127.0.0.1', port: 5000, family: 'IPv4' },
    size: 40,
    id: 1,
    question: { name: 'a.global', type: 1, class: 1 },
    outcome: 'answered',
    result,
    reply,
    durationSeconds: 0.0001 * (i++ % 7),
  });
  return () => void m.observeQuery(ev());
}

function measure(fn: () => void): number {
  const started = performance.now();
  for (let i = 0; i < N; i++) fn();
  return ((performance.now() - started) * 1000) / N;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const prom = promClientPerQuery();
const ours = gsdnsPerQuery();
measure(prom); // warm up the JIT for both
measure(ours);
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  a.push(measure(prom));
  b.push(measure(ours));
  console.log(`round ${r + 1}: prom-client labelled ${a.at(-1)!.toFixed(3)} µs/query, gsdns observeQuery ${b.at(-1)!.toFixed(3)} µs/query`);
}
console.log(
  `median: prom-client ${median(a).toFixed(3)} µs/query, gsdns ${median(b).toFixed(3)} µs/query, ratio ${(median(a) / median(b)).toFixed(1)}x`,
);
