/**
 * `npm run demo:mesh`: a three-cluster mesh on loopback. Three `gsdns serve` processes, clusters
 * `eu`, `us` and `ap`, each with its own DNS, HTTP and sync ports and its own catalog file, peer
 * with each other over mutual TLS (certificates made on the fly by src/sync/certs.ts with the
 * openssl CLI). Each cluster's east-west gateway is a TCP listener this script opens on its own
 * loopback address (eu 127.0.0.10, us 127.0.0.20, ap 127.0.0.30, port 15443), and every gsdns
 * probes its peers' gateways for real (`health.probe.type: tcp`, every 500 ms). Once every cluster
 * has synced with the other two, it prints the commands that show a service answered locally in
 * `eu` and through eu's gateway from `us` and `ap`. Typing a cluster's name (and Enter) closes that
 * cluster's gateway listener, or opens it again, so failover on a dead gateway can be watched.
 *
 * Owns: the temporary folder (CA, certificates, configs, catalogs), the three gateway listeners,
 * the three child processes, their log lines (shortened and prefixed with the cluster), and
 * stopping everything.
 * Never: sends a packet off the machine (forwarding goes to a closed loopback port, probes to the
 * loopback gateways), or leaves a child process or the temporary folder behind on Ctrl-C, SIGTERM
 * or a failure. Needs the whole 127.0.0.0/8 on loopback (Linux has it; macOS has only 127.0.0.1
 * unless aliases are added).
 * Exit codes: 0 after Ctrl-C (SIGINT), SIGTERM or SIGHUP; 1 when a child exits early or the mesh
 * does not sync in time; 2 for a usage error.
 *
 * Ports: `--base-port N` (or DEMO_MESH_BASE_PORT, default 5400) puts cluster i (1..3) on DNS N+i,
 * sync N+2000+i and HTTP N+3000+i: 5401-5403, 7401-7403 and 8401-8403 by default. `--base-port 0`
 * lets the kernel pick DNS, HTTP and gateway ports and probes for free sync ports (the tests use
 * this); the guide always prints the ports actually bound. Gateways listen on port 15443 of their
 * own address unless the base port is 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initCa, issueClusterCert } from '../src/sync/certs.js';

const TRUST_DOMAIN = 'gsdns.local';
const DEFAULT_BASE_PORT = 5400;
const BASE_PORT_ENV = 'DEMO_MESH_BASE_PORT';
// Long enough that a frozen peer is first seen "stale" (its long poll, staleAfterSeconds / 3, times
// out 10 s later) and then "withdrawn"; short enough to watch.
const STALE_AFTER_SECONDS = 30;
const SYNC_TIMEOUT_MS = 30_000;
const KILL_AFTER_MS = 4000;
const TAIL_LINES = 25;
/** Istio's east-west gateway port; each cluster's gateway has its own loopback address. */
const GATEWAY_PORT = 15443;
/** Real TCP probes of the peers' gateways: down after FALL failed probes, up after RISE good ones. */
const PROBE_INTERVAL_MS = 500;
const PROBE_TIMEOUT_MS = 250;
const PROBE_FALL = 2;
const PROBE_RISE = 2;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const binPath = join(repoRoot, 'bin', 'gsdns');

interface DemoService {
  readonly name: string;
  readonly clusterIP: string;
}

interface DemoCluster {
  readonly name: string;
  readonly region: string;
  readonly zone: string;
  readonly location: { readonly lat: number; readonly lon: number };
  /** The gateway's loopback address: the demo listens there, peers probe it and answer with it. */
  readonly gateway: string;
  /** Local services in namespace bookinfo, each a ready ClusterIP service on port 9080. */
  readonly services: readonly DemoService[];
}

