/**
 * Properties of the answer core over random registries, health, clients and questions: the
 * invariants SPEC §1 states for every name, whatever the content.
 */
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import fc from 'fast-check';
import { answer } from '../../../src/answer/answer.js';
import { Rcode, RRType, type AnswerContext, type ClientLocality, type GatewayHealth } from '../../../src/answer/types.js';
import { localityOf } from '../../../src/locality/rank.js';
import { Registry } from '../../../src/registry/registry.js';
import type { ClusterCatalog, LocalService, Protocol } from '../../../src/registry/types.js';

const NAMES = ['a', 'b', 'c'];
const NAMESPACES = ['x', 'y'];
const CLUSTERS = ['local', 'c1', 'c2', 'c3', 'c4'];
const REGIONS = [undefined, 'r1', 'r2'];
const ZONES = [undefined, 'z1', 'z2'];
const ADDRS4 = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '198.51.100.1'];
const ADDRS6 = ['2001:db8::1', '2001:db8::2'];

const ports = fc.uniqueArray(
  fc.record({
    name: fc.constantFrom('http', 'grpc', 'dns'),
    port: fc.integer({ min: 1, max: 65535 }),
    protocol: fc.constantFrom<Protocol>('TCP', 'UDP'),
  }),
  { maxLength: 3, selector: (p) => p.name },
);

