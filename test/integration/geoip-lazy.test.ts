/**
 * The cheapest checks first (SPEC §6, issue 12): geoip-lite (about 150 MB) is loaded only when an
 * in-zone answer ranks remote clusters for a client that sent ECS, or with locality.geoipPreload.
 * Names outside the zones (allowed or refused clients), in-zone local and negative answers and
 * refused classes leave gsdns_geoip_loaded at 0, read after their replies arrived; the first
 * remote ranking for an ECS client turns it to 1. Real dig, real geoip-lite, metrics scraped over
 * HTTP. Refused clients send from 127.0.0.2, outside `forward.allowFrom: [127.0.0.1/32]`.
 */
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { answers, dig } from '../helpers/dig.js';
import { startInProcess, tempDir } from '../helpers/gsdns-process.js';
import { scrape } from '../helpers/metrics.js';
import { BRITAIN, LOCAL_CART, LONDON_GW, VIRGINIA_GW, twoRemotesCatalog } from '../helpers/ecs-mesh.js';

const catalog = twoRemotesCatalog;

const config = (extra: string): string => `cluster:
  name: mumbai
  region: ap-south-1
  location: {lat: 19.08, lon: 72.88}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
forward: {allowFrom: [127.0.0.1/32]}
${extra}`;

async function serve(t: ExecutionContext, extra = 'locality: {ecs: true}\n'): Promise<Awaited<ReturnType<typeof startInProcess>>> {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'catalog.yaml'), catalog);
  return startInProcess(t, config(extra), dir);
}

