/**
 * SPEC §1 rows 2–3 and §3 in depth: tiers, distance, unknown location, RTT and name tie breaks,
 * gateway health, staleness, the maxAnswers cap, fail-open content, ECS scope, multi-label zones,
 * and the local cluster's own catalog.
 */
import test from 'ava';
import { answer } from '../../../src/answer/answer.js';
import type { ClientLocality } from '../../../src/answer/types.js';
import { Registry } from '../../../src/registry/registry.js';
import type { ClusterCatalog, GeoLocation, LocalService } from '../../../src/registry/types.js';
import { ask, context, demoRegistry, FakeHealth, markStale, HTTP, INITIAL_SERIAL, soaAuthority, summarize } from './fixture.js';

const DUBLIN: GeoLocation = { lat: 53.35, lon: -6.26 };
const LONDON: GeoLocation = { lat: 51.51, lon: -0.13 };
const FRANKFURT: GeoLocation = { lat: 50.11, lon: 8.68 };
const VIRGINIA: GeoLocation = { lat: 39.0, lon: -77.5 };
const SYDNEY: GeoLocation = { lat: -33.87, lon: 151.21 };

function remote(cluster: string, extra: Partial<ClusterCatalog> & { address?: string; ready?: boolean }): ClusterCatalog {
  return {
    cluster,
    gateways: [{ address: extra.address ?? '192.0.2.1', port: 15443 }],
    services: [{ namespace: 'ns', name: 'svc', ready: extra.ready ?? true, ports: [HTTP] }],
    ...extra,
  };
}

function registryOf(remotes: readonly ClusterCatalog[], locals: readonly LocalService[] = []): Registry {
  const r = new Registry({ initialSerial: INITIAL_SERIAL });
  r.replaceLocal(locals);
  r.replaceRemotes('sync', remotes);
  return r;
}

const order = (d: ReturnType<typeof ask>) => d.answers.map((r) => (r.data.type === 1 || r.data.type === 28 ? r.data.address : '?'));

const SVC = 'svc.ns.global';

test('zone tier: failover keeps only same-zone clusters; spread puts them first', (t) => {
  const registry = registryOf([
    remote('c-zone-a', { region: 'eu-west-1', zone: 'eu-west-1a', address: '192.0.2.1' }),
    remote('c-zone-a2', { region: 'eu-west-1', zone: 'eu-west-1a', address: '192.0.2.2' }),
    remote('c-region', { region: 'eu-west-1', zone: 'eu-west-1b', address: '192.0.2.3' }),
    remote('c-far', { region: 'us-east-1', address: '192.0.2.4' }),
  ]);
  const client: ClientLocality = { region: 'eu-west-1', zone: 'eu-west-1a' };
  const failover = ask(SVC, 'A', { registry, client });
  t.deepEqual(order(failover), ['192.0.2.1', '192.0.2.2']);
  t.deepEqual([...failover.clusters], ['c-zone-a', 'c-zone-a2']);
  t.deepEqual(order(ask(SVC, 'A', { registry, client, options: { policy: 'spread' } })), [
    '192.0.2.1',
    '192.0.2.2',
    '192.0.2.3',
    '192.0.2.4',
  ]);
});

test('a zone name shared across regions is not "same zone"', (t) => {
  const registry = registryOf([
    remote('c-other-region', { region: 'us-east-1', zone: 'a', address: '192.0.2.1' }),
    remote('c-same-region', { region: 'eu-west-1', zone: 'b', address: '192.0.2.2' }),
  ]);
  const d = ask(SVC, 'A', { registry, client: { region: 'eu-west-1', zone: 'a' } });
  t.deepEqual(order(d), ['192.0.2.2']);
});

test('region tier: every healthy cluster of the region under failover', (t) => {
  const registry = registryOf([
    remote('c-r1', { region: 'eu-west-1', address: '192.0.2.1' }),
    remote('c-r2', { region: 'eu-west-1', address: '192.0.2.2' }),
    remote('c-far', { region: 'us-east-1', address: '192.0.2.3', location: DUBLIN }),
  ]);
  const d = ask(SVC, 'A', { registry, client: { region: 'eu-west-1', location: DUBLIN } });
  t.deepEqual(order(d), ['192.0.2.1', '192.0.2.2']);
});

