/**
 * Catalog deltas (src/sync/delta.ts): a catalog sent as its difference from a version the client
 * holds. Applying any encoded delta to the held catalog gives exactly the new catalog (same
 * services in the same order, same canonical JSON, so the same ETag), the unchanged services stay
 * the held objects, and a delta that does not add up is refused so the client fetches in full.
 */
import test from 'ava';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { decodeCatalog, deltaScratch, rebuildCatalog, removedServices, type DecodeRequest } from '../../../src/sync/catalog-decoder.js';
import { catalogVersion, deltaRefs, encodeDelta, namesDelta } from '../../../src/sync/delta.js';
import { buildCatalog, canonicalCatalogJson, catalogEtag } from '../../../src/sync/protocol.js';
import type { ClusterCatalog, LocalService } from '../../../src/registry/types.js';

const enc = (s: string) => new TextEncoder().encode(s);
const NONE = new Float64Array(0);

interface Held {
  readonly catalog: ClusterCatalog;
  readonly fingerprints: Float64Array;
  readonly keys: Float64Array;
  readonly etag: string;
}

/** What a client holds after a full fetch of `c`. */
function fetchFull(c: ClusterCatalog): Held {
  const json = canonicalCatalogJson(c);
  const r = decodeCatalog({ body: enc(json), baseFingerprints: NONE, baseKeys: NONE, maxServices: 20_000 });
  if (r.kind !== 'catalog') throw new Error(r.message);
  return { catalog: rebuildCatalog(undefined, r), fingerprints: r.fingerprints, keys: r.keys, etag: catalogEtag(json) };
}

const deltaReq = (body: string, held: Held, maxServices = 20_000): DecodeRequest => ({
  body: enc(body),
  baseFingerprints: held.fingerprints,
  baseKeys: held.keys,
  maxServices,
  deltaBase: held.etag,
});

const localArb: fc.Arbitrary<LocalService> = fc.record({
  kind: fc.constant('clusterIP' as const),
  namespace: fc.constantFrom('a', 'a-b', 'b', 'default'),
  name: fc.constantFrom('x', 'y', 'z', 'w', 'v-1'),
  ports: fc.array(
    fc.record({ name: fc.constantFrom('http', 'grpc'), port: fc.integer({ min: 1, max: 3 }), protocol: fc.constant('TCP' as const) }),
    {
      maxLength: 2,
    },
  ),
  clusterIPs: fc.constant(['10.0.0.1']),
  readyEndpoints: fc.integer({ min: 0, max: 1 }),
  // Issue 16: per-service overrides ride in the fragments, so a weight change alone is a delta.
  traffic: fc.constantFrom(
    undefined,
    { weight: 0 },
    { weight: 300 },
    { policy: 'weighted' as const },
    { policy: 'spread' as const, weight: 5 },
  ),
});
const catalogArb = fc
  .record({
    region: fc.constantFrom(undefined, 'r1'),
    gateways: fc.array(fc.record({ address: fc.constantFrom('192.0.2.1', '192.0.2.2'), port: fc.constant(15443) }), { maxLength: 2 }),
    locals: fc.uniqueArray(localArb, { selector: (s) => `${s.namespace}/${s.name}`, maxLength: 12 }),
    stale: fc.boolean(),
    advertised: fc.constantFrom(undefined, { weight: 100, policy: 'failover' as const }, { weight: 300, policy: 'weighted' as const }),
  })
  .map((x) => buildCatalog({ cluster: 'eu', region: x.region }, x.gateways, x.locals, x.stale, x.advertised));

const scratchSmall = deltaScratch(4);
const scratchLarge = deltaScratch(64);

test('applying encodeDelta(base, next) to the held base gives next exactly: services, order, canonical JSON and ETag; kept services stay the held objects; decoded into reused arrays, the same', (t) => {
  fc.assert(
    fc.property(catalogArb, catalogArb, fc.boolean(), fc.boolean(), fc.boolean(), (a0, b0, reverseA, reverseB, smallScratch) => {
      // Served catalogs are in canonical order; the encoding must be right for any order.
      const a = reverseA ? { ...a0, services: [...a0.services].reverse() } : a0;
      const b = reverseB ? { ...b0, services: [...b0.services].reverse() } : b0;
      const held = fetchFull(a);
      const base = catalogVersion(a);
      const next = catalogVersion(b, base);
      // Sharing strings with the previous version changes no byte.
      if (next.json !== catalogVersion(b).json) return false;
      if (base.etag !== held.etag || next.json !== canonicalCatalogJson(b)) return false;
      const body = encodeDelta(base, next);
      const r = decodeCatalog(deltaReq(body, held));
      if (r.kind !== 'catalog') return false;
      const rebuilt = rebuildCatalog(held.catalog, r);
      const full = fetchFull(b);
      if (!isDeepStrictEqual(JSON.parse(JSON.stringify(rebuilt)), JSON.parse(JSON.stringify(full.catalog)))) return false;
      if (catalogEtag(canonicalCatalogJson(rebuilt)) !== next.etag) return false;
      // The same fingerprints as a full fetch, so a later full body is diffed as well as before.
      if (!isDeepStrictEqual([...r.fingerprints], [...full.fingerprints]) || !isDeepStrictEqual([...r.keys], [...full.keys])) return false;
      // Decoded into reused arrays (dirty from earlier runs; too small takes new ones), the same
      // result, and the same removed services with a reused scratch.
      const scratch = smallScratch ? scratchSmall : scratchLarge;
      scratch.fingerprints.fill(7);
      scratch.keys.fill(7);
      scratch.refs.fill(7);
      const again = decodeCatalog({ ...deltaReq(body, held), scratch });
      if (again.kind !== 'catalog') return false;
      const sameArrays = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => isDeepStrictEqual(Array.from(x), Array.from(y));
      if (!sameArrays(again.fingerprints, r.fingerprints) || !sameArrays(again.keys, r.keys) || !sameArrays(again.refs, r.refs))
        return false;
      if ((again.fingerprints.buffer === scratch.fingerprints.buffer) !== scratch.fingerprints.length >= r.fingerprints.length)
        return false;
      const kept = new Uint8Array(smallScratch ? 2 : 64).fill(1);
      if (!isDeepStrictEqual(removedServices(held.catalog, again, kept), removedServices(held.catalog, r))) return false;
      // Only new or changed services were listed; the others are the held objects.
      const heldSet = new Set(held.catalog.services);
      const reused = rebuilt.services.filter((s) => heldSet.has(s)).length;
      return (
        reused + r.fresh.length === rebuilt.services.length &&
        r.sameServices === (r.fresh.length === 0 && rebuilt.services.length === held.catalog.services.length)
      );
    }),
    { numRuns: 1500 },
  );
  t.pass();
});

