/**
 * Sync at scale (issue "Sync"): one gsdns instance watches PEERS simulated peers serving SERVICES
 * services each, over real mutual TLS on loopback.
 *
 * - The PKI (a CA, `hub` and `peer01`…) is made with src/sync/certs.ts (openssl) in a temporary
 *   folder removed at the end.
 * - The simulated peers live in this process: one node:https server each (client certificate
 *   required, verified against the CA, and it must name `hub`), serving `GET /v1/catalog` by the
 *   real protocol: canonical JSON (buildCatalog / canonicalCatalogJson) with a content ETag, 304 on
 *   a matching If-None-Match, `?wait=N` long polls answered as soon as that peer's catalog changes,
 *   and deltas (A-IM: gsdns-delta → 226, encoded by src/sync/delta.ts from the last DELTA_HISTORY
 *   versions, as gsdns's server does; DELTA=0 turns them off). Services are `svc<i>.ns<i % 100>`
 *   (the same names in every peer, as a service deployed to every cluster), each peer with its own
 *   gateway 198.18.<p/256>.<p%256>. A one-service change re-renders one fragment; the ETag is
 *   summed from the fragments' fingerprints and the full JSON is joined only when a full catalog
 *   is asked for, so 50 changes a second cost this load generator little of the CPU it shares with
 *   the instance under test (a SHA-256 and a join of 1 MB per change took 0.8 of a core). The
 *   fragments are checked byte for byte against canonicalCatalogJson(buildCatalog(…)) at the start
 *   and at the end.
 * - The instance under test is a real `bin/gsdns serve` child process (its RSS and qps are its own).
 *
 * Measured and printed:
 *  1. time from spawn until every peer is `synced` with all its services (/debug/clusters), the
 *     remote services held, CPU used, and RSS then, beside a run with no peers;
 *  2. full-catalog apply: one peer's SERVICES services all replaced by new names, from the change
 *     until the instance answers a new name over UDP with that peer's gateway (and back: until the
 *     new name is NXDOMAIN again); FULL samples, median;
 *  3. one-service change: a service added to one peer until it resolves (and removed until
 *     NXDOMAIN); ONE samples, median and p90;
 *  4. dnsperf qps over names spread across the peers' services, quiet rounds and storm rounds (each
 *     peer makes one change per second, staggered: a readiness flip or a service added/removed)
 *     interleaved, ROUNDS each of SECONDS s; medians, their ratio, the instance's CPU, how many full
 *     catalogs it fetched, and how long after the storm it had caught up with every peer's ETag.
 *
 * Usage: npm run bench:sync (node --expose-gc --import=tsx bench/sync-scale.ts); env PEERS (50),
 * SERVICES (10000), ROUNDS (3), SECONDS (10), FULL (5), ONE (20), STORM_MS (1000: each peer's interval
 * between storm changes), DELTA (1: peers answer A-IM: gsdns-delta with deltas, as gsdns does; 0: full
 * catalogs only), CPU_PROF (a folder for the instance's V8 CPU profiles), GC_LOG (a file for the instance's --trace-gc output with round markers), INSTANCE_NODE_ARGS (extra node flags for the instance), PHASES (which
 * of memory,full,one,qps run; default all four; `PHASES=memory` stops after phase 1 and needs no
 * dnsperf), LOCATED (1: the peers' catalogs carry a location, so no geoip-lite; default 0),
 * INSTANCE_BIN (another build's bin/gsdns to run as the instance, for before/after figures),
 * SETTLE_S (45: when phase 1 takes its steady-state RSS sample, in s after synced). Needs
 * openssl and dnsperf.
 * Phase 1 also prints the instance's V8 heap after two full GCs (bench/lib/heap-report.mjs,
 * preloaded into the instance and asked over SIGWINCH), beside the run with no peers.
 * Loopback only; every process and server started here is stopped here, also on SIGINT.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { ClusterLocality, Gateway, LocalService } from '../src/registry/types.js';
import { initCa, issueClusterCert } from '../src/sync/certs.js';
import { clusterIdentity } from '../src/sync/identity.js';
import { DELTA_HISTORY } from '../src/sync/delta-history.js';
import { fingerprint } from '../src/util/fingerprint.js';
import { DELTA_IM, encodeDelta, IM_USED, type CatalogVersion } from '../src/sync/delta.js';
import { buildCatalog, canonicalCatalogJson, catalogParts, MAX_WAIT_SECONDS } from '../src/sync/protocol.js';
import { freePort } from '../test/helpers/unbound.js';
import { UdpDnsClient, type DnsResult } from './lib/udp-dns.js';

function envInt(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const v = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(v) || v < min) {
    console.error(`sync-scale: ${name} must be an integer >= ${min} (got ${raw})`);
    process.exit(2);
  }
  return v;
}

const PEERS = envInt('PEERS', 50, 1);
const SERVICES = envInt('SERVICES', 10_000, 1);
const ROUNDS = envInt('ROUNDS', 3, 1);
const SECONDS = envInt('SECONDS', 10, 1);
const FULL = envInt('FULL', 5, 1);
const ONE = envInt('ONE', 20, 1);
/** Each peer's interval between storm changes (the issue's storm: 1000 ms, one change per second per peer). */
const STORM_MS = envInt('STORM_MS', 1000, 10);
/** A folder: the instance writes V8 CPU profiles there (--cpu-prof) and is stopped with SIGTERM so it can. */
const CPU_PROF = process.env['CPU_PROF'] ?? '';
/**
 * A file: the instance runs with --trace-gc and its stdout goes there too, with this bench's
 * markers (`# <ms since the instance started> <what>`) at the start and end of each round, so GC
 * pauses can be lined up with the rounds.
 */
const GC_LOG = process.env['GC_LOG'] ?? '';
/**
 * A folder: once synced (phase 1), the instance writes a V8 heap snapshot there
 * (--heapsnapshot-signal), for a breakdown of where the remote services' memory goes.
 */
