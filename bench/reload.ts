/**
 * Catalog file reloads against DNS answering (issue 13): a gsdns child process serves a catalog file
 * of SIZES services; a steady stream of UDP queries (one outstanding at a time, from this process)
 * runs while the file is rewritten RELOADS times (every 1,000th service changes its ClusterIP), and
 * the longest gap between two consecutive answers around each reload is recorded, with the child's
 * longest event-loop lag in that window (from its /metrics: a stall of its DNS thread, as opposed to
 * time it waited for a CPU) and its peak RSS (VmHWM). The new file is written before the window
 * opens and renamed into place in it.
 *
 * Baseline in the same run: BASELINE_DIST (a `dist/` folder of another build, e.g. the commit before
 * the worker thread: `git worktree add /tmp/old <commit> && (cd /tmp/old && npm ci && npm run build)`)
 * is measured the same way, side by side.
 *
 * Usage: npm run bench:reload; env SIZES (5000,10000,50000), RELOADS (3), BASELINE_DIST (unset: none).
 * Loopback only; every child is stopped at the end, also on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SIZES = (process.env['SIZES'] ?? '5000,10000,50000').split(',').map(Number);
const RELOADS = Number(process.env['RELOADS'] ?? 3);
const BASELINE = process.env['BASELINE_DIST'];
const repo = fileURLToPath(new URL('..', import.meta.url));
const children = new Set<ChildProcess>();

function catalogText(n: number, version: number): string {
  const lines = ['services:'];
  for (let i = 0; i < n; i++) {
    const ip =
      i % 1000 === 0 ? `10.${100 + (version % 100)}.${(i >> 8) & 255}.${i & 255}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    lines.push(`  - {namespace: ns${i % 100}, name: svc${i}, clusterIPs: [${ip}], readyEndpoints: 1, ports: [{name: http, port: 80}]}`);
  }
  return lines.join('\n') + '\n';
}

function query(id: number): Buffer {
  const name = Buffer.concat([
    Buffer.from([4]),
    Buffer.from('svc1'),
    Buffer.from([3]),
    Buffer.from('ns1'),
    Buffer.from([6]),
    Buffer.from('global'),
    Buffer.from([0]),
  ]);
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2);
  h.writeUInt16BE(1, 4);
  return Buffer.concat([h, name, Buffer.from([0, 1, 0, 1])]);
}

async function start(dist: string, dir: string): Promise<{ child: ChildProcess; dnsPort: number; http: string }> {
  const child = spawn(process.execPath, [join(dist, '..', 'bin', 'gsdns'), 'serve', '--config', join(dir, 'gsdns.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no serving line in 300 s:\n${out.slice(-2000)}`)), 300_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('gsdns serving'));
      if (line) {
        clearTimeout(timer);
        const serving = JSON.parse(line) as { dns: { port: number }[]; http: string };
        resolve({ child, dnsPort: serving.dns[0]!.port, http: serving.http });
      }
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out.slice(-2000)}`)));
  });
}

const hwmMb = (pid: number): number => Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

/**
 * The instance's longest event-loop lag since the previous call (prom-client's histogram restarts
 * at each scrape): a stall of the DNS thread, as opposed to time the thread waited for a CPU.
 */
async function lagMaxMs(http: string): Promise<number> {
  const text = await (await fetch(`http://${http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('nodejs_eventloop_lag_max_seconds '));
  return Math.round(Number(line?.split(' ')[1] ?? NaN) * 1000);
}

/** Longest gap between answers while the file is replaced, for each of RELOADS reloads. */
async function measure(dist: string, n: number): Promise<{ gapsMs: number[]; lagsMs: number[]; peakMb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'gsdns-reload-'));
  try {
    writeFileSync(join(dir, 'catalog.yaml'), catalogText(n, 0));
    writeFileSync(
      join(dir, 'gsdns.yaml'),
      'cluster: {name: bench}\ndns: {zones: [global], listen: [{address: 127.0.0.1, port: 0}]}\nhttp: {listen: {address: 127.0.0.1, port: 0}}\nsource: {type: file, file: {path: catalog.yaml}}\nforward: {upstreams: ["127.0.0.1:9"]}\nlog: {level: info}\n',
    );
    const { child, dnsPort, http } = await start(dist, dir);
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    let id = 0;
    let last = performance.now();
    let gap = 0;
    let answers = 0;
    let waiting: (() => void) | undefined;
    sock.on('message', () => {
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
      answers++;
      waiting?.();
    });
    let running = true;
    const stream = (async () => {
      while (running) {
        await new Promise<void>((resolve) => {
          waiting = resolve;
          sock.send(query(++id & 0xffff), dnsPort, '127.0.0.1');
          setTimeout(resolve, 2000); // a lost datagram does not stop the stream
        });
      }
    })();
    const gapsMs: number[] = [];
    const lagsMs: number[] = [];
    for (let r = 1; r <= RELOADS; r++) {
      // The new file is written before the window opens: building and writing 50,000 lines here
      // would otherwise count as a gap in answers (this process is the one that reads them).
      writeFileSync(join(dir, 'catalog.tmp'), catalogText(n, r));
      await new Promise((res) => setTimeout(res, 500));
      await lagMaxMs(http);
      gap = 0;
      last = performance.now();
      const before = answers;
      renameSync(join(dir, 'catalog.tmp'), join(dir, 'catalog.yaml'));
      // Long enough for the slowest build to parse 50,000 services, plus a margin.
      await new Promise((res) => setTimeout(res, Math.max(3000, n / 4)));
      gapsMs.push(Math.round(gap));
      lagsMs.push(await lagMaxMs(http));
      if (answers === before) throw new Error('no answers at all during a reload');
    }
    running = false;
    await stream;
    const peakMb = hwmMb(child.pid!);
    sock.close();
    child.kill('SIGTERM');
    children.delete(child);
    return { gapsMs, lagsMs, peakMb: Math.round(peakMb) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  console.log(`bench:reload: sizes ${SIZES.join(', ')}; ${RELOADS} reloads each; baseline ${BASELINE ?? 'none'}`);
  console.log('| services | build | longest answer gap per reload (ms) | median | its longest event-loop lag (ms) | peak RSS (MB) |');
  console.log('|---|---|---|---|---|---|');
  for (const n of SIZES) {
    for (const [label, dist] of [['this', join(repo, 'dist')], ...(BASELINE ? [['baseline', BASELINE]] : [])] as [string, string][]) {
      const r = await measure(dist, n);
      console.log(`| ${n} | ${label} | ${r.gapsMs.join(', ')} | ${median(r.gapsMs)} | ${r.lagsMs.join(', ')} | ${r.peakMb} |`);
    }
  }
}

process.on('SIGINT', () => {
  for (const c of children) c.kill('SIGKILL');
  process.exit(130);
});
main().then(
  () => process.exit(0),
  (err: unknown) => {
    for (const c of children) c.kill('SIGKILL');
    console.error('bench:reload: FAILED:', err);
    process.exit(1);
  },
);
