/**
 * The sync port faces strangers (issue 12, SPEC §6 "Trust boundaries"). Against gsdns child
 * processes (their log lines counted from stdout, their memory read from /proc):
 * - a flood of 2,000 idle TCP connections and 200 half-done TLS handshakes from 100 loopback
 *   addresses, reconnecting as the server closes them, leaves DNS (UDP and TCP), forwarding and a
 *   real peer's sync working; the server closes what is beyond its caps, and logs a few lines;
 * - a peer serving a catalog twice the size limit is refused without the memory to hold it, and
 *   the last good catalog keeps being answered;
 * - under `ulimit -n 300`, a sync flood cannot take the descriptors DNS needs;
 * - a catalog claiming this cluster's name is refused; a peer named like it is a config error.
 */
// Every test here runs alone in this worker (test.serial): the oversize-catalog test builds a 33 MiB
// catalog synchronously, and a worker whose event loop is held for seconds turns the flood test's
// answered UDP queries into timeouts (the timer phase runs before the socket's reply is read).
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, request } from 'node:https';
import type { ServerResponse } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { craftQuery, parseReply, rawQuestion, TcpDnsClient, udpExchange } from '../helpers/dns-tools.js';
import { binPath, tempDir } from '../helpers/gsdns-process.js';
import { scrape } from '../helpers/metrics.js';
import { loadTls, makePki, type Pki, type TlsFiles } from '../helpers/pki.js';
import { startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { memoryKiB, peerView, spawnSyncNode, syncStatus, until } from '../helpers/sync-node.js';

const TD = 'gsdns.local';
const EU_GATEWAY = '203.0.113.10';
const US_GATEWAY = '198.51.100.20';
const ATTACKER = fileURLToPath(new URL('../helpers/sync-flood.mjs', import.meta.url));
/** 100 loopback source addresses (Linux routes all of 127.0.0.0/8 to lo). */
const ATTACK_SOURCES = Array.from({ length: 100 }, (_, i) => `127.1.0.${i + 1}`);

let nextId = 1;
function query(name: string, type = 1): Buffer {
  return craftQuery({ id: nextId++ & 0xffff, questions: [rawQuestion(name, type)] });
}

async function resolveUdp(port: number, name: string, timeoutMs = 3000): Promise<{ rcode: number; addresses: string[] } | null> {
  const reply = await udpExchange(port, query(name), { timeoutMs });
  if (reply === null) return null;
  const r = parseReply(reply);
  return { rcode: r.rcode, addresses: r.answers.map((a) => String(a['address'])) };
}

const answersWith = (port: number, name: string, addresses: readonly string[]) => async () => {
  const r = await resolveUdp(port, name);
  return r !== null && r.rcode === 0 && JSON.stringify(r.addresses) === JSON.stringify(addresses);
};

interface DnsRun {
  readonly sent: number;
  readonly answered: number;
  /** What the unanswered ones got: `timeout`, or the rcode of a reply that was not NOERROR. */
  readonly failures: Readonly<Record<string, number>>;
  /** Milliseconds, sorted. */
  readonly latencies: number[];
}

/** `count` UDP queries for `name`, `concurrency` at a time; each waits up to 3 s for its answer. */
async function dnsRun(port: number, name: string, count: number, concurrency: number): Promise<DnsRun> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const started = performance.now();
      const reply = await udpExchange(port, query(name), { timeoutMs: 3000 });
      const outcome = reply === null ? 'timeout' : `rcode ${parseReply(reply).rcode}`;
      if (outcome === 'rcode 0') latencies.push(performance.now() - started);
      else failures[outcome] = (failures[outcome] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  latencies.sort((a, b) => a - b);
  return { sent: count, answered: latencies.length, failures, latencies };
}

function percentile(sorted: readonly number[], p: number): string {
  if (sorted.length === 0) return 'n/a';
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(2);
}

interface AttackReport {
  readonly opened: number;
  readonly connected: number;
  readonly live: number;
  readonly closedByServer: number;
  readonly resetAtConnect: number;
  readonly connectErrors: number;
  readonly done: boolean;
}

/** The attacker in its own process; `last` is its latest counters. */
function startAttacker(
  t: ExecutionContext,
  spec: { port: number; idle: number; partial: number; durationMs: number; sources: readonly string[] },
) {
  const child = spawn(process.execPath, [ATTACKER, JSON.stringify({ host: '127.0.0.1', reconnectMs: 1000, ...spec })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const state = { last: undefined as AttackReport | undefined };
  let buffered = '';
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (line) state.last = JSON.parse(line) as AttackReport;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<AttackReport | undefined> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    return state.last;
  };
  t.teardown(stop);
  return { state, stop };
}

/** GET /v1/catalog on a fresh connection with a client certificate. */
function getCatalog(port: number, tls: TlsFiles): Promise<{ status: number; body: string }> {
  const m = loadTls(tls);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/catalog',
        ca: m.ca,
        cert: m.cert,
        key: m.key,
        checkServerIdentity: () => undefined,
        agent: false,
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** A TLS client without a certificate: the server refuses the handshake (a failed handshake). */
function handshakeWithoutCertificate(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    s.on('error', () => undefined);
    s.on('close', () => resolve());
    s.setTimeout(5000, () => s.destroy());
  });
}

function logLinesSince(logs: string, from: number): string[] {
  return logs
    .slice(from)
    .split('\n')
    .filter((l) => l.trim() !== '');
}

test.serial(
  'a flood of idle connections and half-done handshakes: DNS, forwarding and a real peer keep working, the excess is closed, the log stays short',
  async (t) => {
    const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
    const upstream = await startScriptedUpstream(t);
    const eu = await spawnSyncNode(t, {
      name: 'eu',
      pki,
      services: ['cart'],
      gateway: EU_GATEWAY,
      syncLines: ['handshakeTimeoutMs: 2000'],
      args: ['--set', `forward.upstreams=["127.0.0.1:${upstream.port}"]`],
    });
    const us = await spawnSyncNode(t, { name: 'us', pki, services: [], gateway: US_GATEWAY, peers: [{ name: 'eu', port: eu.syncPort }] });
    await until(t, 'us answers cart via eu before the flood', answersWith(us.server.dnsPort, 'cart.shop.global', [EU_GATEWAY]), 10_000);
    const dnsPort = eu.server.dnsPort;
    const pid = eu.server.child.pid!;

    const quiet = await dnsRun(dnsPort, 'cart.shop.global', 1000, 4);
    const quietMemory = memoryKiB(pid);

    const logStart = eu.server.logs().length;
    // 30 addresses × 16 (sync.maxConnectionsPerSource) = 480 admitted at most, under the total cap
    // (512); the other 1,720 are reset at accept, and the admitted ones time out in their handshake.
    const attacker = startAttacker(t, {
      port: eu.syncPort,
      idle: 2000,
      partial: 200,
      durationMs: 60_000,
      sources: ATTACK_SOURCES.slice(0, 30),
    });
    await until(
      t,
      'the flood is refused by source and timed out in handshakes',
      async () => {
        const r = (await syncStatus(eu.server.httpPort)).server.refused;
        return (r['per_source'] ?? 0) > 0 && (r['handshake_timeout'] ?? 0) > 0 && (attacker.state.last?.connected ?? 0) >= 2200;
      },
      30_000,
    );
    t.log(
      `flood under way: ${JSON.stringify((await syncStatus(eu.server.httpPort)).server)}; attacker ${JSON.stringify(attacker.state.last)}`,
    );

    // While it lasts: DNS over UDP and TCP, forwarding, a peer's sync, a new authenticated client.
    const [flood, tcpAnswers, forwarded, peerSynced, fresh] = await Promise.all([
      dnsRun(dnsPort, 'cart.shop.global', 1000, 4),
      (async () => {
        const client = await TcpDnsClient.connect(dnsPort);
        try {
          for (let i = 0; i < 20; i++) client.send(query('cart.shop.global'));
          await client.waitFor(() => client.replies.length >= 20 || client.closed, 5000);
          return client.replies.filter((r) => parseReply(r).rcode === 0).length;
        } finally {
          client.destroy();
        }
      })(),
      resolveUdp(dnsPort, 'www.example.org'),
      (async () => {
        eu.writeCatalog(['cart', 'basket']);
        return until(
          t,
          'us answers basket, added in eu during the flood',
          answersWith(us.server.dnsPort, 'basket.shop.global', [EU_GATEWAY]),
          20_000,
        );
      })(),
      getCatalog(eu.syncPort, pki.clusters['us']!),
    ]);
    await Promise.all(Array.from({ length: 5 }, () => handshakeWithoutCertificate(eu.syncPort)));
    const status = await syncStatus(eu.server.httpPort);
    const floodMemory = memoryKiB(pid);
    const report = await attacker.stop();
    const floodLog = logLinesSince(eu.server.logs(), logStart);
    const metrics = await scrape(eu.server.httpPort);

    t.log(
      `DNS quiet: ${quiet.answered}/${quiet.sent} answered, p50 ${percentile(quiet.latencies, 50)} ms, p99 ${percentile(quiet.latencies, 99)} ms`,
    );
    t.log(
      `DNS flood: ${flood.answered}/${flood.sent} answered (failures ${JSON.stringify(flood.failures)}), p50 ${percentile(flood.latencies, 50)} ms, p99 ${percentile(flood.latencies, 99)} ms`,
    );
    t.log(`RSS quiet ${quietMemory.rss} KiB, during the flood ${floodMemory.rss} KiB (peak ${floodMemory.hwm} KiB)`);
    t.log(`attacker: ${JSON.stringify(report)}; refused ${JSON.stringify(status.server.refused)}; ${floodLog.length} log lines`);

    t.is(quiet.answered, quiet.sent, 'every query answered before the flood');
    t.is(flood.answered, flood.sent, 'every query answered during the flood');
    t.is(tcpAnswers, 20, 'DNS over TCP answered during the flood');
    t.deepEqual(forwarded, { rcode: 0, addresses: ['192.0.2.1'] }, 'forwarding works during the flood');
    t.true(peerSynced);
    t.is(fresh.status, 200, 'a new client with a valid certificate is served during the flood');
    t.regex(fresh.body, /"basket"/);
    // Beyond the caps, the server closed connections: the attacker saw it, and the counters agree.
    t.true(status.server.connections.open <= 512, `${status.server.connections.open} open of at most 512`);
    const closed = (report?.closedByServer ?? 0) + (report?.resetAtConnect ?? 0);
    t.true(closed >= 2200 - 512, `the server closed ${closed} attacking connections`);
    const refusedTotal = metrics.sum('gsdns_sync_server_refused_total');
    t.true(refusedTotal >= 2200 - 512, `${refusedTotal} refusals counted`);
    t.true(metrics.sum('gsdns_sync_server_refused_total', { reason: 'handshake' }) >= 5, 'failed handshakes are counted');
    // One line per reason per window, never a line per connection.
    t.true(floodLog.length < 20, `${floodLog.length} log lines during the flood:\n${floodLog.join('\n')}`);
  },
);

test.serial(
  'at sync.maxConnections the oldest unauthenticated connection makes room: new authenticated clients get in during a flood from many addresses',
  async (t) => {
    const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
    const eu = await spawnSyncNode(t, { name: 'eu', pki, services: ['cart'], syncLines: ['maxConnections: 64'] });
    // 100 addresses × 2: none over its per-source cap, 200 against a total of 64. Each evicted one
    // comes back about a second later, so the cap turns over about 136 times a second.
    const attacker = startAttacker(t, { port: eu.syncPort, idle: 200, partial: 0, durationMs: 60_000, sources: ATTACK_SOURCES });
    await until(
      t,
      'the total cap is evicting',
      async () => ((await syncStatus(eu.server.httpPort)).server.refused['evicted'] ?? 0) > 200,
      20_000,
    );
    // Five new clients with valid certificates, one after another; each may need a retry if the
    // churn evicts it before its handshake completes. Refusing newcomers at the cap instead would
    // turn them all away: the attackers' connections fill every slot that frees.
    let attempts = 0;
    let served = 0;
    for (let i = 0; i < 5; i++) {
      for (let tries = 0; tries < 10; tries++) {
        attempts++;
        const r = await getCatalog(eu.syncPort, pki.clusters['us']!).catch(() => undefined);
        if (r?.status === 200) {
          served++;
          break;
        }
      }
    }
    const status = await syncStatus(eu.server.httpPort);
    const report = await attacker.stop();
    t.log(
      `${served} of 5 served in ${attempts} attempts; ${JSON.stringify(status.server.connections)}; refused ${JSON.stringify(status.server.refused)}; attacker ${JSON.stringify(report)}`,
    );
    t.is(served, 5);
    t.true(status.server.connections.open <= 64);
    t.is(status.server.refused['max_connections'], 0, 'a newcomer is refused only when every connection is authenticated');
  },
);

/** A catalog of `services` services for cluster `us`. */
function catalogJson(services: number): string {
  return JSON.stringify({
    cluster: 'us',
    gateways: [{ address: US_GATEWAY, port: 15443 }],
    services: Array.from({ length: services }, (_, i) => ({
      namespace: 'shop',
      name: `service-${i}`,
      ready: true,
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    })),
  });
}

async function fakePeer(t: ExecutionContext, files: TlsFiles, handle: (res: ServerResponse) => void): Promise<number> {
  const server = createServer({ ...loadTls(files), requestCert: true, rejectUnauthorized: true }, (_req, res) => handle(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as { port: number }).port;
}

test.serial(
  'a peer catalog twice sync.maxCatalogBytes is refused without buffering it: rejected, counted, last good catalog answered, memory bounded',
  async (t) => {
    const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
    const limit = 16 * 1024 * 1024;
    const good = catalogJson(3);
    // About 2 × 16 MiB of valid catalog: what would cost a few hundred MB to buffer and parse.
    const perService = catalogJson(2).length - catalogJson(1).length;
    const huge = Buffer.from(catalogJson(Math.ceil((2 * limit) / perService)));
    t.true(huge.length > 2 * limit && huge.length < 2.1 * limit, `${huge.length} octets`);
    let mode: 'good' | 'declared' | 'chunked' = 'good';
    // Octets of the oversize body the peer got rid of before the client hung up, per mode: written
    // in 256 KiB pieces, each only after the previous one drained, so this is what the client read.
    const written: Record<string, number> = {};
    const peerPort = await fakePeer(t, pki.clusters['us']!, (res) => {
      if (mode === 'good') {
        res.writeHead(200, { 'content-type': 'application/json', etag: '"good"', 'content-length': Buffer.byteLength(good) });
        return void res.end(good);
      }
      // `declared` sends a Content-Length; `chunked` does not, so only counting the stream can stop it.
      const kind = mode;
      res.writeHead(200, {
        'content-type': 'application/json',
        etag: `"${kind}"`,
        ...(kind === 'declared' ? { 'content-length': huge.length } : {}),
      });
      let offset = 0;
      let closed = false;
      res.once('close', () => (closed = true));
      const pump = (): void => {
        while (!closed && offset < huge.length) {
          const piece = huge.subarray(offset, offset + 256 * 1024);
          offset += piece.length;
          written[kind] = offset;
          if (offset >= huge.length) return void res.end(piece);
          if (!res.write(piece)) return void res.once('drain', pump);
        }
      };
      pump();
    });
    const eu = await spawnSyncNode(t, {
      name: 'eu',
      pki,
      services: [],
      peers: [{ name: 'us', port: peerPort }],
      syncLines: [`maxCatalogBytes: ${limit}`],
    });
    const { httpPort, dnsPort } = eu.server;
    const pid = eu.server.child.pid!;
    await until(t, 'the good catalog is answered', answersWith(dnsPort, 'service-1.shop.global', [US_GATEWAY]), 10_000);
    const before = memoryKiB(pid);

    for (const kind of ['declared', 'chunked'] as const) {
      mode = kind;
      const errorsBefore = (await scrape(httpPort)).sum('gsdns_sync_errors_total', { peer: 'us', reason: 'too-large' });
      await until(
        t,
        `the ${kind} oversize catalog is refused`,
        async () => (await scrape(httpPort)).sum('gsdns_sync_errors_total', { peer: 'us', reason: 'too-large' }) > errorsBefore,
        30_000,
      );
      const view = await peerView(httpPort, 'us');
      t.is(view?.state, 'rejected');
      t.regex(
        view?.lastError ?? '',
        kind === 'declared' ? /Content-Length\) is larger than sync\.maxCatalogBytes/ : /while streaming, more than sync\.maxCatalogBytes/,
      );
      t.is(view?.services, 3, 'the last good catalog is held');
      t.deepEqual(await resolveUdp(dnsPort, 'service-1.shop.global'), { rcode: 0, addresses: [US_GATEWAY] }, 'and answered');
      t.is((await resolveUdp(dnsPort, 'service-100.shop.global'))?.rcode, 3, 'nothing of the oversize catalog');
    }
    const after = memoryKiB(pid);
    const growthKiB = after.hwm - before.hwm;
    t.log(
      `catalog ${(huge.length / 1048576).toFixed(1)} MiB, limit ${limit / 1048576} MiB; peak RSS ${before.hwm} → ${after.hwm} KiB (+${growthKiB} KiB), RSS now ${after.rss} KiB`,
    );
    // The client stopped reading: neither body was taken whole (socket buffers hold a few 100 KiB).
    t.log(`octets the peer wrote before the client hung up: declared ${written['declared']}, chunked ${written['chunked']}`);
    t.true((written['declared'] ?? 0) < huge.length / 2, 'declared: refused from its Content-Length, the body was not read');
    t.true((written['chunked'] ?? 0) < huge.length, 'chunked: aborted once over the limit, before the end of the body');
    // Buffering and parsing it would grow the peak by three to four times its size (the review
    // measured 398 MB for 100 MB); refusing it while it streams holds at most the limit plus buffers.
    t.true(growthKiB * 1024 < 2 * huge.length, `peak RSS grew ${growthKiB} KiB for a ${huge.length}-octet catalog`);
  },
);

test.serial('ulimit -n 300: a sync connection flood cannot take the descriptors DNS needs (UDP and TCP keep answering)', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu'] });
  // Reserve = 40 (DNS TCP) + 20 (forwarding) + 20 (HTTP) + 64 = 144: sync may take the process to 156.
  const eu = await spawnSyncNode(t, {
    name: 'eu',
    pki,
    services: ['cart'],
    syncLines: ['maxConnectionsPerSource: 1000', 'handshakeTimeoutMs: 30000'],
    extraYaml: 'forward: {maxInFlight: 20}\nhttp: {maxConnections: 20}\n',
    args: ['--set', 'dns.tcp.maxConnections=40', '--set', 'dns.tcp.maxConnectionsPerClient=40'],
    spawn: { nofile: 300 },
  });
  const before = await syncStatus(eu.server.httpPort);
  t.is(before.server.descriptors?.limit, 300);
  t.is(before.server.descriptors?.reserve, 144);
  const attacker = startAttacker(t, { port: eu.syncPort, idle: 400, partial: 0, durationMs: 60_000, sources: ATTACK_SOURCES.slice(0, 4) });
  await until(
    t,
    'the sync port refuses for descriptors',
    async () => ((await syncStatus(eu.server.httpPort)).server.descriptors?.refused ?? 0) > 0,
    20_000,
  );
  // DNS over TCP: 30 connections at once, each with a query; UDP alongside.
  const clients = await Promise.all(Array.from({ length: 30 }, () => TcpDnsClient.connect(eu.server.dnsPort)));
  t.teardown(() => clients.forEach((c) => c.destroy()));
  for (const c of clients) c.send(query('cart.shop.global'));
  await Promise.all(clients.map((c) => c.waitFor(() => c.replies.length >= 1 || c.closed, 5000)));
  const udp = await dnsRun(eu.server.dnsPort, 'cart.shop.global', 200, 4);
  const status = await syncStatus(eu.server.httpPort);
  const report = await attacker.stop();
  t.log(
    `descriptors ${JSON.stringify(status.server.descriptors)}; sync connections ${JSON.stringify(status.server.connections)}; attacker ${JSON.stringify(report)}`,
  );
  t.is(clients.filter((c) => c.replies.length === 1 && parseReply(c.replies[0]!).rcode === 0).length, 30, 'every TCP connection answered');
  t.is(udp.answered, udp.sent, 'every UDP query answered');
  t.true(status.server.connections.open < 400, `${status.server.connections.open} sync connections held of 400 attempted`);
  t.true((status.server.descriptors?.inUse ?? 300) <= 300 - 144 + 30 + 40, 'descriptors in use stayed within the budget plus DNS');
  t.regex(eu.server.logs(), /descriptor limit leaves fewer descriptors than sync\.maxConnections/);
});