const HEAP_SNAPSHOT = process.env['HEAP_SNAPSHOT'] ?? '';
/** Extra node/V8 flags for the instance (space-separated), e.g. to compare GC settings. */
const INSTANCE_NODE_ARGS = (process.env['INSTANCE_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== '');
/** The niceness of the second latency probe (see startProbe). */
const PROBE_NICE = -10;
/** Which phases run (1: memory, 2: full, 3: one, 4: qps); memory always does, the others only when named. */
const PHASES = new Set((process.env['PHASES'] ?? 'memory,full,one,qps').split(',').map((p) => p.trim()));
for (const p of PHASES)
  if (!['memory', 'full', 'one', 'qps'].includes(p)) {
    console.error(`sync-scale: PHASES lists ${p}; known: memory,full,one,qps`);
    process.exit(2);
  }
/**
 * Phase 1's steady-state sample, in seconds after every peer is synced: after the decoder worker's
 * idle stop (src/sync/service.ts DECODER_IDLE_MS, 10 s) and V8's memory reducer (about 35 s).
 */
const SETTLE_S = envInt('SETTLE_S', 45, 0);
/** 1: every simulated peer's catalog has a location (default 0: none, so the first remote answer loads geoip-lite). */
const LOCATED = envInt('LOCATED', 0, 0) !== 0;
/** 0: the simulated peers never send deltas (as a peer from before deltas), so every change is a full catalog. */
const DELTA = envInt('DELTA', 1, 0) !== 0;
if (PEERS > 999) {
  console.error('sync-scale: PEERS must be at most 999');
  process.exit(2);
}

const TD = 'gsdns.local';
const HUB = 'hub';
/** INSTANCE_BIN: another build's bin/gsdns to measure (e.g. a checkout of an earlier commit, built); default this tree's. */
const bin = process.env['INSTANCE_BIN'] || fileURLToPath(new URL('../bin/gsdns', import.meta.url));
const HEAP_REPORT_MODULE = new URL('./lib/heap-report.mjs', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'gsdns-sync-scale-'));
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

// ---- cleanup: every child, server, socket and the temporary folder ----------------------------

const children = new Set<ChildProcess>();
const peers: SimPeer[] = [];
const stormTimers = new Set<NodeJS.Timeout>();
let cleaning: Promise<void> | undefined;
let interrupted = false;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const t of stormTimers) clearTimeout(t);
    stormTimers.clear();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(CPU_PROF ? 'SIGTERM' : 'SIGKILL');
    await Promise.all(
      [...children].map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : Promise.resolve())),
    );
    await Promise.all(peers.map((p) => p.close()));
    dns.close();
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`sync-scale: ${signal}; cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---- small helpers -----------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const mb = (octets: number): string => (octets / 1024 / 1024).toFixed(1);
const list = (xs: readonly number[]): string => xs.map(ms).join(', ');

function procStatus(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" that closes comm: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Host-wide UDP datagrams dropped for a full receive buffer (/proc/net/snmp Udp RcvbufErrors). */
function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const keys = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[keys.indexOf('RcvbufErrors')] ?? NaN);
}

/** Runs fn over items with at most `limit` in flight. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

// ---- DNS over UDP --------------------------------------------------------------------------------

const dns = new UdpDnsClient();
const ask = (port: number, name: string, timeoutMs = 2000): Promise<DnsResult> => dns.ask(port, name, timeoutMs);

/** Poll (back to back, as convergence.ts does) until `check` holds; ms from `since`. */
async function waitDns(
  port: number,
  name: string,
  what: string,
  check: (r: DnsResult) => boolean,
  since: number,
  timeoutMs = 60_000,
): Promise<number> {
  let last = '';
  for (;;) {
    let r: DnsResult | undefined;
    try {
      r = await ask(port, name);
    } catch (err) {
      last = (err as Error).message;
    }
    const t = nowMs();
    if (r !== undefined) {
      if (check(r)) return t - since;
      last = `rcode ${r.rcode} [${r.addresses.join(' ')}]`;
    }
    if (t - since > timeoutMs) throw new Error(`${name}: wanted ${what}, still ${last} after ${timeoutMs} ms`);
    await new Promise((r2) => setImmediate(r2));
  }
}

const answersOnly = (gateway: string) => (r: DnsResult) => r.rcode === 0 && r.addresses.length === 1 && r.addresses[0] === gateway;
const isNxdomain = (r: DnsResult): boolean => r.rcode === 3;

/**
 * A latency probe beside dnsperf, in a child process (bench/lib/probe-child.ts) so that this
 * process's own load (50 simulated peers) does not delay it: one query every 100 ms (not waiting
 * for the previous one), each with a 10 s timeout, so stalls show as latencies rather than as
 * dnsperf's lost-query timeouts. With `nice` (a negative niceness needs root or CAP_SYS_NICE;
 * refused, the probe runs at the default), the probe asks for a CPU ahead of the others on this
 * shared machine: run beside a default probe, it tells the server's delay from the probe's own
 * wait for a CPU after the reply has arrived.
 */
function startProbe(port: number, name: string, nice?: number): () => Promise<{ latencies: number[]; unanswered: number; sent: number }> {
  const child = spawn(
    process.execPath,
    ['--import=tsx', fileURLToPath(new URL('./lib/probe-child.ts', import.meta.url)), String(port), name],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  children.add(child);
  if (nice !== undefined) {
    try {
      setPriority(child.pid!, nice);
    } catch {
      // not allowed: the default priority
    }
  }
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return async () => {
    child.stdin.end();
    await exited;
    children.delete(child);
    try {
      return JSON.parse(out) as { latencies: number[]; unanswered: number; sent: number };
    } catch {
      throw new Error(`sync-scale: the probe child printed no result (exit ${child.exitCode}): ${out.slice(0, 200)}`);
    }
  };
}

function heapText(h: HeapReport): string {
  return `heapUsed ${mb(h.before.heapUsed)} MB of heapTotal ${mb(h.before.heapTotal)} MB; after full GCs: heapUsed ${mb(h.heapUsed)} MB of heapTotal ${mb(h.heapTotal)} MB, external ${mb(h.external)} MB (arrayBuffers ${mb(
    h.arrayBuffers,
  )} MB), malloced ${mb(h.mallocedMemory)} MB, RSS ${mb(h.rss)} MB`;
}

function probeText(p: { latencies: number[]; unanswered: number; sent: number }): string {
  const l = p.latencies;
  if (l.length === 0) return `probe: no answers, ${p.unanswered} unanswered`;
  return `probe latency p50 ${ms(pct(l, 50))} / p99 ${ms(pct(l, 99))} / max ${ms(Math.max(...l))} ms, ${l.filter((x) => x > 1000).length} of ${
    p.sent
  } over 1 s, ${p.unanswered} unanswered in 10 s`;
}

// ---- simulated peers ---------------------------------------------------------------------------

interface Entry {
  readonly namespace: string;
  readonly name: string;
  ready: boolean;
  readonly key: string;
  /** This service's part of the canonical JSON, exactly as canonicalCatalogJson writes it. */
  frag: string;
  /** fingerprint(frag): this service's share of the ETag. */
  fp: number;
}

interface Waiter {
  readonly res: ServerResponse;
  readonly timer: NodeJS.Timeout;
  /** The ETag the client holds, when it asked for a delta against it. */
  readonly deltaBase: string | undefined;
}

interface Spec {
  readonly namespace: string;
  readonly name: string;
  readonly ready?: boolean;
}

const PORTS = [{ name: 'http', port: 80, protocol: 'TCP' as const }];

const byKey = (a: { namespace: string; name: string }, b: { namespace: string; name: string }): number =>
  a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

function fragment(e: { namespace: string; name: string; ready: boolean }): string {
  return JSON.stringify({
    namespace: e.namespace,
    name: e.name,
    ready: e.ready,
    ports: PORTS.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
  });
}

/** Set an entry's fragment and its fingerprint from its content. */
function render<T extends { namespace: string; name: string; ready: boolean; frag: string; fp: number }>(e: T): T {
  e.frag = fragment(e);
  e.fp = fingerprint(e.frag);
  return e;
}

function originalSpecs(): Spec[] {
  return Array.from({ length: SERVICES }, (_, i) => ({ namespace: `ns${i % 100}`, name: `svc${i}` }));
}

/** A peer cluster's sync endpoint: its catalog, ETag, conditional GETs and long polls. */
class SimPeer {
  readonly identity: ClusterLocality;
  readonly gateways: readonly Gateway[];
  private readonly prefix: string;
  private entries: Entry[] = [];
  /** The canonical JSON, built when a full catalog is asked for (undefined: not built since the last change). */
  private bodyCache: Buffer | undefined;
  private bodyLength = 0;
  etag = '';
  /** The canonical JSON without services (delta.ts's head). */
  private readonly head: string;
  /** The last DELTA_HISTORY versions, the current one last (delta bases). */
  private readonly versions: CatalogVersion[] = [];
  private readonly deltaBodies = new Map<string, Buffer | undefined>();
  private server: HttpsServer | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly waiters = new Set<Waiter>();
  port = 0;
  /** Responses by kind, since the last resetCounters. */
  full = 0;
  deltas = 0;
  notModified = 0;
  changes = 0;
  private stormAdded: Spec | undefined;
  private stormTick = 0;

  constructor(
    readonly name: string,
    index: number,
    readonly gateway: string,
    private readonly tls: { ca: Buffer; cert: Buffer; key: Buffer },
  ) {
    // LOCATED: a location in the catalog, so ranking the peers needs no geoip-lite (it locates an
    // unlocated cluster by its gateway address, loading about 150 MB on first need).
    this.identity = LOCATED ? { cluster: name, location: { lat: 40 + (index % 40), lon: -120 + index } } : { cluster: name };
    this.gateways = [{ address: gateway, port: 15443 }];
    const empty = canonicalCatalogJson(buildCatalog(this.identity, this.gateways, []));
    if (!empty.endsWith('"services":[]}')) throw new Error(`unexpected canonical JSON shape: ${empty}`);
    this.prefix = empty.slice(0, -2);
    this.head = catalogParts(buildCatalog(this.identity, this.gateways, [])).head;
  }

  async start(): Promise<void> {
    const server = createHttpsServer({ ...this.tls, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (req, res) =>
      this.handle(req, res),
    );
    server.keepAliveTimeout = 75_000;
    server.requestTimeout = (MAX_WAIT_SECONDS + 15) * 1000;
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    server.on('tlsClientError', (err) => console.error(`${this.name}: TLS handshake refused: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** The catalog from scratch with buildCatalog + canonicalCatalogJson (a wholesale change). */
  replaceAll(specs: readonly Spec[]): void {
    const catalog = buildCatalog(
      this.identity,
      this.gateways,
      specs.map((s) => localService(s)),
    );
    const json = canonicalCatalogJson(catalog);
    this.entries = catalog.services.map((s) =>
      render({ namespace: s.namespace, name: s.name, key: `${s.namespace}/${s.name}`, ready: s.ready, frag: '', fp: 0 }),
    );
    this.publish(json);
  }

  /** Add a service (or replace its readiness if it exists). */
  add(spec: Spec): void {
    const e: Entry = render({
      namespace: spec.namespace,
      name: spec.name,
      key: `${spec.namespace}/${spec.name}`,
      ready: spec.ready ?? true,
      frag: '',
      fp: 0,
    });
    const i = this.lowerBound(e);
    if (this.entries[i] && byKey(this.entries[i], e) === 0) this.entries[i] = e;
    else this.entries.splice(i, 0, e);
    this.republish();
  }

  remove(spec: Spec): void {
    const i = this.lowerBound(spec);
    if (!this.entries[i] || byKey(this.entries[i], spec) !== 0)
      throw new Error(`${this.name}: no service ${spec.namespace}/${spec.name} to remove`);
    this.entries.splice(i, 1);
    this.republish();
  }

  setReady(index: number, ready: boolean): void {
    const e = this.entries[index]!;
    e.ready = ready;
    render(e);
    this.republish();
  }

  /** One storm change: a readiness flip of a random service, or a service added / removed. */
  stormStep(): void {
    const tick = this.stormTick++;
    if (tick % 2 === 0) {
      const i = Math.floor(Math.random() * this.entries.length);
      this.setReady(i, !this.entries[i]!.ready);
    } else if (this.stormAdded) {
      this.remove(this.stormAdded);
      this.stormAdded = undefined;
    } else {
      this.stormAdded = { namespace: `ns${tick % 100}`, name: `storm-${this.name}-${tick}` };
      this.add(this.stormAdded);
    }
  }

  /** Undo what the storm changed: every service ready, the storm service gone. */
  calm(): void {
    if (this.stormAdded) this.remove(this.stormAdded);
    this.stormAdded = undefined;
    let changed = false;
    for (const e of this.entries) {
      if (!e.ready) {
        e.ready = true;
        render(e);
        changed = true;
      }
    }
    if (changed) this.republish();
  }

  /** True when the served bytes are exactly canonicalCatalogJson(buildCatalog(…)) of the content, and their length the one counted. */
  verify(): boolean {
    const locals = this.entries.map((e) => localService(e));
    return (
      this.body.length === this.bodyLength &&
      this.body.toString('utf8') === canonicalCatalogJson(buildCatalog(this.identity, this.gateways, locals))
    );
  }

  get services(): number {
    return this.entries.length;
  }

  private lowerBound(key: { namespace: string; name: string }): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (byKey(this.entries[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private republish(): void {
    this.publish(undefined);
  }

  /** The canonical JSON of the current content. */
  private get body(): Buffer {
    this.bodyCache ??= Buffer.from(this.prefix + this.entries.map((e) => e.frag).join(',') + ']}', 'utf8');
    return this.bodyCache;
  }

  /**
   * An ETag from the content: the services' fingerprints summed in two 32-bit lanes, and their
   * count (the order is canonical, so the content decides it). Opaque to clients as any ETag is;
   * not gsdns's SHA-256 of the body, which would cost this load generator a hash of 1 MB per change
   * (with the body's join, 0.8 of a core in the storm, on the machine the server under test shares).
   */
  private contentEtag(): string {
    let lo = 0;
    let hi = 0;
    // The body's length without building it (the fragments are ASCII): prefix, fragments, commas, `]}`.
    let length = this.prefix.length + Math.max(0, this.entries.length - 1) + 2;
    for (const e of this.entries) {
      lo = (lo + (e.fp >>> 0)) >>> 0;
      hi = (hi + Math.floor(e.fp / 0x100000000)) >>> 0;
      length += e.frag.length;
    }
    this.bodyLength = length;
    return `"${this.name}-${this.entries.length}-${hi.toString(36)}-${lo.toString(36)}"`;
  }

  /** New content (`json`: its canonical JSON, when at hand): new ETag, and every waiting long poll answered with it. */
  private publish(json: string | undefined): void {
    this.bodyCache = json === undefined ? undefined : Buffer.from(json, 'utf8');
    this.etag = this.contentEtag();
    this.changes++;
    if (DELTA) {
      this.versions.push({
        etag: this.etag,
        head: this.head,
        keys: this.entries.map((e) => e.key),
        fragments: this.entries.map((e) => e.frag),
      });
      if (this.versions.length > DELTA_HISTORY) this.versions.shift();
      this.deltaBodies.clear();
    }
    for (const w of [...this.waiters]) {
      clearTimeout(w.timer);
      this.waiters.delete(w);
      this.send(w.res, w.deltaBase);
    }
  }

  /** The catalog, as a delta against `deltaBase` when it is a kept version (src/sync/delta-history.ts's rule). */
  private send(res: ServerResponse, deltaBase?: string): void {
    if (res.writableEnded || res.destroyed) return;
    if (deltaBase !== undefined) {
      if (!this.deltaBodies.has(deltaBase)) {
        const from = this.versions.find((v) => v.etag === deltaBase);
        const text = from === undefined ? undefined : encodeDelta(from, this.versions[this.versions.length - 1]!);
        this.deltaBodies.set(deltaBase, text === undefined || text.length >= this.bodyLength ? undefined : Buffer.from(text, 'utf8'));
      }
      const delta = this.deltaBodies.get(deltaBase);
      if (delta !== undefined) {
        this.deltas++;
        res.writeHead(IM_USED, {
          'content-type': 'application/json',
          etag: this.etag,
          im: DELTA_IM,
          'cache-control': 'no-store',
          'content-length': delta.length,
        });
        res.end(delta);
        return;
      }
    }
    this.full++;
    res.writeHead(200, {
      'content-type': 'application/json',
      etag: this.etag,
      'cache-control': 'no-store',
      'content-length': this.body.length,
    });
    res.end(this.body);
  }

  private notModifiedReply(res: ServerResponse): void {
    if (res.writableEnded || res.destroyed) return;
    this.notModified++;
    res.writeHead(304, { etag: this.etag, 'cache-control': 'no-store' });
    res.end();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const id = clusterIdentity((req.socket as TLSSocket).getPeerCertificate()?.subjectaltname, TD);
    if (!id.ok || id.cluster !== HUB) {
      res.writeHead(403).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'https://peer.invalid');
    if (url.pathname !== '/v1/catalog' || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    const wait = Math.min(MAX_WAIT_SECONDS, Number(url.searchParams.get('wait') ?? 0) || 0);
    const inm = req.headers['if-none-match'];
    const known = typeof inm === 'string' && inm.split(',').some((t) => t.trim() === this.etag);
    const deltaBase = DELTA && typeof inm === 'string' && !inm.includes(',') && req.headers['a-im'] === DELTA_IM ? inm.trim() : undefined;
    if (!known) return this.send(res, deltaBase);
    if (wait === 0) return this.notModifiedReply(res);
    const waiter: Waiter = {
      res,
      deltaBase,
      timer: setTimeout(() => {
        this.waiters.delete(waiter);
        this.notModifiedReply(res);
      }, wait * 1000),
    };
    this.waiters.add(waiter);
    res.once('close', () => {
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
    });
  }
}

function localService(s: { namespace: string; name: string; ready?: boolean }): LocalService {
  return {
    kind: 'clusterIP',
    namespace: s.namespace,
    name: s.name,
    ports: PORTS,
    clusterIPs: ['10.96.0.10'],
    readyEndpoints: s.ready === false ? 0 : 1,
  };
}

// ---- the instance under test -------------------------------------------------------------------

interface Hub {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly dnsPort: number;
  readonly httpPort: number;
  readonly startedAt: number;
  readonly startedWall: number;
  readonly output: () => string;
  /** The V8 heap after two full GCs (bench/lib/heap-report.mjs). */
  heap(): Promise<HeapReport>;
  stop(): Promise<void>;
}

interface HeapReport {
  readonly before: { readonly rss: number; readonly heapUsed: number; readonly heapTotal: number };
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly mallocedMemory: number;
}

interface PkiFiles {
  readonly ca: string;
  readonly certs: Record<string, { cert: string; key: string }>;
}

async function makePki(names: readonly string[]): Promise<PkiFiles> {
  const caDir = join(dir, 'ca');
  const ca = await initCa({ outDir: caDir, days: 2, commonName: 'gsdns sync-scale CA' });
  const certs: Record<string, { cert: string; key: string }> = {};
  await pool(names, 8, async (cluster) => {
    const issued = await issueClusterCert({ caDir, outDir: join(dir, 'clusters'), cluster, trustDomain: TD, days: 2 });
    certs[cluster] = { cert: issued.cert, key: issued.key };
  });
  return { ca: ca.cert, certs };
}

async function startHub(label: string, pki: PkiFiles, peerList: readonly SimPeer[]): Promise<Hub> {
  const [dnsPort, httpPort, syncPort] = [await freePort(), await freePort(), await freePort()];
  const catalog = join(dir, `${label}-catalog.yaml`);
  writeFileSync(
    catalog,
    'services:\n  - {namespace: hub, name: local, clusterIPs: [10.96.0.1], readyEndpoints: 1, ports: [{name: http, port: 80}]}\n',
  );
  const config = join(dir, `${label}.yaml`);
  const own = pki.certs[HUB]!;
  writeFileSync(
    config,
    [
      `cluster: {name: ${HUB}, gateways: [{address: 192.0.2.1, port: 15443}]}`,
      `dns: {zones: [global], listen: [{address: 127.0.0.1, port: ${dnsPort}}]}`,
      `http: {listen: {address: 127.0.0.1, port: ${httpPort}}}`,
      `source: {type: file, file: {path: ${JSON.stringify(catalog)}}}`,
      'forward: {upstreams: ["127.0.0.1:9"]}',
      // The simulated peers' gateways are documentation addresses: never probe them (loopback only).
      'health: {probe: {type: none}}',
      'log: {level: warn}',
      'sync:',
      `  listen: {address: 127.0.0.1, port: ${syncPort}}`,
      `  trustDomain: ${TD}`,
      `  tls: {ca: ${JSON.stringify(pki.ca)}, cert: ${JSON.stringify(own.cert)}, key: ${JSON.stringify(own.key)}}`,
      // The one-service samples add a service to a full catalog: leave room above SERVICES
      // (sync.maxCatalogServices defaults to 10,000, the bench's default size).
      `  maxCatalogServices: ${SERVICES + 100}`,
      `  maxCatalogBytes: ${Math.max(2 * 1024 * 1024, (SERVICES + 100) * 160)}`,
      peerList.length === 0 ? '  peers: []' : '  peers:',
      ...peerList.map((p) => `    - {name: ${p.name}, url: "https://127.0.0.1:${p.port}"}`),
      '',
    ].join('\n'),
  );
  const heapFile = join(dir, `${label}-heap.json`);
  const startedAt = nowMs();
  const startedWall = Date.now();
  const child = spawn(
    process.execPath,
    [
      ...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : []),
      ...(GC_LOG ? ['--trace-gc'] : []),
      '--expose-gc',
      `--import=${HEAP_REPORT_MODULE}`,
      ...(HEAP_SNAPSHOT ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${HEAP_SNAPSHOT}`] : []),
      ...INSTANCE_NODE_ARGS,
      bin,
      'serve',
      '--config',
      config,
      '--set',
      'shutdown.lameDuckSeconds=0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_HEAP_REPORT: heapFile } },
  );
  children.add(child);
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  if (GC_LOG) {
    writeFileSync(GC_LOG, `# 0 ${label} spawned\n`);
    child.stdout.on('data', (d: Buffer) => appendFileSync(GC_LOG, d));
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    children.delete(child);
  };
  // Up when the local service answers.
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`gsdns (${label}) exited with ${child.exitCode ?? child.signalCode} before serving:\n${out}`);
    const r = await ask(dnsPort, 'local.hub.global', 200).catch(() => undefined);
    if (r?.rcode === 0 && r.addresses[0] === '10.96.0.1') break;
    if (nowMs() - startedAt > 20_000) throw new Error(`gsdns (${label}) did not answer within 20 s:\n${out}`);
    await sleep(20);
  }
  const heap = async (): Promise<HeapReport> => {
    rmSync(heapFile, { force: true });
    child.kill('SIGWINCH');
    for (let waited = 0; ; waited += 50) {
      try {
        return JSON.parse(readFileSync(heapFile, 'utf8')) as HeapReport;
      } catch {
        if (waited > 60_000) throw new Error(`gsdns (${label}) wrote no heap report within 60 s`);
        await sleep(50);
      }
    }
  };
  return { child, pid: child.pid!, dnsPort, httpPort, startedAt, startedWall, output: () => out, heap, stop };
}

interface PeerView {
  readonly peer: string;
  readonly state: string;
  readonly services: number;
  readonly etag?: string;
  readonly lastCatalogMs?: number;
  readonly lastError?: string;
}

interface ClustersView {
  readonly remote: readonly { cluster: string; services: number }[];
  readonly sync: { readonly peers: readonly PeerView[] };
}

/**
 * The instance's event-loop lag since the previous call (prom-client's nodejs_eventloop_lag_*,
 * whose histogram restarts at each scrape): tells a stall of the DNS thread from time spent queued
 * behind dnsperf's queries or waiting for a CPU.
 */
async function eventLoopLag(hub: Hub): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`http://127.0.0.1:${hub.httpPort}/metrics`)).text();
  const read = (name: string): number =>
    Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(`${name} `)) ?? '')?.[2] ?? NaN) * 1000;
  return { p99: read('nodejs_eventloop_lag_p99_seconds'), max: read('nodejs_eventloop_lag_max_seconds') };
}

