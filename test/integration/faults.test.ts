/**
 * The fault matrix (issue 13), part one: faults injected while queries run. After each one the
 * answers converge to the truth, nothing answered in the zone turns SERVFAIL while the source is
 * ready, and no answer comes from withdrawn data. Verdicts come from answers, the server's own
 * state (/debug) and counters; deadlines are failure guards only.
 *
 * Covered elsewhere, with changes made during the fault: API server outages and dropped, stalled,
 * 410 and 500 watches (kubernetes.test.ts, kubernetes-stale.test.ts); a peer killed and restarted,
 * TLS file rotation under a running client (sync.test.ts); a peer withdrawn under a file-listed
 * cluster (sync-ownership.test.ts); gateway flaps (health.test.ts).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { binPath, startInProcess, tempDir } from '../helpers/gsdns-process.js';
import { makePki } from '../helpers/pki.js';
import { answerA, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { freePort } from '../helpers/unbound.js';
import { resolveA, until } from '../helpers/poll.js';
import { buildCatalog, canonicalCatalogJson, catalogEtag } from '../../src/sync/protocol.js';

const TD = 'gsdns.local';

const resolve = resolveA;

/** Queries one name in a loop until stopped; every reply is kept, in order. */
function queryLoop(port: number, name: string) {
  const seen: { rcode: number; addresses: string[] }[] = [];
  let running = true;
  const done = (async () => {
    for (let i = 0; running && i < 100_000; i++) {
      // As a stub resolver does, a query without a reply is asked again: a datagram lost on a
      // starved machine is not an answer that failed (the verdict is the rcodes of the answers).
      let r = await resolve(port, name, 5000);
      if (r.rcode === -1) r = await resolve(port, name, 5000);
      seen.push(r);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    seen,
    async stop() {
      running = false;
      await done;
      return seen;
    },
  };
}

const rcodes = (xs: readonly { rcode: number }[]) => [...new Set(xs.map((x) => x.rcode))].sort();

test('a peer that accepts TCP but never speaks TLS: marked failing with a timeout, while a real peer stays synced and answered', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  const mute = createTcpServer((s: Socket) => s.on('error', () => undefined)); // accepts, never writes
  const held: Socket[] = [];
  mute.on('connection', (s) => held.push(s));
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of held) s.destroy();
    mute.close();
  });
  const mutePort = (mute.address() as { port: number }).port;
  const [euPort, usPort] = [await freePort(), await freePort()];
  const euDir = tempDir(t);
  writeFileSync(
    join(euDir, 'catalog.yaml'),
    'services:\n  - {namespace: shop, name: cart, clusterIPs: [10.96.0.4], readyEndpoints: 1, ports: [{name: http, port: 80}]}\n',
  );
  const cfg = (name: string, port: number, peers: string) => {
    const tls = pki.clusters[name]!;
    return `cluster: {name: ${name}, gateways: [{address: ${name === 'eu' ? '203.0.113.10' : '198.51.100.20'}, port: 15443}]}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
sync:
  listen: {address: 127.0.0.1, port: ${port}}
  trustDomain: ${TD}
  tls: {ca: ${JSON.stringify(tls.ca)}, cert: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)}}
  staleAfterSeconds: 4
  handshakeTimeoutMs: 1000
  peers: [${peers}]
`;
  };
  await startInProcess(t, cfg('eu', euPort, `{name: us, url: "https://127.0.0.1:${usPort}"}`), euDir);
  const usDir = tempDir(t);
  writeFileSync(join(usDir, 'catalog.yaml'), 'services: []\n');
  const us = await startInProcess(
    t,
    cfg('us', usPort, `{name: eu, url: "https://127.0.0.1:${euPort}"}, {name: ap, url: "https://127.0.0.1:${mutePort}"}`),
    usDir,
  );
  await until(t, 'us answers cart via eu', async () => (await resolve(us.dnsPort, 'cart.shop.global')).addresses[0] === '203.0.113.10');
  const loop = queryLoop(us.dnsPort, 'cart.shop.global');
  const peers = async () =>
    (
      (await (await fetch(`http://127.0.0.1:${us.httpPort}/debug/clusters`)).json()) as {
        sync: { peers: { peer: string; state: string; lastError?: string; errors: Record<string, number> }[] };
      }
    ).sync.peers;
  // The mute peer's request times out (long-poll wait + a margin), again and again with backoff.
  await until(
    t,
    'the mute peer has failed twice',
    async () => Object.values((await peers()).find((p) => p.peer === 'ap')?.errors ?? {}).reduce((a, b) => a + b, 0) >= 2,
    60_000,
  );
  const seen = await loop.stop();
  const ap = (await peers()).find((p) => p.peer === 'ap')!;
  t.not(ap.state, 'synced');
  t.regex(ap.lastError ?? '', /no answer within|timeout|socket hang up|ECONNRESET/i);
  t.is((await peers()).find((p) => p.peer === 'eu')?.state, 'synced');
  t.deepEqual(rcodes(seen), [0], `every answer NOERROR while the mute peer hung (${seen.length} queries)`);
  t.true(seen.every((r) => r.addresses[0] === '203.0.113.10'));
});

