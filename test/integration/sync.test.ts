/**
 * Catalog sync between gsdns instances over real mutual TLS on loopback (SPEC §2): three clusters
 * (in-process instances, each with its own DNS, HTTP and sync sockets) peering with each other;
 * propagation, withdrawal, staleness and re-sync; identity pinning on both sides; refused and
 * malformed catalogs; ETag stability; long polls; certificate rotation.
 */
import test, { type ExecutionContext } from 'ava';
import { request, createServer as createHttpsServer } from 'node:https';
import { copyFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { craftQuery, parseReply, rawQuestion, udpExchange } from '../helpers/dns-tools.js';
import { startInProcess, tempDir } from '../helpers/gsdns-process.js';
import { freePort } from '../helpers/unbound.js';
import { loadTls, makePki, type Pki, type TlsFiles } from '../helpers/pki.js';
import type { RunningServer } from '../../src/main.js';
import { issueClusterCert } from '../../src/sync/certs.js';

const TD = 'gsdns.local';
const GATEWAY: Record<string, string> = { eu: '203.0.113.10', us: '198.51.100.20', ap: '192.0.2.30' };
const REGION: Record<string, string> = { eu: 'eu-west-1', us: 'us-east-1', ap: 'ap-south-1' };

interface Node {
  readonly name: string;
  readonly dir: string;
  readonly syncPort: number;
  server: RunningServer & { dnsPort: number; httpPort: number };
}

function catalogText(services: readonly string[]): string {
  return `services:\n${services.map((s) => `  - {namespace: shop, name: ${s}, clusterIPs: [10.96.0.${s.length}], readyEndpoints: 1, ports: [{name: http, port: 80}]}`).join('\n')}\n${services.length === 0 ? 'services: []\n' : ''}`.replace(
    /^services:\n(services: \[\]\n)$/,
    '$1',
  );
}

function writeCatalog(dir: string, services: readonly string[]): void {
  // Atomic replace, as a ConfigMap update would be.
  writeFileSync(join(dir, 'catalog.tmp'), services.length === 0 ? 'services: []\n' : catalogText(services));
  copyFileSync(join(dir, 'catalog.tmp'), join(dir, 'catalog.yaml'));
}

function configText(
  name: string,
  syncPort: number,
  tls: TlsFiles,
  peers: readonly { name: string; port: number }[],
  staleAfterSeconds: number,
): string {
  return `cluster: {name: ${name}, region: ${REGION[name] ?? 'r'}, gateways: [{address: ${GATEWAY[name] ?? '192.0.2.99'}, port: 15443}]}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
sync:
  listen: {address: 127.0.0.1, port: ${syncPort}}
  trustDomain: ${TD}
  tls: {ca: ${JSON.stringify(tls.ca)}, cert: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)}}
  staleAfterSeconds: ${staleAfterSeconds}
  peers: [${peers.map((p) => `{name: ${p.name}, url: "https://127.0.0.1:${p.port}"}`).join(', ')}]
`;
}

async function startNode(
  t: ExecutionContext,
  node: { name: string; dir: string; syncPort: number },
  tls: TlsFiles,
  peers: readonly { name: string; port: number }[],
  staleAfterSeconds = 30,
) {
  return startInProcess(t, configText(node.name, node.syncPort, tls, peers, staleAfterSeconds), node.dir);
}

async function mesh(
  t: ExecutionContext,
  opts: { staleAfterSeconds?: number; names?: readonly string[] } = {},
): Promise<{ pki: Pki; nodes: Record<string, Node> }> {
  const names = opts.names ?? ['eu', 'us', 'ap'];
  const pki = await makePki(t, { trustDomain: TD, clusters: [...names] });
  const ports = await Promise.all(names.map(() => freePort()));
  const nodes: Record<string, Node> = {};
  for (const [i, name] of names.entries()) {
    const dir = tempDir(t, `gsdns-sync-${name}-`);
    writeCatalog(dir, name === 'eu' ? ['cart'] : []);
    const peers = names.flatMap((p, j) => (p === name ? [] : [{ name: p, port: ports[j]! }]));
    const server = await startNode(t, { name, dir, syncPort: ports[i]! }, pki.clusters[name]!, peers, opts.staleAfterSeconds);
    nodes[name] = { name, dir, syncPort: ports[i]!, server };
  }
  return { pki, nodes };
}

let nextId = 1;
async function resolve(port: number, name: string): Promise<{ rcode: number; addresses: string[] }> {
  const reply = await udpExchange(port, craftQuery({ id: nextId++ & 0xffff, questions: [rawQuestion(name, 1)] }), { timeoutMs: 5000 });
  if (reply === null) throw new Error('no reply');
  const r = parseReply(reply);
  return { rcode: r.rcode, addresses: r.answers.map((a) => String(a['address'])) };
}

async function until(t: ExecutionContext, what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) {
      t.pass(what);
      return Date.now() - started;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  t.fail(`${what}: not within ${timeoutMs} ms`);
  return timeoutMs;
}

const answersWith = (node: Node, name: string, addresses: string[]) => async () => {
  const r = await resolve(node.server.dnsPort, name);
  return r.rcode === 0 && JSON.stringify(r.addresses) === JSON.stringify(addresses);
};
const nxdomain = (node: Node, name: string) => async () => (await resolve(node.server.dnsPort, name)).rcode === 3;

type PeerView = {
  peer: string;
  state: string;
  lastError?: string;
  errors: Record<string, number>;
  updates: number;
  deltas: number;
  lastContactMs?: number;
};
async function peers(node: Node): Promise<PeerView[]> {
  const body = (await (await fetch(`http://127.0.0.1:${node.server.httpPort}/debug/clusters`)).json()) as { sync: { peers: PeerView[] } };
  return body.sync.peers;
}
const peerState = async (node: Node, peer: string) => (await peers(node)).find((p) => p.peer === peer);

test("three clusters: a service added in eu is answered by us and ap with eu's gateway, and withdrawn when removed", async (t) => {
  // staleAfterSeconds 180: long polls wait 30 s, so a change seen within 10 s was pushed.
  const { nodes } = await mesh(t, { staleAfterSeconds: 180 });
  const { eu, us, ap } = nodes as Record<'eu' | 'us' | 'ap', Node>;
  // Initial sync: cart lives in eu only.
  await until(t, 'us answers cart via eu', answersWith(us, 'cart.shop.global', [GATEWAY['eu']!]), 30_000);
  await until(t, 'ap answers cart via eu', answersWith(ap, 'cart.shop.global', [GATEWAY['eu']!]), 30_000);
  t.deepEqual(await resolve(eu.server.dnsPort, 'cart.shop.global'), { rcode: 0, addresses: ['10.96.0.4'] });
  // Added: pushed to the others through their held long polls. 10 s on a loaded machine still
  // tells a push from a long poll that ran out (its wait is 30 s here).
  writeCatalog(eu.dir, ['cart', 'basket']);
  const added = await until(t, 'basket reaches us', answersWith(us, 'basket.shop.global', [GATEWAY['eu']!]), 10_000);
  await until(t, 'basket reaches ap', answersWith(ap, 'basket.shop.global', [GATEWAY['eu']!]), 10_000);
  t.log(`added service answered remotely after ${added} ms`);
  // Removed: withdrawn the same way.
  writeCatalog(eu.dir, ['cart']);
  await until(t, 'basket withdrawn in us', nxdomain(us, 'basket.shop.global'), 10_000);
  await until(t, 'basket withdrawn in ap', nxdomain(ap, 'basket.shop.global'), 10_000);
  // Two more one-service changes (a delta only when smaller than the catalog): the client decodes
  // deltas into two sets of arrays it reuses in turn (DecodeRequest.scratch), so the third and
  // fourth deltas land in arrays used before.
  writeCatalog(eu.dir, ['cart', 'shoe']);
  await until(t, 'shoe reaches us', answersWith(us, 'shoe.shop.global', [GATEWAY['eu']!]), 10_000);
  writeCatalog(eu.dir, ['shoe']);
  await until(t, 'cart withdrawn in us', nxdomain(us, 'cart.shop.global'), 10_000);
  t.deepEqual(await resolve(us.server.dnsPort, 'shoe.shop.global'), { rcode: 0, addresses: [GATEWAY['eu']!] });
  const view = await peerState(us, 'eu');
  t.is(view?.state, 'synced');
  // The first catalog came in full; the four changes came as deltas (226 IM Used).
  t.true((view?.deltas ?? 0) >= 4, `deltas ${view?.deltas} of ${view?.updates} updates`);
  t.deepEqual(view?.errors, {});
});

test('deltas: a client holding an ETag and asking (A-IM: gsdns-delta) gets 226 with only what changed; applied, it is the full catalog; otherwise, and past the kept history, 200 in full', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  const dir = tempDir(t);
  writeCatalog(dir, ['cart', 'basket']);
  const port = await freePort();
  await startNode(t, { name: 'eu', dir, syncPort: port }, pki.clusters['eu']!, []);
  const client = pki.clusters['us']!;
  const first = await getCatalog(port, client);
  t.is(first.status, 200);
  // Each change is seen (and so kept as a delta base) by a long poll on the version before it.
  let etag = first.etag!;
  const change = async (services: string[]) => {
    const poll = getCatalog(port, client, { 'if-none-match': etag }, '/v1/catalog?wait=30');
    writeCatalog(dir, services);
    const res = await poll;
    t.is(res.status, 200, 'a long poll that did not ask for a delta gets the full catalog');
    etag = res.etag!;
    return res;
  };
  const second = await change(['cart', 'basket', 'pay']);
  const delta = await getCatalog(port, client, { 'if-none-match': first.etag!, 'a-im': 'gsdns-delta' });
  t.is(delta.status, 226);
  t.is(delta.im, 'gsdns-delta');
  t.is(delta.etag, second.etag);
  const body = JSON.parse(delta.body) as {
    delta: { base: string; count: number; removed: number[]; at: number[] };
    services: { name: string }[];
  };
  t.deepEqual(body.delta, { base: first.etag, count: 3, removed: [], at: [2] });
  t.deepEqual(
    body.services.map((s) => s.name),
    ['pay'],
  );
  // Applied to the first catalog, it is the second one, byte for byte.
  const firstServices = (JSON.parse(first.body) as { services: unknown[] }).services;
  const full = JSON.parse(second.body) as Record<string, unknown>;
  const { delta: _d, services: listed, ...meta } = body as unknown as Record<string, unknown>;
  t.deepEqual({ ...meta, services: [...firstServices, ...(listed as unknown[])] }, full);
  // Without A-IM, or naming a version the server never had: in full.
  t.is((await getCatalog(port, client, { 'if-none-match': first.etag! })).status, 200);
  t.is((await getCatalog(port, client, { 'if-none-match': '"unknown"', 'a-im': 'gsdns-delta' })).status, 200);
  // A long poll asking for a delta is answered with one.
  const poll = getCatalog(port, client, { 'if-none-match': etag, 'a-im': 'gsdns-delta' }, '/v1/catalog?wait=30');
  writeCatalog(dir, ['cart', 'pay']);
  const pushed = await poll;
  t.is(pushed.status, 226);
  t.deepEqual((JSON.parse(pushed.body) as { delta: unknown }).delta, { base: etag, count: 2, removed: [0], at: [] });
  etag = pushed.etag!;
  // Eight more versions: the first one is no longer kept, so a delta from it is a full catalog.
  for (let i = 0; i < 8; i++) await change(['cart', 'pay', `v${i}`]);
  t.is((await getCatalog(port, client, { 'if-none-match': first.etag!, 'a-im': 'gsdns-delta' })).status, 200);
  t.is((await getCatalog(port, client, { 'if-none-match': second.etag!, 'a-im': 'gsdns-delta' })).status, 200);
});

