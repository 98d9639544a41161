/**
 * EDNS Client Subnet end to end (SPEC §1 protocol rules, §3 "Client location"), with REAL
 * geoip-lite lookups of well-known networks — no mocks. The local cluster is in Mumbai; two remote
 * clusters, `london` and `virginia`, export the same service. Without ECS the client is where the
 * local cluster is, so London (about 7,200 km) beats Ashburn (about 12,900 km). With ECS:
 *  - 81.2.69.0/24 is a British network (geoip-lite 1.4.10: GB, St Albans) → london;
 *  - 3.80.0.0/24 is in Ashburn, Virginia (an AWS us-east-1 range) → virginia;
 *  - 10.1.2.0/24 (private) and 192.0.2.0/24 (TEST-NET-1, which geoip-lite cannot place) fall back
 *    to the local cluster's locality: the answer is the one without ECS.
 * The option is echoed with SCOPE PREFIX-LENGTH = the source prefix when the answer depended on
 * where the client is (remote answers), 0 when it did not (local and negative answers), and not at
 * all with `locality.ecs: false`. A cluster without `location` is placed by geoip-lite from its
 * gateway. Gateway probing is off (test/helpers/gsdns-process.ts), so nothing is sent to the
 * public gateway address 81.2.69.160.
 */
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LazyGeoip } from '../../src/locality/geoip.js';
import { silentLogger } from '../../src/log.js';
import { answers, dig, type DigResult } from '../helpers/dig.js';
import { startInProcess, tempDir } from '../helpers/gsdns-process.js';
import { BRITAIN, LOCAL_CART, LONDON_GW, MUMBAI, VIRGINIA_GW, twoRemotesCatalog, web } from '../helpers/ecs-mesh.js';

const ASHBURN = '3.80.0.0/24';
const PRIVATE = '10.1.2.0/24';
const UNPLACEABLE = '192.0.2.0/24';
const GEO_GATEWAY = '81.2.69.160';

const config = (extra = ''): string => `cluster:
  name: mumbai
  region: ap-south-1
  zone: ap-south-1a
  location: {lat: ${MUMBAI.lat}, lon: ${MUMBAI.lon}}
dns: {zones: [global], policy: failover}
source: {type: file, file: {path: catalog.yaml}}
locality: {ecs: true}
${extra}`;

const catalog = twoRemotesCatalog;

/** `geo` has no location and no region: only geoip-lite of its gateway can place it. */
const geoCatalog = `services: []
remotes:
  - cluster: geo
    gateways: [{address: ${GEO_GATEWAY}, port: 15443}]
    services: [${web}]
  - cluster: virginia
    region: us-east-1
    location: {lat: 39.0, lon: -77.5}
    gateways: [{address: ${VIRGINIA_GW}, port: 15443}]
    services: [${web}]
`;

async function serve(t: ExecutionContext, cat: string, extra = ''): Promise<Awaited<ReturnType<typeof startInProcess>>> {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'catalog.yaml'), cat);
  return startInProcess(t, config(extra), dir);
}

/** dig's rendering of the echoed option, `ADDRESS/SOURCE/SCOPE`, or undefined when absent. */
const echoed = (r: DigResult): string | undefined => r.edns?.['CLIENT-SUBNET'] as string | undefined;

async function ask(t: ExecutionContext, port: number, name: string, subnet?: string): Promise<DigResult | undefined> {
  return dig(t, port, [name, 'A', ...(subnet === undefined ? [] : [`+subnet=${subnet}`])]);
}

interface Resolved {
  kind: string;
  clusters: string[];
  answers: string[];
  text: string;
  explanation: {
    client: { region?: string; zone?: string; location?: { lat: number; lon: number }; ecsSourcePrefix?: number };
    steps: string[];
    candidates: { cluster: string; tier: number; distanceKm?: number; kept: boolean; order?: number; reason: string }[];
  };
}

