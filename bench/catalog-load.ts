/**
 * Catalog file load: time and memory (issue 15). Targets: a 10,000-service file peaks under 120 MB
 * RSS, a 50,000-service file loads in under 3 s, and a whole gsdns server with 10,000 local
 * services (no geoip) sits under 120 MB RSS after the load.
 *
 * Part 1, the loader: for each of SIZES, a fresh child process (bench/lib/catalog-load-child.mjs,
 * plain JavaScript on the built files, no tsx) loads a catalog file through the file source
 * (FileSource → decoder worker → registry) and reports the load time, its peak RSS (maxRSS), its
 * RSS when loaded and 2 s later, and its heap after a full GC. ROUNDS rounds each; medians.
 * Part 2, the server (SERVER=0 skips it): `gsdns serve` with a SERVER_SERVICES (10,000) catalog
 * file, health probes off and no locality (geoip-lite is never loaded; checked on /metrics): RSS
 * when it says it serves, peak RSS, and RSS 5 s later.
 *
 * Baseline in the same run: BASELINE_DIST (a `dist/` folder of another build, e.g.
 * `git worktree add /tmp/old <commit> && (cd /tmp/old && npm ci && npm run build)`), measured the
 * same way, side by side. The catalog files are one service per line in flow style (as
 * bench/lib/authoritative-data.mjs writes them); STYLE=block writes the same services in block style.
 *
 * Usage: npm run bench:catalog-load; env SIZES (10000,50000), ROUNDS (3), STYLE (flow),
 * BASELINE_DIST (unset: none), SERVER (1), SERVER_SERVICES (10000).
 * Loopback only; every child is stopped at the end, also on failure.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SIZES = (process.env['SIZES'] ?? '10000,50000').split(',').map(Number);
const ROUNDS = Number(process.env['ROUNDS'] ?? 3);
const STYLE = process.env['STYLE'] ?? 'flow';
const BASELINE = process.env['BASELINE_DIST'];
const SERVER = process.env['SERVER'] !== '0';
const SERVER_SERVICES = Number(process.env['SERVER_SERVICES'] ?? 10_000);
const repo = fileURLToPath(new URL('..', import.meta.url));
const child = fileURLToPath(new URL('./lib/catalog-load-child.mjs', import.meta.url));
const children = new Set<ChildProcess>();
const run = promisify(execFile);

const builds: [string, string][] = [['this', join(repo, 'dist')], ...(BASELINE ? [['baseline', BASELINE] as [string, string]] : [])];

/** `n` local services, each a ClusterIP service with one port (bench/lib/authoritative-data.mjs). */
function catalogText(n: number): string {
  const lines = ['services:'];
  for (let i = 0; i < n; i++) {
    const ns = `ns${i % 100}`;
    const ip = `10.${96 + ((i >> 16) & 31)}.${(i >> 8) & 255}.${i & 255}`;
    if (STYLE === 'block') {
      lines.push(`  - namespace: ${ns}`, `    name: svc${i}`, `    clusterIPs: [${ip}]`, '    readyEndpoints: 1', '    ports:');
      lines.push('      - name: http', '        port: 9080', '        protocol: TCP');
    } else {
      lines.push(
        `  - {namespace: ${ns}, name: svc${i}, clusterIPs: [${ip}], readyEndpoints: 1, ports: [{name: http, port: 9080, protocol: TCP}]}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

interface LoadResult {
  loadMs: number;
  peakMb: number;
  rssBeforeMb: number;
  rssLoadedMb: number;
  rssSettledMb: number;
  heapAfterGcMb: number;
  loaded: boolean;
  services: number;
  errors: string[];
}

async function loadOnce(dist: string, file: string, n: number): Promise<LoadResult> {
  const { stdout } = await run(process.execPath, ['--expose-gc', child, dist, file, String(n)], { timeout: 300_000 });
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as LoadResult;
  if (!r.loaded) throw new Error(`${dist}: ${file} not loaded (${r.services} of ${n} services): ${r.errors.join(' | ')}`);
  return r;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[]): string => (Math.min(...xs) === Math.max(...xs) ? `${xs[0]}` : `${Math.min(...xs)}–${Math.max(...xs)}`);

const status = (pid: number, field: string): number =>
  Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

interface ServerResult {
  loadedMb: number;
  peakMb: number;
  settledMb: number;
  geoip: string;
}

async function serverOnce(dist: string, dir: string): Promise<ServerResult> {
  const proc = spawn(process.execPath, [join(dist, '..', 'bin', 'gsdns'), 'serve', '--config', join(dir, 'gsdns.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  try {
    let out = '';
    const http = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no serving line in 300 s:\n${out.slice(-2000)}`)), 300_000);
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.includes('gsdns serving'));
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { http: string }).http);
        }
      });
      proc.on('exit', (code) => reject(new Error(`exited ${code}:\n${out.slice(-2000)}`)));
    });
    if (!out.includes('"catalog loaded"')) throw new Error(`serving before the catalog loaded:\n${out.slice(-2000)}`);
    const loadedMb = status(proc.pid!, 'VmRSS');
    await new Promise((r) => setTimeout(r, 5000));
    const settledMb = status(proc.pid!, 'VmRSS');
    const peakMb = status(proc.pid!, 'VmHWM');
    const metrics = await (await fetch(`http://${http}/metrics`)).text();
    const geoip = /^gsdns_geoip_loaded (\S+)/m.exec(metrics)?.[1] ?? 'absent';
    return { loadedMb: Math.round(loadedMb), peakMb: Math.round(peakMb), settledMb: Math.round(settledMb), geoip };
  } finally {
    proc.kill('SIGKILL');
    children.delete(proc);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gsdns-catalog-load-'));
  try {
    console.log(`bench:catalog-load: sizes ${SIZES.join(', ')}; ${ROUNDS} rounds; ${STYLE} style; baseline ${BASELINE ?? 'none'}`);
    console.log('');
    console.log('| services | build | load time (ms) | peak RSS (MB) | RSS loaded → 2 s later (MB) | heap after GC (MB) |');
    console.log('|---|---|---|---|---|---|');
    for (const n of SIZES) {
      const file = join(dir, `catalog-${n}.yaml`);
      writeFileSync(file, catalogText(n));
      for (const [label, dist] of builds) {
        const rs: LoadResult[] = [];
        for (let r = 0; r < ROUNDS; r++) rs.push(await loadOnce(dist, file, n));
        const ms = rs.map((r) => r.loadMs);
        const peak = rs.map((r) => r.peakMb);
        console.log(
          `| ${n} | ${label} | ${median(ms)} (${range(ms)}) | ${median(peak)} (${range(peak)}) | ${median(rs.map((r) => r.rssLoadedMb))} → ${median(rs.map((r) => r.rssSettledMb))} | ${median(rs.map((r) => r.heapAfterGcMb))} |`,
        );
      }
    }
    if (!SERVER) return;
    writeFileSync(join(dir, 'server-catalog.yaml'), catalogText(SERVER_SERVICES));
    writeFileSync(
      join(dir, 'gsdns.yaml'),
      'cluster: {name: bench}\ndns: {zones: [global], listen: [{address: 127.0.0.1, port: 0}]}\nhttp: {listen: {address: 127.0.0.1, port: 0}}\n' +
        'source: {type: file, file: {path: server-catalog.yaml}}\nhealth: {probe: {type: none}}\nforward: {upstreams: ["127.0.0.1:9"]}\nlog: {level: info}\n',
    );
    console.log('');
    console.log(`gsdns serve, ${SERVER_SERVICES} local services, no locality:`);
    console.log('');
    console.log('| build | RSS when serving (MB) | RSS 5 s later (MB) | peak RSS (MB) | gsdns_geoip_loaded |');
    console.log('|---|---|---|---|---|');
    for (const [label, dist] of builds) {
      const rs: ServerResult[] = [];
      for (let r = 0; r < ROUNDS; r++) rs.push(await serverOnce(dist, dir));
      const col = (f: (x: ServerResult) => number): string => `${median(rs.map(f))} (${range(rs.map(f))})`;
      console.log(
        `| ${label} | ${col((x) => x.loadedMb)} | ${col((x) => x.settledMb)} | ${col((x) => x.peakMb)} | ${[...new Set(rs.map((x) => x.geoip))].join(', ')} |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
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
    console.error('bench:catalog-load: FAILED:', err);
    process.exit(1);
  },
);
