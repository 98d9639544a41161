/**
 * The answer cache against the full path (issue 15): thousands of random queries (names, types,
 * classes, case, EDNS shapes, DO, ECS from 50 subnets, UDP and TCP, RD and CD) go as raw octets
 * through the DNS edge's message handling twice, once routed with the cache and once without. The
 * replies must be equal octet for octet (same query, same ID). Then every kind of change that can
 * alter an answer is made, the generation is bumped as src/build.ts wires it, and the comparison
 * runs again: no cached answer outlives its cause.
 */
import test from 'ava';
import fc from 'fast-check';
import { Draws } from '../../../src/answer/order.js';
import type { AnswerContext, AnswerOptions } from '../../../src/answer/types.js';
import { MessageHandler } from '../../../src/dns/message.js';
import { newCounters } from '../../../src/dns/server.js';
import { EcsClient, type GeoFix, type GeoLookup } from '../../../src/locality/geoip.js';
import { Readiness } from '../../../src/registry/readiness.js';
import type { Registry } from '../../../src/registry/registry.js';
import type { ClusterCatalog } from '../../../src/registry/types.js';
import { AnswerCache, answerKey } from '../../../src/route/answer-cache.js';
import { createRouter, type RouteEnv } from '../../../src/route/route.js';
import type { DnsRequest, HandlerResult } from '../../../src/wire/types.js';
import { craftQuery, ecsOption, optRR, rawQuestion } from '../../helpers/dns-tools.js';
import { BASE_OPTIONS, DEMO_CLIENT, FakeHealth, HTTP, demoRegistry, markStale } from '../answer/fixture.js';

const svc = (name: string, ready = true) => ({ namespace: 'bookinfo', name, ready, ports: [HTTP] });

/** Three located clusters, so clients of different subnets rank them differently. */
const LOCATED: readonly ClusterCatalog[] = [
  {
    cluster: 'tokyo',
    region: 'ap-1',
    location: { lat: 35.7, lon: 139.7 },
    gateways: [{ address: '203.0.113.1', port: 15443 }],
    services: [svc('ratings'), svc('shipping')],
    weight: 300,
  },
  {
    cluster: 'paris',
    region: 'eu-3',
    location: { lat: 48.9, lon: 2.35 },
    gateways: [
      { address: '203.0.113.2', port: 15443 },
      { address: '203.0.113.3', port: 15443 },
    ],
    services: [svc('ratings'), svc('shipping')],
  },
  {
    cluster: 'lima',
    region: 'sa-1',
    location: { lat: -12, lon: -77 },
    gateways: [{ address: '2001:db8::7', port: 15443 }],
    services: [svc('shipping'), svc('ratings', false)],
  },
];

/** A deterministic stand-in for geoip-lite: 10.N.x.x sits somewhere that depends on N. */
const GEO: GeoLookup = {
  locate(address: string): GeoFix | undefined {
    const n = Number(address.split('.')[1] ?? 0);
    if (!Number.isFinite(n) || address.includes(':')) return undefined;
    return { lat: ((n * 37) % 160) - 80, lon: ((n * 71) % 340) - 170, country: 'XX', region: 'r', city: 'c' };
  },
};

interface World {
  readonly registry: Registry;
  readonly health: FakeHealth;
  readonly readiness: Readiness;
  readonly generation: { value: number };
  localStale: boolean;
}

function world(): World {
  const registry = demoRegistry();
  for (const c of LOCATED) registry.putRemote('file', c);
  const readiness = new Readiness();
  readiness.set('source', { ready: true, sinceMs: 0 });
  const w: World = { registry, health: new FakeHealth(), readiness, generation: { value: 0 }, localStale: false };
  // As src/build.ts wires it: registry content and source readiness bump the generation; the
  // prober's and staleness callbacks are stood in for by the tests that change them.
  registry.subscribe(() => w.generation.value++);
  readiness.onChange(() => w.generation.value++);
  return w;
}

/** The order of addresses (issue 16): rotation on unless said otherwise, and the policy. */
interface Order {
  readonly rotate?: boolean;
  readonly policy?: AnswerOptions['policy'];
}

function context(w: World, o: Order, draws: Draws | undefined): AnswerContext {
  return {
    options: { ...BASE_OPTIONS, chaos: { id: 'gsdns-1', version: null }, rotate: o.rotate ?? true, policy: o.policy ?? 'failover' },
    draw: draws,
    registry: w.registry,
    health: w.health,
    client: DEMO_CLIENT,
    get sourceReady() {
      return w.readiness.isReady('source');
    },
    get localStale() {
      return w.localStale;
    },
    locateCluster: (c) => c.location,
  };
}

