/**
 * Gateway-health benchmark (issue 6): a real `bin/gsdns serve` child probing gateways that are
 * loopback TCP listeners opened and closed by this process.
 *
 * 1. Failover time: two remote clusters export one service; `near` (this cluster's zone) is
 *    preferred, `far` (another region) is next. With the default probe settings (tcp, intervalMs
 *    1000, timeoutMs 500, fall 3, rise 2), RUNS times (default 20): close near's listener at a
 *    random point of the probe interval, poll DNS over UDP every ~5 ms until the answer changes to
 *    far's gateway, and record the time; then reopen it and record the time until answers come
 *    back. p50/p99/max against the target intervalMs × fall + 500 ms (failover) and
 *    intervalMs × rise + 500 ms (failback).
 * 2. Probe CPU: a child with GATEWAYS gateways (default 500; half open listeners, half closed
 *    ports on loopback) at the default interval, against an idle child with the same catalog and
 *    `health.probe.type: none`; each child's CPU time (utime + stime from /proc/PID/stat) over
 *    CPU_SECONDS (default 20), printed as cores used.
 *
 * Usage: npm run bench:failover (node --import=tsx bench/failover.ts; env RUNS, GATEWAYS,
 * CPU_SECONDS). Linux only (/proc). Loopback only (127.0.7.0/24 and 127.0.8.0/24); every child,
 * listener and temporary file is removed at the end, on error and on SIGINT/SIGTERM. About 2.5 min.
 *
 * Loopback caveat: the kernel's work for both ends of a probe's handshake may be charged to
 * the prober (softirq in its connect/close syscalls), so `sys` may be higher than against a remote
 * gateway.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { UdpDnsClient } from './lib/udp-dns.js';

const RUNS = Number(process.env['RUNS'] ?? 20);
const GATEWAYS = Number(process.env['GATEWAYS'] ?? 500);
const CPU_SECONDS = Number(process.env['CPU_SECONDS'] ?? 20);
// The defaults of health.* (src/config/schema.ts); the failover child runs with them unchanged.
const INTERVAL_MS = 1000;
const FALL = 3;
const RISE = 2;
const FAILOVER_TARGET_MS = INTERVAL_MS * FALL + 500;
const FAILBACK_TARGET_MS = INTERVAL_MS * RISE + 500;
const POLL_MS = 5;

const bin = fileURLToPath(new URL('../bin/gsdns', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gsdns-failover-'));
const children: ChildProcess[] = [];
const listeners: Listener[] = [];
const dns = new UdpDnsClient();

let cleaned: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(listeners.map((l) => l.close()));
    dns.close();
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaned;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping children and listeners\n`);
    void cleanup().then(() => process.exit(130));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- listeners ----------------------------------------------------------------------------------

/** A gateway: a TCP listener on address:port that accepts and hangs up at once. */
class Listener {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(readonly address: string) {
    listeners.push(this);
  }

  async open(): Promise<void> {
    if (this.server) return;
    const s = createServer((sock) => {
      this.sockets.add(sock);
      sock.on('error', () => {});
      sock.on('close', () => this.sockets.delete(sock));
      sock.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(this.port, this.address, () => {
        s.off('error', reject);
        resolve();
      });
    });
    this.port = (s.address() as { port: number }).port;
    this.server = s;
  }