test('distance tier: failover returns the single nearest; spread orders by distance; unknown location last', (t) => {
  const registry = registryOf([
    remote('a-unknown', { address: '192.0.2.1' }),
    remote('b-virginia', { location: VIRGINIA, address: '192.0.2.2' }),
    remote('c-frankfurt', { location: FRANKFURT, address: '192.0.2.3' }),
    remote('d-london', { location: LONDON, address: '192.0.2.4' }),
    remote('e-sydney', { location: SYDNEY, address: '192.0.2.5' }),
  ]);
  const client: ClientLocality = { location: DUBLIN };
  const failover = ask(SVC, 'A', { registry, client });
  t.deepEqual(order(failover), ['192.0.2.4']);
  t.deepEqual([...failover.clusters], ['d-london']);
  const spread = ask(SVC, 'A', { registry, client, options: { policy: 'spread' } });
  t.deepEqual([...spread.clusters], ['d-london', 'c-frankfurt', 'b-virginia', 'e-sydney', 'a-unknown']);
  const london = spread.explanation.candidates.find((c) => c.cluster === 'd-london')!;
  t.is(london.tier, 2);
  t.true(london.distanceKm! > 400 && london.distanceKm! < 500);
});

test('unknown location only: failover picks the single first by RTT then name', (t) => {
  const registry = registryOf([remote('b', { address: '192.0.2.2' }), remote('a', { address: '192.0.2.1' })]);
  t.deepEqual(order(ask(SVC, 'A', { registry })), ['192.0.2.1']);
  const health = new FakeHealth().set('b', '192.0.2.2', 15443, { rttMs: 5 });
  t.deepEqual(order(ask(SVC, 'A', { registry, health })), ['192.0.2.2']);
});

test('client without locality: everything is unknown location, ordered by RTT then name', (t) => {
  const registry = registryOf([
    remote('a', { region: 'eu-west-1', location: DUBLIN, address: '192.0.2.1' }),
    remote('b', { region: 'us-east-1', address: '192.0.2.2' }),
    remote('c', { address: '192.0.2.3' }),
  ]);
  const health = new FakeHealth().set('c', '192.0.2.3', 15443, { rttMs: 2 });
  const d = ask(SVC, 'A', { registry, health, client: {}, options: { policy: 'spread' } });
  t.deepEqual([...d.clusters], ['c', 'a', 'b']);
});

test('RTT breaks ties within a tier; unknown RTT after known', (t) => {
  const registry = registryOf([
    remote('a-nortt', { region: 'eu-west-1', address: '192.0.2.1' }),
    remote('b-slow', { region: 'eu-west-1', address: '192.0.2.2' }),
    remote('c-fast', { region: 'eu-west-1', address: '192.0.2.3' }),
  ]);
  const health = new FakeHealth()
    .set('b-slow', '192.0.2.2', 15443, { healthy: true, rttMs: 30 })
    .set('c-fast', '192.0.2.3', 15443, { healthy: true, rttMs: 10 });
  const d = ask(SVC, 'A', { registry, health, client: { region: 'eu-west-1' }, options: { policy: 'spread' } });
  t.deepEqual([...d.clusters], ['c-fast', 'b-slow', 'a-nortt']);
  // failover keeps the whole region tier, in the same order
  t.deepEqual([...ask(SVC, 'A', { registry, health, client: { region: 'eu-west-1' } }).clusters], ['c-fast', 'b-slow', 'a-nortt']);
});