test('a killed instance: answered until staleAfterSeconds, then withdrawn, peers report it; restarted, it re-syncs', async (t) => {
  const { pki, nodes } = await mesh(t, { staleAfterSeconds: 3 });
  const { eu, us } = nodes as Record<'eu' | 'us', Node>;
  await until(t, 'us answers cart via eu', answersWith(us, 'cart.shop.global', [GATEWAY['eu']!]), 30_000);
  await eu.server.close();
  const killedAt = Date.now();
  await until(t, 'us sees eu stale', async () => (await peerState(us, 'eu'))?.state !== 'synced', 30_000);
  // Still answered within the stale window: an answer read while us still calls eu stale (not yet
  // withdrawn) must be eu's gateway. (On a machine slow enough to pass the window first, the state
  // read after the answer says so, and the withdrawal below is still checked.)
  const during = await resolve(us.server.dnsPort, 'cart.shop.global');
  if ((await peerState(us, 'eu'))?.state === 'stale') t.deepEqual(during, { rcode: 0, addresses: [GATEWAY['eu']!] });
  else t.log('the stale window passed before the answer could be read');
  await until(t, 'withdrawn after staleAfterSeconds', nxdomain(us, 'cart.shop.global'), 30_000);
  const seenAt = Date.now();
  const view = await peerState(us, 'eu');
  // Measured from us's last contact with eu (the clock it counts from; same process), not from the
  // kill: a long poll answered before the kill, or a busy machine, puts that contact earlier.
  t.true(view?.lastContactMs !== undefined && view.lastContactMs <= killedAt, 'the last contact came before the kill');
  t.true(
    seenAt - view!.lastContactMs! >= 3000,
    `withdrawn ${seenAt - view!.lastContactMs!} ms after the last contact (staleAfterSeconds 3)`,
  );
  t.is(view?.state, 'withdrawn');
  t.regex(view?.lastError ?? '', /services withdrawn/);
  // Restart eu on the same sync port: us re-syncs.
  const peersOfEu = [
    { name: 'us', port: us.syncPort },
    { name: 'ap', port: nodes['ap']!.syncPort },
  ];
  eu.server = await startNode(t, eu, pki.clusters['eu']!, peersOfEu, 3);
  await until(t, 'us re-syncs eu', answersWith(us, 'cart.shop.global', [GATEWAY['eu']!]), 8000);
  t.is((await peerState(us, 'eu'))?.state, 'synced');
});

