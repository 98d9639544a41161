/**
 * The fault matrix (issue 13), part two: sync faults between real processes over mutual TLS.
 * - A peer whose clock is 10 minutes ahead (libfaketime): freshness is judged on the receiver's
 *   clock only (catalogs carry no time), so its catalog is answered, changes converge, and its
 *   death is noticed after staleAfterSeconds of the receiver's time.
 * - A peer whose clock is 10 minutes behind: certificates issued a moment ago are not yet valid
 *   there. The handshake is refused with that reason on /debug, and each side keeps answering what
 *   it knows.
 * - SIGHUP and a TLS file rotation while a long poll is held: the process stays up (Node's default
 *   for SIGHUP ends it), the new files are taken at once, the held poll is not broken, and a change
 *   made afterwards arrives.
 * Verdicts come from answers and the servers' own state; deadlines are failure guards only.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { missing } from '../helpers/dns-tools.js';
import { spawnGsdns, startInProcess, tempDir, type SpawnedServer } from '../helpers/gsdns-process.js';
import { makePki, type TlsFiles } from '../helpers/pki.js';
import { freePort } from '../helpers/unbound.js';
import { resolveA, until } from '../helpers/poll.js';
import { issueClusterCert } from '../../src/sync/certs.js';

const TD = 'gsdns.local';
const EU_GW = '203.0.113.10';
const US_GW = '198.51.100.20';
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

const resolve = resolveA;

const answers = (port: number, name: string, addresses: string[]) => async () => {
  const r = await resolve(port, name);
  return r.rcode === 0 && JSON.stringify(r.addresses) === JSON.stringify(addresses);
};

function catalog(services: readonly string[]): string {
  return services.length === 0
    ? 'services: []\n'
    : `services:\n${services.map((s, i) => `  - {namespace: shop, name: ${s}, clusterIPs: [10.96.1.${i + 1}], readyEndpoints: 1, ports: [{name: http, port: 80}]}`).join('\n')}\n`;
}

function writeCatalog(dir: string, services: readonly string[]): void {
  writeFileSync(join(dir, 'catalog.tmp'), catalog(services));
  renameSync(join(dir, 'catalog.tmp'), join(dir, 'catalog.yaml')); // never half-written
}

function configText(name: string, syncPort: number, tls: TlsFiles, peer: { name: string; port: number }, staleAfterSeconds = 2): string {
  return `cluster: {name: ${name}, gateways: [{address: ${name === 'eu' ? EU_GW : US_GW}, port: 15443}]}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
sync:
  listen: {address: 127.0.0.1, port: ${syncPort}}
  trustDomain: ${TD}
  tls: {ca: ${JSON.stringify(tls.ca)}, cert: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)}}
  staleAfterSeconds: ${staleAfterSeconds}
  peers: [{name: ${peer.name}, url: "https://127.0.0.1:${peer.port}"}]
`;
}

interface PeerState {
  peer: string;
  state: string;
  lastError?: string;
  errors: Record<string, number>;
}
interface SyncView {
  peers: PeerState[];
  tls: { reloads: number; notAfter: string };
  server: { waiting: number };
}
async function syncView(httpPort: number): Promise<SyncView> {
  return ((await (await fetch(`http://127.0.0.1:${httpPort}/debug/clusters`)).json()) as { sync: SyncView }).sync;
}

/** eu runs in this process; us is a child process, under libfaketime when `skew` is given. */
async function pair(t: ExecutionContext, skew?: string, staleAfterSeconds = 2) {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  const [euPort, usPort] = [await freePort(), await freePort()];
  const euDir = tempDir(t, 'gsdns-fault-eu-');
  const usDir = tempDir(t, 'gsdns-fault-us-');
  writeCatalog(euDir, ['cart']);
  writeCatalog(usDir, ['pay']);
  // us's certificate in a folder of its own, so that it can be re-issued in place.
  const usCertDir = tempDir(t, 'gsdns-fault-us-cert-');
  const usTls = await issueClusterCert({ caDir: dirname(pki.ca), outDir: usCertDir, cluster: 'us', trustDomain: TD, days: 2 });
  const eu = await startInProcess(t, configText('eu', euPort, pki.clusters['eu']!, { name: 'us', port: usPort }, staleAfterSeconds), euDir);
  writeFileSync(
    join(usDir, 'gsdns.yaml'),
    configText('us', usPort, { ca: usTls.ca, cert: usTls.cert, key: usTls.key }, { name: 'eu', port: euPort }, staleAfterSeconds),
  );
  const env = skew === undefined ? {} : { LD_PRELOAD: FAKETIME_LIB, FAKETIME: skew, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
  const us: SpawnedServer = await spawnGsdns(t, ['--config', join(usDir, 'gsdns.yaml')], env);
  return { pki, eu, us, euDir, usDir, usCertDir };
}

function faketimeAvailable(t: ExecutionContext): boolean {
  return existsSync(FAKETIME_LIB) || missing(t, `libfaketime (${FAKETIME_LIB}, Debian package faketime)`);
}

test('a peer whose clock is 10 minutes ahead: both catalogs answered, changes converge, its death noticed on our clock', async (t) => {
  if (!faketimeAvailable(t)) return;
  const { eu, us, euDir } = await pair(t, '+10m');
  const skewed = (await fetch(`http://127.0.0.1:${us.httpPort}/healthz`)).headers.get('date') ?? '';
  t.true(new Date(skewed).getTime() - Date.now() > 9 * 60_000, `us runs 10 minutes ahead (its Date header: ${skewed})`);
  await until(t, "eu answers us's service", answers(eu.dnsPort, 'pay.shop.global', [US_GW]));
  await until(t, "us answers eu's service", answers(us.dnsPort, 'cart.shop.global', [EU_GW]));
  writeCatalog(euDir, ['cart', 'extra']);
  await until(t, 'a change in eu reaches the skewed peer', answers(us.dnsPort, 'extra.shop.global', [EU_GW]));
  // us dies: eu withdraws it after staleAfterSeconds of eu's own clock (not at once, not never).
  await us.stop('SIGKILL');
  await until(t, 'eu withdraws the dead peer', async () => (await resolve(eu.dnsPort, 'pay.shop.global')).rcode === 3);
  t.like(
    (await syncView(eu.httpPort)).peers.find((p) => p.peer === 'us'),
    { state: 'withdrawn' },
  );
});

test('a peer whose clock is 10 minutes behind: fresh certificates are not yet valid there; the refusal says so and both keep answering', async (t) => {
  if (!faketimeAvailable(t)) return;
  const { eu, us } = await pair(t, '-10m');
  await until(t, "us reports that eu's certificate is not yet valid", async () =>
    /not yet valid/i.test((await syncView(us.httpPort)).peers.find((p) => p.peer === 'eu')?.lastError ?? ''),
  );
  t.deepEqual(await resolve(us.dnsPort, 'pay.shop.global'), { rcode: 0, addresses: ['10.96.1.1'] }, 'us answers its own service');
  t.deepEqual(await resolve(eu.dnsPort, 'cart.shop.global'), { rcode: 0, addresses: ['10.96.1.1'] }, 'eu answers its own service');
  t.is((await resolve(eu.dnsPort, 'pay.shop.global')).rcode, 3, 'nothing from a peer whose handshake failed');
  t.is(us.child.exitCode, null);
});

test('SIGHUP and a certificate rotation while a long poll is held: still running, new files taken at once, the poll not broken, later changes arrive', async (t) => {
  // staleAfterSeconds 30: long polls of 10 s with a 7.5 s margin. With 2 s (a 1 s poll and a 1 s
  // margin), a poll answered late on a machine busy with two CPU hogs timed out by itself, which
  // this test then read as a poll broken by the SIGHUP.
  const { eu, us, euDir, pki, usCertDir } = await pair(t, undefined, 30);
  await until(t, "us answers eu's service", answers(us.dnsPort, 'cart.shop.global', [EU_GW]));
  await until(t, 'us holds a long poll at eu', () => eu.sync!.status().server.waiting >= 1);
  const before = (await syncView(us.httpPort)).peers.find((p) => p.peer === 'eu')!;
  await issueClusterCert({ caDir: dirname(pki.ca), outDir: usCertDir, cluster: 'us', trustDomain: TD, days: 2 });
  us.child.kill('SIGHUP');
  await until(t, 'the SIGHUP is logged', () => us.logs().includes('SIGHUP: re-reading'));
  await until(t, 'the rotated files are in use', async () => (await syncView(us.httpPort)).tls.reloads === 1);
  t.is(us.child.exitCode, null, 'SIGHUP did not end the process');
  t.is(us.child.signalCode, null);
  const after = (await syncView(us.httpPort)).peers.find((p) => p.peer === 'eu')!;
  t.is(after.state, 'synced');
  t.deepEqual(after.errors, before.errors, 'the held long poll was not broken');
  writeCatalog(euDir, ['cart', 'extra']);
  await until(t, 'a change after the SIGHUP arrives', answers(us.dnsPort, 'extra.shop.global', [EU_GW]));
  t.deepEqual(await resolve(us.dnsPort, 'pay.shop.global'), { rcode: 0, addresses: ['10.96.1.1'] });
});
