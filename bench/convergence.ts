/**
 * Kubernetes source benchmark (issue "Kubernetes source"): a real gsdns process with client-node's
 * informers against the fake API server (test/helpers/fake-kube-apiserver.ts) on loopback.
 *
 * 1. Convergence: the time from an API-server change (an EndpointSlice flipping a Service between
 *    ready and not ready, so the answer flips between its ClusterIP and a remote gateway) to the
 *    changed DNS answer, polled over UDP every ~0.5 ms. p50/p99/max over CHANGES (default 200).
 * 2. Cold sync: SERVICES Services (default 10,000) with ENDPOINTS endpoints (default 30,000, in one
 *    EndpointSlice per Service) exist before gsdns starts; the time until /readyz is 200 and the
 *    last Service resolves, and gsdns's RSS and heap beside an empty-cluster baseline run and the
 *    size of the slim records (/debug/services as JSON).
 *
 * 3. Retained heap: the same Kubernetes source in this process, heap after GC once synced, beside the
 *    same number of slim records put straight into a Registry (what answers need at minimum).
 *
 * Usage: npm run bench:convergence (node --expose-gc --import=tsx bench/convergence.ts; env CHANGES,
 * SERVICES, ENDPOINTS). Loopback only; every process and server started here is stopped here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { endpointSlice, FakeKubeApiServer, service, writeKubeconfig } from '../test/helpers/fake-kube-apiserver.js';
import { KubernetesSource } from '../src/sources/kubernetes/informers.js';
import { Registry } from '../src/registry/registry.js';
import { Readiness } from '../src/registry/readiness.js';
import { silentLogger } from '../src/log.js';
import type { LocalService } from '../src/registry/types.js';
import { UdpDnsClient } from './lib/udp-dns.js';

const CHANGES = Number(process.env['CHANGES'] ?? 200);
const SERVICES = Number(process.env['SERVICES'] ?? 10_000);
const ENDPOINTS = Number(process.env['ENDPOINTS'] ?? 30_000);
const bin = fileURLToPath(new URL('../bin/gsdns', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gsdns-convergence-'));
const children: ChildProcess[] = [];
const servers: FakeKubeApiServer[] = [];

async function cleanup(): Promise<void> {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
}

interface Gsdns {
  readonly child: ChildProcess;
  readonly dnsPort: number;
  readonly httpPort: number;
}

async function startGsdns(api: FakeKubeApiServer, name: string): Promise<Gsdns> {
  const kubeconfig = writeKubeconfig(dir, api, { fileName: `${name}.kubeconfig` });
  writeFileSync(
    join(dir, 'remotes.yaml'),
    'services: []\nremotes:\n  - {cluster: west, gateways: [{address: 192.0.2.10}], services: [{namespace: bench, name: s0, ready: true, ports: [{name: http, port: 80}]}]}\n',
  );
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    `cluster: {name: bench}\nsource: {type: kubernetes, file: {path: remotes.yaml}, kubernetes: {kubeconfig: ${JSON.stringify(kubeconfig)}}}\n` +
      `dns: {listen: [{address: 127.0.0.1, port: 0}]}\nhttp: {listen: {address: 127.0.0.1, port: 0}}\nforward: {upstreams: ["127.0.0.1:9"]}\nhealth: {probe: {type: none}}\nlog: {level: warn}\n`,
  );
  const child = spawn(
    process.execPath,
    [bin, 'serve', '--config', config, '--set', 'log.level=info', '--set', 'shutdown.lameDuckSeconds=0'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`gsdns did not start:\n${out}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"dns":\[\{"address":"127\.0\.0\.1","port":(\d+).*"http":"127\.0\.0\.1:(\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, dnsPort: Number(m[1]), httpPort: Number(m[2]) });
      }
    });
  });
}

const dns = new UdpDnsClient();

/** The first A record's address in a reply, or the rcode as text. */
async function ask(port: number, name: string, timeoutMs = 1000): Promise<string> {
  const r = await dns.ask(port, name, timeoutMs);
  return r.rcode !== 0 || r.addresses.length === 0 ? `rcode ${r.rcode}` : r.addresses[0]!;
}

