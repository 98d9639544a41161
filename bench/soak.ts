/**
 * The soak (issue 13): gsdns under steady load while everything around it churns, checked against a
 * schedule that knows the truth at every moment. SOAK_SECONDS (600) long; CI runs 60.
 *
 * Processes (all on loopback, all real): the instance under test (`local`: a catalog file, sync
 * with PEERS peers over mutual TLS, TCP health probes) and PEERS gsdns peers (`peer1`…), each with
 * two gateways that are TCP listeners in this process. The PKI is made by src/sync/certs.ts.
 *
 * The schedule:
 * - dnsperf at LOAD (0.5) of the saturation qps measured first, for the whole run, on a mixed set:
 *   local and remote names, NXDOMAIN, AAAA (NODATA);
 * - every peer rewrites its catalog once a second (staggered): `stable-P` always, `tick-P-N` for
 *   the current N only;
 * - one peer restarts (SIGTERM, start again) every RESTART_SECONDS (60; half the run if shorter),
 *   round robin;
 * - peer1's first gateway flaps: closed 2 s, open 2 s;
 * - the local catalog file is rewritten every 10 s: `home` always, `gen-K` for the current K only.
 *
 * The sampler (this process) checks, outside fault windows (a restarting peer's, from its stop until
 * 5 s after it serves again):
 * - `home` is always the local ClusterIP; `stable-P` is always NOERROR with P's gateways only;
 * - every new `tick-P-N` and `gen-K` is answered (event-to-answer convergence, timed), and a name
 *   withdrawn 5 s ago is NXDOMAIN. A name that never appears, or one answered after withdrawal, is a
 *   contradiction.
 *
 * Reported, with bounds (non-zero exit when one is broken): SERVFAIL (dnsperf and the sampler: 0),
 * contradictions (0), RSS at the end of warm-up and at the end (growth < 10 %), event-loop lag p99
 * over the run (gsdns's own nodejs_eventloop_lag_p99_seconds; < 100 ms), convergence p99 (< 2 s),
 * dnsperf lost queries (< 0.1 %).
 *
 * Usage: npm run soak (bash bench/soak.sh); env SOAK_SECONDS, PEERS (3), LOAD (0.5).
 * Every process, listener and timer started here is stopped here, also on failure and SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initCa, issueClusterCert } from '../src/sync/certs.js';
import { freePort } from '../test/helpers/ports.js';
import { dnsperf, waitForLine } from './lib/dnsperf.js';
import { UdpDnsClient, type DnsResult } from './lib/udp-dns.js';

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 600);
const PEERS = Number(process.env['PEERS'] ?? 3);
const LOAD = Number(process.env['LOAD'] ?? 0.5);
const WARMUP_S = Math.min(60, Math.max(20, Math.floor(SECONDS / 5))); // a third of the 60 s CI run: V8 heap sizing settles
const RESTART_S = Math.min(60, Math.floor(SECONDS / 2));
const GRACE_MS = 5000;
const TD = 'gsdns.local';
const repo = fileURLToPath(new URL('..', import.meta.url));
const bin = join(repo, 'bin', 'gsdns');
const dir = mkdtempSync(join(tmpdir(), 'gsdns-soak-'));
const children = new Set<ChildProcess>();
const timers = new Set<NodeJS.Timeout>();
const servers = new Set<Server>();
const dns = new UdpDnsClient();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => performance.now();

// ---- gateways: TCP listeners the probes connect to -----------------------------------------------

class Gateway {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(readonly address: string) {}
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
      s.listen(this.port, this.address, () => resolve());
    });
    this.port = (s.address() as { port: number }).port;
    this.server = s;
    servers.add(s);
  }
  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((r) => s.close(() => r()));
    servers.delete(s);
  }
}

// ---- gsdns processes -----------------------------------------------------------------------------

interface Node {
  readonly name: string;
  child: ChildProcess;
  dnsPort: number;
  httpPort: number;
  readonly syncPort: number;
  readonly config: string;
  readonly catalog: string;
  out: string;
}

function writeAtomically(path: string, text: string): void {
  writeFileSync(path + '.tmp', text);
  renameSync(path + '.tmp', path);
}

async function startNode(node: Omit<Node, 'child' | 'dnsPort' | 'httpPort' | 'out'> & Partial<Node>): Promise<Node> {
  const child = spawn(process.execPath, [bin, 'serve', '--config', node.config], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const n = node as Node;
  n.child = child;
  n.out = '';
  child.stderr.on('data', (d: Buffer) => (n.out = (n.out + d.toString()).slice(-10_000)));
  child.once('exit', () => children.delete(child));
  const line = await waitForLine(child, (l) => l.includes('gsdns serving'), `${node.name} serving`, 60_000);
  child.stdout.on('data', (d: Buffer) => (n.out = (n.out + d.toString()).slice(-10_000)));
  const rec = JSON.parse(line) as { dns: { port: number }[]; http: string };
  n.dnsPort = rec.dns[0]!.port;
  n.httpPort = Number(/:(\d+)$/.exec(rec.http)?.[1]);
  return n;
}

async function stopNode(node: Node): Promise<void> {
  const child = node.child;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function nodeConfig(
  name: string,
  ports: { dns: number; http: number; sync: number },
  pki: { ca: string; cert: string; key: string },
  catalog: string,
  extra: string[],
): string {
  return [
    `cluster: {name: ${name}, gateways: [{address: 192.0.2.1, port: 15443}]}`,
    `dns: {zones: [global], listen: [{address: 127.0.0.1, port: ${ports.dns}}]}`,
    `http: {listen: {address: 127.0.0.1, port: ${ports.http}}}`,
    `source: {type: file, file: {path: ${JSON.stringify(catalog)}}}`,
    'forward: {upstreams: ["127.0.0.1:9"]}',
    'log: {level: info}',
    'shutdown: {lameDuckSeconds: 0}',
    'sync:',
    `  listen: {address: 127.0.0.1, port: ${ports.sync}}`,
    `  trustDomain: ${TD}`,
    `  tls: {ca: ${JSON.stringify(pki.ca)}, cert: ${JSON.stringify(pki.cert)}, key: ${JSON.stringify(pki.key)}}`,
    '  staleAfterSeconds: 30',
    ...extra,
    '',
  ].join('\n');
}

// ---- the truth and the sampler -------------------------------------------------------------------

const svc = (name: string, ip: string): string =>
  `  - {namespace: soak, name: ${name}, clusterIPs: [${ip}], readyEndpoints: 1, ports: [{name: http, port: 80}]}`;
const q = (name: string): string => `${name}.soak.global`;

interface Findings {
  servfail: number;
  contradictions: string[];
  convergenceMs: number[];
  samples: number;
}
const findings: Findings = { servfail: 0, contradictions: [], convergenceMs: [], samples: 0 };
function contradiction(what: string): void {
  if (findings.contradictions.length < 50) findings.contradictions.push(`${new Date().toISOString()} ${what}`);
  else findings.contradictions.length++;
}

async function ask(port: number, name: string): Promise<DnsResult | undefined> {
  try {
    const r = await dns.ask(port, name, 2000);
    findings.samples++;
    if (r.rcode === 2) findings.servfail++;
    return r;
  } catch {
    return undefined; // a lost UDP query under load: dnsperf's loss figure covers it
  }
}

/** Polls until `name` is answered with `want`; records the time from `since`; a contradiction after 10 s. */
async function converge(port: number, name: string, want: (r: DnsResult) => boolean, since: number, inFault: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    const r = await ask(port, name);
    if (r && want(r)) {
      if (!inFault()) findings.convergenceMs.push(now() - since);
      return;
    }
    if (now() - since > 10_000) break;
    await sleep(10);
  }
  if (!inFault()) contradiction(`${name}: not answered 10 s after it was published`);
}

