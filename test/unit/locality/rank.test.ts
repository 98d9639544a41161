/** SPEC §3 "Rank of a remote cluster" and "Tiers", on the pure ranking functions. */
import test from 'ava';
import fc from 'fast-check';
import type { ClientLocality } from '../../../src/locality/rank.js';
import { haversineKm, localityOf, rankClusters, selectTier, type RankInput, type Tier } from '../../../src/locality/rank.js';

const DUBLIN = { lat: 53.35, lon: -6.26 };
const LONDON = { lat: 51.51, lon: -0.13 };
const FRANKFURT = { lat: 50.11, lon: 8.68 };
const VIRGINIA = { lat: 39.0, lon: -77.5 };

test('haversine: known distances', (t) => {
  t.is(haversineKm(DUBLIN, DUBLIN), 0);
  const dl = haversineKm(DUBLIN, LONDON);
  t.true(dl > 455 && dl < 470, String(dl)); // ≈ 464 km
  const dv = haversineKm(DUBLIN, VIRGINIA);
  t.true(dv > 5300 && dv < 5600, String(dv));
  const antipodal = haversineKm({ lat: 0, lon: 0 }, { lat: 0, lon: 180 });
  t.true(Math.abs(antipodal - Math.PI * 6371.0088) < 1e-6);
  t.false(Number.isNaN(haversineKm({ lat: 90, lon: 0 }, { lat: -90, lon: 0 })));
  t.is(Math.round(haversineKm(DUBLIN, LONDON)), Math.round(haversineKm(LONDON, DUBLIN)));
});

const tierCases: readonly { title: string; client: ClientLocality; cluster: Omit<RankInput, 'cluster'>; tier: Tier }[] = [
  { title: 'same zone and region', client: { region: 'r1', zone: 'z1' }, cluster: { region: 'r1', zone: 'z1' }, tier: 0 },
  { title: 'same zone, cluster region unknown', client: { region: 'r1', zone: 'z1' }, cluster: { zone: 'z1' }, tier: 0 },
  { title: 'same zone, client region unknown', client: { zone: 'z1' }, cluster: { region: 'r1', zone: 'z1' }, tier: 0 },
  { title: 'same zone name in another region', client: { region: 'r1', zone: 'a' }, cluster: { region: 'r2', zone: 'a' }, tier: 3 },
  { title: 'same region, other zone', client: { region: 'r1', zone: 'z1' }, cluster: { region: 'r1', zone: 'z2' }, tier: 1 },
  { title: 'same region, no zones', client: { region: 'r1' }, cluster: { region: 'r1' }, tier: 1 },
  { title: 'other region, both located', client: { region: 'r1', location: DUBLIN }, cluster: { region: 'r2', location: LONDON }, tier: 2 },
  { title: 'cluster not located', client: { location: DUBLIN }, cluster: { region: 'r2' }, tier: 3 },
  { title: 'client not located', client: { region: 'r1' }, cluster: { location: LONDON }, tier: 3 },
  { title: 'empty strings are unknown', client: { region: '', zone: '' }, cluster: { region: '', zone: '' }, tier: 3 },
  {
    title: 'non-finite coordinates are unknown',
    client: { location: DUBLIN },
    cluster: { location: { lat: Number.NaN, lon: 0 } },
    tier: 3,
  },
];

for (const c of tierCases) {
  test(`tier: ${c.title}`, (t) => {
    t.is(localityOf(c.client, c.cluster).tier, c.tier);
  });
}

test('distance is reported whenever both sides are located, in any tier', (t) => {
  const l = localityOf({ region: 'r1', location: DUBLIN }, { region: 'r1', location: LONDON });
  t.is(l.tier, 1);
  t.true(l.distanceKm! > 400);
  t.is(localityOf({ region: 'r1' }, { region: 'r1', location: LONDON }).distanceKm, undefined);
});

const names = (r: readonly { input: RankInput }[]) => r.map((x) => x.input.cluster);

test('rank: zone, region, distance, unknown; RTT then name inside a tier', (t) => {
  const client: ClientLocality = { region: 'eu-west-1', zone: 'eu-west-1a', location: DUBLIN };
  const ranked = rankClusters(client, [
    { cluster: 'unknown-b' },
    { cluster: 'unknown-a' },
    { cluster: 'virginia', location: VIRGINIA, region: 'us-east-1' },
    { cluster: 'frankfurt', location: FRANKFURT, region: 'eu-central-1' },
    { cluster: 'region-slow', region: 'eu-west-1', rttMs: 20 },
    { cluster: 'region-fast', region: 'eu-west-1', rttMs: 3 },
    { cluster: 'region-nortt', region: 'eu-west-1' },
    { cluster: 'zone', region: 'eu-west-1', zone: 'eu-west-1a' },
    { cluster: 'unknown-rtt', rttMs: 50 },
  ]);
  t.deepEqual(names(ranked), [
    'zone',
    'region-fast',
    'region-slow',
    'region-nortt',
    'frankfurt',
    'virginia',
    'unknown-rtt',
    'unknown-a',
    'unknown-b',
  ]);
  t.deepEqual(
    ranked.map((r) => r.tier),
    [0, 1, 1, 1, 2, 2, 3, 3, 3],
  );
});