/** Signal the instance to write a heap snapshot into HEAP_SNAPSHOT; its path once written. */
async function heapSnapshot(hub: Hub): Promise<string> {
  const before = new Set(readdirSync(HEAP_SNAPSHOT));
  hub.child.kill('SIGUSR2');
  const started = nowMs();
  for (;;) {
    await sleep(500);
    const file = readdirSync(HEAP_SNAPSHOT).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    // Written when the instance answers again: the snapshot is taken on its main thread.
    if (
      file !== undefined &&
      (await clusters(hub).then(
        () => true,
        () => false,
      ))
    )
      return join(HEAP_SNAPSHOT, file);
    if (nowMs() - started > 300_000) throw new Error('no heap snapshot within 300 s');
  }
}

/** A marker line in GC_LOG, timed like --trace-gc's lines (ms since the instance started). */
function gcMark(hub: Hub, what: string): void {
  if (GC_LOG) appendFileSync(GC_LOG, `# ${Math.round(nowMs() - hub.startedAt)} ${what}\n`);
}

async function clusters(hub: Hub): Promise<ClustersView> {
  const res = await fetch(`http://127.0.0.1:${hub.httpPort}/debug/clusters`).catch((err: Error) => {
    throw new Error(`/debug/clusters: ${err.message} (${String((err.cause as Error | undefined)?.message ?? err.cause)})`, { cause: err });
  });
  if (res.status !== 200) throw new Error(`/debug/clusters: HTTP ${res.status}`);
  return (await res.json()) as ClustersView;
}

