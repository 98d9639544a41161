/**
 * The off-thread catalog decoder: what it refuses, and that the catalog rebuilt from what the
 * caller held plus the decoded difference equals the decoded catalog, reusing every unchanged
 * service object (property over random edits), and that the worker thread answers the same.
 */
import test from 'ava';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { decodeCatalog, fingerprintsOf, rebuildCatalog, type DecodeRequest, type DecodeResult } from '../../../src/sync/catalog-decoder.js';
import { parseCatalog } from '../../../src/sync/protocol.js';
import type { ClusterCatalog } from '../../../src/registry/types.js';
import { OffThread, siblingModule } from '../../../src/util/off-thread.js';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const req = (v: unknown, held?: ClusterCatalog, maxServices = 100): DecodeRequest => ({ body: enc(v), baseFingerprints: held ? fingerprintsOf(held.services) : new Float64Array(0), maxServices });

const svcArb = fc.record({
  namespace: fc.constantFrom('a', 'b'),
  name: fc.constantFrom('x', 'y', 'z', 'w'),
  ready: fc.boolean(),
  ports: fc.array(fc.record({ name: fc.constantFrom('http', 'grpc'), port: fc.integer({ min: 1, max: 3 }), protocol: fc.constant('TCP') }), { maxLength: 2 }),
});
const catArb = fc.record({
  cluster: fc.constant('eu'),
  region: fc.constantFrom(undefined, 'r1', 'r2'),
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
  t.like(decodeCatalog(req({ cluster: 'eu', gateways: [], services: [{}, {}, {}] }, undefined, 2)), { kind: 'refused', reason: 'too-many-services' });
  t.like(decodeCatalog(req({ cluster: 'EU!', gateways: [] })), { kind: 'refused', reason: 'invalid-catalog' });
});

test('rebuilt from the held catalog plus the difference = the decoded catalog; unchanged services are the held objects', (t) => {
  fc.assert(
    fc.property(fc.option(catArb, { nil: undefined }), catArb, (before, after) => {
      const held = before ? parsed(before) : undefined;
      const r = decodeCatalog(req(wire(after), held));
      if (r.kind !== 'catalog') return false;
      const rebuilt = rebuildCatalog(held, r);
      if (!isDeepStrictEqual(JSON.parse(JSON.stringify(rebuilt)), JSON.parse(JSON.stringify(parsed(after))))) return false;
      // Every service equal to a held one is that very object; only the others travel.
      let reused = 0;
      for (const s of rebuilt.services) if (held?.services.includes(s)) reused++;
      if (reused + r.fresh.length !== rebuilt.services.length) return false;
      const same = isDeepStrictEqual(JSON.parse(JSON.stringify(held?.services ?? [])), JSON.parse(JSON.stringify(rebuilt.services)));
      return r.sameServices === same;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('the worker thread decodes the same, and moves the body instead of copying it', async (t) => {
  const decoder = new OffThread<DecodeRequest, DecodeResult>({ url: siblingModule(new URL('../../../src/sync/service.ts', import.meta.url).href, 'catalog-worker') });
  t.teardown(() => decoder.close());
  const catalog = { cluster: 'eu', gateways: [{ address: '192.0.2.1', port: 15443 }], services: [{ namespace: 'a', name: 'x', ready: true, ports: [] }] };
  const request = req(catalog);
  const inline = decodeCatalog(req(catalog));
  const r = await decoder.run(request, [request.body.buffer as ArrayBuffer]);
  t.is(request.body.byteLength, 0, 'transferred');
  t.deepEqual(JSON.parse(JSON.stringify(r)), JSON.parse(JSON.stringify(inline)));
  t.like(await decoder.run(req('{nope')), { kind: 'refused' });
});