test.serial('a peer named like this cluster is a config error with its key path', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'gsdns.yaml');
  writeFileSync(
    file,
    `cluster: {name: eu}
sync:
  trustDomain: ${TD}
  tls: {ca: /nonexistent/ca.pem, cert: /nonexistent/tls.crt, key: /nonexistent/tls.key}
  peers: [{name: us, url: "https://127.0.0.1:7443"}, {name: eu, url: "https://127.0.0.1:7444"}]
`,
  );
  const r = spawnSync(process.execPath, [binPath, 'check-config', file], { encoding: 'utf8' });
  t.not(r.status, 0);
  t.regex(r.stdout + r.stderr, /sync\.peers\[1\]\.name: 'eu' is this cluster's own name \(cluster\.name\)/);
});

test.serial('a peer serving a catalog that claims this cluster is rejected with a clear error; nothing of it is answered', async (t) => {
  const pki: Pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  let served = catalogJson(2);
  const peerPort = await fakePeer(t, pki.clusters['us']!, (res) => {
    res.writeHead(200, { 'content-type': 'application/json', etag: `"${served.length}"`, 'content-length': Buffer.byteLength(served) });
    res.end(served);
  });
  const eu = await spawnSyncNode(t, { name: 'eu', pki, services: ['cart'], peers: [{ name: 'us', port: peerPort }] });
  await until(t, 'the good catalog is answered', answersWith(eu.server.dnsPort, 'service-1.shop.global', [US_GATEWAY]), 10_000);
  served = JSON.stringify({
    cluster: 'eu',
    gateways: [{ address: '192.0.2.66', port: 15443 }],
    services: [{ namespace: 'shop', name: 'hijack', ready: true, ports: [] }],
  });
  await until(t, 'rejected', async () => (await peerView(eu.server.httpPort, 'us'))?.state === 'rejected', 20_000);
  const view = await peerView(eu.server.httpPort, 'us');
  t.regex(view?.lastError ?? '', /claims cluster eu, which is this cluster \(cluster\.name\)/);
  t.true((await scrape(eu.server.httpPort)).sum('gsdns_sync_errors_total', { peer: 'us', reason: 'local-cluster' }) >= 1);
  t.is((await resolveUdp(eu.server.dnsPort, 'hijack.shop.global'))?.rcode, 3);
  t.deepEqual(await resolveUdp(eu.server.dnsPort, 'cart.shop.global'), { rcode: 0, addresses: ['10.96.0.1'] }, 'local answers unchanged');
  t.deepEqual(
    await resolveUdp(eu.server.dnsPort, 'service-1.shop.global'),
    { rcode: 0, addresses: [US_GATEWAY] },
    'the last good catalog is kept',
  );
});
