/**
 * Sync clients sharing one table of distinct services (src/sync/intern.ts), against two real HTTPS
 * peers with mutual TLS on loopback and a real registry: the same service from both peers is one
 * object in the registry, a change makes a new variant and drops the unused one, and a withdrawn
 * peer's uses leave the table while the other peer's stay.
 */
import test, { type ExecutionContext } from 'ava';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { silentLogger } from '../../../src/log.js';
import { Registry } from '../../../src/registry/registry.js';
import type { RemoteService } from '../../../src/registry/types.js';
import { PeerClient, type PeerStatus } from '../../../src/sync/client.js';
import { ServiceInterner } from '../../../src/sync/intern.js';
import { TlsFiles } from '../../../src/sync/tls-files.js';
import { loadTls, makePki, type Pki } from '../../helpers/pki.js';
import { until } from '../../helpers/poll.js';

const TD = 'gsdns.local';
const NAMES = ['cart', 'pay', 'ship'];

interface Peer {
  /** The services' readiness by name; a change takes a new ETag. */
  ready: Record<string, boolean>;
  version: number;
  /** false: requests are left unanswered (the peer is gone). */
  answering: boolean;
  /** A full catalog is sent once this settles (absent: at once). */
  hold?: Promise<void> | undefined;
  requests: number;
}

function body(cluster: string, peer: Peer): string {
  return JSON.stringify({
    cluster,
    gateways: [{ address: '198.51.100.20', port: 15443 }],
    services: NAMES.map((name) => ({
      namespace: 'shop',
      name,
      ready: peer.ready[name],
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    })),
  });
}