function assertAlive(hub: Hub): void {
  if (hub.child.exitCode !== null || hub.child.signalCode !== null) {
    throw new Error(`gsdns exited (${hub.child.exitCode ?? hub.child.signalCode}):\n${hub.output()}`);
  }
}

/** ms from `since` until the instance holds every peer's current ETag (it has caught up). */
async function catchUp(hub: Hub, since: number): Promise<number> {
  for (;;) {
    const v = await clusters(hub);
    const etags = new Map(v.sync.peers.map((p) => [p.peer, p.etag]));
    if (peers.every((p) => etags.get(p.name) === p.etag)) return nowMs() - since;
    if (nowMs() - since > 120_000) throw new Error('the instance did not catch up with the peers within 120 s after the storm');
    await sleep(10);
  }
}

// ---- dnsperf -------------------------------------------------------------------------------------

interface PerfResult {
  readonly qps: number;
  readonly lost: string;
}

function dnsperf(port: number, file: string, seconds: number): Promise<PerfResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(seconds), '-c', '8', '-q', '200'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', (err) => {
      children.delete(child);
      reject(new Error(`cannot run dnsperf (${err.message}): apt-get install -y dnsperf`));
    });
    child.once('exit', (code) => {
      children.delete(child);
      const qps = /Queries per second:\s+([\d.]+)/.exec(out);
      const lost = /Queries lost:\s+(.*)/.exec(out);
      if (code !== 0 || !qps) reject(new Error(`dnsperf failed (exit ${code}):\n${out}`));
      else resolve({ qps: Number(qps[1]), lost: lost?.[1]?.trim() ?? '?' });
    });
  });
}

