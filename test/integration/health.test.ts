/**
 * Gateway health end to end (SPEC §1 rows 2–3, §3 "Gateways", "Services", "Explanation"): the real
 * GatewayProber inside gsdns, probing gateways that are real loopback TCP listeners (or HTTP
 * servers) opened and closed by the test, with remote clusters from a file-source catalog's
 * `remotes:`. Checked through DNS answers, /debug/clusters, /debug/resolve and `gsdns explain`.
 *
 * Every test uses its own 127.0.6.x addresses (ava runs the tests of a file concurrently, and
 * other files use 127.0.0.1), and closes every listener it opened.
 *
 * Timing bounds are deliberately loose (speed lives in bench/failover.ts): probes are every
 * 100 ms ±10 %, so with fall=3 the earliest possible move after a close is 2 × 90 ms after the
 * first failing probe, and a loaded machine only makes things later.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { answers, dig } from '../helpers/dig.js';
import { craftQuery, parseReply, rawQuestion, udpExchange } from '../helpers/dns-tools.js';
import { binPath, startInProcess, tempDir, writeFile } from '../helpers/gsdns-process.js';

const INTERVAL_MS = 100;
// Refused connects fail at once; the timeout only matters for a probe slowed down by a busy
// machine (ava runs many files at once), which must not count as a failure.
const TIMEOUT_MS = 500;
const FALL = 3;
const RISE = 2;
const TTL = 30;
const DEGRADED_TTL = 2;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- addresses and listeners ----------------------------------------------------------------

let nextHost = 10;
/** A loopback address no other test (or file) uses. */
function freshAddress(): string {
  const n = nextHost++;
  return `127.0.6.${n}`;
}

/** A gateway: a real TCP listener on a loopback address that the test opens and closes. */
interface TcpGateway {
  readonly address: string;
  readonly port: number;
  /** Connections accepted so far (each TCP probe is one). */
  readonly accepted: () => number;
  open(): Promise<void>;
  close(): Promise<void>;
}

