/**
 * SPEC §3 "Rank of a remote cluster" and "Tiers" as whole tables: for one client and a set of
 * healthy clusters, the full rank order with each cluster's tier (what `spread` returns) and the
 * subset `failover` keeps. Covers zone, region, distance and unknown tiers; ties broken by RTT
 * (known before unknown) and then by name; failover tiers against spread; and clients located by
 * an ECS subnet, which have a location but no region or zone.
 */
import test from 'ava';
import type { ClientLocality } from '../../../src/locality/rank.js';
import { rankClusters, selectTier, type RankInput, type Tier } from '../../../src/locality/rank.js';
import type { GeoLocation } from '../../../src/registry/types.js';

const DUBLIN: GeoLocation = { lat: 53.35, lon: -6.26 };
const LONDON: GeoLocation = { lat: 51.5, lon: -0.12 };
/** Where geoip-lite 1.4.10 puts 81.2.69.0/24. */
const ST_ALBANS: GeoLocation = { lat: 51.753, lon: -0.3256 };
const FRANKFURT: GeoLocation = { lat: 50.11, lon: 8.68 };
const VIRGINIA: GeoLocation = { lat: 39.0, lon: -77.5 };
/** Where geoip-lite 1.4.10 puts 3.80.0.0/24. */
const ASHBURN: GeoLocation = { lat: 39.0469, lon: -77.4903 };
const MUMBAI: GeoLocation = { lat: 19.08, lon: 72.88 };
const SYDNEY: GeoLocation = { lat: -33.87, lon: 151.21 };

/** The local cluster of most rows: Dublin, eu-west-1, zone eu-west-1a. */
const IN_DUBLIN: ClientLocality = { region: 'eu-west-1', zone: 'eu-west-1a', location: DUBLIN };

interface Row {
  readonly title: string;
  readonly client: ClientLocality;
  readonly clusters: readonly RankInput[];
  /** Every cluster in rank order with its tier: "name:tier" (what spread returns). */
  readonly spread: readonly string[];
  /** What failover keeps. */
  readonly failover: readonly string[];
}

