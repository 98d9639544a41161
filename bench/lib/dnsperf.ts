/**
 * What the dnsperf benches share: one dnsperf run (qps, p99 from its per-query `-v` lines,
 * reconnections over TCP), a median, and waiting for a child's line on stdout.
 * Loopback only: the server address is always 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface DnsperfResult {
  readonly qps: number;
  /** 99th percentile latency, milliseconds. */
  readonly p99Ms: number;
  /** TCP reconnections dnsperf reported (0 over UDP). */
  readonly reconnections: number;
  /** Replies by rcode name (dnsperf's "Response codes" line). */
  readonly rcodes: Readonly<Record<string, number>>;
  readonly sent: number;
  readonly lost: number;
}

export interface DnsperfOptions {
  readonly port: number;
  /** The query file (dnsperf -d), relative to cwd. */
  readonly queries: string;
  readonly seconds: number;
  readonly tcp?: boolean | undefined;
  readonly clients?: number | undefined;
  readonly cwd: string;
  /** dnsperf -Q: at most this many queries per second (default: as fast as it can). */
  readonly rate?: number | undefined;
  /** Per-query lines for the p99 (default true; a long run leaves them off: p99Ms is then NaN). */
  readonly perQuery?: boolean | undefined;
}

export function dnsperf(o: DnsperfOptions): Promise<DnsperfResult> {
  const args = [
    '-s',
    '127.0.0.1',
    '-p',
    String(o.port),
    '-d',
    o.queries,
    '-l',
    String(o.seconds),
    '-c',
    String(o.clients ?? 4),
    ...(o.perQuery === false ? [] : ['-v']),
    ...(o.rate ? ['-Q', String(o.rate)] : []),
    ...(o.tcp ? ['-m', 'tcp'] : []),
  ];
  const child = spawn('dnsperf', args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'inherit'] });
  const latencies: number[] = [];
  let qps = NaN;
  let reconnections = 0;
  let sent = 0;
  let lost = 0;
  const rcodes: Record<string, number> = {};
  const rl = createInterface({ input: child.stdout });
  rl.on('line', (line) => {
    if (line.startsWith('> ')) {
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) latencies.push(v);
    } else if (line.includes('Queries per second:')) qps = Number(line.split(':')[1]);
    else if (line.includes('Reconnections:')) reconnections = Number(line.split(':')[1]);
    else if (line.includes('Queries sent:')) sent = Number(line.split(':')[1]);
    else if (line.includes('Queries lost:')) lost = Number(/Queries lost:\s+(\d+)/.exec(line)?.[1] ?? NaN);
    else if (line.includes('Response codes:')) for (const m of line.matchAll(/([A-Z]+) (\d+) \(/g)) rcodes[m[1]!] = Number(m[2]);
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`dnsperf exited with ${code}`));
      latencies.sort((a, b) => a - b);
      const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? NaN;
      resolve({ qps, p99Ms: p99 * 1000, reconnections, rcodes, sent, lost });
    });
  });
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Resolves with the first line of the child's stdout that matches; rejects on exit or timeout. */
export function waitForLine(child: ChildProcess, match: (line: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
    rl.on('line', (line) => {
      if (!match(line)) return;
      clearTimeout(timer);
      rl.close();
      resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`${what}: process exited with ${code}`)));
  });
}