test('co-located clusters tie on distance, and RTT decides', (t) => {
  const registry = registryOf([
    remote('a', { location: LONDON, address: '192.0.2.1' }),
    remote('b', { location: { lat: 51.5101, lon: -0.1301 }, address: '192.0.2.2' }),
  ]);
  const health = new FakeHealth().set('b', '192.0.2.2', 15443, { rttMs: 1 }).set('a', '192.0.2.1', 15443, { rttMs: 9 });
  t.deepEqual(order(ask(SVC, 'A', { registry, health, client: { location: DUBLIN } })), ['192.0.2.2']);
});

test('cluster name breaks the remaining ties, independent of insertion order', (t) => {
  const catalogs = ['zeta', 'alpha', 'mid'].map((c, i) => remote(c, { region: 'eu-west-1', address: `192.0.2.${i + 1}` }));
  for (const list of [catalogs, [...catalogs].reverse()]) {
    const d = ask(SVC, 'A', { registry: registryOf(list), client: { region: 'eu-west-1' }, options: { policy: 'spread' } });
    t.deepEqual([...d.clusters], ['alpha', 'mid', 'zeta']);
  }
});

test('unhealthy gateways are filtered; a cluster with none left is not a candidate', (t) => {
  const registry = registryOf([
    {
      ...remote('west', { region: 'eu-west-1' }),
      gateways: [
        { address: '192.0.2.10', port: 15443 },
        { address: '192.0.2.11', port: 15443 },
      ],
    },
    remote('east', { region: 'us-east-1', address: '198.51.100.10' }),
  ]);
  const client = { region: 'eu-west-1' };
  const oneDown = new FakeHealth().set('west', '192.0.2.10', 15443, { healthy: false });
  t.deepEqual(order(ask(SVC, 'A', { registry, client, health: oneDown })), ['192.0.2.11']);
  const allDown = new FakeHealth()
    .set('west', '192.0.2.10', 15443, { healthy: false })
    .set('west', '192.0.2.11', 15443, { healthy: false });
  const d = ask(SVC, 'A', { registry, client, health: allDown });
  t.is(d.kind, 'remote');
  t.deepEqual(order(d), ['198.51.100.10']);
  const west = d.explanation.candidates.find((c) => c.cluster === 'west')!;
  t.false(west.kept);
  t.deepEqual(
    west.gateways.map((g) => g.healthy),
    [false, false],
  );
  t.regex(west.reason, /no healthy gateway/);
});

test('demo: cluster-west gateway down → reviews fails over to cluster-east', (t) => {
  const health = new FakeHealth().set('cluster-west', '192.0.2.10', 15443, { healthy: false });
  const d = ask('reviews.bookinfo.global', 'A', { health });
  t.deepEqual(summarize(d).answers, ['reviews.bookinfo.global 5 A 198.51.100.10']);
  t.deepEqual([...d.clusters], ['cluster-east']);
});

test('stale catalogs are not used for healthy answers, but are for fail open', (t) => {
  const registry = demoRegistry();
  markStale(registry, 'cluster-west');
  const d = ask('reviews.bookinfo.global', 'A', { registry, options: { policy: 'spread' } });
  t.is(d.kind, 'remote');
  t.deepEqual(order(d), ['198.51.100.10']);
  t.regex(d.explanation.candidates.find((c) => c.cluster === 'cluster-west')!.reason, /stale/);
  markStale(registry, 'cluster-east');
  const degraded = ask('reviews.bookinfo.global', 'A', { registry });
  t.is(degraded.kind, 'degraded');
  // Local ClusterIP first (nearest), then every gateway in rank order, TTL 1.
  t.deepEqual(summarize(degraded).answers, [
    'reviews.bookinfo.global 1 A 10.96.0.30',
    'reviews.bookinfo.global 1 A 192.0.2.10',
    'reviews.bookinfo.global 1 A 198.51.100.10',
  ]);
  t.deepEqual([...degraded.clusters], ['cluster-west', 'cluster-east']);
});

test('withdrawn catalogs are gone: the name becomes unknown', (t) => {
  const registry = demoRegistry();
  registry.removeRemote('cluster-east', 'file');
  t.is(ask('legacy.bookinfo.global', 'A', { registry }).kind, 'nxdomain');
});

