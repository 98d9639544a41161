/**
 * A DNS latency probe in its own process (edge), so what it measures is the server's delay and not
 * the event loop of a benchmark that is busy making load (bench:sync's 50 simulated peers kept the
 * probe's timer from firing: 27 probes in 10 s instead of 100).
 *
 * Usage: node --import=tsx bench/lib/probe-child.ts PORT NAME [INTERVAL_MS]. One A query for NAME to
 * 127.0.0.1:PORT every INTERVAL_MS (100), not waiting for the previous one, each with a 10 s
 * timeout. When stdin closes it stops sending, waits for the queries in flight, prints one JSON line
 * `{"latencies":[ms…],"unanswered":n,"sent":n}` and exits. Loopback only; bounded by its parent,
 * and by a 15 min guard.
 */
import { performance } from 'node:perf_hooks';
import { UdpDnsClient } from './udp-dns.js';

const port = Number(process.argv[2]);
const name = process.argv[3] ?? '';
const intervalMs = Number(process.argv[4] ?? 100);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || name === '' || !(intervalMs >= 1)) {
  console.error('usage: probe-child.ts PORT NAME [INTERVAL_MS]');
  process.exit(2);
}

const dns = new UdpDnsClient();
const latencies: number[] = [];
const inflight: Promise<void>[] = [];
let unanswered = 0;
const timer = setInterval(() => {
  const t0 = performance.now();
  inflight.push(
    dns.ask(port, name, 10_000).then(
      () => void latencies.push(performance.now() - t0),
      () => void unanswered++,
    ),
  );
}, intervalMs);
const guard = setTimeout(() => process.stdin.destroy(), 15 * 60_000);

let stopped = false;
async function stop(): Promise<void> {
  if (stopped) return;
  stopped = true;
  clearInterval(timer);
  clearTimeout(guard);
  await Promise.all(inflight);
  dns.close();
  process.stdout.write(`${JSON.stringify({ latencies, unanswered, sent: inflight.length })}\n`);
}
process.stdin.on('end', () => void stop());
process.stdin.on('close', () => void stop());
process.stdin.resume();