test('identity: a peer with a certificate from another CA, and one naming another cluster, are rejected', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us', 'ap'] });
  const foreign = await pki.foreignCert('us');
  const [euPort, usPort, apPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const dirs = { eu: tempDir(t), us: tempDir(t), ap: tempDir(t) };
  writeCatalog(dirs.eu, ['cart']);
  writeCatalog(dirs.us, ['orders']);
  writeCatalog(dirs.ap, ['tea']);
  // us runs with a certificate from a foreign CA (but trusts the real CA, so it can verify others).
  const usTls = { ca: pki.ca, cert: foreign.cert, key: foreign.key };
  // eu is told that "us" lives at ap's address: ap's certificate names ap, not us.
  const eu = await startNode(t, { name: 'eu', dir: dirs.eu, syncPort: euPort }, pki.clusters['eu']!, [
    { name: 'us', port: usPort },
    { name: 'mallory', port: apPort },
  ]);
  const us = await startNode(t, { name: 'us', dir: dirs.us, syncPort: usPort }, usTls, [{ name: 'eu', port: euPort }]);
  await startNode(t, { name: 'ap', dir: dirs.ap, syncPort: apPort }, pki.clusters['ap']!, []);
  const euNode = { name: 'eu', dir: dirs.eu, syncPort: euPort, server: eu };
  const usNode = { name: 'us', dir: dirs.us, syncPort: usPort, server: us };
  await until(t, 'eu rejects us (foreign CA)', async () => (await peerState(euNode, 'us'))?.state === 'rejected', 30_000);
  t.regex((await peerState(euNode, 'us'))?.lastError ?? '', /TLS/);
  await until(
    t,
    'eu rejects "mallory" (certificate names ap)',
    async () => (await peerState(euNode, 'mallory'))?.state === 'rejected',
    30_000,
  );
  t.regex((await peerState(euNode, 'mallory'))?.lastError ?? '', /names cluster ap, but this peer is configured as mallory/);
  // us's own fetches of eu are refused by eu's TLS handshake: us never gets eu's catalog. Event,
  // not sleep: once eu has refused a handshake and us has recorded the failure, nothing came in.
  await until(t, 'eu refused a handshake', () => eu.sync!.status().server.refusedHandshakes >= 1, 30_000);
  await until(t, 'us recorded its failed fetch of eu', async () => ((await peerState(usNode, 'eu'))?.lastError ?? '') !== '', 30_000);
  t.is((await resolve(us.dnsPort, 'cart.shop.global')).rcode, 3);
  t.not((await peerState(usNode, 'eu'))?.state, 'synced');
  t.is((await resolve(eu.dnsPort, 'tea.shop.global')).rcode, 3, 'nothing of ap was accepted under another name');
  t.true(eu.sync!.status().server.refusedHandshakes >= 1, 'eu logged and counted the refused handshake');
});