const CLUSTERS: readonly DemoCluster[] = [
  {
    name: 'eu',
    region: 'eu-west-1',
    zone: 'eu-west-1a',
    location: { lat: 53.35, lon: -6.26 },
    gateway: '127.0.0.10',
    services: [
      { name: 'productpage', clusterIP: '10.96.0.20' },
      { name: 'ratings', clusterIP: '10.96.0.40' },
      { name: 'reviews', clusterIP: '10.96.0.30' },
    ],
  },
  {
    name: 'us',
    region: 'us-east-1',
    zone: 'us-east-1a',
    location: { lat: 39.04, lon: -77.49 },
    gateway: '127.0.0.20',
    services: [
      { name: 'ratings', clusterIP: '10.96.1.40' },
      { name: 'reviews', clusterIP: '10.96.1.30' },
    ],
  },
  {
    name: 'ap',
    region: 'ap-south-1',
    zone: 'ap-south-1a',
    location: { lat: 19.08, lon: 72.88 },
    gateway: '127.0.0.30',
    services: [
      { name: 'details', clusterIP: '10.96.2.50' },
      { name: 'reviews', clusterIP: '10.96.2.30' },
    ],
  },
];

interface Ports {
  dns: number;
  http: number;
  sync: number;
  gateway: number;
}

interface Member {
  readonly cluster: DemoCluster;
  readonly dir: string;
  readonly catalog: string;
  readonly config: string;
  readonly ports: Ports;
  child?: ChildProcess;
  exited?: Promise<void>;
  serving: boolean;
  readonly tail: string[];
  /** The gateway listener while it is open. */
  gateway?: Server | undefined;
}

const USAGE = `Usage: npm run demo:mesh [-- --base-port N]

Three gsdns processes on loopback (clusters eu, us, ap) syncing their catalogs over mutual TLS.
  --base-port N   cluster i (1..3) gets DNS N+i, sync N+2000+i, HTTP N+3000+i
                  (default ${DEFAULT_BASE_PORT}: DNS 5401-5403, sync 7401-7403, HTTP 8401-8403; also ${BASE_PORT_ENV});
                  0 picks free ports (gateways too; otherwise they use port ${GATEWAY_PORT})
  -h, --help      this help
Gateways listen on 127.0.0.10 (eu), 127.0.0.20 (us) and 127.0.0.30 (ap). Type a cluster's name
and Enter to stop its gateway, and again to restart it. Ctrl-C stops all three and removes the
temporary folder.
`;

function usageError(message: string): never {
  process.stderr.write(`demo-mesh: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseBasePort(): number {
  let values: { 'base-port'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { 'base-port': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    return usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const text = values['base-port'] ?? process.env[BASE_PORT_ENV];
  if (text === undefined || text === '') return DEFAULT_BASE_PORT;
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n === 0 || (n >= 1 && n + 3000 + CLUSTERS.length <= 65535))) {
    return usageError(`--base-port must be 0 or a whole number from 1 to ${65535 - 3000 - CLUSTERS.length} (got "${text}")`);
  }
  return n;
}

/** A loopback TCP port that was free a moment ago (for sync listeners, which peers must know in advance). */
function probeFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function choosePorts(base: number): Promise<Ports[]> {
  const out: Ports[] = [];
  for (let i = 1; i <= CLUSTERS.length; i++) {
    out.push(
      base === 0
        ? { dns: 0, http: 0, sync: await probeFreePort(), gateway: 0 }
        : { dns: base + i, sync: base + 2000 + i, http: base + 3000 + i, gateway: GATEWAY_PORT },
    );
  }
  return out;
}

function catalogYaml(c: DemoCluster): string {
  return [
    `# Cluster ${c.name}'s local services (the file source stands in for Kubernetes). Edit and save:`,
    '# gsdns reloads it within a second and its peers receive the new catalog at once.',
    'services:',
    ...c.services.flatMap((s) => [
      `  - namespace: bookinfo`,
      `    name: ${s.name}`,
      `    clusterIPs: [${s.clusterIP}]`,
      `    readyEndpoints: 1`,
      `    ports: [{name: http, port: 9080, protocol: TCP}]`,
    ]),
    '',
  ].join('\n');
}