// ---- the bench -----------------------------------------------------------------------------------

function peerName(i: number): string {
  return `peer${String(i + 1).padStart(2, '0')}`;
}

function gatewayOf(i: number): string {
  return `198.18.${(i + 1) >> 8}.${(i + 1) & 255}`;
}

async function main(): Promise<void> {
  if (PHASES.has('qps'))
    try {
      execFileSync('dnsperf', ['-h'], { stdio: 'ignore' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('dnsperf missing: apt-get install -y dnsperf', { cause: err });
    }
  console.log(
    `sync-scale: ${PEERS} peers x ${SERVICES} services; ${ROUNDS} rounds of ${SECONDS} s per qps mode, storm: one change per peer every ${STORM_MS} ms; deltas ${DELTA ? 'on' : 'off (DELTA=0)'}; ${FULL} full-catalog and ${ONE} one-service samples`,
  );
  await new Promise<void>((r) => dns.socket.bind(0, '127.0.0.1', () => r()));

  let t = nowMs();
  const names = Array.from({ length: PEERS }, (_, i) => peerName(i));
  const pki = await makePki([HUB, ...names]);
  const ca = readFileSync(pki.ca);
  console.log(`PKI: CA and ${names.length + 1} cluster certificates (openssl) in ${ms(nowMs() - t)} ms`);

  t = nowMs();
  const original = originalSpecs();
  for (const [i, name] of names.entries()) {
    const files = pki.certs[name]!;
    const peer = new SimPeer(name, i, gatewayOf(i), { ca, cert: readFileSync(files.cert), key: readFileSync(files.key) });
    peers.push(peer);
    await peer.start();
    peer.replaceAll(original);
  }
  // The fragment rendering must give the canonical bytes: check one peer after a few edits.
  {
    const p = peers[0]!;
    p.add({ namespace: 'ns5', name: 'check-a' });
    p.setReady(3, false);
    p.remove({ namespace: 'ns5', name: 'check-a' });
    if (!p.verify()) throw new Error('fragment-rendered catalog differs from canonicalCatalogJson(buildCatalog(…))');
    p.setReady(3, true);
  }
  const catalogBytes = Buffer.byteLength(
    canonicalCatalogJson(
      buildCatalog(
        peers[0]!.identity,
        peers[0]!.gateways,
        original.map((s) => localService(s)),
      ),
    ),
  );
  console.log(
    `peers: ${PEERS} HTTPS servers up, catalogs built in ${ms(nowMs() - t)} ms; one catalog is ${(catalogBytes / 1e6).toFixed(2)} MB of canonical JSON`,
  );

  // -- 1. memory and initial sync --
  const base = await startHub('baseline', pki, []);
  await sleep(3000);
  const baseMem = procStatus(base.pid);
  const baseHeap = await base.heap();
  await base.stop();
  console.log(`baseline (sync configured, 0 peers): RSS ${baseMem.rss.toFixed(1)} MB; ${heapText(baseHeap)}`);

  const hub = await startHub('hub', pki, peers);
  let view: ClustersView;
  for (;;) {
    assertAlive(hub);
    view = await clusters(hub);
    const ps = view.sync.peers;
    if (ps.length === PEERS && ps.every((p) => p.state === 'synced' && p.services === SERVICES)) break;
    if (nowMs() - hub.startedAt > 300_000) {
      const bad = ps.filter((p) => p.state !== 'synced' || p.services !== SERVICES).slice(0, 5);
      throw new Error(`not every peer synced within 300 s; e.g. ${JSON.stringify(bad)}`);
    }
    await sleep(100);
  }
  const syncedMs = nowMs() - hub.startedAt;
  const syncCpu = cpuSeconds(hub.pid);
  const held = view.remote.reduce((n, r) => n + r.services, 0);
  const catalogTimes = view.sync.peers.map((p) => (p.lastCatalogMs ?? 0) - hub.startedWall).sort((a, b) => a - b);
  const last = SERVICES - 1;
  await waitDns(
    hub.dnsPort,
    `svc${last}.ns${last % 100}.global`,
    'an answer',
    (r) => r.rcode === 0 && r.addresses.length > 0,
    nowMs(),
    5000,
  );
  const memSynced = procStatus(hub.pid);
  await sleep(3000);
  const memSettled = procStatus(hub.pid);
  const tClusters = nowMs();
  await clusters(hub);
  const clustersMs = nowMs() - tClusters;
  console.log(
    `initial sync: all ${PEERS} peers synced ${ms(syncedMs)} ms after spawn (catalogs applied from ${ms(catalogTimes[0]!)} to ${ms(
      catalogTimes[catalogTimes.length - 1]!,
    )} ms); registry holds ${held} remote services in ${view.remote.length} clusters; gsdns CPU ${syncCpu.toFixed(2)} s`,
  );
  // The steady state: past the decoder worker's idle stop (src/sync/service.ts DECODER_IDLE_MS)
  // and V8's memory reducer (a compacting GC some 30 s after the last major GC once allocation has
  // slowed down, which gives back the heap the initial sync's garbage grew).
  await sleep(Math.max(0, SETTLE_S * 1000 - (nowMs() - hub.startedAt - syncedMs)));
  const memSteady = procStatus(hub.pid);
  const perService = (m: { rss: number }): string => (((m.rss - baseMem.rss) * 1024 * 1024) / Math.max(1, held)).toFixed(0);
  const geoip = /^gsdns_geoip_loaded (\d)/m.exec(await (await fetch(`http://127.0.0.1:${hub.httpPort}/metrics`)).text())?.[1];
  console.log(
    `memory: RSS ${memSynced.rss.toFixed(1)} MB when synced, ${memSettled.rss.toFixed(1)} MB 3 s later, ${memSteady.rss.toFixed(
      1,
    )} MB ${SETTLE_S} s after synced (peak ${memSteady.hwm.toFixed(1)} MB) vs ${baseMem.rss.toFixed(1)} MB with 0 peers: +${(
      memSettled.rss - baseMem.rss
    ).toFixed(
      1,
    )} MB, ${perService(memSettled)} B per remote service 3 s later; +${(memSteady.rss - baseMem.rss).toFixed(1)} MB, ${perService(
      memSteady,
    )} B ${SETTLE_S} s after; geoip-lite (about 150 MB) ${
      geoip === '1' ? 'loaded (the peers are unlocated: LOCATED=1 gives them a location)' : geoip === '0' ? 'not loaded' : 'unknown'
    }`,
  );
  const hubHeap = await hub.heap();
  console.log(
    `heap when synced: ${heapText(hubHeap)}; +${mb(hubHeap.heapUsed - baseHeap.heapUsed)} MB used over 0 peers, ${(
      (hubHeap.heapUsed - baseHeap.heapUsed) /
      Math.max(1, held)
    ).toFixed(0)} B per remote service`,
  );
  console.log(`/debug/clusters with ${PEERS} peers answered in ${ms(clustersMs)} ms`);
  if (HEAP_SNAPSHOT) console.log(`heap snapshot: ${await heapSnapshot(hub)}`);
  if (!PHASES.has('full') && !PHASES.has('one') && !PHASES.has('qps')) {
    await hub.stop();
    return;
  }

  // -- 2. full-catalog apply --
  if (PHASES.has('full')) {
    const replaceTimes: number[] = [];
    const restoreTimes: number[] = [];
    const renderTimes: number[] = [];
    for (let k = 1; k <= FULL; k++) {
      assertAlive(hub);
      const peer = peers[(k - 1) % PEERS]!;
      const fresh = Array.from({ length: SERVICES }, (_, i) => ({ namespace: `ns${i % 100}`, name: `r${k}-svc${i}` }));
      const probe = `r${k}-svc${last}.ns${last % 100}.global`;
      await sleep(300);
      const t0 = nowMs();
      peer.replaceAll(fresh);
      renderTimes.push(nowMs() - t0);
      replaceTimes.push(await waitDns(hub.dnsPort, probe, `${peer.gateway} only`, answersOnly(peer.gateway), t0));
      await sleep(300);
      const t1 = nowMs();
      peer.replaceAll(original);
      restoreTimes.push(await waitDns(hub.dnsPort, probe, 'NXDOMAIN', isNxdomain, t1));
    }
    console.log(
      `full-catalog apply (${SERVICES} services of one peer replaced by ${SERVICES} new ones, change → DNS answer): median ${ms(median(replaceTimes))} ms [${list(
        replaceTimes,
      )}]; back to the original set (→ NXDOMAIN): median ${ms(median(restoreTimes))} ms [${list(restoreTimes)}]; of which the peer's own build+hash: median ${ms(
        median(renderTimes),
      )} ms`,
    );
  }

  // -- 3. one-service change --
  if (PHASES.has('one')) {
    const addTimes: number[] = [];
    const removeTimes: number[] = [];
    for (let k = 1; k <= ONE; k++) {
      assertAlive(hub);
      const peer = peers[k % PEERS]!;
      const spec = { namespace: `ns${k % 100}`, name: `one${k}` };
      const probe = `one${k}.ns${k % 100}.global`;
      await sleep(50);
      const t0 = nowMs();
      peer.add(spec);
      addTimes.push(await waitDns(hub.dnsPort, probe, `${peer.gateway} only`, answersOnly(peer.gateway), t0));
      await sleep(50);
      const t1 = nowMs();
      peer.remove(spec);
      removeTimes.push(await waitDns(hub.dnsPort, probe, 'NXDOMAIN', isNxdomain, t1));
    }
    console.log(
      `one-service change (${ONE} samples): added → answered median ${ms(median(addTimes))} ms, p90 ${ms(pct(addTimes, 90))} ms, max ${ms(
        Math.max(...addTimes),
      )} ms; removed → NXDOMAIN median ${ms(median(removeTimes))} ms, p90 ${ms(pct(removeTimes, 90))} ms`,
    );
  }

  // -- 4. qps, quiet vs storm --
  if (PHASES.has('qps')) {
    const queryFile = join(dir, 'queries.txt');
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const n = Math.floor(Math.random() * SERVICES);
      lines.push(`svc${n}.ns${n % 100}.global A`);
    }
    writeFileSync(queryFile, `${lines.join('\n')}\n`);
    await dnsperf(hub.dnsPort, queryFile, 2); // warm-up (JIT)
    const probeName = `svc${last}.ns${last % 100}.global`;

    const quiet: PerfResult[] = [];
    const storm: PerfResult[] = [];
    const stormNotes: string[] = [];
    const quietCpu: number[] = [];
    const stormCpu: number[] = [];
    const quietP99: number[] = [];
    const stormP99: number[] = [];
    const quietP99Nice: number[] = [];
    const stormP99Nice: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      assertAlive(hub);
      await sleep(500);
      let drops0 = udpRcvbufErrors();
      let c0 = cpuSeconds(hub.pid);
      let w0 = nowMs();
      // CPU over the SECONDS dnsperf sends, not its wait for late replies afterwards.
      const sample = setTimeout(() => quietCpu.push((cpuSeconds(hub.pid) - c0) / ((nowMs() - w0) / 1000)), SECONDS * 1000);
      stormTimers.add(sample);
      await eventLoopLag(hub);
      gcMark(hub, `round ${r} quiet start`);
      const quietProbe = startProbe(hub.dnsPort, probeName);
      const quietProbeNice = startProbe(hub.dnsPort, probeName, PROBE_NICE);
      const q = await dnsperf(hub.dnsPort, queryFile, SECONDS);
      gcMark(hub, `round ${r} quiet end`);
      const qp = await quietProbe();
      const qpn = await quietProbeNice();
      const quietLag = await eventLoopLag(hub);
      if (quietCpu.length < r) quietCpu.push((cpuSeconds(hub.pid) - c0) / ((nowMs() - w0) / 1000));
      const quietDrops = udpRcvbufErrors() - drops0;
      quiet.push(q);
      await sleep(500);

      for (const p of peers) p.full = p.deltas = p.notModified = p.changes = 0;
      drops0 = udpRcvbufErrors();
      const bench0 = process.cpuUsage();
      c0 = cpuSeconds(hub.pid);
      w0 = nowMs();
      let running = true;
      for (const [i, p] of peers.entries()) {
        // Staggered: peer i changes at i/PEERS of each period.
        const tick = (): void => {
          if (!running) return;
          p.stormStep();
          const timer = setTimeout(tick, STORM_MS);
          stormTimers.add(timer);
          timer.unref();
        };
        const first = setTimeout(tick, (i * STORM_MS) / PEERS);
        stormTimers.add(first);
      }
      // The storm lasts as long as dnsperf sends (-l SECONDS); dnsperf then waits for late replies.
      let wall = 0;
      let bench = { user: 0, system: 0 };
      let changes = 0;
      let fulls = 0;
      let deltas = 0;
      let stormEnd = 0;
      let caughtUp: Promise<number> | undefined;
      const stopStorm = (): void => {
        if (!running) return;
        running = false;
        for (const timer of stormTimers) clearTimeout(timer);
        stormTimers.clear();
        stormEnd = nowMs();
        wall = (stormEnd - w0) / 1000;
        stormCpu.push((cpuSeconds(hub.pid) - c0) / wall);
        bench = process.cpuUsage(bench0);
        changes = peers.reduce((n, p) => n + p.changes, 0);
        fulls = peers.reduce((n, p) => n + p.full, 0);
        deltas = peers.reduce((n, p) => n + p.deltas, 0);
        caughtUp = catchUp(hub, stormEnd);
        caughtUp.catch(() => undefined); // awaited below
      };
      const stopTimer = setTimeout(stopStorm, SECONDS * 1000);
      stormTimers.add(stopTimer);
      await eventLoopLag(hub);
      gcMark(hub, `round ${r} storm start`);
      const stormProbe = startProbe(hub.dnsPort, probeName);
      const stormProbeNice = startProbe(hub.dnsPort, probeName, PROBE_NICE);
      let s: PerfResult;
      try {
        s = await dnsperf(hub.dnsPort, queryFile, SECONDS);
      } finally {
        stopStorm();
      }
      gcMark(hub, `round ${r} storm end`);
      const sp = await stormProbe();
      const spn = await stormProbeNice();
      const stormLag = await eventLoopLag(hub);
      const caughtUpMs = await caughtUp!;
      const stormDrops = udpRcvbufErrors() - drops0;
      storm.push(s);
      stormNotes.push(
        `${changes} changes, ${fulls} full catalogs (${(fulls / wall).toFixed(1)}/s) and ${deltas} deltas served, bench process CPU ${(
          (bench.user + bench.system) /
          1e6 /
          wall
        ).toFixed(2)} cores, caught up ${ms(caughtUpMs)} ms after the storm`,
      );
      console.log(
        `round ${r}: quiet ${q.qps.toFixed(0)} qps (lost ${q.lost}, ${quietDrops} UDP receive-buffer drops, gsdns CPU ${quietCpu[r - 1]!.toFixed(2)} cores); storm ${s.qps.toFixed(
          0,
        )} qps (lost ${s.lost}, ${stormDrops} UDP receive-buffer drops, gsdns CPU ${stormCpu[r - 1]!.toFixed(
          2,
        )} cores; ${stormNotes[r - 1]!})`,
      );
      console.log(`         quiet ${probeText(qp)}; storm ${probeText(sp)}`);
      console.log(`         the same probe at nice ${PROBE_NICE}: quiet ${probeText(qpn)}; storm ${probeText(spn)}`);
      const lagText = (l: { p99: number; max: number }) => `p99 ${ms(l.p99)} / max ${ms(l.max)} ms`;
      console.log(`         instance event-loop lag: quiet ${lagText(quietLag)}; storm ${lagText(stormLag)}`);
      // An unanswered probe counts as its 10 s timeout.
      const p99 = (p: { latencies: number[]; unanswered: number }) =>
        pct([...p.latencies, ...new Array<number>(p.unanswered).fill(10_000)], 99);
      quietP99.push(p99(qp));
      stormP99.push(p99(sp));
      quietP99Nice.push(p99(qpn));
      stormP99Nice.push(p99(spn));
      // Undo the storm (every peer changes at once), and let the instance catch up before the next
      // quiet round, so that round measures quiet.
      await sleep(1000);
      const calmAt = nowMs();
      for (const p of peers) p.calm();
      const calmMs = await catchUp(hub, calmAt);
      console.log(`         storm undone: ${PEERS} peers changed at once, all applied after ${ms(calmMs)} ms`);
      await sleep(1000);
    }
    const mq = median(quiet.map((x) => x.qps));
    const msq = median(storm.map((x) => x.qps));
    console.log(
      `qps median: quiet ${mq.toFixed(0)}, storm ${msq.toFixed(0)} (one change every ${STORM_MS} ms per peer = ${((PEERS * 1000) / STORM_MS).toFixed(1)} changes/s), ratio storm/quiet ${(
        msq / mq
      ).toFixed(2)}; gsdns CPU median quiet ${median(quietCpu).toFixed(2)} / storm ${median(stormCpu).toFixed(2)} cores`,
    );
    console.log(
      `probe p99 median: quiet ${ms(median(quietP99))} ms, storm ${ms(median(stormP99))} ms (target: storm under 100 ms); at nice ${PROBE_NICE}: quiet ${ms(
        median(quietP99Nice),
      )} ms, storm ${ms(median(stormP99Nice))} ms`,
    );

    // -- end: memory after the storm, canonical bytes still exact --
    // 2 s after the last storm, and 20 s after it: V8 returns memory once allocation has slowed down.
    await sleep(2000);
    assertAlive(hub);
    const memEnd = procStatus(hub.pid);
    await sleep(18_000);
    assertAlive(hub);
    const memLater = procStatus(hub.pid);
    const vs = (m: { rss: number }) => `${((m.rss / memSettled.rss - 1) * 100).toFixed(1)} %`;
    console.log(
      `memory after the storm: RSS ${memEnd.rss.toFixed(1)} MB 2 s after (${vs(memEnd)} vs settled when synced), ${memLater.rss.toFixed(1)} MB 20 s after (${vs(
        memLater,
      )}; target: within 10 %), peak ${memLater.hwm.toFixed(1)} MB`,
    );
  }
  const wrong = peers.filter((p) => !p.verify()).map((p) => p.name);
  if (wrong.length > 0) throw new Error(`served catalogs differ from canonicalCatalogJson(buildCatalog(…)): ${wrong.join(', ')}`);
  const v = await clusters(hub);
  const bad = v.sync.peers.filter((p) => p.state !== 'synced');
  if (bad.length > 0)
    throw new Error(`peers not synced at the end: ${bad.map((p) => `${p.peer} ${p.state} ${p.lastError ?? ''}`).join('; ')}`);
  await hub.stop();
}

try {
  await main();
} catch (err) {
  if (interrupted) await new Promise(() => undefined); // the signal handler exits with 130
  console.error(`sync-scale: FAILED: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
process.exit(process.exitCode ?? 0);