async function tcpGateway(t: ExecutionContext, address = freshAddress()): Promise<TcpGateway> {
  let server: Server | undefined;
  let port = 0;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const open = async (): Promise<void> => {
    if (server) return;
    const s = createServer((sock) => {
      accepted++;
      sockets.add(sock);
      sock.on('error', () => {});
      sock.on('close', () => sockets.delete(sock));
      // The probe only needs the handshake; hang up at once.
      sock.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      // Reopening binds the same port again (Node sets SO_REUSEADDR, so TIME_WAIT is no obstacle).
      s.listen(port, address, () => {
        s.off('error', reject);
        resolve();
      });
    });
    port = (s.address() as { port: number }).port;
    server = s;
  };
  const close = async (): Promise<void> => {
    const s = server;
    if (!s) return;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await open();
  t.teardown(close);
  return {
    address,
    get port() {
      return port;
    },
    accepted: () => accepted,
    open,
    close,
  };
}

/** A port on a fresh loopback address where nothing listens (connects are refused). */
async function closedGateway(t: ExecutionContext): Promise<{ address: string; port: number }> {
  const g = await tcpGateway(t);
  await g.close();
  return { address: g.address, port: g.port };
}

/** An HTTP health endpoint on address:port answering `status()` to every request. */
async function httpHealth(
  t: ExecutionContext,
  address: string,
  port: number,
  status: () => number,
): Promise<{ server: HttpServer; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createHttpServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status(), { 'content-type': 'text/plain', connection: 'close' });
    res.end('probe\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { server, port: (server.address() as { port: number }).port, paths };
}

// ---- gsdns --------------------------------------------------------------------------------------

interface RemoteSpec {
  readonly cluster: string;
  readonly region?: string;
  readonly zone?: string;
  readonly gateways: readonly { readonly address: string; readonly port: number }[];
  /** Services this cluster exports: `name` (ready) or `name:false`. Namespace `shop`. */
  readonly services: readonly string[];
}

function remotesYaml(remotes: readonly RemoteSpec[]): string {
  if (remotes.length === 0) return 'remotes: []\n';
  const lines = ['remotes:'];
  for (const r of remotes) {
    lines.push(`  - cluster: ${r.cluster}`);
    if (r.region) lines.push(`    region: ${r.region}`);
    if (r.zone) lines.push(`    zone: ${r.zone}`);
    lines.push(`    gateways: [${r.gateways.map((g) => `{address: ${g.address}, port: ${g.port}}`).join(', ')}]`);
    lines.push('    services:');
    for (const s of r.services) {
      const [name, ready] = s.split(':');
      lines.push(`      - {namespace: shop, name: ${name}, ready: ${ready !== 'false'}, ports: [{name: http, port: 80}]}`);
    }
  }
  return lines.join('\n') + '\n';
}

interface GsdnsOptions {
  readonly remotes: readonly RemoteSpec[];
  /** `services:` entries of the catalog file (local services), YAML flow mappings. */
  readonly locals?: readonly string[];
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly probe?: string;
  readonly dnsExtra?: string;
}

async function gsdns(t: ExecutionContext, o: GsdnsOptions) {
  const dir = tempDir(t);
  const catalogPath = join(dir, 'catalog.yaml');
  const catalog = (remotes: readonly RemoteSpec[]): string =>
    `services:${o.locals?.length ? '\n' + o.locals.map((l) => `  - ${l}`).join('\n') : ' []'}\n${remotesYaml(remotes)}`;
  writeFile(catalogPath, catalog(o.remotes));
  // Local cluster in region r1, zone z1: a remote in z1 is in the best tier, one in r2 is not.
  const yaml = `cluster: {name: local, region: r1, zone: z1}
dns: {zones: [global], ttl: ${TTL}, degradedTtl: ${DEGRADED_TTL}${o.dnsExtra ? `, ${o.dnsExtra}` : ''}}
source: {type: file, file: {path: catalog.yaml}}
health:
  intervalMs: ${o.intervalMs ?? INTERVAL_MS}
  timeoutMs: ${o.timeoutMs ?? TIMEOUT_MS}
  fall: ${FALL}
  rise: ${RISE}
  probe: ${o.probe ?? '{type: tcp}'}
`;
  const s = await startInProcess(t, yaml, dir);
  return { ...s, setRemotes: (remotes: readonly RemoteSpec[]) => writeFile(catalogPath, catalog(remotes)) };
}

// ---- DNS and ops helpers ------------------------------------------------------------------------

interface Answer {
  readonly rcode: number;
  readonly addresses: readonly string[];
  readonly ttls: readonly number[];
}

let nextId = 1;
async function query(port: number, name: string): Promise<Answer> {
  const reply = await udpExchange(port, craftQuery({ id: nextId++ & 0xffff, questions: [rawQuestion(name, 1)] }), { timeoutMs: 5000 });
  if (reply === null) throw new Error(`no reply for ${name}`);
  const r = parseReply(reply);
  return { rcode: r.rcode, addresses: r.answers.map((a) => String(a['address'])), ttls: r.answers.map((a) => Number(a['ttl'])) };
}

const key = (a: Answer): string => `${a.rcode} ${a.addresses.join(',')}`;

/**
 * Query every ~5 ms until `ok`; returns when it first held (ms since `since`) and every distinct
 * answer seen before it. Fails the test after `timeoutMs`.
 */
async function until(
  t: ExecutionContext,
  port: number,
  name: string,
  ok: (a: Answer) => boolean,
  what: string,
  timeoutMs = 15_000,
  since = Date.now(),
): Promise<{ elapsedMs: number; last: Answer; before: string[] }> {
  const before = new Set<string>();
  let last: Answer | undefined;
  while (Date.now() - since < timeoutMs) {
    last = await query(port, name);
    if (ok(last)) return { elapsedMs: Date.now() - since, last, before: [...before] };
    before.add(key(last));
    await sleep(5);
  }
  t.fail(`${what}: still ${last ? key(last) : 'nothing'} after ${timeoutMs} ms`);
  throw new Error(what);
}

const only =
  (...addresses: string[]) =>
  (a: Answer): boolean =>
    a.rcode === 0 && a.addresses.length === addresses.length && addresses.every((x, i) => a.addresses[i] === x);

interface GatewayHealthJson {
  readonly address: string;
  readonly port: number;
  readonly clusters: readonly string[];
  readonly status: 'unknown' | 'healthy' | 'unhealthy';
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly rttMs?: number;
  readonly lastError?: string;
  readonly probes: number;
  readonly failures: number;
}

interface ClustersJson {
  readonly health: { readonly probe: unknown; readonly gateways?: readonly GatewayHealthJson[]; readonly failOpenAnswers: number };
}

async function getJson<T>(httpPort: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${httpPort}${path}`);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

async function gatewayHealth(httpPort: number, address: string): Promise<GatewayHealthJson | undefined> {
  const c = await getJson<ClustersJson>(httpPort, '/debug/clusters');
  return c.health.gateways?.find((g) => g.address === address);
}

/** Wait until /debug/clusters shows the gateway at `address` in `status`. */
async function untilStatus(
  t: ExecutionContext,
  httpPort: number,
  address: string,
  status: GatewayHealthJson['status'],
  timeoutMs = 15_000,
): Promise<GatewayHealthJson> {
  const started = Date.now();
  let g: GatewayHealthJson | undefined;
  while (Date.now() - started < timeoutMs) {
    g = await gatewayHealth(httpPort, address);
    if (g?.status === status) return g;
    await sleep(10);
  }
  t.fail(`gateway ${address} is not ${status} after ${timeoutMs} ms: ${JSON.stringify(g)}`);
  throw new Error('timeout');
}

const CART = 'cart.shop.global';

/**
 * Two remote clusters serving cart, `near` (this cluster's zone) and `far` (another region), each
 * with its own listening gateway, once both are probed healthy (not merely unknown, where a single
 * failure would decide).
 */
async function nearAndFar(t: ExecutionContext) {
  const near = await tcpGateway(t);
  const far = await tcpGateway(t);
  const s = await gsdns(t, {
    remotes: [
      { cluster: 'near', region: 'r1', zone: 'z1', gateways: [near], services: ['cart'] },
      { cluster: 'far', region: 'r2', gateways: [far], services: ['cart'] },
    ],
  });
  await untilStatus(t, s.httpPort, near.address, 'healthy');
  await untilStatus(t, s.httpPort, far.address, 'healthy');
  return { near, far, s };
}

// ---- tests ---------------------------------------------------------------------------------------

test('closing the best cluster’s gateway moves answers to the next cluster after `fall` probes; reopening brings them back after `rise`', async (t) => {
  const { near, far, s } = await nearAndFar(t);
  const start = await query(s.dnsPort, CART);
  t.deepEqual(start.addresses, [near.address], 'same zone first (policy failover: best tier only)');
  t.deepEqual(start.ttls, [TTL]);

  await near.close();
  const down = await until(t, s.dnsPort, CART, (a) => !only(near.address)(a), 'answers leave the closed gateway');
  t.deepEqual(down.last.addresses, [far.address], 'moved to the next cluster, not to a fail-open answer');
  t.deepEqual(down.last.ttls, [TTL], 'an ordinary answer, not the degraded TTL');
  t.deepEqual(down.before, [`0 ${near.address}`], 'nothing else was answered before the move');
  // The earliest possible move is (fall − 1) probe intervals after the first failed probe, which can
  // come right after the close: (3 − 1) × 90 ms = 180 ms. 150 ms leaves room for clock granularity.
  const earliest = (FALL - 1) * INTERVAL_MS * 0.9 - 30;
  t.true(down.elapsedMs >= earliest, `moved after ${down.elapsedMs} ms; fall=${FALL} probes cannot fail that fast (≥ ${earliest} ms)`);
  // A wide guard against "never, or only on some other event"; the figure is logged below.
  t.true(down.elapsedMs < 10_000, `moved after ${down.elapsedMs} ms; expected about fall × interval = ${FALL * INTERVAL_MS} ms`);
  t.log(`failover after ${down.elapsedMs} ms (fall × interval = ${FALL * INTERVAL_MS} ms)`);
  const g = await gatewayHealth(s.httpPort, near.address);
  t.like(g, { status: 'unhealthy', clusters: ['near'], lastError: 'ECONNREFUSED' });
  t.true(g!.consecutiveFailures >= FALL, `consecutiveFailures ${g!.consecutiveFailures}`);

  await near.open();
  const up = await until(t, s.dnsPort, CART, only(near.address), 'answers come back to the reopened gateway');
  t.deepEqual(up.before, [`0 ${far.address}`], 'the far cluster answered until the rise');
  const earliestUp = (RISE - 1) * INTERVAL_MS * 0.9 - 30;
  t.true(up.elapsedMs >= earliestUp, `back after ${up.elapsedMs} ms; rise=${RISE} probes cannot succeed that fast (≥ ${earliestUp} ms)`);
  t.true(up.elapsedMs < 10_000, `back after ${up.elapsedMs} ms`);
  t.log(`failback after ${up.elapsedMs} ms (rise × interval = ${RISE * INTERVAL_MS} ms)`);
  const back = await gatewayHealth(s.httpPort, near.address);
  t.like(back, { status: 'healthy', lastError: undefined });
  t.true(back!.consecutiveSuccesses >= RISE);
  t.is(typeof back!.rttMs, 'number', 'RTT is kept');
});

test('a cluster with two gateways, one closed: only the healthy one is answered', async (t) => {
  const open = await tcpGateway(t);
  const closed = await closedGateway(t);
  const s = await gsdns(t, {
    remotes: [{ cluster: 'multi', region: 'r1', zone: 'z1', gateways: [open, closed], services: ['cart'] }],
  });
  await until(t, s.dnsPort, CART, only(open.address), 'the closed gateway is left out');
  // And it stays out, probe after probe.
  for (let i = 0; i < 10; i++) {
    const a = await query(s.dnsPort, CART);
    t.deepEqual(a.addresses, [open.address]);
    t.deepEqual(a.ttls, [TTL], 'an ordinary answer: the cluster is healthy through its other gateway');
    await sleep(INTERVAL_MS / 2);
  }
  t.like(await gatewayHealth(s.httpPort, closed.address), { status: 'unhealthy', clusters: ['multi'], lastError: 'ECONNREFUSED' });
  t.like(await gatewayHealth(s.httpPort, open.address), { status: 'healthy', clusters: ['multi'] });
  // The same through a real resolver client.
  const r = await dig(t, s.dnsPort, [CART, 'A']);
  if (r) t.deepEqual(answers(r, 'A'), [open.address]);
});

test('closing every gateway fails open: every known gateway, TTL dns.degradedTtl, counted in /debug/clusters', async (t) => {
  const { near, far, s } = await nearAndFar(t);
  t.deepEqual((await query(s.dnsPort, CART)).addresses, [near.address]);

  await near.close();
  await far.close();
  const open = await until(t, s.dnsPort, CART, (a) => a.addresses.length === 2, 'fail open with both gateways');
  t.is(open.last.rcode, 0, 'never NXDOMAIN');
  t.deepEqual(open.last.addresses, [near.address, far.address], 'every known gateway, in locality order');
  t.deepEqual(open.last.ttls, [DEGRADED_TTL, DEGRADED_TTL], 'TTL = dns.degradedTtl');
  t.like(await gatewayHealth(s.httpPort, near.address), { status: 'unhealthy' });
  t.like(await gatewayHealth(s.httpPort, far.address), { status: 'unhealthy' });

  // Each fail-open answer is counted (and nothing else is: an unknown name is not).
  const before = (await getJson<ClustersJson>(s.httpPort, '/debug/clusters')).health.failOpenAnswers;
  t.true(before >= 1, `failOpenAnswers ${before} counts the answers above`);
  for (let i = 0; i < 3; i++) t.deepEqual((await query(s.dnsPort, CART)).ttls, [DEGRADED_TTL, DEGRADED_TTL]);
  t.is((await query(s.dnsPort, 'nosuch.shop.global')).rcode, 3);
  const r = await dig(t, s.dnsPort, [CART, 'A']);
  const digged = r ? 1 : 0;
  if (r) {
    t.is(r.status, 'NOERROR');
    t.true(r.flags.includes('aa'));
    t.deepEqual(answers(r, 'A'), [near.address, far.address]);
    t.deepEqual(
      r.answer.map((a) => a.ttl),
      [DEGRADED_TTL, DEGRADED_TTL],
    );
  }
  const after = (await getJson<ClustersJson>(s.httpPort, '/debug/clusters')).health.failOpenAnswers;
  t.is(after - before, 3 + digged, 'one count per fail-open answer');
});

test('a new gateway counts as healthy before its first probe (a closed port is answered until probed)', async (t) => {
  const closed = await closedGateway(t);
  // With an interval of 10 minutes, the first probe falls at a random point of the first 10
  // minutes: almost surely not during this test.
  const s = await gsdns(t, {
    remotes: [{ cluster: 'fresh', region: 'r2', gateways: [closed], services: ['cart'] }],
    intervalMs: 600_000,
  });
  const g = await gatewayHealth(s.httpPort, closed.address);
  t.like(g, { status: 'unknown', probes: 0, clusters: ['fresh'] });
  const a = await query(s.dnsPort, CART);
  t.is(a.rcode, 0);
  t.deepEqual(a.addresses, [closed.address]);
  t.deepEqual(a.ttls, [TTL], 'answered as healthy, not failed open');
  t.is((await getJson<ClustersJson>(s.httpPort, '/debug/clusters')).health.failOpenAnswers, 0);
  const resolved = await getJson<{
    kind: string;
    explanation: { candidates: { cluster: string; kept: boolean; gateways: { healthy: boolean }[] }[] };
  }>(s.httpPort, `/debug/resolve?name=${CART}&type=A`);
  t.is(resolved.kind, 'remote');
  t.like(resolved.explanation.candidates[0], { cluster: 'fresh', kept: true, gateways: [{ healthy: true }] });
});

test('a catalog that disappears stops its probes', async (t) => {
  const gone = await tcpGateway(t);
  const stays = await tcpGateway(t);
  const gwGone = { cluster: 'gone', region: 'r1', zone: 'z1', gateways: [gone], services: ['cart', 'only-gone'] };
  const gwStays = { cluster: 'stays', region: 'r2', gateways: [stays], services: ['cart'] };
  const s = await gsdns(t, { remotes: [gwGone, gwStays] });
  await untilStatus(t, s.httpPort, gone.address, 'healthy');
  await untilStatus(t, s.httpPort, stays.address, 'healthy');
  t.deepEqual(
    s.prober!.status().map((g) => g.address),
    [gone.address, stays.address].sort(),
  );

  s.setRemotes([gwStays]);
  // The file source picks the edit up within a second; then the target is dropped.
  const started = Date.now();
  while (s.prober!.status().some((g) => g.address === gone.address) && Date.now() - started < 5000) await sleep(20);
  t.deepEqual(
    s.prober!.status().map((g) => g.address),
    [stays.address],
    'the prober no longer lists the vanished catalog’s gateway',
  );
  t.is(await gatewayHealth(s.httpPort, gone.address), undefined, '/debug/clusters does not list it either');
  await until(t, s.dnsPort, 'only-gone.shop.global', (a) => a.rcode === 3, 'its services are gone');
  t.deepEqual((await query(s.dnsPort, CART)).addresses, [stays.address]);

  // No probe reaches it any more (a probe already in the kernel's accept queue may still land).
  await sleep(INTERVAL_MS);
  const goneBefore = gone.accepted();
  const staysBefore = stays.accepted();
  await sleep(INTERVAL_MS * 6);
  t.is(gone.accepted(), goneBefore, 'no probe of a gateway no catalog lists');
  t.true(stays.accepted() >= staysBefore + 3, `the remaining gateway is still probed (${staysBefore} → ${stays.accepted()})`);
});

test('HTTP probe: a gateway answering 503 is unhealthy, then healthy after `rise` 200s', async (t) => {
  const nearAddress = freshAddress();
  const farAddress = freshAddress();
  let nearStatus = 503;
  const nearHttp = await httpHealth(t, nearAddress, 0, () => nearStatus);
  // health.probe.port is one port for every gateway: the far one listens on the same port.
  const farHttp = await httpHealth(t, farAddress, nearHttp.port, () => 200);
  const P = nearHttp.port;
  // The gateways' own port (15443) has no listener: only the HTTP port is probed.
  const s = await gsdns(t, {
    remotes: [
      { cluster: 'near', region: 'r1', zone: 'z1', gateways: [{ address: nearAddress, port: 15443 }], services: ['cart'] },
      { cluster: 'far', region: 'r2', gateways: [{ address: farAddress, port: 15443 }], services: ['cart'] },
    ],
    probe: `{type: http, port: ${P}, path: /healthz/ready}`,
    // The gateways' HTTP servers share this process with the server under test: on a loaded
    // machine an answer can take longer than the default probe timeout, and the verdict here is
    // about the 503, not about how fast this process answers.
    timeoutMs: 5000,
  });
  await until(t, s.dnsPort, CART, only(farAddress), 'the 503 gateway is left out');
  const g = await untilStatus(t, s.httpPort, nearAddress, 'unhealthy');
  t.like(g, { port: P, lastError: 'HTTP 503', clusters: ['near'] });
  // The far gateway's first probe may still be in flight (answers use it meanwhile): wait for its verdict.
  t.like(await untilStatus(t, s.httpPort, farAddress, 'healthy'), { status: 'healthy', port: P });
  t.true(nearHttp.paths.length >= 1 && farHttp.paths.length >= 1);
  t.true(
    [...nearHttp.paths, ...farHttp.paths].every((p) => p === '/healthz/ready'),
    `paths: ${[...new Set(nearHttp.paths)].join(' ')}`,
  );
  // Stays out while it keeps answering 503.
  await sleep(INTERVAL_MS * 3);
  t.deepEqual((await query(s.dnsPort, CART)).addresses, [farAddress]);

  nearStatus = 200;
  const up = await until(t, s.dnsPort, CART, only(nearAddress), 'back after rise 200s');
  t.deepEqual(up.before, [`0 ${farAddress}`]);
  t.true(up.elapsedMs >= (RISE - 1) * INTERVAL_MS * 0.9 - 30, `back after ${up.elapsedMs} ms`);
  const back = await gatewayHealth(s.httpPort, nearAddress);
  t.like(back, { status: 'healthy', lastError: undefined });
  t.true(back!.consecutiveSuccesses >= RISE);
});

test('dns.localMinReady: 3 spills a local service with 2 ready endpoints over to a remote cluster', async (t) => {
  const far = await tcpGateway(t);
  const s = await gsdns(t, {
    locals: [
      '{namespace: shop, name: cart, clusterIPs: [10.96.0.10], readyEndpoints: 2, ports: [{name: http, port: 80}]}',
      '{namespace: shop, name: full, clusterIPs: [10.96.0.11], readyEndpoints: 3, ports: [{name: http, port: 80}]}',
    ],
    remotes: [{ cluster: 'far', region: 'r2', gateways: [far], services: ['cart', 'full'] }],
    dnsExtra: 'localMinReady: 3',
  });
  await untilStatus(t, s.httpPort, far.address, 'healthy');
  const cart = await query(s.dnsPort, CART);
  t.deepEqual(cart.addresses, [far.address], '2 < localMinReady: spill over');
  t.deepEqual(cart.ttls, [TTL]);
  t.deepEqual((await query(s.dnsPort, 'full.shop.global')).addresses, ['10.96.0.11'], '3 ready: answered locally');
  const resolved = await getJson<{ kind: string; text: string }>(s.httpPort, `/debug/resolve?name=${CART}&type=A`);
  t.is(resolved.kind, 'remote');
  t.regex(resolved.text, /localMinReady \(3\)/);
  // Once the remote gateway is down there is nowhere healthy to spill to: the 2 ready local
  // endpoints beat failing open, so it is an ordinary local answer (not the degraded TTL).
  await far.close();
  const back = await until(t, s.dnsPort, CART, only('10.96.0.10'), 'answered locally again');
  t.deepEqual(back.before, [`0 ${far.address}`], 'never failed open on the way');
  t.deepEqual(back.last.ttls, [TTL]);
  t.like(await gatewayHealth(s.httpPort, far.address), { status: 'unhealthy' });
  const local = await getJson<{ kind: string; text: string }>(s.httpPort, `/debug/resolve?name=${CART}&type=A`);
  t.is(local.kind, 'local');
  t.regex(local.text, /no healthy remote cluster to spill over to/);
  t.is((await getJson<ClustersJson>(s.httpPort, '/debug/clusters')).health.failOpenAnswers, 0);
});

test('dns.localFailover: false keeps a not-ready local service local (and the default fails it over)', async (t) => {
  const far = await tcpGateway(t);
  const spec: GsdnsOptions = {
    locals: ['{namespace: shop, name: cart, clusterIPs: [10.96.0.30], readyEndpoints: 0, ports: [{name: http, port: 80}]}'],
    remotes: [{ cluster: 'far', region: 'r2', gateways: [far], services: ['cart'] }],
  };
  const pinned = await gsdns(t, { ...spec, dnsExtra: 'localFailover: false' });
  const dflt = await gsdns(t, spec);
  await untilStatus(t, pinned.httpPort, far.address, 'healthy');
  await untilStatus(t, dflt.httpPort, far.address, 'healthy');
  const a = await query(pinned.dnsPort, CART);
  t.deepEqual(a.addresses, ['10.96.0.30'], 'answered locally although not ready');
  t.deepEqual(a.ttls, [TTL]);
  const resolved = await getJson<{ kind: string; text: string }>(pinned.httpPort, `/debug/resolve?name=${CART}&type=A`);
  t.is(resolved.kind, 'local');
  t.regex(resolved.text, /localFailover is false/);
  t.deepEqual((await query(dflt.dnsPort, CART)).addresses, [far.address], 'by default it fails over');
});

test('/debug/resolve and gsdns explain show each dropped cluster with its reason and the gateway health', async (t) => {
  const near = await closedGateway(t);
  const far = await tcpGateway(t);
  const lazy = await tcpGateway(t);
  const other = await tcpGateway(t);
  const s = await gsdns(t, {
    remotes: [
      { cluster: 'near', region: 'r1', zone: 'z1', gateways: [near], services: ['cart'] },
      { cluster: 'far', region: 'r2', gateways: [far], services: ['cart'] },
      { cluster: 'lazy', region: 'r1', zone: 'z1', gateways: [lazy], services: ['cart:false'] },
      { cluster: 'other', region: 'r1', zone: 'z1', gateways: [other], services: ['shoes'] },
    ],
  });
  await untilStatus(t, s.httpPort, near.address, 'unhealthy');
  await untilStatus(t, s.httpPort, far.address, 'healthy');
  await untilStatus(t, s.httpPort, lazy.address, 'healthy');

  interface Cand {
    cluster: string;
    kept: boolean;
    reason: string;
    order?: number;
    gateways: { address: string; port: number; healthy: boolean; rttMs?: number }[];
  }
  const r = await getJson<{ rcode: string; kind: string; clusters: string[]; text: string; explanation: { candidates: Cand[] } }>(
    s.httpPort,
    `/debug/resolve?name=${CART}&type=A`,
  );
  t.is(r.rcode, 'NOERROR');
  t.is(r.kind, 'remote');
  t.deepEqual(r.clusters, ['far']);
  const by = new Map(r.explanation.candidates.map((c) => [c.cluster, c]));
  t.deepEqual([...by.keys()].sort(), ['far', 'lazy', 'near', 'other'], 'one entry per remote cluster');
  t.like(by.get('near'), {
    kept: false,
    reason: 'no healthy gateway',
    gateways: [{ address: near.address, port: near.port, healthy: false }],
  });
  t.like(by.get('lazy'), { kept: false, reason: 'catalog says ready: false', gateways: [{ healthy: true }] });
  t.like(by.get('other'), { kept: false, reason: 'does not export this service' });
  t.like(by.get('far'), { kept: true, order: 1, gateways: [{ address: far.address, healthy: true }] });
  t.is(typeof by.get('far')!.gateways[0]!.rttMs, 'number', 'the gateway RTT (EWMA) is shown');

  const nearLine = r.text.split('\n').find((l) => / near /.test(l)) ?? '';
  t.regex(nearLine, /dropped/);
  t.true(nearLine.includes(`${near.address}:${near.port} UNHEALTHY`), nearLine);
  t.regex(nearLine, /no healthy gateway/);
  const farLine = r.text.split('\n').find((l) => / far /.test(l)) ?? '';
  t.regex(farLine, /#1 kept/);
  t.regex(farLine, new RegExp(`${far.address.replace(/\./g, '\\.')}:${far.port} healthy rtt=[0-9.]+ms`));

  // The CLI prints the same text.
  const { stdout } = await promisify(execFile)(process.execPath, [binPath, 'explain', CART, '--server', `http://127.0.0.1:${s.httpPort}`], {
    timeout: 15_000,
  });
  t.regex(stdout, new RegExp(`${near.address.replace(/\./g, '\\.')}:${near.port} UNHEALTHY.*no healthy gateway`));
  t.regex(stdout, /#1 kept\s+far/);
  t.regex(stdout, /catalog says ready: false/);
});