  /** Stops listening at once (connects are refused from now on); resolves when fully closed. */
  close(): Promise<void> {
    const s = this.server;
    if (!s) return Promise.resolve();
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}

// ---- gsdns children -----------------------------------------------------------------------------

interface Gateway {
  readonly address: string;
  readonly port: number;
}

interface Remote {
  readonly cluster: string;
  readonly region?: string;
  readonly zone?: string;
  readonly gateways: readonly Gateway[];
  readonly services: readonly string[];
}

function catalogYaml(remotes: readonly Remote[]): string {
  const out = ['services: []', 'remotes:'];
  for (const r of remotes) {
    out.push(`  - cluster: ${r.cluster}`);
    if (r.region) out.push(`    region: ${r.region}`);
    if (r.zone) out.push(`    zone: ${r.zone}`);
    out.push(`    gateways: [${r.gateways.map((g) => `{address: ${g.address}, port: ${g.port}}`).join(', ')}]`);
    out.push(
      `    services: [${r.services.map((s) => `{namespace: bench, name: ${s}, ready: true, ports: [{name: http, port: 80}]}`).join(', ')}]`,
    );
  }
  return out.join('\n') + '\n';
}

interface Child {
  readonly child: ChildProcess;
  readonly dnsPort: number;
  readonly httpPort: number;
}

async function startChild(name: string, remotes: readonly Remote[], probe: 'tcp' | 'none'): Promise<Child> {
  writeFileSync(join(dir, `${name}-catalog.yaml`), catalogYaml(remotes));
  const config = join(dir, `${name}.yaml`);
  // Only the probe type is set: intervalMs, timeoutMs, fall and rise keep their defaults.
  writeFileSync(
    config,
    `cluster: {name: bench, region: r1, zone: z1}
source: {type: file, file: {path: ${name}-catalog.yaml}}
dns: {listen: [{address: 127.0.0.1, port: 0}]}
http: {listen: {address: 127.0.0.1, port: 0}}
forward: {upstreams: ["127.0.0.1:9"]}
health: {probe: {type: ${probe}}}
log: {level: info}
`,
  );
  const child = spawn(process.execPath, [bin, 'serve', '--config', config, '--set', 'shutdown.lameDuckSeconds=0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`gsdns (${name}) did not start:\n${out}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`gsdns (${name}) exited with ${code}:\n${out}`)));
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /"dns":\[\{"address":"127\.0\.0\.1","port":(\d+).*"http":"127\.0\.0\.1:(\d+)"/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      // Keep draining the log (probe state changes) so the pipe never blocks the child.
      child.stdout.off('data', onData);
      child.stdout.resume();
      out = '';
      resolve({ child, dnsPort: Number(m[1]), httpPort: Number(m[2]) });
    };
    child.stdout.on('data', onData);
  });
}

async function stopChild(c: Child): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  const exited = new Promise((r) => c.child.once('exit', r));
  c.child.kill('SIGTERM');
  const timer = setTimeout(() => c.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

interface GatewayStatus {
  readonly address: string;
  readonly port: number;
  readonly status: string;
  readonly probes: number;
}

async function gatewayStatuses(c: Child): Promise<GatewayStatus[]> {
  const res = await fetch(`http://127.0.0.1:${c.httpPort}/debug/clusters`);
  const body = (await res.json()) as { health: { gateways?: GatewayStatus[] } };
  return body.health.gateways ?? [];
}

async function waitStatus(c: Child, address: string, status: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const g = (await gatewayStatuses(c)).find((x) => x.address === address);
    if (g?.status === status) return;
    if (Date.now() - started > timeoutMs) throw new Error(`gateway ${address} not ${status} after ${timeoutMs} ms: ${JSON.stringify(g)}`);
    await sleep(50);
  }
}

// ---- DNS ----------------------------------------------------------------------------------------

/** The A records of a reply, comma-separated, or `rcode N`. */
async function ask(port: number, name: string, timeoutMs = 1000): Promise<string> {
  const r = await dns.ask(port, name, timeoutMs);
  return r.rcode !== 0 ? `rcode ${r.rcode}` : r.addresses.join(',');
}

async function waitForAnswer(port: number, name: string, expected: string, startedNs: bigint, timeoutMs: number): Promise<number> {
  for (;;) {
    const last = await ask(port, name).catch(() => 'no reply');
    const ms = Number(process.hrtime.bigint() - startedNs) / 1e6;
    if (last === expected) return ms;
    if (ms > timeoutMs) throw new Error(`${name}: wanted ${expected}, still ${last} after ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(label: string, times: number[], targetMs: number): string {
  const s = [...times].sort((a, b) => a - b);
  const max = s[s.length - 1]!;
  const within = s.filter((x) => x <= targetMs).length;
  return `${label} over ${s.length} runs: p50 ${pct(s, 50).toFixed(0)} ms, p99 ${pct(s, 99).toFixed(0)} ms, max ${max.toFixed(0)} ms, min ${s[0]!.toFixed(0)} ms; target ${targetMs} ms: ${within}/${s.length} within${max <= targetMs ? ' (PASS)' : ' (FAIL)'}`;
}

// ---- 1. failover --------------------------------------------------------------------------------

async function failover(): Promise<void> {
  const near = new Listener('127.0.7.1');
  const far = new Listener('127.0.7.2');
  await near.open();
  await far.open();
  const c = await startChild(
    'failover',
    [
      { cluster: 'near', region: 'r1', zone: 'z1', gateways: [near], services: ['svc'] },
      { cluster: 'far', region: 'r2', gateways: [far], services: ['svc'] },
    ],
    'tcp',
  );
  const name = 'svc.bench.global';
  console.log(
    `failover: gsdns pid ${c.child.pid}, probes tcp every ${INTERVAL_MS} ms, fall ${FALL}, rise ${RISE}; near ${near.address}:${near.port}, far ${far.address}:${far.port}`,
  );
  await waitStatus(c, near.address, 'healthy', 10_000);
  await waitStatus(c, far.address, 'healthy', 10_000);
  const down: number[] = [];
  const up: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    await waitForAnswer(c.dnsPort, name, near.address, process.hrtime.bigint(), 10_000);
    // Answers come back right after a probe; closing at once would always hit the worst phase.
    await sleep(Math.random() * INTERVAL_MS);
    void near.close();
    const closedAt = process.hrtime.bigint();
    const d = await waitForAnswer(c.dnsPort, name, far.address, closedAt, 20_000);
    down.push(d);
    // Failover is seen right after the failing probe: reopen at a random point of the interval too.
    await sleep(Math.random() * INTERVAL_MS);
    await near.open();
    const openedAt = process.hrtime.bigint();
    const u = await waitForAnswer(c.dnsPort, name, near.address, openedAt, 20_000);
    up.push(u);
    console.log(`  run ${String(run).padStart(2)}: failover ${d.toFixed(0).padStart(5)} ms, failback ${u.toFixed(0).padStart(5)} ms`);
  }
  console.log(summary('failover (listener closed → answer moved)', down, FAILOVER_TARGET_MS));
  console.log(summary('failback (listener reopened → answer back)', up, FAILBACK_TARGET_MS));
  await stopChild(c);
  await near.close();
  await far.close();
}

// ---- 2. probe CPU -------------------------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime and stime of a process, in seconds (/proc/PID/stat fields 14 and 15). */
function cpuSeconds(pid: number): { user: number; sys: number; total: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const user = Number(fields[11]) / CLK_TCK;
  const sys = Number(fields[12]) / CLK_TCK;
  return { user, sys, total: user + sys };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function probeCpu(): Promise<void> {
  // Half the gateways are open listeners (10 ports on each of 127.0.8.1…), half closed ports on
  // addresses with no listener (127.0.9.x: refused at once). 10 gateways per cluster.
  const open = Math.ceil(GATEWAYS / 2);
  const gateways: Gateway[] = [];
  for (let i = 0; i < open; i++) {
    const l = new Listener(`127.0.8.${1 + Math.floor(i / 10)}`);
    await l.open();
    gateways.push({ address: l.address, port: l.port });
  }
  for (let i = 0; i < GATEWAYS - open; i++) gateways.push({ address: `127.0.9.${1 + Math.floor(i / 10)}`, port: 20000 + (i % 10) });
  // Interleave open and closed gateways across clusters.
  const mixed = gateways
    .map((g, i) => ({ g, k: (i % open) * 2 + (i >= open ? 1 : 0) }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.g);
  const remotes: Remote[] = [];
  for (let i = 0; i < mixed.length; i += 10) {
    remotes.push({ cluster: `c${i / 10}`, region: `r${(i / 10) % 5}`, gateways: mixed.slice(i, i + 10), services: [`s${i / 10}`] });
  }
  const [probing, idle] = await Promise.all([startChild('probing', remotes, 'tcp'), startChild('idle', remotes, 'none')]);
  console.log(
    `probe CPU: ${GATEWAYS} gateways (${open} open listeners, ${GATEWAYS - open} closed ports) in ${remotes.length} clusters; probing pid ${probing.child.pid}, idle (probe none) pid ${idle.child.pid}`,
  );
  // Let every target get its first probe (random within the first interval) and settle.
  await sleep(INTERVAL_MS * 3);
  const before = await gatewayStatuses(probing);
  const byStatus = (gs: readonly GatewayStatus[]): string =>
    Object.entries(gs.reduce<Record<string, number>>((m, g) => ((m[g.status] = (m[g.status] ?? 0) + 1), m), {}))
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');
  console.log(`  targets: ${before.length} (${byStatus(before)})`);
  const p0 = cpuSeconds(probing.child.pid!);
  const i0 = cpuSeconds(idle.child.pid!);
  const t0 = process.hrtime.bigint();
  await sleep(CPU_SECONDS * 1000);
  const p1 = cpuSeconds(probing.child.pid!);
  const i1 = cpuSeconds(idle.child.pid!);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = await gatewayStatuses(probing);
  const probes = after.reduce((n, g) => n + g.probes, 0) - before.reduce((n, g) => n + g.probes, 0);
  const pc = (p1.total - p0.total) / wall;
  const ic = (i1.total - i0.total) / wall;
  const split = (a: typeof p0, b: typeof p0): string => `user ${(b.user - a.user).toFixed(2)} s + sys ${(b.sys - a.sys).toFixed(2)} s`;
  console.log(`  over ${wall.toFixed(1)} s: ${probes} probes (${(probes / wall).toFixed(0)}/s); targets now ${byStatus(after)}`);
  console.log(
    `  CPU probing: ${(p1.total - p0.total).toFixed(2)} s (${split(p0, p1)}) = ${pc.toFixed(4)} cores; RSS ${rssMb(probing.child.pid!).toFixed(0)} MB`,
  );
  console.log(
    `  CPU idle (probe none): ${(i1.total - i0.total).toFixed(2)} s (${split(i0, i1)}) = ${ic.toFixed(4)} cores; RSS ${rssMb(idle.child.pid!).toFixed(0)} MB`,
  );
  console.log(
    `  probing ${GATEWAYS} gateways costs ${(pc - ic).toFixed(4)} cores (${(((pc - ic) / Math.max(1, probes / wall)) * 1e6).toFixed(0)} µs of CPU per probe)`,
  );
  await Promise.all([stopChild(probing), stopChild(idle)]);
}

try {
  console.log(`gsdns gateway-health bench: ${RUNS} failover runs, then ${GATEWAYS} gateways for ${CPU_SECONDS} s (temp ${dir})`);
  await failover();
  await probeCpu();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await cleanup();
}
