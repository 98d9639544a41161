/**
 * DNS throughput and p99 quiet vs during a sync-port flood, and gsdns's memory with peer catalogs
 * at and over the size limit (issue 12), measured side by side in the same run.
 *
 *   npm run bench:sync-flood [-- ROUNDS SECONDS]      (default 3 rounds of 10 s per cell)
 *
 * gsdns (the built CLI: the demo catalog, a sync block with a fresh test PKI, one peer `us`
 * served by this process, with long polls) runs as a child. First the peer serves a catalog at the
 * limits (sync.maxCatalogServices services, padded towards sync.maxCatalogBytes) and then one of
 * 2× sync.maxCatalogBytes; the server's peak RSS (VmHWM) is read before and after each. Each round
 * then measures `dnsperf -l SECONDS -c 4 -v` over
 * UDP quiet, then starts test/helpers/sync-flood.mjs (2,000 idle connections and 200 half-done
 * TLS handshakes from 30 loopback addresses, reconnecting as the server closes them), waits until
 * all 2,200 have connected once, and measures again. Prints each round, the medians, the
 * flood/quiet ratio, the sync refusals by reason and the server's RSS. Loopback only; every process started here is stopped here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dnsperf as runDnsperf, median, waitForLine, type DnsperfResult } from './lib/dnsperf.js';
import { initCa, issueClusterCert } from '../src/sync/certs.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const QUERIES = 'bench/queries.txt';
const ATTACKER = fileURLToPath(new URL('../test/helpers/sync-flood.mjs', import.meta.url));
const MAX_BYTES = 2 * 1024 * 1024;
const MAX_SERVICES = 10_000;

type Measure = Pick<DnsperfResult, 'qps' | 'p99Ms'>;
const dnsperf = (port: number, secs: number): Promise<Measure> => runDnsperf({ port, queries: QUERIES, seconds: secs, cwd: repoRoot });

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function memoryMiB(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** A catalog of `count` services for `us`, each with `ports` ports. */
function catalog(count: number, ports: number): string {
  return JSON.stringify({
    cluster: 'us',
    location: { lat: 39, lon: -77.5 },
    gateways: [{ address: '198.51.100.20', port: 15443 }],
    services: Array.from({ length: count }, (_, i) => ({
      namespace: 'shop',
      name: `service-${i}`,
      ready: true,
      ports: Array.from({ length: ports }, (_, p) => ({ name: `port-${p}`, port: 8000 + p, protocol: 'TCP' })),
    })),
  });
}

async function metricLines(httpPort: number, prefix: string): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .join(', ');
}