test('a peer that serves garbage, then a valid catalog: refused and counted, then synced and answered; queries never fail', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  const eu = pki.clusters['eu']!;
  let mode: 'garbage' | 'valid' = 'garbage';
  const json = canonicalCatalogJson(
    buildCatalog(
      { cluster: 'eu' },
      [{ address: '203.0.113.10', port: 15443 }],
      [{ kind: 'clusterIP', namespace: 'shop', name: 'cart', clusterIPs: ['10.96.0.4'], readyEndpoints: 1, ports: [] }],
    ),
  );
  const server = createHttpsServer(
    { key: readFileSync(eu.key), cert: readFileSync(eu.cert), ca: readFileSync(eu.ca), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      if (mode === 'garbage') {
        res.writeHead(200, { 'content-type': 'application/json', etag: '"g"' });
        res.end('{"cluster": "eu", "gateways": [{"address": "not an ip"}], "services": 7');
        return;
      }
      const etag = catalogEtag(json);
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', etag });
      res.end(json);
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const usDir = tempDir(t);
  writeFileSync(
    join(usDir, 'catalog.yaml'),
    'services:\n  - {namespace: shop, name: home, clusterIPs: [10.96.0.9], readyEndpoints: 1, ports: [{name: http, port: 80}]}\n',
  );
  const tls = pki.clusters['us']!;
  const us = await startInProcess(
    t,
    `cluster: {name: us}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
sync:
  listen: {address: 127.0.0.1, port: 0}
  trustDomain: ${TD}
  tls: {ca: ${JSON.stringify(tls.ca)}, cert: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)}}
  staleAfterSeconds: 30
  peers: [{name: eu, url: "https://127.0.0.1:${port}"}]
`,
    usDir,
  );
  const loop = queryLoop(us.dnsPort, 'home.shop.global');
  const eu1 = async () =>
    (
      (await (await fetch(`http://127.0.0.1:${us.httpPort}/debug/clusters`)).json()) as {
        sync: { peers: { peer: string; state: string; errors: Record<string, number> }[] };
      }
    ).sync.peers.find((p) => p.peer === 'eu');
  await until(t, 'the garbage is refused', async () => ((await eu1())?.errors['invalid-catalog'] ?? 0) >= 1);
  t.is((await eu1())?.state, 'rejected');
  t.is((await resolve(us.dnsPort, 'cart.shop.global')).rcode, 3, 'nothing from the garbage');
  mode = 'valid';
  await until(
    t,
    'the valid catalog is applied',
    async () => (await resolve(us.dnsPort, 'cart.shop.global')).addresses[0] === '203.0.113.10',
    60_000,
  );
  t.is((await eu1())?.state, 'synced');
  const seen = await loop.stop();
  t.deepEqual(rcodes(seen), [0], 'local answers never failed');
});

test('an upstream that returns garbage: SERVFAIL, never a crash or a poisoned cache; a good reply is then served', async (t) => {
  let garbage = true;
  const upstream = await startScriptedUpstream(t, (q) =>
    garbage ? Buffer.from('\x12\x34garbage that is no DNS message at all') : answerA(q, ['192.0.2.44'], 60),
  );
  const dir = tempDir(t);
  writeFileSync(
    join(dir, 'catalog.yaml'),
    'services:\n  - {namespace: shop, name: home, clusterIPs: [10.96.0.9], readyEndpoints: 1, ports: [{name: http, port: 80}]}\n',
  );
  const s = await startInProcess(
    t,
    `cluster: {name: local}\ndns: {zones: [global]}\nsource: {type: file, file: {path: catalog.yaml}}\nforward: {upstreams: ["${upstream.endpoint}"], timeoutMs: 500}\n`,
    dir,
  );
  const loop = queryLoop(s.dnsPort, 'home.shop.global');
  const bad = await resolve(s.dnsPort, 'example.org');
  t.is(bad.rcode, 2, 'SERVFAIL when the only upstream sends garbage');
  t.true(upstream.queries.length >= 1);
  garbage = false;
  await until(t, 'the good reply is served', async () => (await resolve(s.dnsPort, 'example.org')).addresses[0] === '192.0.2.44');
  const seen = await loop.stop();
  t.deepEqual(rcodes(seen), [0], 'in-zone answers unaffected');
});

test('the catalog file deleted, then recreated: the last good catalog meanwhile, the new content after', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'catalog.yaml');
  writeFileSync(
    path,
    'services:\n  - {namespace: shop, name: home, clusterIPs: [10.96.0.9], readyEndpoints: 1, ports: [{name: http, port: 80}]}\n',
  );
  const s = await startInProcess(
    t,
    `cluster: {name: local}\ndns: {zones: [global]}\nsource: {type: file, file: {path: catalog.yaml}}\n`,
    dir,
  );
  const source = async () =>
    (await (await fetch(`http://127.0.0.1:${s.httpPort}/debug/source`)).json()) as {
      rejected: number;
      reloads: number;
      lastError?: string;
    };
  const loop = queryLoop(s.dnsPort, 'home.shop.global');
  const rejected = (await source()).rejected;
  rmSync(path);
  await until(t, 'the deletion is noticed and refused', async () => (await source()).rejected > rejected);
  t.regex((await source()).lastError ?? '', /cannot read/);
  t.is((await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).status, 200, 'still ready on the last good catalog');
  const reloads = (await source()).reloads;
  writeFileSync(
    path + '.tmp',
    'services:\n  - {namespace: shop, name: home, clusterIPs: [10.96.0.10], readyEndpoints: 1, ports: [{name: http, port: 80}]}\n',
  );
  renameSync(path + '.tmp', path);
  await until(t, 'the recreated file is loaded', async () => (await source()).reloads > reloads);
  const seen = await loop.stop();
  t.deepEqual(rcodes(seen), [0], 'answered throughout');
  // Before the reload, only the last good address; after it, only the new one.
  const firstNew = seen.findIndex((r) => r.addresses[0] === '10.96.0.10');
  t.true(seen.slice(0, firstNew === -1 ? seen.length : firstNew).every((r) => r.addresses[0] === '10.96.0.9'));
  t.deepEqual((await resolve(s.dnsPort, 'home.shop.global')).addresses, ['10.96.0.10']);
});

