/**
 * Traffic policies in the answer core (issue 16): rotation of equal-rank addresses, locality.rttMarginMs,
 * policy weighted and weight 0 (drain), dns.localShare with dns.splitTtl, per-service policy and the
 * conflict rule, SRV priority and weight with `C.S.N.Z` targets, and the explanation of the draw.
 * Every query draws as the route draws: one step of a Draws sequence per query.
 */
import test from 'ava';
import { answer } from '../../../src/answer/answer.js';
import { Draws } from '../../../src/answer/order.js';
import type { AnswerContext, ClientLocality, Decision } from '../../../src/answer/types.js';
import { Registry } from '../../../src/registry/registry.js';
import type { ClusterCatalog, LocalService, RemoteService } from '../../../src/registry/types.js';
import { context, FakeHealth, HTTP, INITIAL_SERIAL, summarize } from './fixture.js';

const CLIENT: ClientLocality = { region: 'eu-west-1', zone: 'eu-west-1a' };
const SVC = 'svc.ns.global';

function svc(extra: Partial<RemoteService> = {}): RemoteService {
  return { namespace: 'ns', name: 'svc', ready: true, ports: [HTTP], ...extra };
}

function cluster(name: string, addresses: readonly string[], extra: Partial<ClusterCatalog> = {}): ClusterCatalog {
  return {
    cluster: name,
    region: 'eu-west-1',
    gateways: addresses.map((address) => ({ address, port: 15443 })),
    services: [svc()],
    ...extra,
  };
}

function registryOf(remotes: readonly ClusterCatalog[], locals: readonly LocalService[] = []): Registry {
  const r = new Registry({ initialSerial: INITIAL_SERIAL });
  r.replaceLocal(locals);
  r.replaceRemotes('sync', remotes);
  return r;
}

/** The local ClusterIP service `svc.ns` with `ready` ready endpoints. */
function localSvc(ready: number): LocalService {
  return { kind: 'clusterIP', namespace: 'ns', name: 'svc', ports: [HTTP], clusterIPs: ['10.96.0.1'], readyEndpoints: ready };
}

/** A context that draws per query, as the route's Draws do (rotation on). */
function drawing(o: Parameters<typeof context>[0]): { ctx: AnswerContext; ask: (name: string, type?: number) => Decision } {
  const draws = new Draws();
  const ctx: AnswerContext = { ...context({ client: CLIENT, ...o, options: { rotate: true, ...o?.options } }), draw: draws };
  return {
    ctx,
    ask: (name, type = 1) => {
      draws.next();
      return answer({ name, type, class: 1 }, ctx, { explain: false });
    },
  };
}

const first = (d: Decision): string => {
  const r = d.answers[0];
  return r !== undefined && (r.data.type === 1 || r.data.type === 28) ? r.data.address : '-';
};

/** How often each first address occurs over n queries. */
function firsts(ask: () => Decision, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const a = first(ask());
    m.set(a, (m.get(a) ?? 0) + 1);
  }
  return m;
}

function within(t: import('ava').ExecutionContext, count: number, n: number, share: number, tolerance: number, what: string): void {
  const seen = count / n;
  t.true(
    Math.abs(seen - share) <= tolerance,
    `${what}: first in ${(seen * 100).toFixed(1)}% of ${n} (expected ${share * 100}% ± ${tolerance * 100})`,
  );
}

test('rotation: 3 gateways in each of 2 equal clusters, each address first in its share ±10% over 3,000 queries', (t) => {
  const a = ['192.0.2.1', '192.0.2.2', '192.0.2.3'];
  const b = ['198.51.100.1', '198.51.100.2', '198.51.100.3'];
  const { ask } = drawing({ registry: registryOf([cluster('a', a), cluster('b', b)]) });
  const n = 3000;
  const seen = firsts(() => ask(SVC), n);
  for (const address of [...a, ...b]) within(t, seen.get(address) ?? 0, n, 1 / 6, 0.1 / 6, address);
  // Every answer still holds all six, each once: only the order changes.
  const d = ask(SVC);
  t.deepEqual(d.answers.map((r) => (r.data.type === 1 ? r.data.address : '')).sort(), [...a, ...b].sort());
});