const rows: readonly Row[] = [
  {
    title: 'zone tier: failover keeps every same-zone cluster, RTT first',
    client: IN_DUBLIN,
    clusters: [
      { cluster: 'far', region: 'us-east-1', location: VIRGINIA, rttMs: 1 },
      { cluster: 'zone-b', region: 'eu-west-1', zone: 'eu-west-1a', rttMs: 9 },
      { cluster: 'zone-a', region: 'eu-west-1', zone: 'eu-west-1a', rttMs: 4 },
      { cluster: 'region', region: 'eu-west-1', zone: 'eu-west-1b', rttMs: 1 },
    ],
    spread: ['zone-a:0', 'zone-b:0', 'region:1', 'far:2'],
    failover: ['zone-a', 'zone-b'],
  },
  {
    title: 'zone match needs no region on the cluster side',
    client: IN_DUBLIN,
    clusters: [
      { cluster: 'regionless', zone: 'eu-west-1a' },
      { cluster: 'region', region: 'eu-west-1' },
    ],
    spread: ['regionless:0', 'region:1'],
    failover: ['regionless'],
  },
  {
    title: 'a zone name reused in another region is not the same zone',
    client: { region: 'r1', zone: 'a', location: DUBLIN },
    clusters: [
      { cluster: 'other-a', region: 'r2', zone: 'a', location: LONDON },
      { cluster: 'same-region', region: 'r1', zone: 'b', location: SYDNEY },
    ],
    spread: ['same-region:1', 'other-a:2'],
    failover: ['same-region'],
  },
  {
    title: 'region tier: failover keeps every cluster of the region, however far; distance does not order it',
    client: IN_DUBLIN,
    clusters: [
      { cluster: 'region-far', region: 'eu-west-1', location: SYDNEY, rttMs: 2 },
      { cluster: 'region-near', region: 'eu-west-1', location: LONDON, rttMs: 8 },
      { cluster: 'region-nortt', region: 'eu-west-1', location: DUBLIN },
      { cluster: 'frankfurt', region: 'eu-central-1', location: FRANKFURT, rttMs: 1 },
    ],
    spread: ['region-far:1', 'region-near:1', 'region-nortt:1', 'frankfurt:2'],
    failover: ['region-far', 'region-near', 'region-nortt'],
  },
  {
    title: 'distance tier: failover keeps the single nearest; RTT does not beat distance',
    client: IN_DUBLIN,
    clusters: [
      { cluster: 'virginia', region: 'us-east-1', location: VIRGINIA, rttMs: 1 },
      { cluster: 'frankfurt', region: 'eu-central-1', location: FRANKFURT, rttMs: 50 },
      { cluster: 'london', region: 'eu-west-2', location: LONDON, rttMs: 30 },
      { cluster: 'mumbai', region: 'ap-south-1', location: MUMBAI },
    ],
    spread: ['london:2', 'frankfurt:2', 'virginia:2', 'mumbai:2'],
    failover: ['london'],
  },
  {
    title: 'unknown location ranks after every located cluster, even the farthest',
    client: IN_DUBLIN,
    clusters: [
      { cluster: 'nowhere', rttMs: 1 },
      { cluster: 'sydney', region: 'ap-southeast-2', location: SYDNEY, rttMs: 300 },
    ],
    spread: ['sydney:2', 'nowhere:3'],
    failover: ['sydney'],
  },
  {
    title: 'unknown only: failover keeps the single first, by RTT (known before unknown) then name',
    client: IN_DUBLIN,
    clusters: [{ cluster: 'c' }, { cluster: 'b', rttMs: 20 }, { cluster: 'a' }, { cluster: 'd', rttMs: 10 }],
    spread: ['d:3', 'b:3', 'a:3', 'c:3'],
    failover: ['d'],
  },
  {
    title: 'ties: equal distance (co-located) → RTT, equal RTT → name, unknown RTT last',
    client: IN_DUBLIN,
    clusters: [
      { cluster: 'lon-c', region: 'x', location: LONDON },
      { cluster: 'lon-b', region: 'y', location: LONDON, rttMs: 7 },
      { cluster: 'lon-a', region: 'z', location: LONDON, rttMs: 7 },
      { cluster: 'lon-fast', region: 'w', location: { lat: 51.5001, lon: -0.1201 }, rttMs: 3 },
    ],
    spread: ['lon-fast:2', 'lon-a:2', 'lon-b:2', 'lon-c:2'],
    failover: ['lon-fast'],
  },
  {
    title: 'ties in the zone and region tiers: RTT then name, and failover keeps them all',
    client: { region: 'r', zone: 'z' },
    clusters: [
      { cluster: 'z-b', region: 'r', zone: 'z' },
      { cluster: 'z-a', region: 'r', zone: 'z' },
      { cluster: 'z-slow', region: 'r', zone: 'z', rttMs: 90 },
      { cluster: 'r-a', region: 'r' },
    ],
    spread: ['z-slow:0', 'z-a:0', 'z-b:0', 'r-a:1'],
    failover: ['z-slow', 'z-a', 'z-b'],
  },
  {
    title: 'client with region only (no location): the rest is unknown, by RTT then name',
    client: { region: 'eu-west-1' },
    clusters: [
      { cluster: 'london', region: 'eu-west-2', location: LONDON },
      { cluster: 'virginia', region: 'us-east-1', location: VIRGINIA, rttMs: 80 },
      { cluster: 'dublin', region: 'eu-west-1', location: DUBLIN },
    ],
    spread: ['dublin:1', 'virginia:3', 'london:3'],
    failover: ['dublin'],
  },
  {
    title: 'client with no locality at all: everything unknown',
    client: {},
    clusters: [
      { cluster: 'b', region: 'r', zone: 'z', location: LONDON },
      { cluster: 'a', region: 'r', zone: 'z', location: DUBLIN },
    ],
    spread: ['a:3', 'b:3'],
    failover: ['a'],
  },
  {
    title: 'ECS client in Britain: ranked by distance from the subnet, not by the local region or zone',
    // The local cluster is in eu-west-1a; a cluster in that very zone is no longer "same zone" for
    // a client placed by its subnet, which has a location only.
    client: { location: ST_ALBANS, ecsSourcePrefix: 24 },
    clusters: [
      { cluster: 'dublin-zone', region: 'eu-west-1', zone: 'eu-west-1a', location: DUBLIN, rttMs: 1 },
      { cluster: 'london', region: 'eu-west-2', location: LONDON, rttMs: 40 },
      { cluster: 'virginia', region: 'us-east-1', location: VIRGINIA },
      { cluster: 'unplaced', region: 'eu-west-1', zone: 'eu-west-1a' },
    ],
    spread: ['london:2', 'dublin-zone:2', 'virginia:2', 'unplaced:3'],
    failover: ['london'],
  },
  {
    title: 'ECS client in Ashburn: virginia first, then by distance',
    client: { location: ASHBURN, ecsSourcePrefix: 24 },
    clusters: [
      { cluster: 'london', region: 'eu-west-2', location: LONDON },
      { cluster: 'virginia', region: 'us-east-1', location: VIRGINIA },
      { cluster: 'mumbai', region: 'ap-south-1', location: MUMBAI },
      { cluster: 'frankfurt', region: 'eu-central-1', location: FRANKFURT },
    ],
    spread: ['virginia:2', 'london:2', 'frankfurt:2', 'mumbai:2'],
    failover: ['virginia'],
  },
  {
    title: 'ECS client, only unplaced clusters: unknown, by RTT then name',
    client: { location: ST_ALBANS, ecsSourcePrefix: 24 },
    clusters: [
      { cluster: 'b', region: 'eu-west-2' },
      { cluster: 'a', region: 'eu-west-2' },
      { cluster: 'c', rttMs: 5 },
    ],
    spread: ['c:3', 'a:3', 'b:3'],
    failover: ['c'],
  },
  {
    title: 'nothing to rank',
    client: IN_DUBLIN,
    clusters: [],
    spread: [],
    failover: [],
  },
];