test('fail open uses every gateway, unhealthy and not-ready alike, in rank order', (t) => {
  const registry = registryOf([
    {
      ...remote('west', { region: 'eu-west-1', ready: false }),
      gateways: [
        { address: '192.0.2.10', port: 15443 },
        { address: '2001:db8::10', port: 15443 },
      ],
    },
    remote('east', { region: 'us-east-1', address: '198.51.100.10' }),
  ]);
  const health = new FakeHealth().set('east', '198.51.100.10', 15443, { healthy: false });
  const d = ask(SVC, 'A', { registry, health, client: { region: 'eu-west-1' } });
  t.is(d.kind, 'degraded');
  t.deepEqual(order(d), ['192.0.2.10', '198.51.100.10']);
  t.true(d.answers.every((r) => r.ttl === 1));
  t.deepEqual(order(ask(SVC, 'AAAA', { registry, health, client: { region: 'eu-west-1' } })), ['2001:db8::10']);
  const reasons = d.explanation.candidates.map((c) => [c.cluster, c.kept, c.order]);
  t.deepEqual(reasons, [
    ['east', true, 2],
    ['west', true, 1],
  ]);
});

test('a stale local source: local answers keep their addresses with TTL min(ttl, degradedTtl)', (t) => {
  const fresh = ask('productpage.bookinfo.global', 'A', { options: { ttlSeconds: 30, degradedTtlSeconds: 3 } });
  const stale = ask('productpage.bookinfo.global', 'A', { options: { ttlSeconds: 30, degradedTtlSeconds: 3 }, localStale: true });
  t.is(fresh.kind, 'local');
  t.is(stale.kind, 'local');
  t.deepEqual(
    stale.answers.map((r) => r.data),
    fresh.answers.map((r) => r.data),
  );
  t.true(fresh.answers.every((r) => r.ttl === 30));
  t.true(stale.answers.every((r) => r.ttl === 3));
  t.regex(stale.explanation.steps.join('\n'), /local source is stale/);
  // A remote answer (reviews has no ready endpoint here) is not this cluster's stale data.
  const remote = ask('reviews.bookinfo.global', 'A', { options: { ttlSeconds: 30, degradedTtlSeconds: 3 }, localStale: true });
  t.is(remote.kind, 'remote');
  t.true(remote.answers.every((r) => r.ttl === 30));
});

test('fail-open TTL is min(ttl, degradedTtl)', (t) => {
  t.is(ask('legacy.bookinfo.global', 'A', { options: { ttlSeconds: 30, degradedTtlSeconds: 3 } }).answers[0]!.ttl, 3);
  t.is(ask('legacy.bookinfo.global', 'A', { options: { ttlSeconds: 2, degradedTtlSeconds: 10 } }).answers[0]!.ttl, 2);
});

test('local service without ready endpoints and no exporter → fail open to its ClusterIP', (t) => {
  const registry = registryOf(
    [],
    [{ kind: 'clusterIP', namespace: 'ns', name: 'svc', clusterIPs: ['10.96.1.1', 'fd00::1'], readyEndpoints: 0, ports: [HTTP] }],
  );
  const d = ask(SVC, 'A', { registry });
  t.deepEqual(summarize(d), {
    kind: 'degraded',
    rcode: 0,
    aa: true,
    answers: [`${SVC} 1 A 10.96.1.1`],
    authority: [],
    additional: [],
    clusters: [],
    ecs: 0,
  });
  t.deepEqual(summarize(ask(SVC, 'AAAA', { registry })).answers, [`${SVC} 1 AAAA fd00::1`]);
});

test('headless service with no ready endpoint and no exporter → NODATA, never NXDOMAIN', (t) => {
  const registry = registryOf(
    [],
    [{ kind: 'headless', namespace: 'ns', name: 'svc', endpoints: [{ address: '10.1.1.1', ready: false }], ports: [HTTP] }],
  );
  for (const type of ['A', 'AAAA', 'ANY'] as const) {
    const d = ask(SVC, type, { registry });
    t.is(d.kind, 'nodata');
    t.is(d.rcode, 0);
    t.deepEqual(summarize(d).authority, soaAuthority());
  }
});