test('rotation: clusters share the first place equally, whatever their number of gateways', (t) => {
  const { ask } = drawing({ registry: registryOf([cluster('a', ['192.0.2.1']), cluster('b', ['198.51.100.1', '198.51.100.2'])]) });
  const n = 3000;
  const seen = firsts(() => ask(SVC), n);
  within(t, seen.get('192.0.2.1') ?? 0, n, 1 / 2, 0.05, 'a');
  within(t, seen.get('198.51.100.1') ?? 0, n, 1 / 4, 0.025, 'b first gateway');
  within(t, seen.get('198.51.100.2') ?? 0, n, 1 / 4, 0.025, 'b second gateway');
});

test('rotation: two names asked in turn each rotate evenly (no per-name counter needed)', (t) => {
  const { ask } = drawing({
    registry: registryOf(
      [cluster('a', ['192.0.2.1']), cluster('b', ['198.51.100.1'])].map((c) => ({ ...c, services: [svc(), svc({ name: 'other' })] })),
    ),
  });
  const m = new Map<string, number>();
  for (let i = 0; i < 2000; i++) {
    const d = ask(SVC);
    ask('other.ns.global');
    m.set(first(d), (m.get(first(d)) ?? 0) + 1);
  }
  within(t, m.get('192.0.2.1') ?? 0, 2000, 0.5, 0.05, 'svc via a, asked every other query');
});

test('rotation off (dns.rotate: false): the canonical order, every query', (t) => {
  const { ask } = drawing({
    registry: registryOf([cluster('a', ['192.0.2.1', '192.0.2.2']), cluster('b', ['198.51.100.1'])]),
    options: { rotate: false },
  });
  const seen = firsts(() => ask(SVC), 50);
  t.deepEqual([...seen.keys()], ['192.0.2.1']);
});

test('locality.rttMarginMs: RTTs within the margin rotate; beyond it the nearer cluster stays first', (t) => {
  const registry = registryOf([cluster('a', ['192.0.2.1']), cluster('b', ['198.51.100.1'])]);
  const health = (rttB: number) =>
    new FakeHealth()
      .set('a', '192.0.2.1', 15443, { healthy: true, rttMs: 10 })
      .set('b', '198.51.100.1', 15443, { healthy: true, rttMs: rttB });
  const near = firsts(drawing({ registry, health: health(13) }).ask.bind(null, SVC), 1000);
  within(t, near.get('198.51.100.1') ?? 0, 1000, 0.5, 0.05, 'b, 3 ms slower (margin 5)');
  const far = firsts(drawing({ registry, health: health(30) }).ask.bind(null, SVC), 200);
  t.deepEqual([...far.keys()], ['192.0.2.1'], 'b, 20 ms slower: a always first');
  const wide = firsts(drawing({ registry, health: health(30), options: { rttMarginMs: 25 } }).ask.bind(null, SVC), 1000);
  within(t, wide.get('198.51.100.1') ?? 0, 1000, 0.5, 0.05, 'b, 20 ms slower, margin 25');
});

test('failover, distance tier: clusters of equal rank share the first place; only the nearest rank is kept', (t) => {
  const at = { lat: 50, lon: 8 };
  const registry = registryOf([
    cluster('a', ['192.0.2.1'], { region: 'x', location: at }),
    cluster('b', ['198.51.100.1'], { region: 'y', location: at }),
    cluster('c', ['203.0.113.1'], { region: 'z', location: { lat: 0, lon: 0 } }),
  ]);
  const seen = firsts(drawing({ registry, client: { location: { lat: 51, lon: 0 } } }).ask.bind(null, SVC), 1000);
  t.deepEqual([...seen.keys()].sort(), ['192.0.2.1', '198.51.100.1']);
  within(t, seen.get('192.0.2.1') ?? 0, 1000, 0.5, 0.05, 'a');
});

test('weighted: weights 300/100, the heavy cluster is first in 75% ± 4% of 4,000 queries; both are in every answer', (t) => {
  const registry = registryOf([cluster('heavy', ['192.0.2.1'], { weight: 300 }), cluster('light', ['198.51.100.1'], { weight: 100 })]);
  const { ask } = drawing({ registry, options: { policy: 'weighted' } });
  const n = 4000;
  const seen = firsts(() => ask(SVC), n);
  within(t, seen.get('192.0.2.1') ?? 0, n, 0.75, 0.04, 'heavy');
  t.is(ask(SVC).answers.length, 2);
});