async function resolve(port: number, query: string): Promise<{ status: number; body: Resolved & { error?: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/debug/resolve?${query}`);
  return { status: res.status, body: (await res.json()) as Resolved & { error?: string } };
}

test('geoip-lite 1.4.10 places the networks this file relies on where it says', (t) => {
  // If geoip-lite's data moves these networks, every other test here would fail confusingly.
  const geo = new LazyGeoip(silentLogger());
  t.false(geo.loaded, 'not loaded before the first lookup');
  const britain = geo.locate('81.2.69.0');
  t.like(britain, { country: 'GB' });
  t.true(Math.abs(britain!.lat - 51.5) < 1 && Math.abs(britain!.lon + 0.12) < 1, JSON.stringify(britain));
  t.like(geo.locate('3.80.0.0'), { country: 'US', region: 'VA', city: 'Ashburn' });
  t.like(geo.locate(GEO_GATEWAY), { country: 'GB' });
  t.like(geo.locate('2600:1f18::'), { country: 'US', region: 'VA', city: 'Ashburn' });
  t.like(geo.locate('2a02:8010::'), { country: 'GB' });
  t.is(geo.locate('10.1.2.0'), undefined, 'private');
  t.is(geo.locate('fd00::'), undefined, 'unique local IPv6');
  t.is(geo.locate('192.0.2.0'), undefined, 'TEST-NET-1 is public but unplaceable');
  t.true(geo.loaded);
});

test("a British subnet gets london's gateway, an Ashburn subnet virginia's, scoped to the source prefix", async (t) => {
  const s = await serve(t, catalog);
  const plain = await ask(t, s.dnsPort, 'web.shop.global');
  if (!plain) return;
  t.deepEqual(answers(plain, 'A'), [LONDON_GW], 'without ECS the client is in Mumbai, and London is nearer than Ashburn');
  t.is(echoed(plain), undefined);
  t.false(s.geoip.loaded, 'geoip-lite is not loaded while every cluster is located and no query has ECS');

  const uk = (await ask(t, s.dnsPort, 'web.shop.global', BRITAIN))!;
  t.is(uk.status, 'NOERROR');
  t.deepEqual(answers(uk, 'A'), [LONDON_GW]);
  t.is(echoed(uk), '81.2.69.0/24/24', 'RFC 7871 §7.2.1: echoed, scope = the source prefix the answer depended on');
  t.true(s.geoip.loaded, 'the first ECS query loads geoip-lite');

  const us = (await ask(t, s.dnsPort, 'web.shop.global', ASHBURN))!;
  t.deepEqual(answers(us, 'A'), [VIRGINIA_GW], 'policy failover: the single nearest cluster to Ashburn');
  t.is(echoed(us), '3.80.0.0/24/24');
  t.is(us.answer[0]!.ttl, 5);
  t.true(us.flags.includes('aa'));

  // A longer source prefix is echoed as given, and a different one is not confused with the first.
  const host = (await ask(t, s.dnsPort, 'web.shop.global', '3.80.0.10/32'))!;
  t.deepEqual(answers(host, 'A'), [VIRGINIA_GW]);
  t.is(echoed(host), '3.80.0.10/32/32');

  // IPv6 subnets locate the client the same way (an AWS us-east-1 /32, a British /32), and an
  // A query may carry an IPv6 subnet: the family of the subnet is not the family asked for.
  const v6us = (await ask(t, s.dnsPort, 'web.shop.global', '2600:1f18::/32'))!;
  t.deepEqual(answers(v6us, 'A'), [VIRGINIA_GW]);
  t.is(echoed(v6us), '2600:1f18::/32/32');
  const v6uk = (await ask(t, s.dnsPort, 'web.shop.global', '2a02:8010::/32'))!;
  t.deepEqual(answers(v6uk, 'A'), [LONDON_GW]);
  t.is(echoed(v6uk), '2a02:8010::/32/32');
});

test('policy spread: every cluster, nearest to the ECS client first', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'catalog.yaml'), catalog);
  const sp = await startInProcess(t, config().replace('policy: failover', 'policy: spread'), dir);
  const uk = await ask(t, sp.dnsPort, 'web.shop.global', BRITAIN);
  if (!uk) return;
  t.deepEqual(answers(uk, 'A'), [LONDON_GW, VIRGINIA_GW]);
  t.is(echoed(uk), '81.2.69.0/24/24');
  const us = (await ask(t, sp.dnsPort, 'web.shop.global', ASHBURN))!;
  t.deepEqual(answers(us, 'A'), [VIRGINIA_GW, LONDON_GW]);
  t.is(echoed(us), '3.80.0.0/24/24');
});

test('local and negative answers do not depend on the subnet: echoed with scope 0', async (t) => {
  const s = await serve(t, catalog);
  const cart = await ask(t, s.dnsPort, 'cart.shop.global', ASHBURN);
  if (!cart) return;
  t.deepEqual(answers(cart, 'A'), [LOCAL_CART], 'healthy here: the local ClusterIP, wherever the client is');
  t.is(echoed(cart), '3.80.0.0/24/0');
  const missing = (await ask(t, s.dnsPort, 'nosuch.shop.global', BRITAIN))!;
  t.is(missing.status, 'NXDOMAIN');
  t.is(echoed(missing), '81.2.69.0/24/0');
  const apex = (await dig(t, s.dnsPort, ['global', 'SOA', `+subnet=${BRITAIN}`]))!;
  t.is(echoed(apex), '81.2.69.0/24/0');
  // RFC 7871 §7.1.2: SOURCE PREFIX-LENGTH 0 means "do not use my address"; the scope must be 0.
  const optOut = (await ask(t, s.dnsPort, 'web.shop.global', '0.0.0.0/0'))!;
  t.deepEqual(answers(optOut, 'A'), [LONDON_GW], 'answered as without ECS');
  t.is(echoed(optOut), '0.0.0.0/0/0');
});

for (const [what, subnet] of [
  ['a private subnet', PRIVATE],
  ['a public subnet geoip-lite cannot place', UNPLACEABLE],
  ['a unique local IPv6 subnet', 'fd00:1:2::/48'],
] as const) {
  test(`${what} falls back to the local cluster's locality, and is still echoed`, async (t) => {
    const s = await serve(t, catalog);
    const plain = await ask(t, s.dnsPort, 'web.shop.global');
    if (!plain) return;
    const r = (await ask(t, s.dnsPort, 'web.shop.global', subnet))!;
    t.is(r.status, 'NOERROR');
    t.deepEqual(answers(r, 'A'), answers(plain, 'A'), 'the same answer as without ECS');
    t.deepEqual(answers(r, 'A'), [LONDON_GW]);
    // Still scoped: another subnet of the same length could be placed elsewhere.
    const prefix = Number(subnet.split('/')[1]);
    t.is(echoed(r), `${subnet}/${prefix}`);
    const { body } = await resolve(s.httpPort, `name=web.shop.global&subnet=${encodeURIComponent(subnet)}`);
    t.like(body.explanation.client, { region: 'ap-south-1', zone: 'ap-south-1a', location: MUMBAI, ecsSourcePrefix: prefix });
  });
}

