/**
 * One owner per remote cluster (SPEC §6), between real instances over mutual TLS: a cluster that
 * the catalog file's static `remotes:` and a live peer both describe is answered from the live
 * catalog (sync.remotePrecedence default); editing the file does not replace it; when the peer is
 * withdrawn after staleAfterSeconds the static catalog comes back; when the peer returns it takes
 * over again. /debug/clusters shows the owner and the shadowed source. With the precedence reversed
 * the file wins and the live catalog waits aside.
 */
import test, { type ExecutionContext } from 'ava';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startInProcess, tempDir } from '../helpers/gsdns-process.js';
import { freePort } from '../helpers/unbound.js';
import { resolveA, until } from '../helpers/poll.js';
import { makePki, type TlsFiles } from '../helpers/pki.js';

const TD = 'gsdns.local';
const LIVE_GW = '203.0.113.10';
const STATIC_GW = '192.0.2.77';

function writeAtomically(dir: string, text: string): void {
  writeFileSync(join(dir, 'catalog.tmp'), text);
  copyFileSync(join(dir, 'catalog.tmp'), join(dir, 'catalog.yaml'));
}

/** us's file: no local services, and a static catalog of eu (the pre-sync way) with `services`. */
function usCatalog(staticServices: readonly string[]): string {
  return `services: []
remotes:
  - cluster: eu
    gateways: [{address: ${STATIC_GW}, port: 15443}]
    services: [${staticServices.map((s) => `{namespace: shop, name: ${s}, ready: true, ports: [{name: http, port: 80, protocol: TCP}]}`).join(', ')}]
`;
}

const euCatalog = `services:
  - {namespace: shop, name: cart, clusterIPs: [10.96.0.4], readyEndpoints: 1, ports: [{name: http, port: 80}]}
`;

function configText(name: string, syncPort: number, tls: TlsFiles, peer: { name: string; port: number }, extra = ''): string {
  return `cluster: {name: ${name}, gateways: [{address: ${name === 'eu' ? LIVE_GW : '198.51.100.20'}, port: 15443}]}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
sync:
  listen: {address: 127.0.0.1, port: ${syncPort}}
  trustDomain: ${TD}
  tls: {ca: ${JSON.stringify(tls.ca)}, cert: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)}}
  staleAfterSeconds: 2
  peers: [{name: ${peer.name}, url: "https://127.0.0.1:${peer.port}"}]
${extra}`;
}

const resolve = resolveA;

interface RemoteView {
  cluster: string;
  owner: string;
  shadowed: { origin: string; services: number }[];
  services: number;
}
async function remoteView(httpPort: number, cluster: string): Promise<RemoteView | undefined> {
  const body = (await (await fetch(`http://127.0.0.1:${httpPort}/debug/clusters`)).json()) as { remote: RemoteView[] };
  return body.remote.find((r) => r.cluster === cluster);
}
async function fileReloads(httpPort: number): Promise<number> {
  const body = (await (await fetch(`http://127.0.0.1:${httpPort}/debug/source`)).json()) as { reloads?: number };
  if (typeof body.reloads === 'number') return body.reloads;
  throw new Error(`no reloads in /debug/source: ${JSON.stringify(body).slice(0, 300)}`);
}

async function pair(t: ExecutionContext, usExtra = '') {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  const [euPort, usPort] = [await freePort(), await freePort()];
  const euDir = tempDir(t, 'gsdns-own-eu-');
  const usDir = tempDir(t, 'gsdns-own-us-');
  writeAtomically(euDir, euCatalog);
  writeAtomically(usDir, usCatalog(['cart', 'legacy']));
  const startEu = () => startInProcess(t, configText('eu', euPort, pki.clusters['eu']!, { name: 'us', port: usPort }), euDir);
  const eu = await startEu();
  const us = await startInProcess(t, configText('us', usPort, pki.clusters['us']!, { name: 'eu', port: euPort }, usExtra), usDir);
  return { eu, us, usDir, startEu };
}

const answers = (port: number, name: string, addresses: string[]) => async () => {
  const r = await resolve(port, name);
  return r.rcode === 0 && JSON.stringify(r.addresses) === JSON.stringify(addresses);
};
const nxdomain = (port: number, name: string) => async () => (await resolve(port, name)).rcode === 3;

test('live sync owns a cluster the file also lists; file edits keep it; withdrawal restores the static catalog; the peer takes over again', async (t) => {
  const { eu, us, usDir, startEu } = await pair(t);
  const dns = us.dnsPort;
  await until(t, 'us answers cart from the live catalog', answers(dns, 'cart.shop.global', [LIVE_GW]));
  t.true(await nxdomain(dns, 'legacy.shop.global')(), 'the static-only service is not answered while sync owns eu');
  t.like(await remoteView(us.httpPort, 'eu'), { owner: 'sync', services: 1, shadowed: [{ origin: 'file', services: 2 }] });

  // An edit of the file while the peer is live: applied (the shadow changes), the live catalog stays.
  const before = await fileReloads(us.httpPort);
  writeAtomically(usDir, usCatalog(['cart', 'legacy', 'extra']));
  await until(t, 'the edit is loaded', async () => (await fileReloads(us.httpPort)) > before);
  t.like(await remoteView(us.httpPort, 'eu'), { owner: 'sync', services: 1, shadowed: [{ origin: 'file', services: 3 }] });
  t.deepEqual(await resolve(dns, 'cart.shop.global'), { rcode: 0, addresses: [LIVE_GW] });
  t.is((await resolve(dns, 'extra.shop.global')).rcode, 3);

  // The peer dies: after staleAfterSeconds sync withdraws its catalog, and the static one takes over.
  await eu.close();
  await until(t, 'the static catalog answers after withdrawal', answers(dns, 'cart.shop.global', [STATIC_GW]));
  await until(t, 'legacy is answered from the file', answers(dns, 'legacy.shop.global', [STATIC_GW]));
  t.like(await remoteView(us.httpPort, 'eu'), { owner: 'file', services: 3, shadowed: [] });

  // The peer returns: it owns eu again at once.
  await startEu();
  await until(t, 'the live catalog is back', answers(dns, 'cart.shop.global', [LIVE_GW]));
  await until(t, 'legacy is shadowed again', nxdomain(dns, 'legacy.shop.global'));
  t.like(await remoteView(us.httpPort, 'eu'), { owner: 'sync', shadowed: [{ origin: 'file', services: 3 }] });

  // The cluster leaves the file: only the shadow goes; the live catalog is untouched.
  const reloads = await fileReloads(us.httpPort);
  writeAtomically(usDir, 'services: []\n');
  await until(t, 'the removal is loaded', async () => (await fileReloads(us.httpPort)) > reloads);
  t.like(await remoteView(us.httpPort, 'eu'), { owner: 'sync', shadowed: [] });
  t.deepEqual(await resolve(dns, 'cart.shop.global'), { rcode: 0, addresses: [LIVE_GW] });
});

test('sync.remotePrecedence [file, sync]: the static catalog wins and the live one waits aside', async (t) => {
  const { us } = await pair(t, '  remotePrecedence: [file, sync]\n');
  const dns = us.dnsPort;
  await until(t, 'the live catalog arrives and waits aside', async () => {
    const view = await remoteView(us.httpPort, 'eu');
    return view?.owner === 'file' && view.shadowed.length === 1 && view.shadowed[0]!.origin === 'sync';
  });
  t.deepEqual(await resolve(dns, 'cart.shop.global'), { rcode: 0, addresses: [STATIC_GW] });
  t.deepEqual(await resolve(dns, 'legacy.shop.global'), { rcode: 0, addresses: [STATIC_GW] });
});
