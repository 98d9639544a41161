/**
 * The sync client's catalog limits and local-name refusal (issue 12), against a real HTTPS peer
 * with mutual TLS on loopback: an oversize catalog is refused from its Content-Length or while it
 * streams (the peer sees the request aborted long before its body ends), a catalog with too many
 * services and one claiming this cluster are refused, and each time the last good catalog stays.
 */
import test, { type ExecutionContext } from 'ava';
import { createServer, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import { silentLogger } from '../../../src/log.js';
import type { ClusterCatalog } from '../../../src/registry/types.js';
import { PeerClient, type PeerStatus } from '../../../src/sync/client.js';
import { TlsFiles } from '../../../src/sync/tls-files.js';
import { loadTls, makePki, type Pki } from '../../helpers/pki.js';

const TD = 'gsdns.local';

interface Served {
  /** What the peer does with the next request. */
  handler: (res: ServerResponse) => void;
}

function catalogJson(cluster: string, services: number, namePrefix = 'svc'): string {
  return JSON.stringify({
    cluster,
    gateways: [{ address: '198.51.100.20', port: 15443 }],
    services: Array.from({ length: services }, (_, i) => ({ namespace: 'shop', name: `${namePrefix}${i}`, ready: true, ports: [] })),
  });
}

function serveJson(body: string, etag: string): (res: ServerResponse) => void {
  return (res) => {
    res.writeHead(200, { 'content-type': 'application/json', etag, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

async function fakePeer(t: ExecutionContext, pki: Pki, served: Served): Promise<{ port: number; server: Server }> {
  const server = createServer({ ...loadTls(pki.clusters['us']!), requestCert: true, rejectUnauthorized: true }, (_req, res) =>
    served.handler(res),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as { port: number }).port, server };
}

function fakeRegistry() {
  const held = new Map<string, ClusterCatalog>();
  return {
    held,
    putRemote: (_origin: string, c: ClusterCatalog) => void held.set(c.cluster, c),
    patchRemote: (_origin: string, _base: ClusterCatalog, c: ClusterCatalog) => void held.set(c.cluster, c),
    removeRemote: (cluster: string) => void held.delete(cluster),
  };
}

async function waitFor(client: PeerClient, what: string, check: (s: PeerStatus) => boolean, timeoutMs = 10_000): Promise<PeerStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = client.status();
    if (check(s)) return s;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; status ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setup(t: ExecutionContext, limits: { maxBodyBytes?: number; maxServices?: number }) {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  const served: Served = { handler: serveJson(catalogJson('us', 3), '"good"') };
  const { port } = await fakePeer(t, pki, served);
  const registry = fakeRegistry();
  const tls = new TlsFiles(pki.clusters['eu']!, silentLogger());
  const client = new PeerClient({
    name: 'us',
    url: `https://127.0.0.1:${port}`,
    trustDomain: TD,
    tls,
    registry,
    staleAfterSeconds: 60,
    logger: silentLogger(),
    waitSeconds: 1,
    backoff: { initialMs: 20, maxMs: 50 },
    localCluster: 'eu',
    ...limits,
  });
  t.teardown(() => client.stop());
  client.start();
  await waitFor(client, 'first good catalog', (s) => s.state === 'synced' && s.services === 3);
  return { served, registry, client };
}

function keptGood(t: ExecutionContext, registry: ReturnType<typeof fakeRegistry>): void {
  t.deepEqual(
    registry.held.get('us')?.services.map((s) => s.name),
    ['svc0', 'svc1', 'svc2'],
    'the last good catalog is kept',
  );
}

test('a catalog whose Content-Length is over sync.maxCatalogBytes is refused before its body is read', async (t) => {
  const limit = 64 * 1024;
  const { served, registry, client } = await setup(t, { maxBodyBytes: limit });
  let written = 0;
  let aborted = 0;
  served.handler = (res) => {
    // Declares 2× the limit, sends one small chunk, and would send the rest only when asked to.
    res.writeHead(200, { 'content-type': 'application/json', etag: '"big"', 'content-length': 2 * limit });
    res.write(Buffer.alloc(1024, 0x20));
    written += 1024;
    res.once('close', () => {
      if (!res.writableFinished) aborted++;
    });
  };
  const s = await waitFor(client, 'refused', (st) => st.state === 'rejected');
  t.regex(s.lastError ?? '', /Content-Length.*sync\.maxCatalogBytes \(65536 octets\)/);
  // At least one: on a loaded machine the retry after backoff may be refused before this poll.
  t.true((s.errors['too-large'] ?? 0) >= 1, `refusals counted as too-large: ${s.errors['too-large']}`);
  keptGood(t, registry);
  await waitFor(client, 'the peer saw its response cut off', () => aborted > 0, 5000);
  t.is(written, 1024);
});

test('a chunked catalog is aborted once the streamed octets pass sync.maxCatalogBytes', async (t) => {
  const limit = 256 * 1024;
  const { served, registry, client } = await setup(t, { maxBodyBytes: limit });
  const writtenPerResponse: number[] = [];
  served.handler = (res) => {
    // No Content-Length: a 4× oversize body, written as fast as the client reads it.
    res.writeHead(200, { 'content-type': 'application/json', etag: '"stream"' });
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    let written = 0;
    const index = writtenPerResponse.push(0) - 1;
    const pump = (): void => {
      while (written < 4 * limit && !res.destroyed) {
        written += chunk.length;
        writtenPerResponse[index] = written;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  };
  const s = await waitFor(client, 'refused', (st) => st.state === 'rejected');
  t.regex(s.lastError ?? '', /passed \d+ octets while streaming, more than sync\.maxCatalogBytes \(262144 octets\)/);
  keptGood(t, registry);
  // The client stopped reading at the limit: the peer never got to write the whole 1 MiB (socket
  // buffers hold a few hundred KiB at most).
  t.true(writtenPerResponse[0]! < 4 * limit, `the peer wrote ${writtenPerResponse[0]} of ${4 * limit} octets`);
});

test('a catalog with more services than sync.maxCatalogServices is refused', async (t) => {
  const { served, registry, client } = await setup(t, { maxServices: 10 });
  served.handler = serveJson(catalogJson('us', 11), '"eleven"');
  const s = await waitFor(client, 'refused', (st) => st.state === 'rejected');
  t.regex(s.lastError ?? '', /lists 11 services, more than sync\.maxCatalogServices \(10\)/);
  // At least one: on a loaded machine the retry after backoff may be refused before this poll.
  t.true((s.errors['too-many-services'] ?? 0) >= 1, `refusals counted as too-many-services: ${s.errors['too-many-services']}`);
  keptGood(t, registry);
  // At the limit it is accepted.
  served.handler = serveJson(catalogJson('us', 10, 'ok'), '"ten"');
  const ok = await waitFor(client, 'ten services accepted', (st) => st.state === 'synced' && st.services === 10);
  t.is(ok.lastError, undefined);
  t.is(registry.held.get('us')?.services.length, 10);
});

test('a catalog claiming this cluster is refused (local-cluster), whatever peer serves it', async (t) => {
  const { served, registry, client } = await setup(t, {});
  served.handler = serveJson(catalogJson('eu', 1, 'hijack'), '"eu"');
  const s = await waitFor(client, 'refused', (st) => st.state === 'rejected');
  t.regex(s.lastError ?? '', /claims cluster eu, which is this cluster \(cluster\.name\)/);
  // At least one: on a loaded machine the retry after backoff may be refused before this poll.
  t.true((s.errors['local-cluster'] ?? 0) >= 1, `refusals counted as local-cluster: ${s.errors['local-cluster']}`);
  t.false(registry.held.has('eu'));
  keptGood(t, registry);
});

test('a peer that sends no ETag is polled at the long-poll interval, not in a tight loop', async (t) => {
  const { served, registry, client } = await setup(t, {});
  const requests: number[] = [];
  const body = catalogJson('us', 4);
  served.handler = (res) => {
    requests.push(Date.now());
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  await waitFor(client, 'the catalog without an ETag', (s) => s.services === 4 && s.etag === undefined);
  t.is(registry.held.get('us')?.services.length, 4, 'applied');
  // Wait for two more requests: each must come a whole poll interval (waitSeconds: 1) after the
  // previous one. A loaded machine only makes the gaps longer; a tight loop makes them ~1 ms.
  await waitFor(client, 'two more polls', () => requests.length >= 3, 15_000);
  const gaps = requests.slice(1).map((at, i) => at - requests[i]!);
  t.true(
    gaps.every((ms) => ms >= 900),
    `gaps between polls: ${gaps.join(', ')} ms`,
  );
});

test('deltas: a valid 226 is applied against what the client holds; one that does not fit is not a rejection: the full catalog is fetched at once, and no delta is asked for a while', async (t) => {
  const { served, registry, client } = await setup(t, {});
  const gateways = [{ address: '198.51.100.20', port: 15443 }];
  const svc = (i: number) => ({ namespace: 'shop', name: `svc${i}`, ready: true, ports: [] });
  const asks: (string | undefined)[] = [];
  /** A peer at version `etag`: 304 to a client that holds it (after a short hold, as a long poll), else a delta if asked for, else in full. */
  const peerAt = (etag: string, services: number, delta: object) => (res: ServerResponse) => {
    const aim = res.req.headers['a-im'] as string | undefined;
    if (res.req.headers['if-none-match'] === etag) {
      const timer = setTimeout(() => {
        res.writeHead(304, { etag });
        res.end();
      }, 100);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    asks.push(aim);
    if (aim !== 'gsdns-delta') return serveJson(catalogJson('us', services), etag)(res);
    const text = JSON.stringify(delta);
    res.writeHead(226, { 'content-type': 'application/json', etag, im: 'gsdns-delta', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  // svc3 added after svc0..svc2: only svc3 travels.
  served.handler = peerAt('"four"', 4, {
    delta: { base: '"good"', count: 4, removed: [], at: [3] },
    cluster: 'us',
    gateways,
    services: [svc(3)],
  });
  let s = await waitFor(client, 'the delta applied', (st) => st.etag === '"four"');
  t.is(s.services, 4);
  t.is(s.deltas, 1);
  t.deepEqual(
    registry.held.get('us')?.services.map((x) => x.name),
    ['svc0', 'svc1', 'svc2', 'svc3'],
  );
  t.deepEqual(asks, ['gsdns-delta'], 'a client holding a catalog asks for a delta');
  // A delta against another base: refused as invalid-delta, then the full catalog without A-IM.
  asks.length = 0;
  served.handler = peerAt('"five"', 5, {
    delta: { base: '"other"', count: 5, removed: [], at: [4] },
    cluster: 'us',
    gateways,
    services: [svc(4)],
  });
  s = await waitFor(client, 'the full catalog after a delta that did not fit', (st) => st.etag === '"five"');
  t.is(s.state, 'synced');
  t.is(s.services, 5);
  t.is(s.errors['invalid-delta'], 1);
  t.deepEqual(asks, ['gsdns-delta', undefined]);
  // For a while after, changes are fetched in full (a peer whose deltas do not fit costs no extra requests).
  asks.length = 0;
  served.handler = peerAt('"six"', 6, {
    delta: { base: '"five"', count: 6, removed: [], at: [5] },
    cluster: 'us',
    gateways,
    services: [svc(5)],
  });
  s = await waitFor(client, 'the next change', (st) => st.etag === '"six"');
  t.is(s.services, 6);
  t.deepEqual(asks, [undefined]);
  t.is(s.deltas, 1);
});