const RELAY: HandlerResult = { kind: 'relay', message: Buffer.from('relayed'), truncated: false };

/**
 * The DNS edge's message handler over the route, as src/build.ts wires it. Two handlers given the
 * same queries in the same order draw alike (each steps its own Draws once per query).
 */
function handler(w: World, cache: AnswerCache | undefined, o: Order = {}): MessageHandler {
  const draws = new Draws();
  const ctx = context(w, o, draws);
  const env: RouteEnv = {
    context: ctx,
    contextFor: (ecs) => ({ ...ctx, client: new EcsClient(GEO, ecs, DEMO_CLIENT) }),
    forward: { allows: (a) => a.startsWith('10.'), resolve: () => RELAY },
    selfTest: { prefix: '_selftest-', note: () => undefined },
    recordBudget: () => 64,
    answerCache: cache ? { cache, generation: () => w.generation.value } : undefined,
    ecsEcho: true,
    draws,
    rotate: o.rotate ?? true,
  };
  return new MessageHandler({
    handler: createRouter(env),
    ecsEnabled: true,
    counters: newCounters(),
    log: { debug() {}, warn() {}, error() {} },
  });
}

const NAMES = [
  'productpage.bookinfo.global',
  'details.bookinfo.global',
  'reviews.bookinfo.global',
  'ratings.bookinfo.global',
  'shipping.bookinfo.global',
  'legacy.bookinfo.global',
  'nosuch.bookinfo.global',
  '_http._tcp.shipping.bookinfo.global',
  '_http._tcp.productpage.bookinfo.global',
  'bookinfo.global',
  'global',
  'ns.global',
  'dual.shop.global',
  'ext.shop.global',
  'example.com',
  'version.bind',
  '_selftest-1.global',
];

interface Q {
  readonly name: string;
  readonly upper: number;
  readonly type: number;
  readonly klass: number;
  readonly edns: { udp: number; dnssecOk: boolean } | null;
  readonly subnet: number | null;
  readonly prefix: number;
  readonly transport: 'udp' | 'tcp';
  readonly id: number;
  readonly rd: boolean;
  readonly cd: boolean;
}

const queryArb: fc.Arbitrary<Q> = fc.record({
  name: fc.constantFrom(...NAMES),
  upper: fc.nat(),
  type: fc.constantFrom(1, 28, 33, 16, 6, 2, 255, 65),
  klass: fc.constantFrom(1, 1, 1, 1, 3, 255),
  edns: fc.option(fc.record({ udp: fc.constantFrom(512, 1232, 1400, 4096, 100), dnssecOk: fc.boolean() }), { nil: null }),
  subnet: fc.option(fc.integer({ min: 0, max: 49 }), { nil: null, freq: 2 }),
  prefix: fc.constantFrom(24, 24, 16, 0),
  transport: fc.constantFrom('udp' as const, 'tcp' as const),
  id: fc.integer({ min: 0, max: 0xffff }),
  rd: fc.boolean(),
  cd: fc.boolean(),
});

/** The query's octets: the name in a case given by `upper`'s bits, EDNS and ECS as asked. */
function octets(q: Q): Buffer {
  let bit = 0;
  const name = [...q.name].map((c) => (/[a-z]/.test(c) && (q.upper >> (bit++ % 30)) & 1 ? c.toUpperCase() : c)).join('');
  const additional = [];
  if (q.edns) {
    const options = q.subnet === null ? [] : [ecsOption(1, q.prefix, Buffer.from([10, q.subnet, 7].slice(0, Math.ceil(q.prefix / 8))))];
    additional.push(optRR({ udp: q.edns.udp, dnssecOk: q.edns.dnssecOk, options }));
  }
  return craftQuery({ id: q.id, rd: q.rd, cd: q.cd, questions: [rawQuestion(name, q.type, q.klass)], additional });
}

const CLIENT = { address: '10.1.2.3', port: 5353, family: 'IPv4' as const };

async function reply(h: MessageHandler, q: Q): Promise<string> {
  const out = await h.handle(octets(q), q.transport, CLIENT);
  return out === null ? 'dropped' : out.toString('hex');
}

/** Every query through both paths; returns how many the cache answered. */
async function compare(
  t: import('ava').ExecutionContext,
  w: World,
  cache: AnswerCache,
  queries: readonly Q[],
  label: string,
  o: Order = {},
): Promise<number> {
  const cached = handler(w, cache, o);
  const full = handler(w, undefined, o);
  const hitsBefore = cache.stats().hits;
  for (const q of queries) {
    const a = await reply(cached, q);
    const b = await reply(full, q);
    if (a !== b) {
      t.fail(`${label}: ${JSON.stringify(q)}\ncached ${a}\nfull   ${b}`);
      return 0;
    }
  }
  t.pass();
  return cache.stats().hits - hitsBefore;
}