function configYaml(m: Member, members: readonly Member[], tls: { ca: string; cert: string; key: string }): string {
  const c = m.cluster;
  const peers = members.filter((p) => p !== m);
  return `# gsdns mesh demo: cluster ${c.name}. Generated by scripts/demo-mesh.ts; removed on exit.
cluster:
  name: ${c.name}
  region: ${c.region}
  zone: ${c.zone}
  location: {lat: ${c.location.lat}, lon: ${c.location.lon}}
  gateways: [{address: ${c.gateway}, port: ${m.ports.gateway}}]
dns:
  zones: [global]
  listen: [{address: 127.0.0.1, port: ${m.ports.dns}}]
source:
  type: file
  file: {path: catalog.yaml}
forward:
  # A closed loopback port: the demo never forwards a query off this machine.
  upstreams: ["127.0.0.1:9"]
http:
  listen: {address: 127.0.0.1, port: ${m.ports.http}}
health:
  # Peers' gateways are the demo's loopback listeners, so they are probed for real.
  intervalMs: ${PROBE_INTERVAL_MS}
  timeoutMs: ${PROBE_TIMEOUT_MS}
  fall: ${PROBE_FALL}
  rise: ${PROBE_RISE}
  probe: {type: tcp}
sync:
  listen: {address: 127.0.0.1, port: ${m.ports.sync}}
  trustDomain: ${TRUST_DOMAIN}
  tls:
    ca: ${JSON.stringify(tls.ca)}
    cert: ${JSON.stringify(tls.cert)}
    key: ${JSON.stringify(tls.key)}
  staleAfterSeconds: ${STALE_AFTER_SECONDS}
  peers:
${peers.map((p) => `    - {name: ${p.cluster.name}, url: "https://127.0.0.1:${p.ports.sync}"}`).join('\n')}
# A laptop demo: Ctrl-C stops at once (production keeps the 5 s lame duck).
shutdown:
  lameDuckSeconds: 0
log:
  level: info
`;
}

// ---- log lines ---------------------------------------------------------------------------------

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: '', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
// Fields every line carries, or that only repeat what the prefix or the guide says.
const QUIET_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'svc', 'msg', 'module', 'path', 'config', 'from', 'to']);

function shortValue(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) ? JSON.stringify(v) : v;
  // Probe RTTs come as raw milliseconds (0.7776969999999892): two decimals are plenty to read.
  if (typeof v === 'number' && !Number.isInteger(v)) return String(Math.round(v * 100) / 100);
  if (typeof v !== 'object' || v === null) return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && 'address' in x && 'port' in x)) {
    return v.map((x: { address: string; port: number }) => `${x.address}:${x.port}`).join(',');
  }
  if (!Array.isArray(v) && typeof (v as { message?: unknown }).message === 'string')
    return JSON.stringify((v as { message: string }).message);
  const json = JSON.stringify(v);
  return json.length > 100 ? `${json.slice(0, 97)}...` : json;
}

/** A pino JSON line as `WARN message key=value ...`; anything else unchanged. */
function prettyLine(line: string): string {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return line;
  const r = rec as Record<string, unknown>;
  const level = LEVELS[Number(r['level'])] ?? '';
  const fields = Object.entries(r)
    .filter(([k, v]) => !QUIET_FIELDS.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${shortValue(v)}`);
  return [level, typeof r['msg'] === 'string' ? r['msg'] : '', ...fields].filter((s) => s !== '').join(' ');
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function forwardLines(m: Member, stream: NodeJS.ReadableStream): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim() === '') continue;
      const text = prettyLine(line);
      m.tail.push(text);
      if (m.tail.length > TAIL_LINES) m.tail.shift();
      if (!m.serving && line.includes('"gsdns serving"')) learnPorts(m, line);
      say(`[${m.cluster.name}] ${text}`);
    }
  });
}

/** The "gsdns serving" line carries the bound addresses (which differ from the config with port 0). */
function learnPorts(m: Member, line: string): void {
  try {
    const rec = JSON.parse(line) as { dns: { port: number }[]; http: string; sync?: string };
    m.ports.dns = rec.dns[0]!.port;
    m.ports.http = Number(rec.http.split(':').pop());
    if (rec.sync) m.ports.sync = Number(rec.sync.split(':').pop());
    m.serving = true;
  } catch {
    // Not the line we expected: the readiness poll will time out and say so.
  }
}

// ---- the gateways -------------------------------------------------------------------------------

/** The gateway as its peers dial it. */
function gatewayText(m: Member): string {
  return `${m.cluster.gateway}:${m.ports.gateway}`;
}

/**
 * Open cluster m's gateway: a TCP listener that accepts and closes at once, which is all a TCP
 * probe needs. The first open learns the port when it is 0; later opens reuse it.
 */
function openGateway(m: Member): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === 'EADDRINUSE'
          ? ' (in use: try "npm run demo:mesh -- --base-port 0")'
          : err.code === 'EADDRNOTAVAIL'
            ? ' (this system has no such loopback address; Linux routes all of 127.0.0.0/8 to loopback)'
            : '';
      reject(new Error(`cannot open ${m.cluster.name}'s gateway ${gatewayText(m)}: ${err.code ?? err.message}${hint}`));
    });
    server.listen(m.ports.gateway, m.cluster.gateway, () => {
      m.ports.gateway = (server.address() as { port: number }).port;
      m.gateway = server;
      resolve();
    });
  });
}