/** The geoip block of /debug/clusters. */
async function debugGeoip(httpPort: number): Promise<{ loaded: boolean; loadMs?: number; preload: boolean }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/debug/clusters`);
  return ((await res.json()) as { local: { geoip: { loaded: boolean; loadMs?: number; preload: boolean } } }).local.geoip;
}

/** gsdns_geoip_loaded as scraped; undefined when the family is missing (a failure, not a 0). */
async function loadedGauge(httpPort: number): Promise<number | undefined> {
  const m = await scrape(httpPort);
  return m.has('gsdns_geoip_loaded') ? m.sum('gsdns_geoip_loaded') : undefined;
}

test('ECS queries outside the zones, from refused clients, for local and negative answers and other classes never load geoip-lite', async (t) => {
  const s = await serve(t);
  t.is(await loadedGauge(s.httpPort), 0);
  const subnet = `+subnet=${BRITAIN}`;
  // Allowed client, name outside the zones: forwarded (the test upstream is closed: SERVFAIL).
  const fwd = await dig(t, s.dnsPort, ['example.org', 'A', subnet]);
  if (!fwd) return;
  t.is(fwd.status, 'SERVFAIL');
  // Refused client (127.0.0.2 is outside allowFrom), outside the zones: REFUSED.
  for (let i = 0; i < 20; i++) {
    const refused = (await dig(t, s.dnsPort, ['-b', '127.0.0.2', `name${i}.example.org`, 'A', subnet]))!;
    t.is(refused.status, 'REFUSED');
  }
  // In-zone answers that do not rank remote clusters, from the refused client too (in-zone names
  // are answered for everyone): a local service, NXDOMAIN, NODATA, the apex.
  const local = (await dig(t, s.dnsPort, ['-b', '127.0.0.2', 'cart.shop.global', 'A', subnet]))!;
  t.deepEqual(answers(local, 'A'), [LOCAL_CART]);
  t.is(local.edns?.['CLIENT-SUBNET'], `${BRITAIN}/0`, 'a local answer does not depend on the subnet: scope 0');
  t.is((await dig(t, s.dnsPort, ['nosuch.shop.global', 'A', subnet]))!.status, 'NXDOMAIN');
  t.is((await dig(t, s.dnsPort, ['web.shop.global', 'TXT', subnet]))!.status, 'NOERROR');
  t.is((await dig(t, s.dnsPort, ['global', 'SOA', subnet]))!.status, 'NOERROR');
  // Another class, in the zone and not: REFUSED before anything else.
  t.is((await dig(t, s.dnsPort, ['-c', 'CH', '-t', 'A', 'web.shop.global', subnet]))!.status, 'REFUSED');
  t.is((await dig(t, s.dnsPort, ['-c', 'CH', '-t', 'TXT', 'version.bind', subnet]))!.status, 'REFUSED');
  // Every reply above has arrived: nothing is still on its way to loading it.
  t.is(await loadedGauge(s.httpPort), 0);
  t.false(s.geoip.loaded);
  t.like(await debugGeoip(s.httpPort), { loaded: false, preload: false });

  // The first answer that ranks remote clusters for an ECS client loads it, and uses it.
  const uk = (await dig(t, s.dnsPort, ['-b', '127.0.0.2', 'web.shop.global', 'A', subnet]))!;
  t.deepEqual(answers(uk, 'A'), [LONDON_GW], 'the British subnet ranks london first');
  t.is(uk.edns?.['CLIENT-SUBNET'], `${BRITAIN}/24`);
  t.is(await loadedGauge(s.httpPort), 1);
  t.true(s.geoip.loaded);
  const shown = await debugGeoip(s.httpPort);
  t.true(shown.loaded);
  t.is(typeof shown.loadMs, 'number');
});

test('a remote ranking without ECS does not load geoip-lite (every cluster is located)', async (t) => {
  const s = await serve(t);
  const plain = await dig(t, s.dnsPort, ['web.shop.global', 'A']);
  if (!plain) return;
  t.deepEqual(answers(plain, 'A'), [LONDON_GW], 'from Mumbai, London is nearer than Ashburn');
  t.is(await loadedGauge(s.httpPort), 0);
});

test('with locality.ecs false, ECS never loads geoip-lite, even for a remote ranking', async (t) => {
  const s = await serve(t, 'locality: {ecs: false}\n');
  const r = await dig(t, s.dnsPort, ['web.shop.global', 'A', `+subnet=${BRITAIN}`]);
  if (!r) return;
  t.deepEqual(answers(r, 'A'), [LONDON_GW]);
  t.is(await loadedGauge(s.httpPort), 0);
});

test('locality.geoipPreload loads geoip-lite at start, before any query', async (t) => {
  const s = await serve(t, 'locality: {ecs: true, geoipPreload: true}\n');
  t.is(await loadedGauge(s.httpPort), 1);
  t.like(await debugGeoip(s.httpPort), { loaded: true, preload: true });
  t.true(s.geoip.loaded);
  // And the first ECS query is answered from it as usual.
  const us = await dig(t, s.dnsPort, ['web.shop.global', 'A', '+subnet=3.80.0.0/24']);
  if (!us) return;
  t.deepEqual(answers(us, 'A'), [VIRGINIA_GW]);
});

test('/debug/resolve?subnet= shows where the subnet placed the client, and which subnet it was', async (t) => {
  const s = await serve(t);
  const res = await fetch(`http://127.0.0.1:${s.httpPort}/debug/resolve?name=web.shop.global&type=A&subnet=${encodeURIComponent(BRITAIN)}`);
  t.is(res.status, 200);
  const body = (await res.json()) as { explanation: { client: Record<string, unknown> } };
  const client = body.explanation.client as {
    location?: { lat: number; lon: number };
    ecsSourcePrefix?: number;
    ecsSubnet?: string;
    placedBy?: string;
  };
  t.is(client.ecsSubnet, BRITAIN);
  t.is(client.ecsSourcePrefix, 24);
  t.is(client.placedBy, 'geoip-lite');
  // geoip-lite 1.4.10 puts 81.2.69.0/24 in St Albans.
  t.true(Math.abs(client.location!.lat - 51.75) < 0.5 && Math.abs(client.location!.lon + 0.33) < 0.5, JSON.stringify(client.location));

  // A private subnet is not placed: the client is this cluster, and the explanation says so.
  const priv = await fetch(`http://127.0.0.1:${s.httpPort}/debug/resolve?name=web.shop.global&type=A&subnet=10.1.2.0/24`);
  const p = ((await priv.json()) as { explanation: { client: Record<string, unknown> } }).explanation.client;
  t.like(p, { region: 'ap-south-1', location: { lat: 19.08, lon: 72.88 }, ecsSubnet: '10.1.2.0/24' });
  t.regex(String(p['placedBy']), /this cluster/);
});