async function waitForAnswer(port: number, name: string, expected: string, timeoutMs: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (;;) {
    const got = await ask(port, name).catch(() => '');
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (got === expected) return ms;
    if (ms > timeoutMs) throw new Error(`${name}: wanted ${expected}, still ${got} after ${timeoutMs} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function waitReady(port: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > timeoutMs) throw new Error('not ready in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function convergence(): Promise<void> {
  const api = await FakeKubeApiServer.start();
  servers.push(api);
  api.create('services', service({ namespace: 'bench', name: 's0', clusterIP: '10.96.0.100' }));
  api.create(
    'endpointslices',
    endpointSlice({ namespace: 'bench', name: 's0-1', service: 's0', endpoints: [{ addresses: ['10.244.0.1'] }] }),
  );
  const g = await startGsdns(api, 'convergence');
  await waitReady(g.httpPort, 20_000);
  await waitForAnswer(g.dnsPort, 's0.bench.global', '10.96.0.100', 5000);
  const times: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const ready = i % 2 === 1;
    // Flip readiness: the answer moves between the local ClusterIP and the remote gateway.
    api.update(
      'endpointslices',
      endpointSlice({ namespace: 'bench', name: 's0-1', service: 's0', endpoints: [{ addresses: ['10.244.0.1'], ready }] }),
    );
    times.push(await waitForAnswer(g.dnsPort, 's0.bench.global', ready ? '10.96.0.100' : '192.0.2.10', 5000));
  }
  times.sort((a, b) => a - b);
  console.log(
    `convergence over ${CHANGES} changes (API event → changed DNS answer): p50 ${pct(times, 50).toFixed(2)} ms, p99 ${pct(times, 99).toFixed(2)} ms, max ${times[times.length - 1]!.toFixed(2)} ms`,
  );
  g.child.kill('SIGTERM');
}

async function populated(services: number, endpoints: number): Promise<FakeKubeApiServer> {
  const api = await FakeKubeApiServer.start();
  servers.push(api);
  const perService = services > 0 ? Math.round(endpoints / services) : 0;
  for (let i = 0; i < services; i++) {
    const ns = `ns${i % 100}`;
    api.create('services', service({ namespace: ns, name: `svc${i}`, clusterIP: `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` }));
    api.create(
      'endpointslices',
      endpointSlice({
        namespace: ns,
        name: `svc${i}-abcde`,
        service: `svc${i}`,
        endpoints: Array.from({ length: perService }, (_, j) => ({
          addresses: [`10.${128 + (i >> 16)}.${(i >> 8) & 255}.${(i + j) & 255}`],
          ready: j !== 0 || i % 3 !== 0,
        })),
      }),
    );
  }
  return api;
}

async function coldSync(services: number, endpoints: number, label: string): Promise<{ ms: number; rss: number; slimBytes: number }> {
  const api = await populated(services, endpoints);
  const started = Date.now();
  const g = await startGsdns(api, label);
  await waitReady(g.httpPort, 300_000);
  if (services > 0) {
    const last = services - 1;
    await waitForAnswer(
      g.dnsPort,
      `svc${last}.ns${last % 100}.global`,
      `10.${96 + (last >> 16)}.${(last >> 8) & 255}.${last & 255}`,
      10_000,
    );
  }
  const ms = Date.now() - started;
  // Let the list garbage go before measuring what stays.
  await new Promise((r) => setTimeout(r, 3000));
  const rss = rssMb(g.child.pid!);
  const debug = (await (await fetch(`http://127.0.0.1:${g.httpPort}/debug/services`)).json()) as { local: unknown[] };
  const slimBytes = JSON.stringify(debug.local).length;
  g.child.kill('SIGTERM');
  return { ms, rss, slimBytes };
}

const gc = (globalThis as { gc?: () => void }).gc;
function heapMb(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed / 1e6;
}

/** Heap retained by a synced Kubernetes source in this process, and by its slim records alone. */
async function retainedHeap(services: number, endpoints: number): Promise<{ source: number; slimOnly: number }> {
  const api = await populated(services, endpoints);
  const kubeconfig = writeKubeconfig(dir, api, { fileName: 'heap.kubeconfig' });
  const before = heapMb();
  const registry = new Registry({ initialSerial: 1 });
  const readiness = new Readiness();
  const source = new KubernetesSource({
    kubeconfig,
    namespaces: [],
    exportSelector: '',
    watchdogSeconds: 300,
    registry,
    readiness,
    logger: silentLogger(),
  });
  source.start();
  while (!readiness.isReady('source')) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  const sourceMb = heapMb() - before;
  // The JSON text stays referenced across both measurements, so only the parsed records count.
  const json = JSON.stringify(registry.localServices());
  await source.stop();
  const base = heapMb();
  const slimRegistry = new Registry({ initialSerial: 1 });
  for (const r of JSON.parse(json) as LocalService[]) slimRegistry.putLocal(r);
  const slimMb = heapMb() - base;
  if (slimRegistry.localServices().length !== services || json.length === 0) throw new Error('slim registry incomplete');
  return { source: sourceMb, slimOnly: slimMb };
}

try {
  await convergence();
  const empty = await coldSync(0, 0, 'empty');
  const full = await coldSync(SERVICES, ENDPOINTS, 'full');
  console.log(`cold sync of ${SERVICES} services with ${ENDPOINTS} endpoints: ready and last service answering after ${full.ms} ms`);
  console.log(
    `memory: gsdns RSS ${full.rss.toFixed(1)} MB synced vs ${empty.rss.toFixed(1)} MB with an empty cluster (+${(full.rss - empty.rss).toFixed(1)} MB); slim records as JSON ${(full.slimBytes / 1e6).toFixed(1)} MB`,
  );
  if (gc) {
    const heap = await retainedHeap(SERVICES, ENDPOINTS);
    console.log(
      `retained heap after GC: Kubernetes source + registry ${heap.source.toFixed(1)} MB; the registry's slim records alone ${heap.slimOnly.toFixed(1)} MB (ratio ${(heap.source / heap.slimOnly).toFixed(1)})`,
    );
  } else console.log('retained heap: run with node --expose-gc (npm run bench:convergence) to measure');
} finally {
  dns.close();
  await cleanup();
}