// setTimeout turns any delay above 2^31 − 1 ms into 1 ms; the schema sets no maximum on either key.
test('a huge health.intervalMs means rare probes, not a probe loop (timer overflow)', async (t) => {
  const gateways = [await tcpGateway(t), await tcpGateway(t), await tcpGateway(t), await tcpGateway(t)];
  // 20e9 ms: each first delay (random within the interval) overflows with probability 0.89.
  const s = await gsdns(t, {
    remotes: gateways.map((g, i) => ({ cluster: `c${i}`, region: 'r2', gateways: [g], services: ['cart'] })),
    intervalMs: 20_000_000_000,
  });
  await sleep(500);
  t.deepEqual(
    gateways.map((g) => g.accepted()),
    [0, 0, 0, 0],
    'no probe within half a second',
  );
  t.true(s.prober!.status().every((g) => g.status === 'unknown' && g.probes === 0));
});

test('a huge health.timeoutMs waits for a slow gateway instead of failing every probe at once (timer overflow)', async (t) => {
  const address = freshAddress();
  // Answers 200 after 150 ms: healthy for any timeout above that.
  const slow = await httpHealth(t, address, 0, () => 200);
  slow.server.removeAllListeners('request');
  slow.server.on('request', (_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { connection: 'close' });
      res.end();
    }, 150);
  });
  const s = await gsdns(t, {
    remotes: [{ cluster: 'slow', region: 'r2', gateways: [{ address, port: 15443 }], services: ['cart'] }],
    probe: `{type: http, port: ${slow.port}, path: /healthz/ready}`,
    timeoutMs: 3_000_000_000,
  });
  const g = await untilStatus(t, s.httpPort, address, 'healthy');
  t.is(g.failures, 0, JSON.stringify(g));
});