const QUERIES = fc.sample(queryArb, { numRuns: 3000, seed: 15 });

for (const order of [{ rotate: false }, { policy: 'failover' }, { policy: 'spread' }, { policy: 'weighted' }] as const) {
  test(`differential (${JSON.stringify(order)}): 3,000 random queries give the same octets through the cache as through the full path`, async (t) => {
    const w = world();
    const cache = new AnswerCache({ maxEntries: 10_000, maxBytes: 16 << 20 });
    const hits = await compare(t, w, cache, QUERIES, 'steady', order);
    // Many keys occur once (EDNS sizes, DO, 50 subnets, both transports); a few hundred repeat.
    t.true(hits > 200, `the cache answered ${hits} of ${QUERIES.length}`);
    // Asked again, every cacheable query is a hit, and the octets are still the full path's.
    const again = await compare(t, w, cache, QUERIES, 'again', order);
    t.true(again > hits, `${again} hits on the second pass`);
  });
}

test('differential: the drawn order differs from query to query, and a hit is drawn as the full path draws it', async (t) => {
  // shipping: tokyo (1 IPv4 gateway, weight 300), paris (2), lima (IPv6 only); ANY asks for both
  // families. Without ECS the client is unlocated: every cluster is of equal rank.
  const q: Q = {
    ...QUERIES[0]!,
    name: 'shipping.bookinfo.global',
    upper: 0,
    type: 1,
    klass: 1,
    edns: null,
    subnet: null,
    transport: 'udp',
  };
  for (const policy of ['spread', 'weighted'] as const) {
    const w = world();
    const cache = new AnswerCache({ maxEntries: 100, maxBytes: 1 << 20 });
    const cached = handler(w, cache, { policy });
    const full = handler(w, undefined, { policy });
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const a = await reply(cached, { ...q, id: i });
      t.is(a, await reply(full, { ...q, id: i }));
      seen.add(a.slice(4));
    }
    t.true(cache.stats().hits >= 59, `${policy}: hits ${cache.stats().hits}`);
    t.true(seen.size >= 3, `${policy}: ${seen.size} distinct orders over 60 queries`);
  }
});

const CHANGES: readonly { readonly cause: string; readonly change: (w: World) => void }[] = [
  {
    cause: 'a local service loses its ready endpoints',
    change: (w) =>
      w.registry.replaceLocal(w.registry.localServices().map((s) => (s.kind === 'clusterIP' ? { ...s, readyEndpoints: 0 } : s))),
  },
  {
    cause: 'a headless endpoint turns ready',
    change: (w) =>
      w.registry.replaceLocal(
        w.registry
          .localServices()
          .map((s) => (s.kind === 'headless' ? { ...s, endpoints: s.endpoints.map((e) => ({ ...e, ready: true })) } : s)),
      ),
  },
  {
    cause: 'a remote catalog gains a gateway',
    change: (w) =>
      w.registry.putRemote('file', { ...LOCATED[0]!, gateways: [...LOCATED[0]!.gateways, { address: '203.0.113.9', port: 15443 }] }),
  },
  {
    cause: 'a remote cluster stops exporting a service',
    change: (w) => w.registry.putRemote('file', { ...LOCATED[1]!, services: [svc('shipping')] }),
  },
  { cause: 'a remote catalog turns stale', change: (w) => markStale(w.registry, 'paris') },
  {
    cause: 'a gateway turns unhealthy (the prober calls onChange)',
    change: (w) => {
      w.health.set('tokyo', '203.0.113.1', 15443, { healthy: false });
      w.generation.value++;
    },
  },
  {
    cause: 'RTTs change (the prober calls onProbe)',
    change: (w) => {
      w.health.set('paris', '203.0.113.2', 15443, { healthy: true, rttMs: 90 });
      w.health.set('paris', '203.0.113.3', 15443, { healthy: true, rttMs: 3 });
      w.generation.value++;
    },
  },
  {
    cause: 'the local source turns stale (onStaleChange)',
    change: (w) => {
      w.localStale = true;
      w.generation.value++;
    },
  },
  { cause: 'the source turns not ready', change: (w) => w.readiness.set('source', { ready: false, detail: 'relisting', sinceMs: 1 }) },
];