async function fakePeer(t: ExecutionContext, pki: Pki, cluster: string, peer: Peer): Promise<number> {
  const server = createServer(
    { ...loadTls(pki.clusters[cluster]!), requestCert: true, rejectUnauthorized: true },
    (req: IncomingMessage, res: ServerResponse) => {
      peer.requests++;
      if (!peer.answering) return;
      const etag = `"${cluster}-${peer.version}"`;
      if (req.headers['if-none-match'] === etag) {
        // A short long poll: 304 after a while, so the client does not spin.
        setTimeout(() => res.writeHead(304, { etag }).end(), 100);
        return;
      }
      const text = body(cluster, peer);
      void (peer.hold ?? Promise.resolve()).then(() => {
        res.writeHead(200, { 'content-type': 'application/json', etag, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as { port: number }).port;
}

test('two peers exporting the same services share one object each; a change and a withdrawal leave only what is in use', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us', 'ap'] });
  const registry = new Registry({ initialSerial: 1, localCluster: 'eu' });
  const interner = new ServiceInterner();
  const tls = new TlsFiles(pki.clusters['eu']!, silentLogger());
  const skewMs: Record<string, number> = { us: 0, ap: 0 };
  const peers: Record<string, Peer> = {};
  const clients: Record<string, PeerClient> = {};
  for (const cluster of ['us', 'ap']) {
    const peer: Peer = { ready: { cart: true, pay: true, ship: true }, version: 1, answering: true, requests: 0 };
    peers[cluster] = peer;
    const port = await fakePeer(t, pki, cluster, peer);
    const client = new PeerClient({
      name: cluster,
      url: `https://127.0.0.1:${port}`,
      trustDomain: TD,
      tls,
      registry,
      staleAfterSeconds: 4,
      logger: silentLogger(),
      waitSeconds: 1,
      backoff: { initialMs: 20, maxMs: 50 },
      localCluster: 'eu',
      interner,
      now: () => Date.now() + skewMs[cluster]!,
    });
    clients[cluster] = client;
    t.teardown(() => client.stop());
    client.start();
  }
  const synced = (s: PeerStatus) => s.state === 'synced' && s.services === NAMES.length;
  await until(t, 'both synced', () => synced(clients['us']!.status()) && synced(clients['ap']!.status()));
  const services = (cluster: string): readonly RemoteService[] =>
    registry.remoteCatalogs().find((c) => c.cluster === cluster)?.services ?? [];
  for (let i = 0; i < NAMES.length; i++) t.is(services('us')[i], services('ap')[i], `${NAMES[i]} is one object`);
  t.is(interner.size, NAMES.length);
  t.is(services('us')[0]!.ports, services('us')[1]!.ports, 'one port list');
  t.deepEqual(
    registry.remoteExports('shop', 'cart').map((e) => [e.catalog.cluster, e.service.ready]),
    [
      ['ap', true],
      ['us', true],
    ],
  );

  // us: cart not ready. A new variant; ap keeps the ready one.
  peers['us']!.ready['cart'] = false;
  peers['us']!.version++;
  await until(t, 'us applied the change', () => services('us')[0]?.ready === false);
  t.is(interner.size, NAMES.length + 1);
  t.is(services('ap')[0]!.ready, true);
  t.is(services('us')[1], services('ap')[1], 'the unchanged services stay shared');

  // ap: cart not ready either: both hold the not-ready variant, and the ready one leaves the table.
  peers['ap']!.ready['cart'] = false;
  peers['ap']!.version++;
  await until(t, 'ap applied the change', () => services('ap')[0]?.ready === false);
  t.is(services('us')[0], services('ap')[0]);
  t.is(interner.size, NAMES.length);

  // us goes silent and is withdrawn: ap's uses keep every entry.
  peers['us']!.answering = false;
  skewMs['us'] = 60_000;
  await until(t, 'us withdrawn', () => clients['us']!.status().state === 'withdrawn');
  t.is(services('us').length, 0);
  t.is(interner.size, NAMES.length);
  t.is(registry.remoteExports('shop', 'cart').length, 1);
  t.is(clients['ap']!.status().state, 'synced');
});

test('a catalog that arrives after what it was decoded against was withdrawn is interned whole', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  const registry = new Registry({ initialSerial: 1, localCluster: 'eu' });
  const interner = new ServiceInterner();
  const peer: Peer = { ready: { cart: true, pay: true, ship: true }, version: 1, answering: true, requests: 0 };
  const port = await fakePeer(t, pki, 'us', peer);
  let skewMs = 0;
  const client = new PeerClient({
    name: 'us',
    url: `https://127.0.0.1:${port}`,
    trustDomain: TD,
    tls: new TlsFiles(pki.clusters['eu']!, silentLogger()),
    registry,
    staleAfterSeconds: 4,
    logger: silentLogger(),
    waitSeconds: 1,
    backoff: { initialMs: 20, maxMs: 50 },
    localCluster: 'eu',
    interner,
    now: () => Date.now() + skewMs,
  });
  t.teardown(() => client.stop());
  client.start();
  await until(t, 'synced', () => client.status().state === 'synced' && client.status().services === NAMES.length);
  const first = registry.remoteCatalogs()[0]!.services;
  // The next catalog (ship not ready) is held back until the peer has been withdrawn (the clock jumps).
  let release = (): void => undefined;
  peer.hold = new Promise<void>((r) => (release = r));
  peer.ready['ship'] = false;
  peer.version++;
  const asked = peer.requests;
  await until(t, 'the slow request is in flight', () => peer.requests > asked);
  skewMs = 60_000;
  await until(t, 'withdrawn', () => client.status().state === 'withdrawn');
  t.is(interner.size, 0, 'the withdrawn catalog let go of every entry');
  release();
  await until(t, 'the slow catalog applied', () => client.status().state === 'synced');
  const now = registry.remoteCatalogs()[0]!.services;
  t.deepEqual(
    now.map((s) => [s.name, s.ready]),
    [
      ['cart', true],
      ['pay', true],
      ['ship', false],
    ],
  );
  t.deepEqual(now[0], first[0]);
  t.is(interner.size, NAMES.length, 'every service of the new catalog is in use again');
  for (const s of now) t.is(interner.intern({ ...s, ports: s.ports.map((p) => ({ ...p })) }), s, `${s.name} is the table's object`);
  t.is(registry.remoteExports('shop', 'ship')[0]?.service, now[2]);
});
