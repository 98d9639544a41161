/**
 * The off-thread catalog decoder: what it refuses, and that the catalog rebuilt from what the
 * caller held plus the decoded difference equals the decoded catalog, reusing every unchanged
 * service object (property over random edits), and that the worker thread answers the same.
 */
import test from 'ava';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { decodeCatalog, rebuildCatalog, type DecodeRequest, type DecodeResult } from '../../../src/sync/catalog-decoder.js';
import { unpackServices } from '../../../src/sync/catalog-pack.js';
import { parseCatalog } from '../../../src/sync/protocol.js';
import type { ClusterCatalog } from '../../../src/registry/types.js';
import { OffThread, siblingModule } from '../../../src/util/off-thread.js';
import { until } from '../../helpers/poll.js';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const NONE = new Float64Array(0);
/** What a sync client holds after decoding a body: the catalog and the fingerprints of its services. */
interface Held {
  readonly catalog: ClusterCatalog;
  readonly fingerprints: Float64Array;
  readonly keys: Float64Array;
}
const req = (v: unknown, held?: Held, maxServices = 100): DecodeRequest => ({
  body: enc(v),
  baseFingerprints: held?.fingerprints ?? NONE,
  baseKeys: held?.keys ?? NONE,
  maxServices,
});
function hold(v: unknown, held?: Held): Held | undefined {
  const r = decodeCatalog(req(v, held));
  if (r.kind !== 'catalog') return undefined;
  return { catalog: rebuildCatalog(held?.catalog, r), fingerprints: r.fingerprints, keys: r.keys };
}

const svcArb = fc.record({
  namespace: fc.constantFrom('a', 'b'),
  name: fc.constantFrom('x', 'y', 'z', 'w'),
  ready: fc.boolean(),
  ports: fc.array(
    fc.record({ name: fc.constantFrom('http', 'grpc'), port: fc.integer({ min: 1, max: 3 }), protocol: fc.constant('TCP') }),
    { maxLength: 2 },
  ),
  // Traffic overrides (issue 16): a change of weight or policy alone is a changed service.
  policy: fc.constantFrom(undefined, 'failover', 'spread', 'weighted'),
  weight: fc.constantFrom(undefined, 0, 100, 300),
});
const catArb = fc.record({
  cluster: fc.constant('eu'),
  region: fc.constantFrom(undefined, 'r1', 'r2'),
  weight: fc.constantFrom(undefined, 0, 100, 300),
  policy: fc.constantFrom(undefined, 'failover', 'weighted'),
  sourceStale: fc.constantFrom(undefined, true),
  gateways: fc.array(fc.record({ address: fc.constantFrom('192.0.2.1', '192.0.2.2'), port: fc.constant(15443) }), { maxLength: 2 }),
  services: fc.uniqueArray(svcArb, { selector: (s) => `${s.namespace}/${s.name}`, maxLength: 8 }),
});
const wire = (c: object) => JSON.parse(JSON.stringify(c)) as unknown;
const parsed = (c: object): ClusterCatalog => {
  const p = parseCatalog(wire(c));
  if (!p.ok) throw new Error(JSON.stringify(p.issues));
  return p.catalog;
};

test('refused: not JSON, over the service limit (before validating), schema errors', (t) => {
  t.like(decodeCatalog(req('{nope')), { kind: 'refused', reason: 'invalid-catalog' });
  t.like(decodeCatalog(req({ cluster: 'eu', gateways: [], services: [{}, {}, {}] }, undefined, 2)), {
    kind: 'refused',
    reason: 'too-many-services',
  });
  t.like(decodeCatalog(req({ cluster: 'EU!', gateways: [] })), { kind: 'refused', reason: 'invalid-catalog' });
});