// Fault matrix (issue 13): every gateway of the best cluster flaps once a second for a minute
// (FLAP_SECONDS scales it). Verdicts: every answer is NOERROR with an ordinary TTL and lists only
// the flapping cluster's gateways or the far cluster's (never SERVFAIL, NXDOMAIN, an empty or a
// fail-open answer, since the far cluster stays healthy); probing stays at its interval (no probe
// storm); once the flapping stops with the gateways open, answers converge to both of them.
test('every gateway of the best cluster flapping once a second: answers stay valid, probes stay at their interval, answers converge after', async (t) => {
  const flapMs = Number(process.env['FLAP_SECONDS'] ?? 60) * 1000;
  const a = await tcpGateway(t);
  const b = await tcpGateway(t);
  const far = await tcpGateway(t);
  const s = await gsdns(t, {
    remotes: [
      { cluster: 'near', region: 'r1', zone: 'z1', gateways: [a, b], services: ['cart'] },
      { cluster: 'far', region: 'r2', gateways: [far], services: ['cart'] },
    ],
  });
  for (const g of [a, b, far]) await untilStatus(t, s.httpPort, g.address, 'healthy');
  const nearSet = [a.address, b.address].sort().join(',');
  const seen = new Map<string, number>();
  const bad: string[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running && i < 1_000_000; i++) {
      const r = await query(s.dnsPort, CART);
      const k = key(r);
      seen.set(k, (seen.get(k) ?? 0) + 1);
      const set = [...r.addresses].sort().join(',');
      const valid =
        r.rcode === 0 &&
        r.ttls.every((ttl) => ttl === TTL) &&
        (set === nearSet || set === a.address || set === b.address || set === far.address);
      if (!valid && bad.length < 20) bad.push(`${k} ttl ${r.ttls.join(',')}`);
      await sleep(10);
    }
  })();
  const acceptedBefore = a.accepted() + b.accepted();
  const started = Date.now();
  let cycles = 0;
  // Bounded by count and time: one close-and-reopen per second.
  while (Date.now() - started < flapMs && cycles < 600) {
    await Promise.all([a.close(), b.close()]);
    await sleep(500);
    await Promise.all([a.open(), b.open()]);
    await sleep(500);
    cycles++;
  }
  const flappedMs = Date.now() - started;
  try {
    await until(
      t,
      s.dnsPort,
      CART,
      (r) => r.rcode === 0 && [...r.addresses].sort().join(',') === nearSet,
      'answers converge to both reopened gateways',
      10_000,
    );
  } finally {
    running = false;
    await loop;
  }
  t.deepEqual(bad, [], 'no SERVFAIL, NXDOMAIN, empty, fail-open or foreign answer during the flapping');
  t.true([...seen.values()].reduce((x, y) => x + y, 0) > cycles, 'queries ran throughout');
  // Each open half-second a gateway accepts at most one probe per 90 ms (interval − 10 % jitter);
  // a probe storm (a retry loop on failure) would accept far more.
  const probes = a.accepted() + b.accepted() - acceptedBefore;
  const ceiling = 2 * Math.ceil(flappedMs / (INTERVAL_MS * 0.9)) + 4;
  t.true(probes <= ceiling, `${probes} probes accepted over ${flappedMs} ms (ceiling ${ceiling})`);
  t.log(
    `${cycles} flaps over ${flappedMs} ms; answers seen: ${[...seen.entries()].map(([k, n]) => `${k} ×${n}`).join('; ')}; ${probes} probes accepted`,
  );
});