function closeGateway(m: Member): Promise<void> {
  const server = m.gateway;
  m.gateway = undefined;
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

/** A line typed on stdin: a cluster's name stops its gateway, or starts it again. */
async function toggleGateway(line: string): Promise<void> {
  const name = line.trim();
  if (name === '' || stopping) return;
  const m = members.find((x) => x.cluster.name === name);
  if (!m) {
    say(`[demo] type ${members.map((x) => x.cluster.name).join(', ')} (and Enter) to stop or restart that cluster's gateway`);
    return;
  }
  const downAfterMs = PROBE_FALL * PROBE_INTERVAL_MS;
  const upAfterMs = PROBE_RISE * PROBE_INTERVAL_MS;
  if (m.gateway) {
    await closeGateway(m);
    say(
      `[demo] ${name}'s gateway ${gatewayText(m)} is DOWN (listener closed). Its peers mark it unhealthy after ${PROBE_FALL} failed probes (about ${downAfterMs / 1000} s) and fail over. Type ${name} again to restart it.`,
    );
  } else {
    try {
      await openGateway(m);
      say(
        `[demo] ${name}'s gateway ${gatewayText(m)} is UP again. Its peers mark it healthy after ${PROBE_RISE} good probes (about ${upAfterMs / 1000} s).`,
      );
    } catch (err) {
      say(`[demo] ${(err as Error).message}`);
    }
  }
}

/** Read gateway toggles from stdin, without taking over the terminal (Ctrl-C stays a SIGINT). */
function readCommands(): void {
  const rl = createInterface({ input: process.stdin, terminal: false });
  let queue = Promise.resolve();
  rl.on('line', (line) => {
    queue = queue.then(() => toggleGateway(line));
  });
}

// ---- the processes ------------------------------------------------------------------------------

let stopping = false;
let tempDir: string | undefined;
const members: Member[] = [];

function childEnv(): NodeJS.ProcessEnv {
  // The configs are complete on their own: GSDNS_* overrides from the caller's shell would apply
  // to all three clusters at once (a DNS port, say) and break the demo.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GSDNS_')) env[k] = v;
  return env;
}

function start(m: Member): void {
  const child = spawn(process.execPath, [binPath, 'serve', '--config', m.config], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  m.child = child;
  forwardLines(m, child.stdout);
  forwardLines(m, child.stderr);
  m.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      resolve();
      if (stopping) return;
      // Ctrl-C in a terminal reaches the children too (one process group); give our own SIGINT
      // handler a moment to run so that is not mistaken for a crash.
      setTimeout(() => {
        if (stopping) return;
        const how = signal ? `signal ${signal}` : `code ${String(code)}`;
        say(`\n[${m.cluster.name}] exited early (${how}); its last log lines:`);
        for (const l of m.tail) say(`  ${l}`);
        if (m.tail.some((l) => /EADDRINUSE/.test(l)))
          say(`A port is in use: try "npm run demo:mesh -- --base-port 6400" (or 0 for any free ports).`);
        void shutdown(1);
      }, 300);
    });
  });
}