test('rebuilt from the held catalog plus the difference = the decoded catalog; unchanged services are the held objects', (t) => {
  fc.assert(
    fc.property(fc.option(catArb, { nil: undefined }), catArb, fc.nat(4), (before, after, indent) => {
      const held = before ? hold(JSON.stringify(before, null, indent)) : undefined;
      const r = decodeCatalog(req(JSON.stringify(after, null, indent), held));
      if (r.kind !== 'catalog') return false;
      const rebuilt = rebuildCatalog(held?.catalog, r);
      if (!isDeepStrictEqual(JSON.parse(JSON.stringify(rebuilt)), JSON.parse(JSON.stringify(parsed(after))))) return false;
      // Every service equal to a held one is that very object; only the others travel.
      let reused = 0;
      for (const s of rebuilt.services) if (held?.catalog.services.includes(s)) reused++;
      if (reused + r.fresh.length !== rebuilt.services.length) return false;
      const same = isDeepStrictEqual(
        JSON.parse(JSON.stringify(held?.catalog.services ?? [])),
        JSON.parse(JSON.stringify(rebuilt.services)),
      );
      return r.sameServices === same;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

// Bodies a hostile or broken peer could send, built from valid catalogs: extra keys holding
// strings full of JSON punctuation (refused by the schema), duplicated and nested "services" keys,
// a services value that is not an array, a duplicate service, whitespace anywhere, cut bodies.
const junkString = fc.string({ unit: fc.constantFrom('"', '\\', '[', ']', '{', '}', ',', ':', 'services', ' ', 'a', '\n'), maxLength: 12 });
const mutation = fc.oneof(
  fc.constant((j: string) => j),
  junkString.map((junk) => (j: string) => j.replace('{', `{"x":${JSON.stringify(junk)},`)),
  junkString.map((junk) => (j: string) => j.replace('"services":[{', `"services":[{"x":${JSON.stringify(junk)},`)),
  fc.constant((j: string) => j.replace('"services":', '"services":[],"services":')),
  fc.constant((j: string) => j.replace('"gateways":[', '"gateways":[{"services":[1,2]},')),
  fc.constant((j: string) => j.replace(/"services":\[[^]*\]\}$/, '"services":{"a":1}}')),
  fc.constant((j: string) => j.replace(/"services":\[(\{[^}]*\]\})/, '"services":[$1,$1')),
  fc.nat(40).map((n) => (j: string) => j.slice(0, Math.max(1, j.length - n))),
  fc.constant((j: string) => j.replace(/,/g, ' ,\n ')),
);

test('with a held catalog (the fast path) and without it, every body decodes to the same catalog or is refused alike', (t) => {
  fc.assert(
    fc.property(catArb, catArb, mutation, (before, after, mutate) => {
      const held = hold(JSON.stringify(before));
      const body = mutate(JSON.stringify(after));
      const fast = decodeCatalog(req(body, held));
      const whole = decodeCatalog(req(body));
      if (fast.kind !== whole.kind) return false;
      if (fast.kind === 'refused' || whole.kind === 'refused') return isDeepStrictEqual(fast, whole);
      return isDeepStrictEqual(
        JSON.parse(JSON.stringify(rebuildCatalog(held?.catalog, fast))),
        JSON.parse(JSON.stringify(rebuildCatalog(undefined, whole))),
      );
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('the worker thread decodes the same (its changed services packed), and moves the body instead of copying it', async (t) => {
  const decoder = new OffThread<DecodeRequest, DecodeResult>({
    url: siblingModule(new URL('../../../src/sync/service.ts', import.meta.url).href, 'catalog-worker'),
  });
  t.teardown(() => decoder.close());
  const catalog = {
    cluster: 'eu',
    gateways: [{ address: '192.0.2.1', port: 15443 }],
    services: [
      { namespace: 'a', name: 'x', ready: true, ports: [] },
      { namespace: 'a', name: 'y', ready: false, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    ],
  };
  const request = req(catalog);
  const inline = decodeCatalog(req(catalog));
  const r = await decoder.run(request, [request.body.buffer as ArrayBuffer]);
  t.is(request.body.byteLength, 0, 'transferred');
  if (r.kind !== 'catalog' || r.packed === undefined) return t.fail('a packed catalog');
  t.deepEqual(r.fresh, []);
  t.deepEqual(JSON.parse(JSON.stringify({ ...r, fresh: unpackServices(r.packed), packed: undefined })), JSON.parse(JSON.stringify(inline)));
  t.like(await decoder.run(req('{nope')), { kind: 'refused' });
});

test('the worker stops after idleMs without a request, and the next request starts a new one', async (t) => {
  const decoder = new OffThread<DecodeRequest, DecodeResult>({
    url: siblingModule(new URL('../../../src/sync/service.ts', import.meta.url).href, 'catalog-worker'),
    idleMs: 50,
  });
  t.teardown(() => decoder.close());
  const catalog = { cluster: 'eu', gateways: [{ address: '192.0.2.1', port: 15443 }], services: [] };
  t.like(await decoder.run(req(catalog)), { kind: 'catalog' });
  await until(t, 'the idle worker is stopped', () => decoder.idleStops > 0);
  t.is(decoder.idleStops, 1);
  t.like(await decoder.run(req(catalog)), { kind: 'catalog' });
  t.is(decoder.crashes, 0, 'an idle stop is not a crash');
});

test('a change of weight or policy alone is a changed service, through the fast path and a delta base', (t) => {
  const v1 = {
    cluster: 'eu',
    gateways: [],
    weight: 100,
    services: [
      { namespace: 'a', name: 'x', weight: 50 },
      { namespace: 'a', name: 'y' },
    ],
  };
  const held = hold(v1)!;
  t.is(held.catalog.weight, 100);
  t.is(held.catalog.services[0]!.weight, 50);
  const v2 = {
    ...v1,
    services: [
      { namespace: 'a', name: 'x', weight: 60 },
      { namespace: 'a', name: 'y', policy: 'weighted' },
    ],
  };
  const r = decodeCatalog(req(v2, held));
  if (r.kind !== 'catalog') return t.fail(r.message);
  t.deepEqual([...r.refs], [-1, -1], 'both services changed');
  const next = rebuildCatalog(held.catalog, r);
  t.is(next.services[0]!.weight, 60);
  t.is(next.services[1]!.policy, 'weighted');
  const v3 = { ...v2, weight: 0, policy: 'spread' };
  const r3 = decodeCatalog(req(v3, { catalog: next, fingerprints: r.fingerprints, keys: r.keys }));
  if (r3.kind !== 'catalog') return t.fail(r3.message);
  t.deepEqual([...r3.refs], [0, 1], 'a catalog-level change keeps the services');
  t.is(r3.meta.weight, 0);
  t.is(r3.meta.policy, 'spread');
});

test('a catalog of an older peer (no weight, no policy) still decodes, and says nothing about them', (t) => {
  const r = decodeCatalog(req({ cluster: 'eu', gateways: [], services: [{ namespace: 'a', name: 'x', ready: true, ports: [] }] }));
  if (r.kind !== 'catalog') return t.fail(r.message);
  t.false('weight' in r.meta || 'policy' in r.meta);
  t.false('weight' in r.fresh[0]! || 'policy' in r.fresh[0]!);
});