test('weighted: a per-service weight overrides the catalog weight; weights spread beyond the nearest by distance', (t) => {
  const registry = registryOf([
    cluster('near', ['192.0.2.1'], { region: 'x', location: { lat: 51, lon: 0 }, services: [svc({ weight: 100 })], weight: 900 }),
    cluster('far', ['198.51.100.1'], { region: 'y', location: { lat: 40, lon: -75 } }),
  ]);
  const { ask } = drawing({ registry, client: { location: { lat: 51, lon: 0 } }, options: { policy: 'weighted' } });
  const seen = firsts(() => ask(SVC), 2000);
  within(t, seen.get('198.51.100.1') ?? 0, 2000, 0.5, 0.04, 'far, weight 100 against the service weight 100');
});

test('weight 0 drains a cluster: never in an answer while another is healthy, answered when it is the only one', (t) => {
  const registry = registryOf([cluster('live', ['192.0.2.1']), cluster('drained', ['198.51.100.1'], { weight: 0 })]);
  for (const policy of ['failover', 'spread', 'weighted'] as const) {
    const health = new FakeHealth();
    const { ask } = drawing({ registry, health, options: { policy } });
    for (let i = 0; i < 200; i++) t.deepEqual(summarize(ask(SVC)).clusters, ['live'], policy);
    health.set('live', '192.0.2.1', 15443, { healthy: false });
    t.deepEqual(summarize(ask(SVC)).clusters, ['drained'], `${policy}: live is down`);
  }
});

test('dns.localShare 90: 10% ± 3% of answers remote while local is healthy, TTL capped by dns.splitTtl; 0% with no healthy remote', (t) => {
  const local = localSvc(3);
  const registry = registryOf([cluster('a', ['192.0.2.1'])], [local]);
  const health = new FakeHealth();
  const { ask } = drawing({ registry, health, options: { localShare: 90, splitTtlSeconds: 2, ttlSeconds: 30 } });
  const n = 3000;
  let remote = 0;
  for (let i = 0; i < n; i++) {
    const d = ask(SVC);
    t.true(d.split === true);
    if (d.kind === 'remote') remote++;
    if (d.answers[0]!.ttl !== 2) t.fail(`TTL ${d.answers[0]!.ttl}`);
  }
  within(t, remote, n, 0.1, 0.03, 'remote');
  health.set('a', '192.0.2.1', 15443, { healthy: false });
  for (let i = 0; i < 500; i++) {
    const d = ask(SVC);
    if (d.kind !== 'local' || d.answers[0]!.ttl !== 30) {
      t.fail(`no healthy remote: ${d.kind}, TTL ${d.answers[0]?.ttl}`);
      return;
    }
  }
  // The Service's own share (gsdns.io/local-share) overrides dns.localShare.
  health.set('a', '192.0.2.1', 15443, { healthy: true });
  const own = registryOf([cluster('a', ['192.0.2.1'])], [{ ...local, traffic: { localShare: 0 } }]);
  const all = drawing({ registry: own, options: { localShare: 90 } });
  for (let i = 0; i < 100; i++) t.is(all.ask(SVC).kind, 'remote');
});

test('per-service policy: the local Service wins; exporters that agree set it; a conflict falls back to dns.policy', (t) => {
  const located = (name: string, address: string, lat: number, policy?: RemoteService['policy']) =>
    cluster(name, [address], { region: name, location: { lat, lon: 0 }, services: [svc({ policy })] });
  const client: ClientLocality = { location: { lat: 10, lon: 0 } };
  const count = (registry: Registry) =>
    summarize(answer({ name: SVC, type: 1, class: 1 }, { ...context({ registry, client }) })).clusters.length;
  t.is(count(registryOf([located('a', '192.0.2.1', 10), located('b', '192.0.2.2', 40)])), 1, 'dns.policy failover: the nearest');
  t.is(
    count(registryOf([located('a', '192.0.2.1', 10, 'spread'), located('b', '192.0.2.2', 40, 'spread')])),
    2,
    'both exporters say spread',
  );
  const conflict = registryOf([located('a', '192.0.2.1', 10, 'spread'), located('b', '192.0.2.2', 40, 'failover')]);
  t.is(count(conflict), 1, 'they disagree: dns.policy');
  const d = answer({ name: SVC, type: 1, class: 1 }, context({ registry: conflict, client }));
  t.true(
    d.explanation.steps.some((s) => s.includes('different policies')),
    d.explanation.steps.join('\n'),
  );
  const local: LocalService = { ...localSvc(0), traffic: { policy: 'spread' } };
  t.is(
    count(registryOf([located('a', '192.0.2.1', 10, 'failover'), located('b', '192.0.2.2', 40, 'failover')], [local])),
    2,
    'the local Service says spread',
  );
});