test('maxAnswers caps remote and fail-open answers, not local ones', (t) => {
  const many = (prefix: string) => Array.from({ length: 6 }, (_, i) => ({ address: `${prefix}.${i + 1}`, port: 15443 }));
  const registry = registryOf(
    [
      { ...remote('a', { region: 'eu-west-1' }), gateways: many('192.0.2') },
      { ...remote('b', { region: 'eu-west-1' }), gateways: many('198.51.100') },
    ],
    [
      {
        kind: 'headless',
        namespace: 'ns',
        name: 'big',
        ports: [HTTP],
        endpoints: Array.from({ length: 40 }, (_, i) => ({ address: `10.0.${i >> 4}.${i}`, ready: true })),
      },
    ],
  );
  const client = { region: 'eu-west-1' };
  const d = ask(SVC, 'A', { registry, client, options: { maxAnswers: 4 } });
  t.deepEqual(order(d), ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4']);
  t.deepEqual([...d.clusters], ['a'], 'only clusters whose gateways were returned');
  t.is(ask(SVC, 'A', { registry, client, options: { maxAnswers: 8 } }).answers.length, 8);
  t.is(ask(SVC, 'A', { registry, client, options: { maxAnswers: 3, policy: 'spread' } }).answers.length, 3);
  const notReady = new Registry({ initialSerial: 1 });
  notReady.replaceRemotes('sync', [{ ...remote('a', { ready: false }), gateways: many('192.0.2') }]);
  t.is(ask(SVC, 'A', { registry: notReady, options: { maxAnswers: 2 } }).answers.length, 2);
  t.is(ask('big.ns.global', 'A', { registry, options: { maxAnswers: 2 } }).answers.length, 40);
});

test('duplicate addresses across clusters and endpoints are returned once', (t) => {
  const registry = registryOf(
    [remote('a', { region: 'r', address: '192.0.2.1' }), remote('b', { region: 'r', address: '192.0.2.1' })],
    [
      {
        kind: 'headless',
        namespace: 'ns',
        name: 'dup',
        ports: [HTTP],
        endpoints: [
          { address: '10.1.1.1', ready: true },
          { address: '10.1.1.1', ready: true },
        ],
      },
    ],
  );
  t.deepEqual(order(ask(SVC, 'A', { registry, client: { region: 'r' } })), ['192.0.2.1']);
  t.deepEqual(order(ask('dup.ns.global', 'A', { registry })), ['10.1.1.1']);
});

test('SRV over several gateway ports: one SRV per distinct port, with target C.S.N.Z', (t) => {
  const registry = registryOf([
    {
      ...remote('a', { region: 'r' }),
      gateways: [
        { address: '192.0.2.1', port: 15443 },
        { address: '192.0.2.2', port: 15444 },
        { address: '2001:db8::1', port: 15443 },
      ],
    },
  ]);
  const d = ask('_http._tcp.svc.ns.global', 'SRV', { registry, client: { region: 'r' } });
  t.deepEqual(summarize(d).answers, [
    '_http._tcp.svc.ns.global 5 SRV 0 100 15443 a.svc.ns.global',
    '_http._tcp.svc.ns.global 5 SRV 0 100 15444 a.svc.ns.global',
  ]);
  t.deepEqual(summarize(d).additional, [
    'a.svc.ns.global 5 A 192.0.2.1',
    'a.svc.ns.global 5 A 192.0.2.2',
    'a.svc.ns.global 5 AAAA 2001:db8::1',
  ]);
});

test('SRV: a healthy local service without that port → NODATA (no failover by port)', (t) => {
  const registry = registryOf(
    [
      {
        ...remote('a', {}),
        services: [{ namespace: 'ns', name: 'svc', ready: true, ports: [{ name: 'grpc', port: 9090, protocol: 'TCP' }] }],
      },
    ],
    [{ kind: 'clusterIP', namespace: 'ns', name: 'svc', clusterIPs: ['10.96.1.1'], readyEndpoints: 1, ports: [HTTP] }],
  );
  const d = ask('_grpc._tcp.svc.ns.global', 'SRV', { registry });
  t.is(d.kind, 'nodata');
  t.is(ask('_http._tcp.svc.ns.global', 'SRV', { registry }).kind, 'local');
});

test('ECS: remote and fail-open answers are scoped to the source prefix; local and negative ones to 0', (t) => {
  const client: ClientLocality = { region: 'eu-west-1', zone: 'eu-west-1a', ecsSourcePrefix: 24 };
  t.is(ask('reviews.bookinfo.global', 'A', { client }).ecsScopePrefix, 24);
  t.is(ask('legacy.bookinfo.global', 'A', { client }).ecsScopePrefix, 24);
  t.is(ask('_http._tcp.reviews.bookinfo.global', 'SRV', { client }).ecsScopePrefix, 24);
  t.is(ask('productpage.bookinfo.global', 'A', { client }).ecsScopePrefix, 0);
  t.is(ask('nothing.bookinfo.global', 'A', { client }).ecsScopePrefix, 0);
  t.is(ask('legacy.bookinfo.global', 'AAAA', { client }).ecsScopePrefix, 0, 'fail-open NODATA does not depend on the client');
  t.is(ask('global', 'SOA', { client }).ecsScopePrefix, 0);
  // A remote NODATA depended on the tier the client selected.
  t.is(ask('reviews.bookinfo.global', 'AAAA', { client }).ecsScopePrefix, 24);
});

test("the local cluster's own catalog is never a remote candidate", (t) => {
  const registry = registryOf([
    remote('demo-local', { region: 'eu-west-1', address: '203.0.113.10' }),
    remote('cluster-east', { region: 'us-east-1', address: '198.51.100.10' }),
  ]);
  const d = ask(SVC, 'A', { registry, options: { policy: 'spread' } });
  t.deepEqual(order(d), ['198.51.100.10']);
  const own = d.explanation.candidates.find((c) => c.cluster === 'demo-local')!;
  t.false(own.kept);
  t.regex(own.reason, /local cluster/);
  const onlySelf = registryOf([remote('demo-local', { address: '203.0.113.10' })]);
  t.is(ask(SVC, 'A', { registry: onlySelf }).kind, 'nxdomain');
});

test('multi-label zones: the longest zone wins, and its SOA is the one returned', (t) => {
  const options = { zones: ['global', 'mesh.example.org', 'svc.global'] };
  const d = ask('reviews.bookinfo.mesh.example.org', 'A', { options });
  t.deepEqual(summarize(d).answers, ['reviews.bookinfo.mesh.example.org 5 A 192.0.2.10']);
  t.deepEqual(summarize(ask('Reviews.BookInfo.Mesh.Example.ORG', 'A', { options })).answers, [
    'reviews.bookinfo.mesh.example.org 5 A 192.0.2.10',
  ]);
  t.deepEqual(summarize(ask('mesh.example.org', 'SOA', { options })).answers, [
    'mesh.example.org 5 SOA ns.mesh.example.org hostmaster.mesh.example.org S 7200 1800 86400 5',
  ]);
  t.deepEqual(summarize(ask('nothing.mesh.example.org', 'A', { options })).authority, soaAuthority('mesh.example.org'));
  t.is(ask('example.org', 'A', { options }).kind, 'outOfZone');
  // Under svc.global, "bookinfo.svc.global" is a namespace (NODATA); under "global" alone it would
  // be service "bookinfo" in namespace "svc" (NXDOMAIN).
  const ent = ask('bookinfo.svc.global', 'A', { options });
  t.is(ent.kind, 'nodata');
  t.deepEqual(summarize(ent).authority, soaAuthority('svc.global'));
  t.is(ask('bookinfo.svc.global', 'A').kind, 'nxdomain');
  // Zones given with upper case or a trailing dot still match.
  t.is(ask('reviews.bookinfo.global', 'A', { options: { zones: ['GLOBAL.'] } }).kind, 'remote');
});

test('SOA serial follows the registry', (t) => {
  const registry = demoRegistry();
  const serialOf = () => {
    const soa = ask('global', 'SOA', { registry }).answers[0]!.data;
    return soa.type === 6 ? soa.serial : -1;
  };
  const before = serialOf();
  registry.putLocal({ kind: 'clusterIP', namespace: 'x', name: 'y', clusterIPs: ['10.0.0.1'], readyEndpoints: 1, ports: [] });
  t.is(serialOf(), before + 1);
});

test('explanation: demo reviews under failover', (t) => {
  const e = ask('reviews.bookinfo.global', 'A').explanation;
  t.like(e, { zone: 'global', namespace: 'bookinfo', service: 'reviews', shape: 'service', policy: 'failover' });
  t.deepEqual(e.local, { kind: 'clusterIP', healthy: false, reason: 'has 0 ready endpoint(s)' });
  const west = e.candidates.find((c) => c.cluster === 'cluster-west')!;
  const east = e.candidates.find((c) => c.cluster === 'cluster-east')!;
  t.like(west, { exports: true, ready: true, fresh: true, tier: 1, kept: true, order: 1 });
  t.like(east, { exports: true, ready: true, fresh: true, tier: 3, kept: false, order: undefined });
  t.regex(east.reason, /outside the best tier/);
  t.true(e.steps.includes('policy failover: best tier = region eu-west-1 (cluster-west)'), e.steps.join('\n'));
  t.true(e.steps.some((s) => s.startsWith('local service bookinfo/reviews (clusterIP) has 0 ready endpoint(s)')));
});

test('explanation: non-exporting clusters are listed with their freshness', (t) => {
  const registry = demoRegistry();
  markStale(registry, 'cluster-west');
  const e = ask('legacy.bookinfo.global', 'A', { registry }).explanation;
  const west = e.candidates.find((c) => c.cluster === 'cluster-west')!;
  t.like(west, { exports: false, ready: false, fresh: false, kept: false });
  t.regex(west.reason, /does not export/);
  const east = e.candidates.find((c) => c.cluster === 'cluster-east')!;
  t.like(east, { exports: true, ready: false, kept: true, order: 1 });
  t.regex(east.reason, /fail open/);
});

test('explanation: a healthy local answer lists remote exporters as not needed', (t) => {
  const registry = demoRegistry();
  registry.putRemote('sync', {
    cluster: 'cluster-x',
    gateways: [{ address: '192.0.2.99', port: 15443 }],
    services: [{ namespace: 'bookinfo', name: 'productpage', ready: true, ports: [HTTP] }],
  });
  const e = ask('productpage.bookinfo.global', 'A', { registry }).explanation;
  t.like(e.local, { kind: 'clusterIP', healthy: true });
  t.regex(e.candidates.find((c) => c.cluster === 'cluster-x')!.reason, /not needed/);
});

test('explanation: gateway health and RTT are reported', (t) => {
  const health = new FakeHealth().set('cluster-west', '192.0.2.10', 15443, { healthy: true, rttMs: 12.5 });
  const west = ask('reviews.bookinfo.global', 'A', { health }).explanation.candidates.find((c) => c.cluster === 'cluster-west')!;
  t.deepEqual(west.gateways, [{ address: '192.0.2.10', port: 15443, healthy: true, rttMs: 12.5 }]);
});

test('explain: false gives the same decision without candidates or steps', (t) => {
  const ctx = context();
  const q = { name: 'reviews.bookinfo.global', type: 1, class: 1 };
  const full = answer(q, ctx);
  const bare = answer(q, ctx, { explain: false });
  const { explanation: e1, ...d1 } = full;
  const { explanation: e2, ...d2 } = bare;
  t.deepEqual(d1, d2);
  t.deepEqual(e2.steps, []);
  t.deepEqual(e2.candidates, []);
  t.is(e2.shape, e1.shape);
});