const localService: fc.Arbitrary<LocalService> = fc.oneof(
  fc.record({
    kind: fc.constant('clusterIP' as const),
    namespace: fc.constantFrom(...NAMESPACES),
    name: fc.constantFrom(...NAMES),
    ports,
    clusterIPs: fc.subarray(['10.96.0.1', 'fd00::1']),
    readyEndpoints: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({
    kind: fc.constant('headless' as const),
    namespace: fc.constantFrom(...NAMESPACES),
    name: fc.constantFrom(...NAMES),
    ports,
    endpoints: fc.array(fc.record({ address: fc.constantFrom('10.1.0.1', '10.1.0.2', 'fd00::2'), ready: fc.boolean() }), { maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant('externalName' as const),
    namespace: fc.constantFrom(...NAMESPACES),
    name: fc.constantFrom(...NAMES),
    ports,
    externalName: fc.constant('ext.example.com'),
  }),
);

const catalog = (cluster: string): fc.Arbitrary<ClusterCatalog> =>
  fc.record({
    cluster: fc.constant(cluster),
    region: fc.constantFrom(...REGIONS),
    zone: fc.constantFrom(...ZONES),
    location: fc.option(
      fc.record({ lat: fc.double({ min: -90, max: 90, noNaN: true }), lon: fc.double({ min: -180, max: 180, noNaN: true }) }),
      { nil: undefined },
    ),
    gateways: fc.uniqueArray(fc.record({ address: fc.constantFrom(...ADDRS4, ...ADDRS6), port: fc.constantFrom(15443, 15444) }), {
      maxLength: 3,
      selector: (g) => g.address,
    }),
    services: fc.array(
      fc.record({ namespace: fc.constantFrom(...NAMESPACES), name: fc.constantFrom(...NAMES), ready: fc.boolean(), ports }),
      { maxLength: 4 },
    ),
  });

interface World {
  locals: LocalService[];
  remotes: ClusterCatalog[];
  stale: string[];
  health: Record<string, { healthy: boolean | undefined; rttMs: number | undefined }>;
  client: ClientLocality;
  policy: 'failover' | 'spread';
  maxAnswers: number;
}

const world: fc.Arbitrary<World> = fc.record({
  locals: fc.array(localService, { maxLength: 4 }),
  remotes: fc.subarray(CLUSTERS).chain((cs) => fc.tuple(...cs.map(catalog))),
  stale: fc.subarray(CLUSTERS),
  health: fc.dictionary(
    fc.constantFrom(...ADDRS4, ...ADDRS6),
    fc.record({ healthy: fc.constantFrom(true, false, undefined), rttMs: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }) }),
  ),
  client: fc.record({
    region: fc.constantFrom(...REGIONS),
    zone: fc.constantFrom(...ZONES),
    location: fc.option(
      fc.record({ lat: fc.double({ min: -90, max: 90, noNaN: true }), lon: fc.double({ min: -180, max: 180, noNaN: true }) }),
      { nil: undefined },
    ),
    ecsSourcePrefix: fc.option(fc.integer({ min: 0, max: 32 }), { nil: undefined }),
  }),
  policy: fc.constantFrom('failover' as const, 'spread' as const),
  maxAnswers: fc.integer({ min: 1, max: 4 }),
});

const label = fc.constantFrom(...NAMES, ...NAMESPACES, 'ns', '_http', '_grpc', '_tcp', '_udp', 'zz', 'Global', 'A');
const qname = fc.oneof(
  fc.array(label, { maxLength: 5 }).map((ls) => [...ls, 'global'].join('.')),
  fc.array(label, { maxLength: 3 }).map((ls) => [...ls, 'example'].join('.')),
  fc.constant(''),
);
const qtype = fc.constantFrom(RRType.A, RRType.AAAA, RRType.ANY, RRType.SRV, RRType.TXT, RRType.CNAME, RRType.SOA, RRType.NS, 65);

/** SPEC §1/§3 hold in the canonical order (issue 16: rotation off); `rotate` turns it on. */
function build(w: World, rotate = false): AnswerContext {
  const registry = new Registry({ initialSerial: 42 });
  registry.replaceLocal(w.locals);
  // A stale cluster is one whose catalog says its own source is stale (sourceStale).
  registry.replaceRemotes(
    'sync',
    w.remotes.map((c) => (w.stale.includes(c.cluster) ? { ...c, sourceStale: true } : c)),
  );
  const health: GatewayHealth = {
    isHealthy: (_c, a) => w.health[a]?.healthy,
    rttMs: (_c, a) => w.health[a]?.rttMs,
  };
  return {
    options: {
      zones: ['global'],
      ttlSeconds: 5,
      negativeTtlSeconds: 7,
      degradedTtlSeconds: 1,
      maxAnswers: w.maxAnswers,
      policy: w.policy,
      rotate,
      nameservers: ['127.0.0.1'],
      localCluster: 'local',
    },
    registry,
    health,
    client: w.client,
    sourceReady: true,
  };
}

test('SPEC §1 invariants hold for any registry, health, client and question', (t) => {
  fc.assert(
    fc.property(world, qname, qtype, (w, name, type) => {
      const ctx = build(w);
      const d = answer({ name, type, class: 1 }, ctx);
      const lower = name.toLowerCase();
      const inZone = lower === 'global' || lower.endsWith('.global');
      // In-zone names are ours; others are not.
      if (inZone !== (d.kind !== 'outOfZone')) return false;
      if (!inZone) return d.rcode === Rcode.REFUSED && !d.authoritative;
      if (!d.authoritative) return false;
      // Negative answers carry exactly the SOA, with the negative TTL (RFC 2308).
      if (d.kind === 'nxdomain' || d.kind === 'nodata') {
        return (
          d.answers.length === 0 &&
          d.authority.length === 1 &&
          d.authority[0]!.data.type === RRType.SOA &&
          d.authority[0]!.ttl === 7 &&
          d.rcode === (d.kind === 'nxdomain' ? Rcode.NXDOMAIN : Rcode.NOERROR)
        );
      }
      if (d.answers.length === 0 || d.rcode !== Rcode.NOERROR) return false;
      // A known service name is never NXDOMAIN (checked below for S.N.Z); answers are owned by the name.
      if (!d.answers.every((r) => r.name === lower)) return false;
      if (d.kind === 'degraded' && !d.answers.every((r) => r.ttl <= 1)) return false;
      if (d.kind === 'remote' || d.kind === 'degraded') {
        for (const rrtype of [RRType.A, RRType.AAAA]) {
          const n = [...d.answers, ...d.additional].filter((r) => r.data.type === rrtype).length;
          if (n > w.maxAnswers) return false;
        }
        if (d.ecsScopePrefix !== (w.client.ecsSourcePrefix ?? 0)) return false;
        if (d.clusters.includes('local')) return false;
      }
      return true;
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('a known service is never NXDOMAIN, whatever its health', (t) => {
  fc.assert(
    fc.property(world, fc.constantFrom(...NAMES), fc.constantFrom(...NAMESPACES), qtype, (w, s, n, type) => {
      const ctx = build(w);
      const known =
        ctx.registry.localService(n, s) !== undefined || ctx.registry.remoteExports(n, s).some((e) => e.catalog.cluster !== 'local');
      const d = answer({ name: `${s}.${n}.global`, type, class: 1 }, ctx);
      return known ? d.kind !== 'nxdomain' : d.kind === 'nxdomain';
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('remote answers come only from healthy, fresh, ready peers; failover stays in one tier', (t) => {
  fc.assert(
    fc.property(
      world,
      fc.constantFrom(...NAMES),
      fc.constantFrom(...NAMESPACES),
      fc.constantFrom(RRType.A, RRType.AAAA),
      fc.boolean(),
      (w, s, n, type, rotate) => {
        const ctx = build(w, rotate);
        const d = answer({ name: `${s}.${n}.global`, type, class: 1 }, ctx);
        if (d.kind !== 'remote') return true;
        const exports = ctx.registry.remoteExports(n, s);
        const tiers = new Set<number>();
        const kms = new Set<number | undefined>();
        for (const cluster of d.clusters) {
          const ex = exports.find((e) => e.catalog.cluster === cluster);
          if (ex === undefined || !ex.fresh || !ex.service.ready) return false;
          const place = localityOf(w.client, ex.catalog);
          tiers.add(place.tier);
          kms.add(place.distanceKm === undefined ? undefined : Math.round(place.distanceKm));
        }
        for (const r of d.answers) {
          const address = r.data.type === RRType.A || r.data.type === RRType.AAAA ? r.data.address : '';
          if (w.health[address]?.healthy === false) return false;
          if (!d.clusters.some((c) => exports.find((e) => e.catalog.cluster === c)!.catalog.gateways.some((g) => g.address === address)))
            return false;
        }
        if (w.policy === 'failover' && tiers.size > 1) return false;
        // Failover beyond the region keeps the single nearest; with rotation, the clusters of the
        // nearest rank (locality.rttMarginMs), which share a tier and a distance.
        const far = w.policy === 'failover' && [...tiers].some((tier) => tier >= 2);
        if (far && !rotate && d.clusters.length !== 1) return false;
        if (far && rotate && (d.clusters.length < 1 || kms.size !== 1)) return false;
        return true;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

test('decisions do not depend on whether an explanation is built', (t) => {
  fc.assert(
    fc.property(world, qname, qtype, (w, name, type) => {
      const ctx = build(w);
      const { explanation: e1, ...full } = answer({ name, type, class: 1 }, ctx);
      const { explanation: e2, ...bare } = answer({ name, type, class: 1 }, ctx, { explain: false });
      return isDeepStrictEqual(full, bare) && e1.shape === e2.shape && e2.steps.length === 0 && e1.steps.length > 0;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('every remote catalog appears once in the explanation, kept ones numbered in answer order', (t) => {
  fc.assert(
    fc.property(world, fc.constantFrom(...NAMES), fc.constantFrom(...NAMESPACES), (w, s, n) => {
      const ctx = build(w);
      const d = answer({ name: `${s}.${n}.global`, type: RRType.A, class: 1 }, ctx);
      if (d.kind !== 'remote' && d.kind !== 'degraded') return true;
      const c = d.explanation.candidates;
      if (
        c.map((x) => x.cluster).join() !==
        ctx.registry
          .remoteCatalogs()
          .map((x) => x.cluster)
          .join()
      )
        return false;
      const kept = c.filter((x) => x.kept).sort((a, b) => a.order! - b.order!);
      return kept.map((x) => x.cluster).join() === d.clusters.join() && c.every((x) => x.kept === (x.order !== undefined));
    }),
    { numRuns: 1000 },
  );
  t.pass();
});
