/**
 * EcsClient: an ECS client's locality is looked up when first read, once, and falls back to this
 * cluster's locality when the subnet cannot be placed. A hand-written GeoLookup counts lookups.
 */
import test from 'ava';
import { EcsClient, type GeoFix, type GeoLookup } from '../../../src/locality/geoip.js';
import type { ClientLocality } from '../../../src/locality/rank.js';

class CountingGeo implements GeoLookup {
  readonly asked: string[] = [];
  constructor(private readonly places: Readonly<Record<string, GeoFix>>) {}
  locate(address: string): GeoFix | undefined {
    this.asked.push(address);
    return this.places[address];
  }
}

const ST_ALBANS: GeoFix = { lat: 51.75, lon: -0.33, country: 'GB', region: 'ENG', city: 'St Albans' };
const HERE: ClientLocality = { region: 'ap-south-1', zone: 'ap-south-1a', location: { lat: 19.08, lon: 72.88 } };

test('nothing is looked up until a locality field is read; then exactly once', (t) => {
  const geo = new CountingGeo({ '81.2.69.0': ST_ALBANS });
  const c = new EcsClient(geo, { address: '81.2.69.0', sourcePrefix: 24 }, HERE);
  t.is(c.ecsSourcePrefix, 24);
  t.false(c.lookedUp);
  t.deepEqual(geo.asked, [], 'reading the scope prefix does not look anything up');
  t.deepEqual(c.location, { lat: 51.75, lon: -0.33 });
  t.is(c.region, undefined, "a placed subnet has a point, not this cluster's region");
  t.is(c.zone, undefined);
  t.true(c.lookedUp);
  t.deepEqual(geo.asked, ['81.2.69.0']);
});

test('an unplaceable subnet, or /0, is this cluster (SPEC §3); /0 is not even looked up', (t) => {
  const geo = new CountingGeo({});
  const priv = new EcsClient(geo, { address: '10.1.2.0', sourcePrefix: 24 }, HERE);
  t.deepEqual([priv.region, priv.zone, priv.location], [HERE.region, HERE.zone, HERE.location]);
  const zero = new EcsClient(geo, { address: '0.0.0.0', sourcePrefix: 0 }, HERE);
  t.is(zero.region, HERE.region);
  t.deepEqual(geo.asked, ['10.1.2.0']);
});

test('toJSON (explanations) shows the placement and the subnet', (t) => {
  const geo = new CountingGeo({ '81.2.69.0': ST_ALBANS });
  t.deepEqual(JSON.parse(JSON.stringify(new EcsClient(geo, { address: '81.2.69.0', sourcePrefix: 24 }, HERE))), {
    location: { lat: 51.75, lon: -0.33 },
    ecsSourcePrefix: 24,
    ecsSubnet: '81.2.69.0/24',
    placedBy: 'geoip-lite',
  });
  const fallback = JSON.parse(JSON.stringify(new EcsClient(geo, { address: '2001:db8::', sourcePrefix: 48 }, HERE))) as Record<
    string,
    unknown
  >;
  t.like(fallback, { region: 'ap-south-1', zone: 'ap-south-1a', ecsSubnet: '2001:db8::/48' });
  t.regex(String(fallback['placedBy']), /this cluster/);
});
