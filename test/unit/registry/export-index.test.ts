/**
 * The export index (`ns/name → exporting clusters`): lookups sorted by cluster name with each
 * cluster's current meta and freshness, cached until a change to the key, the slot gone with its
 * last cluster, and a property that any sequence of puts and removes leaves the same index as a
 * naive map.
 */
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import fc from 'fast-check';
import { ExportIndex, type ExportingCluster } from '../../../src/registry/export-index.js';
import type { ClusterMeta, RemoteService } from '../../../src/registry/types.js';

const svc = (name: string, ready = true): RemoteService => ({ namespace: 'ns', name, ready, ports: [] });
const meta = (cluster: string, zone?: string): ClusterMeta => ({ cluster, gateways: [], ...(zone === undefined ? {} : { zone }) });

/** An index over a mutable table of clusters, as the registry's remote entries are. */
function indexWith(...clusters: string[]) {
  const table = new Map<string, ExportingCluster>(clusters.map((c) => [c, { meta: meta(c), fresh: true }]));
  return { table, index: new ExportIndex((c) => table.get(c)) };
}

const view = (index: ExportIndex, k: string) => index.lookup(k).map((e) => [e.catalog.cluster, e.service.name, e.fresh]);

test('lookup: clusters sorted by code unit whatever the order of puts; unknown key is empty', (t) => {
  const { index } = indexWith('zeta', 'alpha', 'Mid');
  index.put('ns/a', 'zeta', svc('a'));
  index.put('ns/a', 'alpha', svc('a'));
  index.put('ns/a', 'Mid', svc('a'));
  t.deepEqual(
    view(index, 'ns/a').map((x) => x[0]),
    ['Mid', 'alpha', 'zeta'],
  );
  t.true(Object.isFrozen(index.lookup('ns/a')));
  t.deepEqual(index.lookup('ns/b'), []);
  t.is(index.serviceIn('ns/a', 'alpha')?.name, 'a');
  t.is(index.serviceIn('ns/a', 'beta'), undefined);
  t.is(index.serviceIn('ns/b', 'alpha'), undefined);
});

test('the cached lookup is kept until a change to its key, and an equal replacement may keep it', (t) => {
  const { table, index } = indexWith('c1', 'c2');
  index.put('ns/a', 'c1', svc('a'));
  index.put('ns/b', 'c1', svc('b'));
  const first = index.lookup('ns/a');
  t.is(index.lookup('ns/a'), first, 'cached');

  index.put('ns/b', 'c2', svc('b'));
  t.is(index.lookup('ns/a'), first, 'another key changed');

  const equal = svc('a');
  index.put('ns/a', 'c1', equal, false);
  t.is(index.lookup('ns/a'), first, 'replaced by an equal record: the caller keeps the cache');
  t.is(index.serviceIn('ns/a', 'c1'), equal, 'but the index holds the new object');

  index.put('ns/a', 'c1', svc('a', false));
  const second = index.lookup('ns/a');
  t.not(second, first);
  t.false(second[0]!.service.ready);
  t.true(first[0]!.service.ready, 'a dropped array is never mutated');

  index.put('ns/a', 'c2', svc('a'), false);
  t.not(index.lookup('ns/a'), second, 'adding a cluster always drops the cache');

  table.set('c1', { meta: meta('c1', 'z9'), fresh: false });
  const third = index.lookup('ns/a');
  t.is(third[0]!.catalog.zone, undefined, 'meta is read when the lookup is built');
  index.invalidate('ns/a');
  t.deepEqual(view(index, 'ns/a'), [
    ['c1', 'a', false],
    ['c2', 'a', true],
  ]);
  t.is(index.lookup('ns/a')[0]!.catalog.zone, 'z9');
  index.invalidate('ns/none'); // no slot: nothing to do
  t.deepEqual(index.lookup('ns/none'), []);
});

test('remove: the slot goes with its last cluster; removing an absent cluster or key is a no-op', (t) => {
  const { index } = indexWith('c1', 'c2');
  index.put('ns/a', 'c1', svc('a'));
  index.put('ns/a', 'c2', svc('a'));
  const before = index.lookup('ns/a');
  index.remove('ns/a', 'c1');
  t.not(index.lookup('ns/a'), before);
  t.deepEqual(index.snapshot(), [['ns/a', ['c2']]]);
  index.remove('ns/a', 'c9');
  index.remove('ns/zz', 'c1');
  t.deepEqual(index.snapshot(), [['ns/a', ['c2']]]);
  index.remove('ns/a', 'c2');
  t.deepEqual(index.snapshot(), []);
  t.deepEqual(index.lookup('ns/a'), []);
});

test('a cluster the resolver does not know is left out of the lookup', (t) => {
  const { table, index } = indexWith('c1', 'c2');
  index.put('ns/a', 'c1', svc('a'));
  index.put('ns/a', 'c2', svc('a'));
  table.delete('c1');
  t.deepEqual(view(index, 'ns/a'), [['c2', 'a', true]]);
});

type Op = { readonly put: boolean; readonly key: string; readonly cluster: string; readonly ready: boolean };
const opArb: fc.Arbitrary<Op> = fc.record({
  put: fc.boolean(),
  key: fc.constantFrom('ns/a', 'ns/b', 'ns/c'),
  cluster: fc.constantFrom('c1', 'c2', 'C3', 'c10', 'b'),
  ready: fc.boolean(),
});

test('after any sequence of puts and removes, snapshot, serviceIn and lookups equal a naive map', (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      const { index } = indexWith('c1', 'c2', 'C3', 'c10', 'b');
      const model = new Map<string, Map<string, RemoteService>>();
      for (const o of ops) {
        index.lookup(o.key); // build caches between writes, so stale ones would show
        if (o.put) {
          const s = svc(o.key.slice(3), o.ready);
          index.put(o.key, o.cluster, s);
          if (!model.has(o.key)) model.set(o.key, new Map());
          model.get(o.key)!.set(o.cluster, s);
        } else {
          index.remove(o.key, o.cluster);
          model.get(o.key)?.delete(o.cluster);
          if (model.get(o.key)?.size === 0) model.delete(o.key);
        }
      }
      const sorted = (xs: Iterable<string>) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const expected = sorted(model.keys()).map((k) => [k, sorted(model.get(k)!.keys())] as const);
      if (!isDeepStrictEqual(index.snapshot(), expected)) return false;
      for (const k of ['ns/a', 'ns/b', 'ns/c']) {
        const m = model.get(k) ?? new Map<string, RemoteService>();
        const clusters = sorted(m.keys());
        const got = index.lookup(k);
        if (got.length !== clusters.length) return false;
        // The very objects last put, not merely equal ones: a stale cache would show here.
        if (got.some((e, i) => e.catalog.cluster !== clusters[i] || e.service !== m.get(clusters[i]))) return false;
        for (const c of ['c1', 'c2', 'C3', 'c10', 'b']) if (index.serviceIn(k, c) !== m.get(c)) return false;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass();
});