// ---- main ----------------------------------------------------------------------------------------

function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
}

function rssKiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

async function lagP99Ms(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1]) * 1000;
}

async function main(): Promise<void> {
  const names = ['local', ...Array.from({ length: PEERS }, (_, i) => `peer${i + 1}`)];
  const caDir = join(dir, 'ca');
  const ca = await initCa({ outDir: caDir, days: 2, commonName: 'gsdns soak CA' });
  const certs: Record<string, { ca: string; cert: string; key: string }> = {};
  for (const n of names) {
    const c = await issueClusterCert({ caDir, outDir: join(dir, 'certs'), cluster: n, trustDomain: TD, days: 2 });
    certs[n] = { ca: ca.cert, cert: c.cert, key: c.key };
  }

  // Peers: two gateways each on 127.0.9.x; catalogs with stable-P and tick-P-0.
  const peers: { node: Node; gateways: Gateway[]; tick: number; faultUntil: number }[] = [];
  for (let p = 1; p <= PEERS; p++) {
    const gateways = [new Gateway(`127.0.9.${2 * p}`), new Gateway(`127.0.9.${2 * p + 1}`)];
    for (const g of gateways) await g.open();
    const catalog = join(dir, `peer${p}-catalog.yaml`);
    const config = join(dir, `peer${p}.yaml`);
    const ports = { dns: await freePort(), http: await freePort(), sync: await freePort() };
    const text = nodeConfig(`peer${p}`, ports, certs[`peer${p}`]!, catalog, ['  peers: []']).replace(
      'gateways: [{address: 192.0.2.1, port: 15443}]',
      `gateways: [${gateways.map((g) => `{address: ${g.address}, port: ${g.port}}`).join(', ')}]`,
    );
    writeFileSync(config, text);
    writeAtomically(catalog, `services:\n${svc(`stable-${p}`, `10.97.${p}.1`)}\n${svc(`tick-${p}-0`, `10.97.${p}.2`)}\n`);
    const node = await startNode({ name: `peer${p}`, syncPort: ports.sync, config, catalog });
    peers.push({ node, gateways, tick: 0, faultUntil: 0 });
  }

  // The instance under test.
  const localCatalog = join(dir, 'local-catalog.yaml');
  let gen = 0;
  const writeLocal = (): void =>
    writeAtomically(localCatalog, `services:\n${svc('home', '10.96.0.1')}\n${svc(`gen-${gen}`, `10.96.1.${gen % 250}`)}\n`);
  writeLocal();
  const localConfig = join(dir, 'local.yaml');
  const localPorts = { dns: await freePort(), http: await freePort(), sync: await freePort() };
  writeFileSync(
    localConfig,
    nodeConfig('local', localPorts, certs['local']!, localCatalog, [
      '  peers:',
      ...peers.map((p) => `    - {name: ${p.node.name}, url: "https://127.0.0.1:${p.node.syncPort}"}`),
      'health: {intervalMs: 500, timeoutMs: 1000, fall: 2, rise: 2, probe: {type: tcp}}',
    ]),
  );
  const local = await startNode({ name: 'local', syncPort: localPorts.sync, config: localConfig, catalog: localCatalog });
  const port = local.dnsPort;
  for (let i = 0; i < 600; i++) {
    const all = await Promise.all(peers.map((_, p) => ask(port, q(`stable-${p + 1}`))));
    if (all.every((r) => r?.rcode === 0)) break;
    if (i === 599) throw new Error(`local did not sync with every peer:\n${local.out}`);
    await sleep(100);
  }

  // Saturation, then the load for the whole run.
  const queries = join(dir, 'queries.txt');
  const mix = [q('home') + ' A', q('home') + ' AAAA', q('nothing') + ' A', ...peers.map((_, p) => `${q(`stable-${p + 1}`)} A`)];
  writeFileSync(queries, mix.join('\n') + '\n');
  const saturation = await dnsperf({ port, queries, seconds: 5, cwd: dir, perQuery: false });
  const rate = Math.max(100, Math.round(saturation.qps * LOAD));
  console.log(
    `soak: ${SECONDS} s, ${PEERS} peers, saturation ${Math.round(saturation.qps)} qps, load ${rate} qps; warm-up ${WARMUP_S} s, a peer restart every ${RESTART_S} s`,
  );
  const started = now();
  const load = dnsperf({ port, queries, seconds: SECONDS, cwd: dir, rate, clients: 4, perQuery: false });
  const elapsed = (): number => (now() - started) / 1000;
  const running = (): boolean => elapsed() < SECONDS;
  const every = (ms: number, fn: () => void): void => {
    const t = setInterval(() => {
      if (running()) fn();
    }, ms);
    timers.add(t);
  };
  const pending = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>): void => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };

  // Peers change once a second, staggered.
  peers.forEach((peer, i) => {
    const p = i + 1;
    const t = setTimeout(
      () => {
        every(1000, () => {
          peer.tick++;
          const n = peer.tick;
          const since = now();
          writeAtomically(
            peer.node.catalog,
            `services:\n${svc(`stable-${p}`, `10.97.${p}.1`)}\n${svc(`tick-${p}-${n}`, `10.97.${p}.2`)}\n`,
          );
          const inFault = (): boolean => now() < peer.faultUntil || peer.faultUntil < 0;
          if (inFault()) return;
          const gw = new Set(peer.gateways.map((g) => g.address));
          track(
            converge(
              port,
              q(`tick-${p}-${n}`),
              (r) => r.rcode === 0 && r.addresses.length > 0 && r.addresses.every((a) => gw.has(a)),
              since,
              inFault,
            ),
          );
          if (n >= 5) {
            const old = q(`tick-${p}-${n - 5}`);
            track(
              ask(port, old).then((r) => {
                if (r && r.rcode !== 3 && !inFault())
                  contradiction(`${old}: withdrawn 4 s ago, answered rcode ${r.rcode} ${r.addresses.join(',')}`);
              }),
            );
          }
        });
      },
      Math.round((1000 * i) / PEERS),
    );
    timers.add(t);
  });

  // The local file every 10 s.
  every(10_000, () => {
    gen++;
    const k = gen;
    const since = now();
    writeLocal();
    track(
      converge(
        port,
        q(`gen-${k}`),
        (r) => r.rcode === 0 && r.addresses[0] === `10.96.1.${k % 250}`,
        since,
        () => false,
      ),
    );
    const t = setTimeout(() => {
      track(
        ask(port, q(`gen-${k - 1}`)).then((r) => {
          if (r && r.rcode !== 3) contradiction(`gen-${k - 1}: replaced ${GRACE_MS} ms ago, answered rcode ${r.rcode}`);
        }),
      );
    }, GRACE_MS);
    timers.add(t);
  });

  // peer1's first gateway flaps.
  let flapClosed = false;
  every(2000, () => {
    flapClosed = !flapClosed;
    track(flapClosed ? peers[0]!.gateways[0]!.close() : peers[0]!.gateways[0]!.open());
  });

  // A peer restarts every RESTART_S.
  let nextRestart = 0;
  every(RESTART_S * 1000, () => {
    const peer = peers[nextRestart++ % peers.length]!;
    peer.faultUntil = -1;
    track(
      (async () => {
        await stopNode(peer.node);
        await startNode(peer.node);
        peer.faultUntil = now() + GRACE_MS;
      })(),
    );
  });

  // The stable names, 20 times a second.
  let turn = 0;
  every(50, () => {
    const i = turn++ % (PEERS + 1);
    if (i === PEERS) {
      track(
        ask(port, q('home')).then((r) => {
          if (r && !(r.rcode === 0 && r.addresses.length === 1 && r.addresses[0] === '10.96.0.1'))
            contradiction(`home: rcode ${r.rcode} ${r.addresses.join(',')}`);
        }),
      );
      return;
    }
    const peer = peers[i]!;
    const gw = new Set(peer.gateways.map((g) => g.address));
    track(
      ask(port, q(`stable-${i + 1}`)).then((r) => {
        if (r && !(r.rcode === 0 && r.addresses.length > 0 && r.addresses.every((a) => gw.has(a))))
          contradiction(`stable-${i + 1}: rcode ${r.rcode} ${r.addresses.join(',')}`);
      }),
    );
  });

  // Warm-up, then the baseline RSS and a reset of the lag histogram (each scrape resets it).
  await sleep(WARMUP_S * 1000);
  const rssStart = rssKiB(local.child.pid!);
  await lagP99Ms(local.httpPort);
  const perf = await load;
  for (const t of timers) clearInterval(t);
  timers.clear();
  await Promise.allSettled([...pending]);
  const rssEnd = rssKiB(local.child.pid!);
  const lagMs = await lagP99Ms(local.httpPort);
  if (local.child.exitCode !== null || local.child.signalCode !== null) throw new Error(`local exited:\n${local.out}`);

  const servfail = findings.servfail + (perf.rcodes['SERVFAIL'] ?? 0);
  const growth = (rssEnd - rssStart) / rssStart;
  const conv99 = pct(findings.convergenceMs, 0.99);
  const lostShare = perf.sent > 0 ? perf.lost / perf.sent : 1;
  const rows: [string, string, string, boolean][] = [
    ['SERVFAIL (dnsperf + sampler)', String(servfail), '0', servfail === 0],
    ['answers contradicting the schedule', String(findings.contradictions.length), '0', findings.contradictions.length === 0],
    [
      'RSS after warm-up → end',
      `${Math.round(rssStart / 1024)} → ${Math.round(rssEnd / 1024)} MB (${(growth * 100).toFixed(1)} %)`,
      '< 10 %',
      growth < 0.1,
    ],
    ['event-loop lag p99 (after warm-up)', `${lagMs.toFixed(1)} ms`, '< 100 ms', lagMs < 100],
    [
      'event-to-answer p50 / p99',
      `${pct(findings.convergenceMs, 0.5).toFixed(0)} / ${conv99.toFixed(0)} ms (${findings.convergenceMs.length} changes)`,
      'p99 < 2000 ms',
      conv99 < 2000,
    ],
    ['dnsperf qps (target) / lost', `${Math.round(perf.qps)} (${rate}) / ${perf.lost} of ${perf.sent}`, 'lost < 0.1 %', lostShare < 0.001],
    ['sampler queries', String(findings.samples), '', true],
  ];
  console.log('\n| measure | value | bound | ok |\n|---|---|---|---|');
  for (const [m, v, b, ok] of rows) console.log(`| ${m} | ${v} | ${b} | ${ok ? 'yes' : 'NO'} |`);
  console.log(`\nresponse codes (dnsperf): ${JSON.stringify(perf.rcodes)}`);
  if (findings.contradictions.length > 0) console.log(`contradictions:\n  ${findings.contradictions.slice(0, 50).join('\n  ')}`);
  if (rows.some((r) => !r[3])) {
    console.error('soak: FAIL (a bound above is broken)');
    process.exitCode = 1;
  } else console.log('soak: every bound held');
}

function cleanup(): void {
  for (const t of timers) clearInterval(t);
  for (const c of children) c.kill('SIGKILL');
  for (const s of servers) s.close();
  dns.close();
  rmSync(dir, { recursive: true, force: true });
}

process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});
main()
  .catch((err: unknown) => {
    console.error(`soak: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
