/**
 * DNS throughput and p99 latency over UDP and TCP, quiet vs under a slow-client TCP flood
 * (issue 12), side by side in the same run.
 *
 *   npm run bench:tcp-flood [-- ROUNDS SECONDS]      (default 3 rounds of 10 s per cell)
 *
 * gsdns (the built CLI, embedded demo) runs in one child process; the flood in another (this file
 * with --flood PORT): 1,000 connections from 127.0.0.2 … 127.0.0.26, each trickling a valid query
 * one octet every 5 s and reconnecting as soon as the server closes it. Each round measures, with
 * `dnsperf -l SECONDS -c 4 -v` (per-query latencies, for p99): UDP quiet, TCP quiet, then starts
 * the flood, waits for its 1,000 connections, and measures UDP and TCP again. Prints every round,
 * the medians, the flood/quiet ratios, dnsperf's TCP reconnections and the server's close reasons.
 * Loopback only; every process started here is stopped here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dnsperf as runDnsperf, median, waitForLine, type DnsperfResult } from './lib/dnsperf.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const QUERIES = 'bench/queries.txt';

// ---------------------------------------------------------------------------------------------
// The flood (child process mode)
// ---------------------------------------------------------------------------------------------

function frameQuery(name: string): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([0x51, 0x05, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  const message = Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(message.length, 0);
  return Buffer.concat([prefix, message]);
}

function runFlood(port: number, count: number, intervalMs: number): void {
  const message = frameQuery('productpage.bookinfo.global');
  const sockets = new Set<Socket>();
  let connected = 0;
  let reopened = 0;
  let stopping = false;
  const open = (source: string, first: boolean): void => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: source });
    sockets.add(socket);
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const trickle = (): void => {
      if (sent < message.length && !socket.destroyed) socket.write(message.subarray(sent, ++sent));
    };
    socket.on('error', () => {});
    socket.once('connect', () => {
      trickle();
      timer = setInterval(trickle, intervalMs);
      if (first && ++connected === count) process.stdout.write('ready\n');
    });
    socket.once('close', () => {
      clearInterval(timer);
      sockets.delete(socket);
      if (stopping) return;
      reopened++;
      setImmediate(() => open(source, false));
    });
  };
  for (let i = 0; i < count; i++) open(`127.0.0.${2 + (i % 25)}`, true);
  process.on('SIGTERM', () => {
    stopping = true;
    for (const s of sockets) s.destroy();
    process.stdout.write(`reopened ${reopened}\n`);
    process.exit(0);
  });
}

// ---------------------------------------------------------------------------------------------
// The bench (parent)
// ---------------------------------------------------------------------------------------------

type Measure = DnsperfResult;
const dnsperf = (port: number, secs: number, tcp: boolean): Promise<Measure> =>
  runDnsperf({ port, queries: QUERIES, seconds: secs, tcp, cwd: repoRoot });

async function startGsdns(): Promise<{ child: ChildProcess; dnsPort: number; httpPort: number }> {
  const child = spawn(
    process.execPath,
    [
      'bin/gsdns',
      'serve',
      '--set',
      'dns.listen=[{address: 127.0.0.1, port: 0}]',
      '--set',
      'http.listen={address: 127.0.0.1, port: 0}',
      '--set',
      'forward.upstreams=["127.0.0.1:9"]',
      '--set',
      'shutdown.lameDuckSeconds=0',
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await waitForLine(child, (l) => l.includes('gsdns serving'), 'gsdns serving line');
  const rec = JSON.parse(line) as { dns: { port: number }[]; http: string };
  child.stdout.resume();
  return { child, dnsPort: rec.dns[0]!.port, httpPort: Number(rec.http.split(':').pop()) };
}

async function startFlood(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import=tsx', fileURLToPath(import.meta.url), '--flood', String(port)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await waitForLine(child, (l) => l === 'ready', 'flood ready');
  return child;
}

async function stopChild(child: ChildProcess): Promise<string> {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  return out;
}

async function closeReasons(httpPort: number): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('gsdns_dns_tcp_connections_closed_total{') || l.startsWith('gsdns_dns_tcp_connections_rejected_total '))
    .map((l) => l.replace('gsdns_dns_tcp_connections_', ''))
    .join(', ');
}

async function bench(rounds: number, secs: number): Promise<void> {
  const server = await startGsdns();
  const children: ChildProcess[] = [server.child];
  const cleanup = (): void => children.forEach((c) => c.kill('SIGKILL'));
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    // warm-up (JIT), so round 1 measures steady state
    await dnsperf(server.dnsPort, 2, false);
    await dnsperf(server.dnsPort, 2, true);
    const cells = { udpQuiet: [] as Measure[], tcpQuiet: [] as Measure[], udpFlood: [] as Measure[], tcpFlood: [] as Measure[] };
    const fmt = (m: Measure): string => `${m.qps.toFixed(0)} qps p99 ${m.p99Ms.toFixed(2)} ms`;
    for (let r = 1; r <= rounds; r++) {
      cells.udpQuiet.push(await dnsperf(server.dnsPort, secs, false));
      cells.tcpQuiet.push(await dnsperf(server.dnsPort, secs, true));
      const flood = await startFlood(server.dnsPort);
      children.push(flood);
      cells.udpFlood.push(await dnsperf(server.dnsPort, secs, false));
      cells.tcpFlood.push(await dnsperf(server.dnsPort, secs, true));
      const floodOut = await stopChild(flood);
      console.log(
        `round ${r}: quiet UDP ${fmt(cells.udpQuiet.at(-1)!)}, TCP ${fmt(cells.tcpQuiet.at(-1)!)} | flood UDP ${fmt(cells.udpFlood.at(-1)!)}, TCP ${fmt(cells.tcpFlood.at(-1)!)} (dnsperf TCP reconnections ${cells.tcpFlood.at(-1)!.reconnections}; flood ${floodOut.trim()})`,
      );
    }
    const med = (ms: Measure[], k: 'qps' | 'p99Ms'): number => median(ms.map((m) => m[k]));
    for (const proto of ['udp', 'tcp'] as const) {
      const quiet = cells[`${proto}Quiet`];
      const flood = cells[`${proto}Flood`];
      console.log(
        `median ${proto.toUpperCase()}: quiet ${med(quiet, 'qps').toFixed(0)} qps p99 ${med(quiet, 'p99Ms').toFixed(2)} ms; flood ${med(flood, 'qps').toFixed(0)} qps p99 ${med(flood, 'p99Ms').toFixed(2)} ms; qps ratio flood/quiet ${(med(flood, 'qps') / med(quiet, 'qps')).toFixed(2)}`,
      );
    }
    console.log(`server: ${await closeReasons(server.httpPort)}`);
  } finally {
    await stopChild(server.child);
  }
}

const argv = process.argv.slice(2);
if (argv[0] === '--flood') runFlood(Number(argv[1]), 1000, 5000);
else await bench(Number(argv[0] ?? 3), Number(argv[1] ?? 10));