for (const { cause, change } of CHANGES) {
  test(`invalidation: after "${cause}", cached answers equal the full path's again`, async (t) => {
    const w = world();
    const cache = new AnswerCache({ maxEntries: 10_000, maxBytes: 16 << 20 });
    const sample = QUERIES.slice(0, 1500);
    await compare(t, w, cache, sample, 'before');
    const before = QUERIES.map((q) => q);
    const full = handler(w, undefined);
    const old = await Promise.all(before.slice(0, 400).map((q) => reply(full, q)));
    change(w);
    const now = await Promise.all(before.slice(0, 400).map((q) => reply(full, q)));
    t.true(
      old.some((o, i) => o !== now[i]),
      'the change alters some answer (otherwise this case proves nothing)',
    );
    await compare(t, w, cache, sample, 'after');
  });
}

test('a change that does not bump the generation is exactly what the cache cannot see (the guard on the tests above)', async (t) => {
  const w = world();
  const cache = new AnswerCache({ maxEntries: 10_000, maxBytes: 16 << 20 });
  const q: Q = {
    name: 'shipping.bookinfo.global',
    upper: 0,
    type: 1,
    klass: 1,
    edns: null,
    subnet: null,
    prefix: 24,
    transport: 'udp',
    id: 7,
    rd: true,
    cd: false,
  };
  const cached = handler(w, cache, { rotate: false });
  const first = await reply(cached, q);
  // Unranked by distance (the client has no location), lima comes first by name; unhealthy, it
  // gives way to paris or tokyo, whose IPv4 gateways answer A.
  w.health.set('lima', '2001:db8::7', 15443, { healthy: false });
  t.is(await reply(cached, q), first, 'without a bump the cached reply stays');
  w.generation.value++;
  t.not(await reply(cached, q), first, 'with the bump it is recomputed');
  t.is(await reply(cached, q), await reply(handler(w, undefined, { rotate: false }), q));
});

test('bounds: entries and octets; the least recently used goes first', async (t) => {
  const w = world();
  const cache = new AnswerCache({ maxEntries: 5, maxBytes: 1 << 20 });
  const h = handler(w, cache);
  for (const name of NAMES.slice(0, 12))
    await reply(h, {
      name,
      upper: 0,
      type: 1,
      klass: 1,
      edns: null,
      subnet: null,
      prefix: 24,
      transport: 'udp',
      id: 1,
      rd: true,
      cd: false,
    });
  t.true(cache.stats().entries <= 5);
  const small = new AnswerCache({ maxEntries: 1000, maxBytes: 65_536 });
  const hs = handler(w, small);
  for (let i = 0; i < 50; i++) {
    await reply(hs, {
      name: 'shipping.bookinfo.global',
      upper: 0,
      type: 1,
      klass: 1,
      edns: { udp: 1232, dnssecOk: false },
      subnet: i,
      prefix: 24,
      transport: 'udp',
      id: i,
      rd: true,
      cd: false,
    });
  }
  t.true(small.stats().bytes <= 65_536, `${small.stats().bytes} octets`);
});

test('the key: case-insensitive in the name, and apart for every reply-shaping input', (t) => {
  const base: DnsRequest = {
    id: 1,
    question: { name: 'a.global', type: 1, class: 1 },
    rawQuestion: Buffer.alloc(0),
    flags: { rd: true, ad: false, cd: false },
    edns: undefined,
    transport: 'udp',
    client: CLIENT,
  };
  const edns = { udpPayloadSize: 1232, version: 0, dnssecOk: false, options: [] };
  const ecs = { family: 1 as const, sourcePrefix: 24, scopePrefix: 0, address: '10.1.2.0', addressBytes: Buffer.from([10, 1, 2]) };
  const keys = [
    answerKey(base, 512, true),
    answerKey(base, 65535, true),
    answerKey({ ...base, edns }, 1232, true),
    answerKey({ ...base, edns: { ...edns, dnssecOk: true } }, 1232, true),
    answerKey({ ...base, edns: { ...edns, ecs } }, 1232, true),
    answerKey({ ...base, edns: { ...edns, ecs: { ...ecs, sourcePrefix: 16 } } }, 1232, true),
    answerKey({ ...base, edns: { ...edns, ecs: { ...ecs, addressBytes: Buffer.from([10, 1, 3]) } } }, 1232, true),
    answerKey({ ...base, question: { ...base.question, type: 28 } }, 512, true),
    answerKey({ ...base, question: { ...base.question, class: 3 } }, 512, true),
    answerKey({ ...base, question: { ...base.question, name: 'b.global' } }, 512, true),
  ];
  t.is(new Set(keys).size, keys.length);
  t.is(
    answerKey({ ...base, edns: { ...edns, ecs } }, 1232, false),
    answerKey({ ...base, edns }, 1232, true),
    'ECS not echoed: not part of the key',
  );
  t.is(answerKey({ ...base, id: 9, flags: { rd: false, ad: true, cd: true } }, 512, true), keys[0]!);
});