async function peerState(httpPort: number): Promise<{ state: string; services: number; updates: number; errors: Record<string, number> }> {
  const body = (await (await fetch(`http://127.0.0.1:${httpPort}/debug/clusters`)).json()) as {
    sync: { peers: { state: string; services: number; updates: number; errors: Record<string, number> }[] };
  };
  return body.sync.peers[0]!;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function bench(rounds: number, secs: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gsdns-bench-sync-flood-'));
  const children: ChildProcess[] = [];
  const peer = { body: catalog(3, 1), etag: '"small"' };
  await initCa({ outDir: join(dir, 'ca'), days: 2, commonName: 'bench CA' });
  const eu = await issueClusterCert({ caDir: join(dir, 'ca'), outDir: join(dir, 'eu'), cluster: 'eu', days: 2 });
  const us = await issueClusterCert({ caDir: join(dir, 'ca'), outDir: join(dir, 'us'), cluster: 'us', days: 2 });
  // The peer: 200 with the catalog, or a long poll on a matching If-None-Match (304 after the
  // wait, or the new catalog as soon as it changes), as gsdns's own server does.
  const held = new Set<() => void>();
  const fake = createServer(
    { ca: readFileSync(us.ca), cert: readFileSync(us.cert), key: readFileSync(us.key), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const send = (): void => {
        if (req.headers['if-none-match'] === peer.etag) {
          res.writeHead(304, { etag: peer.etag });
          return void res.end();
        }
        res.writeHead(200, { 'content-type': 'application/json', etag: peer.etag, 'content-length': Buffer.byteLength(peer.body) });
        res.end(peer.body);
      };
      const wait = Number(new URL(req.url ?? '/', 'https://x').searchParams.get('wait') ?? 0);
      if (req.headers['if-none-match'] !== peer.etag || wait === 0) return send();
      const wake = (): void => {
        clearTimeout(timer);
        held.delete(wake);
        send();
      };
      const timer = setTimeout(wake, wait * 1000);
      held.add(wake);
      res.once('close', () => {
        clearTimeout(timer);
        held.delete(wake);
      });
    },
  );
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const config = join(dir, 'gsdns.yaml');
  writeFileSync(
    config,
    `cluster: {name: eu, location: {lat: 53.35, lon: -6.26}, gateways: [{address: 203.0.113.10, port: 15443}]}
source: {type: file, file: {path: ${JSON.stringify(join(repoRoot, 'config', 'demo-catalog.yaml'))}}}
sync:
  listen: {address: 127.0.0.1, port: 0}
  trustDomain: gsdns.local
  tls: {ca: ${JSON.stringify(eu.ca)}, cert: ${JSON.stringify(eu.cert)}, key: ${JSON.stringify(eu.key)}}
  peers: [{name: us, url: "https://127.0.0.1:${(fake.address() as { port: number }).port}"}]
  staleAfterSeconds: 300
`,
  );
  const server = spawn(
    process.execPath,
    [
      'bin/gsdns',
      'serve',
      '--config',
      config,
      '--set',
      'dns.listen=[{address: 127.0.0.1, port: 0}]',
      '--set',
      'http.listen={address: 127.0.0.1, port: 0}',
      '--set',
      'forward.upstreams=["127.0.0.1:9"]',
      '--set',
      'shutdown.lameDuckSeconds=0',
      '--set',
      'health.probe.type=none',
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(server);
  const cleanup = (): void => children.forEach((c) => c.kill('SIGKILL'));
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const rec = JSON.parse(await waitForLine(server, (l) => l.includes('gsdns serving'), 'gsdns serving line')) as {
      dns: { port: number }[];
      http: string;
      sync: string;
    };
    server.stdout.resume();
    const dnsPort = rec.dns[0]!.port;
    const httpPort = Number(rec.http.split(':').pop());
    const syncPort = Number(rec.sync.split(':').pop());
    // Catalogs: at the limits, then 2× the byte limit.
    await until('the small catalog', async () => (await peerState(httpPort)).state === 'synced', 30_000);
    const ports = Math.max(1, Math.floor((MAX_BYTES / MAX_SERVICES - 75) / 45));
    const atLimit = catalog(MAX_SERVICES, ports);
    const over = catalog(Math.ceil((2 * MAX_BYTES) / (atLimit.length / MAX_SERVICES)), ports);
    for (const [label, body] of [
      ['at the limits', atLimit],
      ['2x sync.maxCatalogBytes', over],
    ] as const) {
      const before = memoryMiB(server.pid!);
      const updates = (await peerState(httpPort)).updates;
      const errors = Object.values((await peerState(httpPort)).errors).reduce((a, b) => a + b, 0);
      peer.body = body;
      peer.etag = `"${label.length}-${body.length}"`;
      for (const wake of [...held]) wake();
      await until(
        label,
        async () => {
          const p = await peerState(httpPort);
          return p.updates > updates || Object.values(p.errors).reduce((a, b) => a + b, 0) > errors;
        },
        120_000,
      );
      const after = memoryMiB(server.pid!);
      const p = await peerState(httpPort);
      console.log(
        `catalog ${label}: ${(Buffer.byteLength(body) / 1048576).toFixed(2)} MiB, ${body.length > MAX_BYTES ? 'refused' : 'applied'} (peer ${p.state}, ${p.services} services held); peak RSS ${before.hwm.toFixed(0)} → ${after.hwm.toFixed(0)} MiB, RSS ${after.rss.toFixed(0)} MiB`,
      );
    }
    await dnsperf(dnsPort, 2); // warm-up (JIT)
    const quiet: Measure[] = [];
    const flood: Measure[] = [];
    const fmt = (m: Measure): string => `${m.qps.toFixed(0)} qps p99 ${m.p99Ms.toFixed(2)} ms`;
    for (let r = 1; r <= rounds; r++) {
      quiet.push(await dnsperf(dnsPort, secs));
      const sources = Array.from({ length: 30 }, (_, i) => `127.1.0.${i + 1}`);
      const attacker = spawn(
        process.execPath,
        [
          ATTACKER,
          JSON.stringify({
            host: '127.0.0.1',
            port: syncPort,
            sources,
            idle: 2000,
            partial: 200,
            reconnectMs: 1000,
            durationMs: (secs + 30) * 1000,
          }),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      children.push(attacker);
      await waitForLine(
        attacker,
        (l) => (JSON.parse(l) as { connected: number }).connected >= 2200,
        'all 2,200 attacking connections made once',
      );
      attacker.stdout.resume();
      flood.push(await dnsperf(dnsPort, secs));
      const mem = memoryMiB(server.pid!);
      await stopChild(attacker);
      console.log(
        `round ${r}: quiet UDP ${fmt(quiet.at(-1)!)} | sync flood UDP ${fmt(flood.at(-1)!)} | server RSS ${mem.rss.toFixed(0)} MiB`,
      );
    }
    const med = (ms: Measure[], k: keyof Measure): number => median(ms.map((m) => m[k]));
    console.log(
      `median UDP: quiet ${med(quiet, 'qps').toFixed(0)} qps p99 ${med(quiet, 'p99Ms').toFixed(2)} ms; sync flood ${med(flood, 'qps').toFixed(0)} qps p99 ${med(flood, 'p99Ms').toFixed(2)} ms; qps ratio flood/quiet ${(med(flood, 'qps') / med(quiet, 'qps')).toFixed(2)}`,
    );
    console.log(
      `server: ${(await metricLines(httpPort, 'gsdns_sync_server_refused_total{')).replaceAll('gsdns_sync_server_refused_total', '')}`,
    );
  } finally {
    for (const c of children) await stopChild(c);
    fake.closeAllConnections();
    await new Promise<void>((r) => fake.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
await bench(Number(argv[0] ?? 3), Number(argv[1] ?? 10));