test('with locality.ecs: false the option is ignored: no echo, no effect, geoip-lite never loaded', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'catalog.yaml'), catalog);
  const s = await startInProcess(t, config().replace('locality: {ecs: true}', 'locality: {ecs: false}'), dir);
  const r = await ask(t, s.dnsPort, 'web.shop.global', ASHBURN);
  if (!r) return;
  t.is(r.status, 'NOERROR');
  t.deepEqual(answers(r, 'A'), [LONDON_GW], 'ranked from Mumbai, not Ashburn');
  t.is(echoed(r), undefined);
  t.notRegex(r.raw, /CLIENT-SUBNET/);
  t.truthy(r.edns, 'the OPT record itself still comes back');
  const local = (await ask(t, s.dnsPort, 'cart.shop.global', BRITAIN))!;
  t.is(echoed(local), undefined);
  t.false(s.geoip.loaded);
});

test('a cluster without `location` is placed by geoip-lite from its gateway address', async (t) => {
  const s = await serve(t, geoCatalog);
  t.false(s.geoip.loaded, 'nothing needed geoip-lite yet');
  const plain = await ask(t, s.dnsPort, 'web.shop.global');
  if (!plain) return;
  // Unplaced, geo would rank last (unknown location) and virginia would answer. Placed in Britain
  // by its gateway, it is nearer Mumbai than Ashburn is.
  t.deepEqual(answers(plain, 'A'), [GEO_GATEWAY]);
  t.true(s.geoip.loaded, 'ranking an unlocated cluster loads geoip-lite');
  t.deepEqual(answers((await ask(t, s.dnsPort, 'web.shop.global', ASHBURN))!, 'A'), [VIRGINIA_GW]);
  t.deepEqual(answers((await ask(t, s.dnsPort, 'web.shop.global', BRITAIN))!, 'A'), [GEO_GATEWAY]);
  const { body } = await resolve(s.httpPort, 'name=web.shop.global');
  t.is(body.kind, 'remote');
  t.deepEqual(body.clusters, ['geo']);
  // Mumbai → St Albans (geoip-lite's point for 81.2.69.160) is about 7,200 km.
  const step = body.explanation.steps.find((x) => x.startsWith('policy failover'));
  const km = Number(/nearest \((\d+) km\) \(geo\)/.exec(step ?? '')?.[1]);
  t.true(km > 7000 && km < 7400, step);
});