test('a one-service change to a 10,000-service catalog is a delta of one service', (t) => {
  const locals: LocalService[] = [];
  for (let i = 0; i < 10_000; i++)
    locals.push({ kind: 'clusterIP', namespace: `ns${i % 100}`, name: `svc${i}`, ports: [], clusterIPs: ['10.0.0.1'], readyEndpoints: 1 });
  const a = buildCatalog({ cluster: 'eu' }, [{ address: '192.0.2.1', port: 15443 }], locals);
  locals[1234] = { ...(locals[1234] as Extract<LocalService, { kind: 'clusterIP' }>), readyEndpoints: 0 };
  const b = buildCatalog({ cluster: 'eu' }, [{ address: '192.0.2.1', port: 15443 }], locals);
  const base = catalogVersion(a);
  const next = catalogVersion(b);
  const body = encodeDelta(base, next);
  t.true(body.length < 300, `${body.length} octets`);
  const held = fetchFull(a);
  const r = decodeCatalog(deltaReq(body, held));
  if (r.kind !== 'catalog') return t.fail(r.message);
  t.is(r.fresh.length, 1);
  t.false(r.fresh[0]!.ready);
  t.is(catalogEtag(canonicalCatalogJson(rebuildCatalog(held.catalog, r))), next.etag);
});

test('a delta that does not add up against what the client holds is refused as invalid-delta', (t) => {
  const mk = (names: string[], ready = true) =>
    buildCatalog(
      { cluster: 'eu' },
      [],
      names.map((name) => ({
        kind: 'clusterIP',
        namespace: 'a',
        name,
        ports: [],
        clusterIPs: ['10.0.0.1'],
        readyEndpoints: ready ? 1 : 0,
      })),
    );
  const held = fetchFull(mk(['x', 'y', 'z']));
  const good = encodeDelta(catalogVersion(mk(['x', 'y', 'z'])), catalogVersion(mk(['w', 'x', 'z'])));
  const ok = decodeCatalog(deltaReq(good, held));
  t.is(ok.kind, 'catalog');
  const tamper = (f: (d: Record<string, unknown>, v: Record<string, unknown>) => void): string => {
    const v = JSON.parse(good) as Record<string, unknown>;
    f(v['delta'] as Record<string, unknown>, v);
    return JSON.stringify(v);
  };
  const cases: [string, string][] = [
    ['another base', tamper((d) => (d['base'] = '"other"'))],
    ['count off by one', tamper((d) => (d['count'] = 4))],
    ['removed out of range', tamper((d) => (d['removed'] = [3]))],
    ['removed not increasing', tamper((d) => (d['removed'] = [1, 1]))],
    ['at not matching the listed services', tamper((d) => (d['at'] = []))],
    ['an unknown member', tamper((d) => (d['extra'] = 1))],
    [
      'a listed service that is also kept',
      tamper((d, v) => {
        d['removed'] = [];
        d['count'] = 4;
        d['at'] = [0];
        (v['services'] as { name: string }[])[0]!.name = 'x';
      }),
    ],
    [
      'a service listed twice',
      tamper((d, v) => ((d['count'] = 4), (d['at'] = [0, 1]), (v['services'] as unknown[]).push((v['services'] as unknown[])[0]))),
    ],
    ['no delta member', JSON.stringify({ cluster: 'eu', gateways: [], services: [] })],
    ['not JSON', '{"delta":'],
  ];
  for (const [what, body] of cases) {
    const r = decodeCatalog(deltaReq(body, held));
    t.is(r.kind, 'refused', what);
    if (r.kind === 'refused') t.is(r.reason, 'invalid-delta', `${what}: ${r.message}`);
  }
  // Beyond sync.maxCatalogServices.
  const big = decodeCatalog(deltaReq(good, held, 2));
  t.is(big.kind, 'refused');
  // The header check alone.
  t.true(typeof deltaRefs({ base: 'e', count: 1, removed: [], at: [0] }, 'e', 0, 1, 10) !== 'string');
  t.regex(deltaRefs({ base: 'e', count: 1, removed: [], at: [0] }, 'e', 0, 2, 10) as string, /listed/);
});

test('namesDelta reads A-IM and IM lists: case-insensitive, parameters dropped, other manipulations ignored', (t) => {
  t.true(namesDelta('gsdns-delta'));
  t.true(namesDelta('vcdiff, GSDNS-Delta;q=0.5'));
  t.true(namesDelta(['feed', ' gsdns-delta ']));
  t.false(namesDelta('vcdiff'));
  t.false(namesDelta('gsdns-delta-2'));
  t.false(namesDelta(undefined));
});