test('SRV: one target per cluster (C.S.N.Z), priority by tier, weight by cluster; C.S.N.Z answers that cluster alone', (t) => {
  const registry = registryOf([
    cluster('zone', ['192.0.2.1'], { zone: 'eu-west-1a', weight: 50 }),
    cluster('region', ['192.0.2.2'], { zone: 'eu-west-1b', weight: 200 }),
    cluster('region2', ['192.0.2.3'], { zone: 'eu-west-1c', services: [svc({ weight: 7 })] }),
    cluster('far', ['198.51.100.1'], { region: 'us-east-1' }),
  ]);
  const spread = summarize(
    answer({ name: `_http._tcp.${SVC}`, type: 33, class: 1 }, context({ registry, client: CLIENT, options: { policy: 'spread' } })),
  );
  t.deepEqual(spread.answers, [
    `_http._tcp.${SVC} 5 SRV 0 50 15443 zone.${SVC}`,
    `_http._tcp.${SVC} 5 SRV 1 200 15443 region.${SVC}`,
    `_http._tcp.${SVC} 5 SRV 1 7 15443 region2.${SVC}`,
    `_http._tcp.${SVC} 5 SRV 2 100 15443 far.${SVC}`,
  ]);
  t.deepEqual(spread.additional, [
    `zone.${SVC} 5 A 192.0.2.1`,
    `region.${SVC} 5 A 192.0.2.2`,
    `region2.${SVC} 5 A 192.0.2.3`,
    `far.${SVC} 5 A 198.51.100.1`,
  ]);
  const failover = summarize(answer({ name: `_http._tcp.${SVC}`, type: 33, class: 1 }, context({ registry, client: CLIENT })));
  t.deepEqual(failover.answers, [`_http._tcp.${SVC} 5 SRV 0 50 15443 zone.${SVC}`], 'failover: the best tier only');
  // The targets resolve, each to its own cluster's gateways.
  t.deepEqual(summarize(answer({ name: `far.${SVC}`, type: 1, class: 1 }, context({ registry, client: CLIENT }))).answers, [
    `far.${SVC} 5 A 198.51.100.1`,
  ]);
  const down = new FakeHealth().set('far', '198.51.100.1', 15443, { healthy: false });
  const degraded = summarize(answer({ name: `far.${SVC}`, type: 1, class: 1 }, context({ registry, client: CLIENT, health: down })));
  t.is(degraded.kind, 'degraded');
  t.deepEqual(degraded.answers, [`far.${SVC} 1 A 198.51.100.1`]);
  t.is(summarize(answer({ name: `nosuch.${SVC}`, type: 1, class: 1 }, context({ registry }))).rcode, 3, 'NXDOMAIN');
  t.is(summarize(answer({ name: `far.${SVC}`, type: 16, class: 1 }, context({ registry }))).kind, 'nodata');
});

test('explain: the weights, the draw and the order actually sent', (t) => {
  const registry = registryOf([cluster('heavy', ['192.0.2.1'], { weight: 300 }), cluster('light', ['198.51.100.1'])]);
  const draws = new Draws();
  draws.next();
  const ctx: AnswerContext = { ...context({ registry, client: CLIENT, options: { policy: 'weighted', rotate: true } }), draw: draws };
  const d = answer({ name: SVC, type: 1, class: 1 }, ctx);
  const steps = d.explanation.steps.join('\n');
  t.regex(steps, /policy weighted: .*heavy=300 light=100/);
  t.regex(steps, /weighted draw 0\.618 over heavy 75\.0%, light 25\.0%/);
  t.regex(steps, new RegExp(`order sent: ${first(d).replace(/\./g, '\\.')}`));
  t.is(d.chosen, first(d) === '192.0.2.1' ? 'heavy' : 'light');
});

test('dns.localShare splits with rotation off too (dns.rotate is about the order only)', (t) => {
  const local = localSvc(3);
  const { ask } = drawing({ registry: registryOf([cluster('a', ['192.0.2.1'])], [local]), options: { localShare: 50, rotate: false } });
  let remote = 0;
  for (let i = 0; i < 1000; i++) if (ask(SVC).kind === 'remote') remote++;
  within(t, remote, 1000, 0.5, 0.03, 'remote');
});