function stopChild(m: Member): Promise<void> {
  const child = m.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  child.kill('SIGTERM');
  child.kill('SIGCONT'); // in case it was frozen with kill -STOP (step 4 of the guide)
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
  return m.exited!.then(() => clearTimeout(timer));
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (members.some((m) => m.child)) say('\nstopping eu, us and ap...');
  await Promise.all(members.map(stopChild));
  await Promise.all(members.map(closeGateway));
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  if (code === 0) say(`stopped; removed ${tempDir ?? 'nothing'}`);
  process.exit(code);
}

interface PeerView {
  readonly peer: string;
  readonly state: string;
  readonly lastError?: string;
}

async function peerStates(m: Member): Promise<readonly PeerView[] | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${m.ports.http}/debug/clusters`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { sync?: { peers: PeerView[] } };
    return body.sync?.peers;
  } catch {
    return undefined;
  }
}

/** Until every cluster reports `synced` for both others; false after SYNC_TIMEOUT_MS. */
async function waitForMesh(): Promise<boolean> {
  const deadline = Date.now() + SYNC_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline && !stopping) {
    const views = await Promise.all(members.map((m) => (m.serving ? peerStates(m) : Promise.resolve(undefined))));
    const pending = members.flatMap((m, i) =>
      views[i] === undefined
        ? [`${m.cluster.name}: not serving yet`]
        : views[i]
            .filter((p) => p.state !== 'synced')
            .map((p) => `${m.cluster.name} → ${p.peer}: ${p.state}${p.lastError ? ` (${p.lastError})` : ''}`),
    );
    if (pending.length === 0) return true;
    last = pending.join('; ');
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!stopping) say(`\nthe mesh did not sync within ${SYNC_TIMEOUT_MS / 1000} s: ${last}`);
  return false;
}

function guide(dir: string): string {
  const [eu, us, ap] = members as [Member, Member, Member];
  const rows = members.map((m) => {
    const c = m.cluster;
    return `  ${c.name.padEnd(4)} ${c.region.padEnd(11)} ${gatewayText(m).padEnd(17)} ${`127.0.0.1:${m.ports.dns}`.padEnd(16)} ${`http://127.0.0.1:${m.ports.http}`.padEnd(23)} https://127.0.0.1:${m.ports.sync}`;
  });
  const dig = (m: Member, name: string): string => `dig @127.0.0.1 -p ${m.ports.dns} +short ${name}`;
  return `
================================================================================
gsdns mesh ready: eu, us and ap have each synced with the other two.

  name region      gateway           DNS              HTTP                    sync (mTLS)
${rows.join('\n')}

  files (removed on exit): ${dir}
    ca/ca.pem, <cluster>/{gsdns.yaml,catalog.yaml,<cluster>.crt,<cluster>.key}

Each gateway is a TCP listener of this demo, and every cluster probes its peers' gateways
(TCP connect every ${PROBE_INTERVAL_MS} ms; unhealthy after ${PROBE_FALL} failures, healthy after ${PROBE_RISE} successes).

productpage runs in eu only. eu answers with its ClusterIP; us and ap with eu's gateway:
  ${dig(eu, 'productpage.bookinfo.global')}    # eu: 10.96.0.20
  ${dig(us, 'productpage.bookinfo.global')}    # us: ${eu.cluster.gateway}
  ${dig(ap, 'productpage.bookinfo.global')}    # ap: ${eu.cluster.gateway}
ratings runs in eu and us; ap has neither and takes the nearer, eu (7,600 km; us is 12,850 km):
  ${dig(ap, 'ratings.bookinfo.global')}    # ap: ${eu.cluster.gateway}

What each cluster knows about its peers, and why a name resolves the way it does:
  curl -s http://127.0.0.1:${us.ports.http}/debug/clusters      # sync.peers, and health.gateways (probe status, RTT)
  ./bin/gsdns explain productpage.bookinfo.global --server http://127.0.0.1:${us.ports.http}

Try this:
  1. Stop eu's gateway: type eu and press Enter here. Within about ${(PROBE_FALL * PROBE_INTERVAL_MS) / 1000} s us and ap log
     "gateway unhealthy gateway=${gatewayText(eu)}", and ap fails over to the nearest
     cluster with a healthy gateway that runs ratings, us:
       ${dig(ap, 'ratings.bookinfo.global')}    # ${us.cluster.gateway}
     productpage has no healthy candidate left, so us and ap fail open: eu's gateway, TTL 1.
       dig @127.0.0.1 -p ${us.ports.dns} +noall +answer productpage.bookinfo.global
     Type eu again and within about ${(PROBE_RISE * PROBE_INTERVAL_MS) / 1000} s ap is back on eu's gateway. Type us or ap
     to stop or restart theirs the same way.
  2. In ${eu.catalog}
     set reviews' readyEndpoints to 0 and save. eu now fails over to the nearest
     healthy peer (us is 5,460 km from eu, ap 7,600 km):
       ${dig(eu, 'reviews.bookinfo.global')}    # ${us.cluster.gateway}
  3. Delete productpage from the same file: within a second us and ap answer NXDOMAIN.
       dig @127.0.0.1 -p ${ap.ports.dns} productpage.bookinfo.global | grep status
  4. Freeze ap: kill -STOP ${ap.child?.pid ?? '<pid>'}
     Within about 20 s eu and us log ap as stale (its last catalog is still used); once ap
     has been silent for ${STALE_AFTER_SECONDS} s (sync.staleAfterSeconds), as withdrawn, and eu answers
     NXDOMAIN for details.bookinfo.global. Watch it with
       curl -s http://127.0.0.1:${eu.ports.http}/debug/clusters
     then resume ap with kill -CONT ${ap.child?.pid ?? '<pid>'}: it re-syncs within seconds.

Press Ctrl-C to stop all three.
================================================================================
`;
}