test('/debug/resolve?subnet= shows the distance-based ranking from where the subnet is', async (t) => {
  const s = await serve(t, catalog);
  const uk = await resolve(s.httpPort, `name=web.shop.global&type=A&subnet=${encodeURIComponent(BRITAIN)}`);
  t.is(uk.status, 200);
  t.is(uk.body.kind, 'remote');
  t.deepEqual(uk.body.clusters, ['london']);
  const client = uk.body.explanation.client;
  t.is(client.ecsSourcePrefix, 24);
  t.is(client.region, undefined, 'an ECS-located client has a location, no region or zone');
  t.true(Math.abs(client.location!.lat - 51.75) < 0.5 && Math.abs(client.location!.lon + 0.33) < 0.5, JSON.stringify(client));
  const byName = new Map(uk.body.explanation.candidates.map((c) => [c.cluster, c]));
  const london = byName.get('london')!;
  const virginia = byName.get('virginia')!;
  t.like(london, { tier: 2, kept: true, order: 1 });
  t.true(london.distanceKm! < 100, `St Albans → London: ${london.distanceKm} km`);
  t.like(virginia, { tier: 2, kept: false });
  t.true(virginia.distanceKm! > 5700 && virginia.distanceKm! < 6100, `St Albans → Ashburn: ${virginia.distanceKm} km`);
  t.regex(virginia.reason, /outside the best tier \(nearest/);
  t.regex(uk.body.text, /policy failover: best tier = nearest \(\d{2} km\) \(london\)/);
  t.regex(uk.body.text, /#1 kept {4}london tier=2 distance=\d{2}km/);

  const us = await resolve(s.httpPort, `name=web.shop.global&subnet=${encodeURIComponent(ASHBURN)}`);
  t.deepEqual(us.body.clusters, ['virginia']);
  const v = us.body.explanation.candidates.find((c) => c.cluster === 'virginia')!;
  t.like(v, { kept: true, order: 1, tier: 2 });
  t.true(v.distanceKm! < 20, `Ashburn → Ashburn: ${v.distanceKm} km`);

  // Without a subnet the client is the local cluster, with its region, zone and location.
  const here = await resolve(s.httpPort, 'name=web.shop.global');
  t.like(here.body.explanation.client, { region: 'ap-south-1', location: MUMBAI });
  t.is(here.body.explanation.client.ecsSourcePrefix, undefined);
  t.deepEqual(here.body.clusters, ['london']);

  const bad = await resolve(s.httpPort, 'name=web.shop.global&subnet=81.2.69.0/33');
  t.is(bad.status, 400);
  t.regex(bad.body.error ?? '', /invalid subnet/);
});

// Known defect (see the report on issue 6): the ranking uses the gateway's geolocation, but the
// explanation recomputes each candidate's tier from the catalog alone, so /debug/resolve and
// `gsdns explain` list the cluster that was chosen as "tier=3 … unknown location" (while the step
// above says "nearest (7206 km)"). Remove `.failing` when answer.ts passes the located catalog to
// the explanation.
test('/debug/resolve lists a gateway-located cluster in the distance tier, with its distance', async (t) => {
  const s = await serve(t, geoCatalog);
  const { body } = await resolve(s.httpPort, 'name=web.shop.global');
  const geo = body.explanation.candidates.find((c) => c.cluster === 'geo')!;
  t.like(geo, { tier: 2, kept: true, order: 1 });
  t.true(geo.distanceKm !== undefined && geo.distanceKm > 7000 && geo.distanceKm < 7400, JSON.stringify(geo));
  t.regex(geo.reason, /nearest/);
});