test('rank: distance wins over RTT across km; co-located clusters fall through to RTT', (t) => {
  const near = { lat: 51.51, lon: -0.13 };
  const nearToo = { lat: 51.5101, lon: -0.1301 };
  const ranked = rankClusters({ location: DUBLIN }, [
    { cluster: 'far-fast', location: FRANKFURT, rttMs: 1 },
    { cluster: 'near-slow', location: near, rttMs: 40 },
    { cluster: 'near-fast', location: nearToo, rttMs: 10 },
  ]);
  t.deepEqual(names(ranked), ['near-fast', 'near-slow', 'far-fast']);
});

test('rank does not mutate its input', (t) => {
  const input = [{ cluster: 'b' }, { cluster: 'a' }];
  rankClusters({}, input);
  t.deepEqual(names(input.map((i) => ({ input: i }))), ['b', 'a']);
});

const ranked = (client: ClientLocality, ...cs: RankInput[]) => rankClusters(client, cs);

test('selectTier failover: the whole zone tier', (t) => {
  const r = ranked(
    { region: 'r', zone: 'z' },
    { cluster: 'a', region: 'r', zone: 'z' },
    { cluster: 'b', region: 'r', zone: 'z' },
    { cluster: 'c', region: 'r' },
  );
  t.deepEqual(names(selectTier('failover', r)), ['a', 'b']);
});

test('selectTier failover: the whole region tier when no zone match', (t) => {
  const r = ranked(
    { region: 'r', zone: 'z' },
    { cluster: 'a', region: 'r' },
    { cluster: 'b', region: 'r', zone: 'y' },
    { cluster: 'c', region: 'q' },
  );
  t.deepEqual(names(selectTier('failover', r)), ['a', 'b']);
});

test('selectTier failover: the single nearest otherwise', (t) => {
  const r = ranked({ location: DUBLIN }, { cluster: 'v', location: VIRGINIA }, { cluster: 'l', location: LONDON }, { cluster: 'u' });
  t.deepEqual(names(selectTier('failover', r)), ['l']);
  const unknownOnly = ranked({}, { cluster: 'b' }, { cluster: 'a' });
  t.deepEqual(names(selectTier('failover', unknownOnly)), ['a']);
  t.deepEqual(selectTier('failover', []), []);
});

test('selectTier spread: everything in rank order, as a copy', (t) => {
  const r = ranked({ region: 'r' }, { cluster: 'b' }, { cluster: 'a', region: 'r' });
  const s = selectTier('spread', r);
  t.deepEqual(names(s), ['a', 'b']);
  t.not(s, r);
});

const clusterArb = fc.record({
  cluster: fc.string({ minLength: 1, maxLength: 4 }),
  region: fc.option(fc.constantFrom('r1', 'r2'), { nil: undefined }),
  zone: fc.option(fc.constantFrom('z1', 'z2'), { nil: undefined }),
  location: fc.option(
    fc.record({ lat: fc.double({ min: -90, max: 90, noNaN: true }), lon: fc.double({ min: -180, max: 180, noNaN: true }) }),
    { nil: undefined },
  ),
  rttMs: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
});
const clientArb = fc.record({
  region: fc.option(fc.constantFrom('r1', 'r2'), { nil: undefined }),
  zone: fc.option(fc.constantFrom('z1', 'z2'), { nil: undefined }),
  location: fc.option(
    fc.record({ lat: fc.double({ min: -90, max: 90, noNaN: true }), lon: fc.double({ min: -180, max: 180, noNaN: true }) }),
    { nil: undefined },
  ),
});

test('rank is a deterministic permutation, sorted by tier, independent of input order', (t) => {
  fc.assert(
    fc.property(clientArb, fc.uniqueArray(clusterArb, { selector: (c) => c.cluster, maxLength: 8 }), (client, cs) => {
      const a = rankClusters(client, cs);
      const b = rankClusters(client, [...cs].reverse());
      if (names(a).join('\0') !== names(b).join('\0')) return false;
      if (
        [...names(a)].sort().join('\0') !==
        cs
          .map((c) => c.cluster)
          .sort()
          .join('\0')
      )
        return false;
      for (let i = 1; i < a.length; i++) if (a[i - 1]!.tier > a[i]!.tier) return false;
      const f = selectTier('failover', a);
      if (a.length > 0 && (f.length === 0 || f[0] !== a[0] || f.some((x) => x.tier !== a[0]!.tier))) return false;
      if (a.length > 0 && a[0]!.tier >= 2 && f.length !== 1) return false;
      return selectTier('spread', a).length === a.length;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