for (const destination of ['closed', 'full'] as const) {
  test(`the log destination fails (stdout ${destination === 'closed' ? 'closed by the reader' : 'is /dev/full'}): DNS keeps answering and the process stays up`, async (t) => {
    const dir = tempDir(t);
    writeFileSync(
      join(dir, 'catalog.yaml'),
      'services:\n  - {namespace: shop, name: home, clusterIPs: [10.96.0.9], readyEndpoints: 1, ports: [{name: http, port: 80}]}\n',
    );
    const dnsPort = await freePort();
    const httpPort = await freePort();
    writeFileSync(
      join(dir, 'gsdns.yaml'),
      `cluster: {name: local}\ndns: {zones: [global], listen: [{address: 127.0.0.1, port: ${dnsPort}}]}\nhttp: {listen: {address: 127.0.0.1, port: ${httpPort}}}\nsource: {type: file, file: {path: catalog.yaml}}\nforward: {upstreams: ["127.0.0.1:9"]}\nlog: {level: debug, queries: {enabled: true}}\nshutdown: {lameDuckSeconds: 0}\n`,
    );
    const full = destination === 'full' ? openSync('/dev/full', 'w') : undefined;
    const child = spawn(process.execPath, [binPath, 'serve', '--config', join(dir, 'gsdns.yaml')], {
      stdio: ['ignore', full ?? 'pipe', 'pipe'],
    });
    if (full !== undefined) closeSync(full);
    let exited: number | null | undefined;
    child.on('exit', (code) => (exited = code));
    t.teardown(() => {
      if (exited === undefined) child.kill('SIGKILL');
    });
    child.stderr!.resume();
    await until(
      t,
      'serving',
      async () => (await resolve(dnsPort, 'home.shop.global').catch(() => ({ rcode: -1, addresses: [] }))).rcode === 0,
    );
    if (destination === 'closed') child.stdout!.destroy(); // the reader goes away: writes now fail (EPIPE)
    // Every query is logged (query log on, debug): hundreds of failing writes.
    const results: number[] = [];
    for (let i = 0; i < 300; i++) results.push((await resolve(dnsPort, 'home.shop.global')).rcode);
    t.deepEqual([...new Set(results)], [0], 'all 300 answered');
    t.is(exited, undefined, 'still running');
    t.is((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status, 200);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    t.true(Number(/^gsdns_log_write_errors_total (\d+)$/m.exec(metrics)?.[1]) > 0, 'the failing writes are counted');
    // An orderly stop still exits 0: nothing waits forever on a destination that keeps failing.
    const code = new Promise<number | null>((resolve) => (exited !== undefined ? resolve(exited) : child.once('exit', (c) => resolve(c))));
    child.kill('SIGTERM');
    t.is(await code, 0);
  });
}