/** A sync endpoint under test control, with a valid certificate for `files`' cluster. */
async function fakePeer(t: ExecutionContext, files: TlsFiles, body: () => string) {
  const tls = loadTls(files);
  const server = createHttpsServer({ ...tls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', etag: `"${Buffer.from(body()).toString('base64url').slice(0, 20)}"` });
    res.end(body());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  server.on('secureConnection', (s) => t.teardown(() => s.destroy()));
  return (server.address() as { port: number }).port;
}

test('a catalog claiming another cluster is refused; a malformed catalog keeps the last good one', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  let served = JSON.stringify({
    cluster: 'us',
    gateways: [{ address: '198.51.100.20', port: 15443 }],
    services: [{ namespace: 'shop', name: 'orders', ready: true, ports: [] }],
  });
  const usPort = await fakePeer(t, pki.clusters['us']!, () => served);
  const dir = tempDir(t);
  writeCatalog(dir, []);
  const eu = await startNode(t, { name: 'eu', dir, syncPort: await freePort() }, pki.clusters['eu']!, [{ name: 'us', port: usPort }], 30);
  const node = { name: 'eu', dir, syncPort: 0, server: eu };
  await until(t, 'good catalog applied', answersWith(node, 'orders.shop.global', ['198.51.100.20']), 30_000);
  // Malformed: a field of the wrong type. The last good catalog stays.
  served = JSON.stringify({ cluster: 'us', gateways: [{ address: 'not-an-ip' }], services: [] });
  await until(t, 'malformed catalog rejected', async () => (await peerState(node, 'us'))?.state === 'rejected', 30_000);
  t.regex((await peerState(node, 'us'))?.lastError ?? '', /gateways\[0\]\.address/);
  t.deepEqual(await resolve(eu.dnsPort, 'orders.shop.global'), { rcode: 0, addresses: ['198.51.100.20'] }, 'last good catalog kept');
  // Claims another cluster: refused too.
  served = JSON.stringify({ cluster: 'ap', gateways: [], services: [{ namespace: 'shop', name: 'fake', ready: true, ports: [] }] });
  await until(t, 'cluster mismatch reported', async () => /claims cluster ap/.test((await peerState(node, 'us'))?.lastError ?? ''), 40_000);
  t.is((await resolve(eu.dnsPort, 'fake.shop.global')).rcode, 3);
});

/** A raw GET of /v1/catalog with a client certificate. */
function getCatalog(
  port: number,
  tls: TlsFiles,
  headers: Record<string, string> = {},
  path = '/v1/catalog',
): Promise<{ status: number; etag?: string; im?: string; body: string; ms: number }> {
  const started = Date.now();
  const m = loadTls(tls);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'GET',
        headers,
        ca: m.ca,
        cert: m.cert,
        key: m.key,
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            etag: res.headers['etag'],
            im: res.headers['im'] as string | undefined,
            body,
            ms: Date.now() - started,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('the ETag is the same for two replicas of one catalog and across a restart; 304 and long polls', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  const [a, b] = [tempDir(t), tempDir(t)];
  writeCatalog(a, ['cart', 'basket']);
  writeCatalog(b, ['basket', 'cart']);
  const [pa, pb] = [await freePort(), await freePort()];
  const ra = await startNode(t, { name: 'eu', dir: a, syncPort: pa }, pki.clusters['eu']!, []);
  const rb = await startNode(t, { name: 'eu', dir: b, syncPort: pb }, pki.clusters['eu']!, []);
  const client = pki.clusters['us']!;
  const first = await getCatalog(pa, client);
  const second = await getCatalog(pb, client);
  t.is(first.status, 200);
  t.truthy(first.etag);
  t.is(first.etag, second.etag, 'two replicas, one ETag');
  t.is(first.body, second.body);
  t.deepEqual(
    (JSON.parse(first.body) as { services: { name: string }[] }).services.map((s) => s.name),
    ['basket', 'cart'],
  );
  // Restart replica a: same ETag.
  await ra.close();
  const ra2 = await startNode(t, { name: 'eu', dir: a, syncPort: pa }, pki.clusters['eu']!, []);
  t.is((await getCatalog(pa, client)).etag, first.etag, 'stable across a restart');
  // Conditional GET without wait: 304.
  t.is((await getCatalog(pa, client, { 'if-none-match': first.etag! })).status, 304);
  // Long poll: held, then answered soon after a change.
  // The change is written once the server holds the poll; a 200 (not the 304 that ends an
  // unchanged wait of 30 s, past the test's timeout) proves the change answered it.
  const poll = getCatalog(pa, client, { 'if-none-match': first.etag! }, '/v1/catalog?wait=30');
  await until(t, 'the long poll is held', () => ra2.sync!.status().server.waiting === 1, 10_000);
  writeCatalog(a, ['cart']);
  const res = await poll;
  t.is(res.status, 200);
  t.not(res.etag, first.etag);
  t.is(ra2.sync!.status().server.waiting, 0, 'the held poll was answered and released');
  // A long poll with nothing changing ends in 304 after its wait.
  const quiet = await getCatalog(pa, client, { 'if-none-match': res.etag! }, '/v1/catalog?wait=1');
  t.is(quiet.status, 304);
  t.true(quiet.ms >= 900);
  void rb;
  void ra2;
});

test('the server refuses clients without a cluster identity (403) and from another CA (handshake)', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu'] });
  const dir = tempDir(t);
  writeCatalog(dir, ['cart']);
  const port = await freePort();
  const eu = await startNode(t, { name: 'eu', dir, syncPort: port }, pki.clusters['eu']!, []);
  const anonymous = await getCatalog(port, await pki.noIdentityCert());
  t.is(anonymous.status, 403);
  t.regex(anonymous.body, /names no cluster in trust domain gsdns\.local/);
  const otherDomain = await getCatalog(port, await pki.otherTrustDomainCert('us'));
  t.is(otherDomain.status, 403);
  const foreign = await pki.foreignCert('us');
  await t.throwsAsync(getCatalog(port, { ...foreign, ca: pki.ca }));
  const stats = eu.sync!.status().server;
  t.is(stats.refusedIdentity, 2);
  t.true(stats.refusedHandshakes >= 1);
  t.deepEqual(Object.keys(stats.fetches), [], 'nothing served to them');
});

test('rotated certificate files are used by new connections without a restart', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  const dir = tempDir(t);
  writeCatalog(dir, ['cart']);
  // eu's certificate lives in its own folder so it can be re-issued in place.
  const certDir = tempDir(t);
  const first = await issueClusterCert({ caDir: dirname(pki.ca), outDir: certDir, cluster: 'eu', trustDomain: TD });
  const port = await freePort();
  const eu = await startNode(t, { name: 'eu', dir, syncPort: port }, { ca: pki.ca, cert: first.cert, key: first.key }, []);
  const serialOf = () =>
    new Promise<string>((resolve, reject) => {
      const m = loadTls(pki.clusters['us']!);
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
        },
        (res) => {
          resolve((res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber);
          res.resume();
        },
      );
      req.on('error', reject);
      req.end();
    });
  const before = await serialOf();
  await new Promise((r) => setTimeout(r, 50));
  await issueClusterCert({ caDir: dirname(pki.ca), outDir: certDir, cluster: 'eu', trustDomain: TD });
  await until(t, 'new certificate served', async () => (await serialOf()) !== before, 30_000);
  t.is(eu.sync!.status().tls.reloads, 1);
});