async function main(): Promise<void> {
  const basePort = parseBasePort();
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGHUP', () => void shutdown(0)); // the terminal closed

  const dir = mkdtempSync(join(tmpdir(), 'gsdns-mesh-'));
  tempDir = dir;
  const ports = await choosePorts(basePort);
  say(`gsdns mesh demo: certificates, configs and catalogs in ${dir}`);
  const caDir = join(dir, 'ca');
  await initCa({ outDir: caDir, days: 1, commonName: 'gsdns mesh demo CA' });
  for (const [i, c] of CLUSTERS.entries()) {
    const mdir = join(dir, c.name);
    mkdirSync(mdir, { recursive: true, mode: 0o700 });
    members.push({
      cluster: c,
      dir: mdir,
      catalog: join(mdir, 'catalog.yaml'),
      config: join(mdir, 'gsdns.yaml'),
      ports: ports[i]!,
      serving: false,
      tail: [],
    });
  }
  for (const m of members) {
    if (stopping) return;
    await openGateway(m);
  }
  for (const m of members) {
    if (stopping) return;
    const tls = await issueClusterCert({ caDir, outDir: m.dir, cluster: m.cluster.name, trustDomain: TRUST_DOMAIN, days: 1 });
    writeFileSync(m.catalog, catalogYaml(m.cluster));
    writeFileSync(m.config, configYaml(m, members, tls));
  }
  say(
    `CA and certificates for eu, us, ap (SAN DNS:<cluster>.${TRUST_DOMAIN} and URI:spiffe://${TRUST_DOMAIN}/cluster/<cluster>); starting three gsdns processes...`,
  );
  if (stopping) return;
  for (const m of members) start(m);
  if (!(await waitForMesh())) {
    await shutdown(1);
    return;
  }
  say(guide(dir));
  readCommands();
}

main().catch((err: unknown) => {
  say(`demo-mesh failed: ${(err as Error).message}`);
  void shutdown(1);
});