for (const row of rows) {
  test(`rank table: ${row.title}`, (t) => {
    const ranked = rankClusters(row.client, row.clusters);
    t.deepEqual(
      ranked.map((r) => `${r.input.cluster}:${r.tier}`),
      [...row.spread],
      'rank order and tiers',
    );
    t.deepEqual(
      selectTier('spread', ranked).map((r) => r.input.cluster),
      row.spread.map((s) => s.split(':')[0]),
      'spread: every cluster in rank order',
    );
    t.deepEqual(
      selectTier('failover', ranked).map((r) => r.input.cluster),
      [...row.failover],
      'failover: the best tier',
    );
    // The order must not depend on the order clusters arrive in (registry or sync order).
    t.deepEqual(
      rankClusters(row.client, [...row.clusters].reverse()).map((r) => r.input.cluster),
      ranked.map((r) => r.input.cluster),
      'independent of input order',
    );
  });
}

test('failover is always a prefix of spread: the whole best tier in zone/region, one cluster otherwise', (t) => {
  for (const row of rows) {
    const ranked = rankClusters(row.client, row.clusters);
    const f = selectTier('failover', ranked);
    const s = selectTier('spread', ranked);
    t.deepEqual(f, s.slice(0, f.length), row.title);
    if (ranked.length === 0) continue;
    const best = ranked[0]!.tier;
    const expected = best <= 1 ? ranked.filter((r) => r.tier === best).length : 1;
    t.is(f.length, expected, row.title);
  }
});

test('the ECS source prefix does not change the ranking, only the location does', (t) => {
  const clusters: RankInput[] = [
    { cluster: 'london', location: LONDON },
    { cluster: 'virginia', location: VIRGINIA },
  ];
  const order = (c: ClientLocality) => rankClusters(c, clusters).map((r) => r.input.cluster);
  t.deepEqual(order({ location: ST_ALBANS, ecsSourcePrefix: 24 }), order({ location: ST_ALBANS }));
  t.deepEqual(order({ location: ST_ALBANS, ecsSourcePrefix: 8 }), ['london', 'virginia']);
  t.deepEqual(order({ location: ASHBURN, ecsSourcePrefix: 24 }), ['virginia', 'london']);
});

test('distances are reported from the ECS location', (t) => {
  const [first, second] = rankClusters({ location: ST_ALBANS, ecsSourcePrefix: 24 }, [
    { cluster: 'virginia', location: VIRGINIA },
    { cluster: 'london', location: LONDON },
  ]);
  t.is(first!.input.cluster, 'london');
  t.true(first!.distanceKm! > 20 && first!.distanceKm! < 40, String(first!.distanceKm)); // St Albans → London ≈ 30 km
  t.true(second!.distanceKm! > 5800 && second!.distanceKm! < 6000, String(second!.distanceKm));
});

test('tiers are numbered zone 0, region 1, distance 2, unknown 3', (t) => {
  const tiers: Tier[] = rankClusters(IN_DUBLIN, [
    { cluster: 'z', zone: 'eu-west-1a' },
    { cluster: 'r', region: 'eu-west-1' },
    { cluster: 'd', location: LONDON },
    { cluster: 'u' },
  ]).map((r) => r.tier);
  t.deepEqual(tiers, [0, 1, 2, 3]);
});
