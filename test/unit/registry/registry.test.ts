/**
 * The registry: incremental indexes, replace semantics, one owner per remote cluster (precedence,
 * shadowed catalogs), freshness from `sourceStale`, the serial, and a model-based
 * property: after any sequence of writes, every read and every index equals both a naive model
 * computed from the final content and a registry rebuilt from scratch with that content.
 */
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import fc from 'fast-check';
import { recordsEqual } from '../../../src/registry/records.js';
import { Registry } from '../../../src/registry/registry.js';
import type { ClusterCatalog, LocalService, RemoteService } from '../../../src/registry/types.js';

const HTTP = { name: 'http', port: 9080, protocol: 'TCP' } as const;

const cip = (namespace: string, name: string, readyEndpoints = 1, clusterIPs = ['10.96.0.1']): LocalService => ({
  kind: 'clusterIP',
  namespace,
  name,
  clusterIPs,
  readyEndpoints,
  ports: [HTTP],
});
const rsvc = (namespace: string, name: string, ready = true): RemoteService => ({ namespace, name, ready, ports: [HTTP] });
const cat = (cluster: string, services: RemoteService[], extra: Partial<ClusterCatalog> = {}): ClusterCatalog => ({
  cluster,
  gateways: [{ address: '192.0.2.1', port: 15443 }],
  services,
  ...extra,
});

/** The catalog the cluster's owner holds, re-put with `sourceStale`: how a peer says its data is stale. */
const markStale = (r: Registry, cluster: string, sourceStale = true) => {
  const c = r.remoteCatalogs().find((x) => x.cluster === cluster)!;
  r.putRemote(r.remoteOrigin(cluster)!, { ...c, sourceStale });
};

const exportsOf = (r: Registry, ns: string, name: string) => r.remoteExports(ns, name).map((e) => [e.catalog.cluster, e.fresh]);

test('local services: put, get, remove, namespace refcounts', (t) => {
  const r = new Registry({ initialSerial: 100 });
  t.is(r.localService('bookinfo', 'reviews'), undefined);
  t.false(r.hasNamespace('bookinfo'));
  r.putLocal(cip('bookinfo', 'reviews'));
  r.putLocal(cip('bookinfo', 'ratings'));
  t.deepEqual(r.localService('bookinfo', 'reviews'), cip('bookinfo', 'reviews'));
  t.true(r.hasNamespace('bookinfo'));
  r.removeLocal('bookinfo', 'reviews');
  t.true(r.hasNamespace('bookinfo'));
  r.removeLocal('bookinfo', 'ratings');
  t.false(r.hasNamespace('bookinfo'));
  t.deepEqual(r.indexSnapshot().namespaces, []);
  t.deepEqual(r.localServices(), []);
});

test('remote exports: sorted by cluster name, stale included with fresh:false, withdrawn excluded', (t) => {
  const r = new Registry({ initialSerial: 1 });
  r.putRemote('sync', cat('zeta', [rsvc('b', 'reviews')]));
  r.putRemote('sync', cat('alpha', [rsvc('b', 'reviews')]));
  r.putRemote('sync', cat('mid', [rsvc('b', 'reviews'), rsvc('b', 'ratings')]));
  t.deepEqual(exportsOf(r, 'b', 'reviews'), [
    ['alpha', true],
    ['mid', true],
    ['zeta', true],
  ]);
  markStale(r, 'mid');
  t.deepEqual(exportsOf(r, 'b', 'reviews'), [
    ['alpha', true],
    ['mid', false],
    ['zeta', true],
  ]);
  t.deepEqual(exportsOf(r, 'b', 'ratings'), [['mid', false]]);
  r.removeRemote('mid', 'sync');
  t.deepEqual(exportsOf(r, 'b', 'reviews'), [
    ['alpha', true],
    ['zeta', true],
  ]);
  t.deepEqual(exportsOf(r, 'b', 'ratings'), []);
  t.deepEqual(
    r.remoteCatalogs().map((c) => c.cluster),
    ['alpha', 'zeta'],
  );
  t.is(r.remoteFresh('mid'), undefined);
});

test('putRemote diff-applies the catalog: removed services leave the index and the namespace count', (t) => {
  const r = new Registry({ initialSerial: 1 });
  r.putRemote('sync', cat('c1', [rsvc('a', 'x'), rsvc('b', 'y')]));
  t.true(r.hasNamespace('b'));
  r.putRemote('sync', cat('c1', [rsvc('a', 'x'), rsvc('c', 'z')]));
  t.false(r.hasNamespace('b'));
  t.true(r.hasNamespace('c'));
  t.deepEqual(exportsOf(r, 'b', 'y'), []);
  t.deepEqual(exportsOf(r, 'c', 'z'), [['c1', true]]);
  t.deepEqual(r.indexSnapshot().exports, [
    ['a/x', ['c1']],
    ['c/z', ['c1']],
  ]);
  // A changed service record (ready flips) is visible through the cached lookup.
  r.putRemote('sync', cat('c1', [rsvc('a', 'x', false), rsvc('c', 'z')]));
  t.false(r.remoteExports('a', 'x')[0]!.service.ready);
  // So is a changed gateway list.
  r.putRemote('sync', cat('c1', [rsvc('a', 'x', false), rsvc('c', 'z')], { gateways: [{ address: '192.0.2.9', port: 1 }] }));
  t.is(r.remoteExports('a', 'x')[0]!.catalog.gateways[0]!.address, '192.0.2.9');
});

test('namespace refcount counts local and remote together', (t) => {
  const r = new Registry({ initialSerial: 1 });
  r.putLocal(cip('ns', 'a'));
  r.putRemote('sync', cat('c1', [rsvc('ns', 'a')]));
  r.putRemote('sync', cat('c2', [rsvc('ns', 'b')]));
  t.deepEqual(r.indexSnapshot().namespaces, [['ns', 3]]);
  r.removeLocal('ns', 'a');
  r.removeRemote('c1', 'sync');
  t.true(r.hasNamespace('ns'));
  markStale(r, 'c2');
  t.true(r.hasNamespace('ns'), 'stale catalogs still make the namespace exist');
  r.removeRemote('c2', 'sync');
  t.false(r.hasNamespace('ns'));
});

test('duplicate services inside one catalog count once (last wins)', (t) => {
  const r = new Registry({ initialSerial: 1 });
  r.putRemote('sync', cat('c1', [rsvc('ns', 'a', true), rsvc('ns', 'a', false)]));
  t.deepEqual(r.indexSnapshot().namespaces, [['ns', 1]]);
  t.false(r.remoteExports('ns', 'a')[0]!.service.ready);
  r.removeRemote('c1', 'sync');
  t.false(r.hasNamespace('ns'));
});

test('replaceLocal leaves no leftovers', (t) => {
  const r = new Registry({ initialSerial: 1 });
  r.replaceLocal([cip('a', 'x'), cip('a', 'y'), cip('b', 'z')]);
  r.replaceLocal([cip('a', 'y', 0), cip('c', 'w')]);
  t.deepEqual(
    r.localServices().map((s) => `${s.namespace}/${s.name}`),
    ['a/y', 'c/w'],
  );
  t.is(r.localService('a', 'x'), undefined);
  t.false(r.hasNamespace('b'));
  t.deepEqual(r.indexSnapshot().namespaces, [
    ['a', 1],
    ['c', 1],
  ]);
  t.is((r.localService('a', 'y') as { readyEndpoints: number }).readyEndpoints, 0);
});

test("replaceRemotes(origin) removes only that origin's catalogs; a cluster both list stays with sync", (t) => {
  const r = new Registry({ initialSerial: 1 });
  r.replaceRemotes('file', [cat('f1', [rsvc('a', 'x')]), cat('f2', [rsvc('a', 'y')])]);
  r.putRemote('sync', cat('s1', [rsvc('a', 'x')]));
  r.replaceRemotes('file', [cat('f2', [rsvc('a', 'y')])]);
  t.deepEqual(
    r.remoteCatalogs().map((c) => c.cluster),
    ['f2', 's1'],
  );
  t.deepEqual(exportsOf(r, 'a', 'x'), [['s1', true]]);
  // The file now lists s1 too (a migration): the live catalog keeps it, the static one waits.
  r.replaceRemotes('file', [cat('s1', [rsvc('a', 'z')])]);
  t.is(r.remoteOrigin('s1'), 'sync');
  t.deepEqual(exportsOf(r, 'a', 'x'), [['s1', true]]);
  t.deepEqual(exportsOf(r, 'a', 'z'), []);
  t.deepEqual(
    r.remoteShadows('s1').map((x) => x.origin),
    ['file'],
  );
  t.deepEqual(
    r.remoteCatalogs().map((c) => c.cluster),
    ['s1'],
  );
  // Sync withdraws: the file's catalog takes over as a diff, never through an empty state.
  r.replaceRemotes('sync', []);
  t.is(r.remoteOrigin('s1'), 'file');
  t.deepEqual(exportsOf(r, 'a', 'z'), [['s1', true]]);
  t.deepEqual(exportsOf(r, 'a', 'x'), []);
  r.replaceRemotes('file', []);
  t.deepEqual(r.indexSnapshot(), { locals: [], remotes: [], exports: [], namespaces: [] });
});

test('one owner per remote cluster: sync over file by default, the loser kept aside and restored', (t) => {
  const r = new Registry({ initialSerial: 1 });
  const live = cat('east', [rsvc('b', 'reviews')], { region: 'live' });
  const fileCat = cat('east', [rsvc('b', 'reviews'), rsvc('b', 'legacy')], { region: 'static' });
  r.putRemote('sync', live);
  const serial = r.serial();
  // Editing the file while the peer is live changes nothing that is answered.
  r.replaceRemotes('file', [fileCat]);
  t.is(r.serial(), serial, 'a shadowed write is not a content change');
  t.is(r.remoteCatalogs()[0]!.region, 'live');
  t.deepEqual(r.indexSnapshot().remotes, [{ cluster: 'east', origin: 'sync', fresh: true, shadowed: ['file'] }]);
  // The peer's later replies (a 304 re-applies nothing; a new catalog) stay in charge.
  r.putRemote('sync', { ...live, gateways: [{ address: '192.0.2.7', port: 15443 }] });
  t.is(r.remoteCatalogs()[0]!.gateways[0]!.address, '192.0.2.7');
  // A second file edit of the shadow is kept as the newest static catalog.
  r.replaceRemotes('file', [{ ...fileCat, zone: 'z2' }]);
  t.is(r.remoteShadows('east')[0]!.catalog.zone, 'z2');
  // The peer goes stale and sync withdraws it: the static catalog comes back, with its services.
  r.removeRemote('east', 'sync');
  t.is(r.remoteOrigin('east'), 'file');
  t.is(r.remoteCatalogs()[0]!.zone, 'z2');
  t.deepEqual(exportsOf(r, 'b', 'legacy'), [['east', true]]);
  t.deepEqual(r.remoteShadows('east'), []);
  // Sync withdrawing again (not the owner now) cannot remove the file's cluster.
  r.removeRemote('east', 'sync');
  t.is(r.remoteOrigin('east'), 'file');
  // The peer comes back: it takes over from the file at once.
  r.putRemote('sync', live);
  t.is(r.remoteOrigin('east'), 'sync');
  t.deepEqual(exportsOf(r, 'b', 'legacy'), []);
  // Removing the cluster from the file while sync owns it drops only the shadow.
  r.replaceRemotes('file', []);
  t.deepEqual(r.remoteShadows('east'), []);
  t.is(r.remoteOrigin('east'), 'sync');
  r.removeRemote('east', 'sync');
  t.deepEqual(r.indexSnapshot(), { locals: [], remotes: [], exports: [], namespaces: [] });
});

test('originPrecedence: file over sync when configured so', (t) => {
  const r = new Registry({ initialSerial: 1, originPrecedence: ['file', 'sync'] });
  r.putRemote('sync', cat('east', [rsvc('b', 'live')]));
  t.is(r.remoteOrigin('east'), 'sync', 'alone, sync owns it');
  r.replaceRemotes('file', [cat('east', [rsvc('b', 'static')])]);
  t.is(r.remoteOrigin('east'), 'file');
  t.deepEqual(exportsOf(r, 'b', 'live'), []);
  t.deepEqual(exportsOf(r, 'b', 'static'), [['east', true]]);
  r.putRemote('sync', cat('east', [rsvc('b', 'live2')]));
  t.deepEqual(exportsOf(r, 'b', 'live2'), [], 'the live catalog waits aside');
  r.replaceRemotes('file', []);
  t.is(r.remoteOrigin('east'), 'sync');
  t.deepEqual(exportsOf(r, 'b', 'live2'), [['east', true]], 'the newest live catalog is restored');
});

test('a catalog that says sourceStale is held as known but not fresh, until a fresh one arrives', (t) => {
  const r = new Registry({ initialSerial: 1 });
  r.putRemote('sync', cat('east', [rsvc('b', 'reviews')]));
  r.putRemote('sync', cat('east', [rsvc('b', 'reviews')], { sourceStale: true }));
  t.deepEqual(exportsOf(r, 'b', 'reviews'), [['east', false]]);
  t.false(r.remoteFresh('east'));
  r.putRemote('sync', cat('east', [rsvc('b', 'reviews')]));
  t.deepEqual(exportsOf(r, 'b', 'reviews'), [['east', true]]);
});

test('serial moves by one per changing write, and never on a no-op', (t) => {
  const r = new Registry({ initialSerial: 1000.7 });
  t.is(r.serial(), 1000);
  const steps: [string, () => void, boolean][] = [
    ['putLocal new', () => r.putLocal(cip('a', 'x')), true],
    ['putLocal equal', () => r.putLocal(cip('a', 'x')), false],
    ['putLocal equal, new object with undefined optional', () => r.putLocal({ ...cip('a', 'x') }), false],
    ['putLocal changed', () => r.putLocal(cip('a', 'x', 0)), true],
    ['removeLocal unknown', () => r.removeLocal('a', 'nope'), false],
    ['replaceLocal same content', () => r.replaceLocal([cip('a', 'x', 0)]), false],
    ['replaceLocal different', () => r.replaceLocal([cip('a', 'x', 0), cip('a', 'y')]), true],
    ['putRemote new', () => r.putRemote('sync', cat('c1', [rsvc('a', 'x')])), true],
    ['putRemote equal', () => r.putRemote('sync', cat('c1', [rsvc('a', 'x')])), false],
    ['putRemote equal, region: undefined', () => r.putRemote('sync', cat('c1', [rsvc('a', 'x')], { region: undefined })), false],
    ['putRemote equal, other origin (kept aside)', () => r.putRemote('file', cat('c1', [rsvc('a', 'x')])), false],
    ['putRemote region changed', () => r.putRemote('sync', cat('c1', [rsvc('a', 'x')], { region: 'r' })), true],
    ['putRemote another service', () => r.putRemote('sync', cat('c1', [rsvc('a', 'x'), rsvc('a', 'y')], { region: 'r' })), true],
    [
      'putRemote service order (a different record)',
      () => r.putRemote('sync', cat('c1', [rsvc('a', 'y'), rsvc('a', 'x')], { region: 'r' })),
      true,
    ],
    ['putRemote back to one service', () => r.putRemote('sync', cat('c1', [rsvc('a', 'x')], { region: 'r' })), true],
    ['putRemote sourceStale', () => r.putRemote('sync', cat('c1', [rsvc('a', 'x')], { region: 'r', sourceStale: true })), true],
    ['putRemote sourceStale again', () => r.putRemote('sync', cat('c1', [rsvc('a', 'x')], { region: 'r', sourceStale: true })), false],
    ['putRemote fresh again', () => r.putRemote('sync', cat('c1', [rsvc('a', 'x')], { region: 'r' })), true],
    ['replaceRemotes same', () => r.replaceRemotes('sync', [cat('c1', [rsvc('a', 'x')], { region: 'r' })]), false],
    ['putRemote from file while sync owns it (kept aside)', () => r.putRemote('file', cat('c1', [rsvc('a', 'q')])), false],
    ['removeRemote unknown', () => r.removeRemote('nope', 'sync'), false],
    ['removeRemote by the owner: the kept-aside catalog takes over', () => r.removeRemote('c1', 'sync'), true],
    ['removeRemote by a non-owner', () => r.removeRemote('c1', 'sync'), false],
    ["putRemote from sync, equal to the file's: takes over, same content", () => r.putRemote('sync', cat('c1', [rsvc('a', 'q')])), false],
    ['replaceRemotes(sync, []): back to the file, same content', () => r.replaceRemotes('sync', []), false],
    ['removeRemote', () => r.removeRemote('c1', 'file'), true],
    ['removeLocal', () => r.removeLocal('a', 'x'), true],
  ];
  for (const [title, write, changes] of steps) {
    const before = r.serial();
    write();
    t.is(r.serial(), changes ? before + 1 : before, title);
  }
  t.is(r.remoteFresh('c1'), undefined);
});

test('a change of weight or policy alone is a change: catalog level and per service, local traffic too (issue 16)', (t) => {
  const r = new Registry({ initialSerial: 1 });
  r.putRemote('sync', cat('b', [rsvc('ns', 'a')], { weight: 100 }));
  let serial = r.serial();
  const step = (label: string, write: () => void, changes = true) => {
    write();
    t.is(r.serial() !== serial, changes, label);
    serial = r.serial();
  };
  step('catalog weight', () => r.putRemote('sync', cat('b', [rsvc('ns', 'a')], { weight: 300 })));
  t.is(r.remoteExports('ns', 'a')[0]!.catalog.weight, 300, 'the lookup sees the new meta');
  step('catalog policy', () => r.putRemote('sync', cat('b', [rsvc('ns', 'a')], { weight: 300, policy: 'weighted' })));
  step('same again: no change', () => r.putRemote('sync', cat('b', [rsvc('ns', 'a')], { weight: 300, policy: 'weighted' })), false);
  step('service weight', () => r.putRemote('sync', cat('b', [{ ...rsvc('ns', 'a'), weight: 0 }], { weight: 300, policy: 'weighted' })));
  t.is(r.remoteExports('ns', 'a')[0]!.service.weight, 0);
  step('service policy', () =>
    r.putRemote('sync', cat('b', [{ ...rsvc('ns', 'a'), weight: 0, policy: 'spread' }], { weight: 300, policy: 'weighted' })),
  );
  r.putLocal(cip('ns', 'l'));
  serial = r.serial();
  step('local traffic weight', () => r.putLocal({ ...cip('ns', 'l'), traffic: { weight: 10 } }));
  step('local traffic localShare', () => r.putLocal({ ...cip('ns', 'l'), traffic: { weight: 10, localShare: 50 } }));
  step('same local again', () => r.putLocal({ ...cip('ns', 'l'), traffic: { weight: 10, localShare: 50 } }), false);
  t.deepEqual(r.localService('ns', 'l')!.traffic, { weight: 10, localShare: 50 });
});

test('serial wraps per RFC 1982 at 2^32', (t) => {
  const r = new Registry({ initialSerial: 2 ** 32 - 1 });
  r.putLocal(cip('a', 'x'));
  t.is(r.serial(), 0);
});

test('lookups are cached until a relevant change, and never throw', (t) => {
  const r = new Registry({ initialSerial: 1 });
  r.putRemote('sync', cat('c1', [rsvc('a', 'x'), rsvc('a', 'y')]));
  const first = r.remoteExports('a', 'x');
  t.is(r.remoteExports('a', 'x'), first);
  t.true(Object.isFrozen(first));
  r.putLocal(cip('a', 'x'));
  t.is(r.remoteExports('a', 'x'), first, 'local writes do not touch remote lookups');
  markStale(r, 'c1');
  t.not(r.remoteExports('a', 'x'), first);
  t.false(r.remoteExports('a', 'x')[0]!.fresh);
  t.true(first[0]!.fresh, 'a held result is never mutated');
  for (const [ns, name] of [
    ['', ''],
    ['__proto__', 'constructor'],
    ['a/x', ''],
    ['toString', 'valueOf'],
  ] as const) {
    t.notThrows(() => {
      r.localService(ns, name);
      r.remoteExports(ns, name);
      r.hasNamespace(ns);
    });
    t.is(r.localService(ns, name), undefined);
    t.deepEqual(r.remoteExports(ns, name), []);
  }
  t.false(r.hasNamespace('__proto__'));
});

// Sync applies a peer's change as a patch: a storm of one-service changes to 10,000-service
// catalogs must not rebuild every lookup of the cluster (issue 13's change storm).
test('patchRemote: only changed keys lose their cached lookups; a meta change rebuilds them all; a patch that does not fit takes the full diff', (t) => {
  const r = new Registry({ initialSerial: 1 });
  const x = rsvc('a', 'x');
  const y = rsvc('a', 'y');
  const c1 = cat('c1', [x, y]);
  r.putRemote('sync', c1);
  const firstX = r.remoteExports('a', 'x');
  const firstY = r.remoteExports('a', 'y');
  const serial = r.serial();

  const y2 = rsvc('a', 'y', false);
  const z = rsvc('b', 'z');
  const c2 = cat('c1', [x, y2, z]);
  r.patchRemote('sync', c1, c2, [y], [y2, z]);
  t.is(r.serial(), serial + 1);
  t.is(r.remoteExports('a', 'x'), firstX, 'an unchanged service keeps its cached lookup');
  t.not(r.remoteExports('a', 'y'), firstY);
  t.false(r.remoteExports('a', 'y')[0]!.service.ready);
  t.true(firstY[0]!.service.ready, 'a held result is never mutated');
  t.true(r.hasNamespace('b'));
  t.deepEqual(exportsOf(r, 'b', 'z'), [['c1', true]]);

  // The same services in another order: a change (remoteCatalogs shows the order), no lookup rebuilt.
  const c3 = cat('c1', [z, x, y2]);
  r.patchRemote('sync', c2, c3, [], []);
  t.is(r.serial(), serial + 2);
  t.is(r.remoteExports('a', 'x'), firstX);
  t.is(r.remoteCatalogs()[0], c3);

  // A gateway change reaches every lookup of the cluster.
  const c4 = cat('c1', [z, x, y2], { gateways: [{ address: '192.0.2.7', port: 15443 }] });
  r.patchRemote('sync', c3, c4, [], []);
  t.not(r.remoteExports('a', 'x'), firstX);
  t.is(r.remoteExports('a', 'x')[0]!.catalog.gateways[0]!.address, '192.0.2.7');
  t.is(firstX[0]!.catalog.gateways[0]!.address, '192.0.2.1');

  // Against a base the registry does not hold, or a patch that does not add up: the full diff.
  const c5 = cat('c1', [x]);
  r.patchRemote('sync', c1, c5, [], []);
  t.deepEqual(exportsOf(r, 'a', 'y'), []);
  t.deepEqual(exportsOf(r, 'b', 'z'), []);
  t.false(r.hasNamespace('b'));
  const c6 = cat('c1', [x, z]);
  r.patchRemote('sync', c5, c6, [], []); // z missing from upserts
  t.deepEqual(exportsOf(r, 'b', 'z'), [['c1', true]]);
  // From an origin that does not own the cluster: shadowed, as putRemote does.
  r.patchRemote('file', c6, cat('c1', []), [x, z], []);
  t.deepEqual(exportsOf(r, 'a', 'x'), [['c1', true]]);
  t.deepEqual(
    r.remoteShadows('c1').map((s) => s.origin),
    ['file'],
  );
});

// ---- model-based property -------------------------------------------------------------------

const NS = ['a', 'b', 'c'];
const NAMES = ['x', 'y', 'z'];
const CLUSTERS = ['c1', 'c2', 'c3', 'c4'];
const ORIGINS = ['file', 'sync'];

const localArb: fc.Arbitrary<LocalService> = fc.oneof(
  fc.record({
    kind: fc.constant('clusterIP' as const),
    namespace: fc.constantFrom(...NS),
    name: fc.constantFrom(...NAMES),
    ports: fc.constant([HTTP]),
    clusterIPs: fc.subarray(['10.0.0.1', 'fd00::1']),
    readyEndpoints: fc.integer({ min: 0, max: 1 }),
  }),
  fc.record({
    kind: fc.constant('headless' as const),
    namespace: fc.constantFrom(...NS),
    name: fc.constantFrom(...NAMES),
    ports: fc.constant([HTTP]),
    endpoints: fc.array(fc.record({ address: fc.constantFrom('10.1.0.1', '10.1.0.2'), ready: fc.boolean() }), { maxLength: 2 }),
  }),
);

const catalogArb: fc.Arbitrary<ClusterCatalog> = fc.record({
  cluster: fc.constantFrom(...CLUSTERS),
  region: fc.constantFrom(undefined, 'r1', 'r2'),
  sourceStale: fc.constantFrom(undefined, true),
  gateways: fc.array(fc.record({ address: fc.constantFrom('192.0.2.1', '192.0.2.2'), port: fc.constant(15443) }), { maxLength: 2 }),
  services: fc.array(
    fc.record({ namespace: fc.constantFrom(...NS), name: fc.constantFrom(...NAMES), ready: fc.boolean(), ports: fc.constant([HTTP]) }),
    { maxLength: 4 },
  ),
});

type Op =
  | { op: 'putLocal'; s: LocalService }
  | { op: 'removeLocal'; ns: string; name: string }
  | { op: 'replaceLocal'; list: LocalService[] }
  | { op: 'putRemote'; origin: string; c: ClusterCatalog }
  | { op: 'removeRemote'; cluster: string; origin: string }
  | { op: 'replaceRemotes'; origin: string; list: ClusterCatalog[] }
  // The next catalog keeps the services of the origin's last write where `keep` says so (the same
  // objects, as sync's decoder reuses them) and adds c's, keys unique (sync refuses duplicates).
  | { op: 'patchRemote'; origin: string; c: ClusterCatalog; keep: boolean[] };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: localArb.map((s) => ({ op: 'putLocal' as const, s })) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('removeLocal' as const), ns: fc.constantFrom(...NS), name: fc.constantFrom(...NAMES) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('replaceLocal' as const), list: fc.array(localArb, { maxLength: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('putRemote' as const), origin: fc.constantFrom(...ORIGINS), c: catalogArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('removeRemote' as const),
      cluster: fc.constantFrom(...CLUSTERS),
      origin: fc.constantFrom(...ORIGINS),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('replaceRemotes' as const),
      origin: fc.constantFrom(...ORIGINS),
      list: fc.array(catalogArb, { maxLength: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('patchRemote' as const),
      origin: fc.constantFrom(...ORIGINS),
      c: catalogArb,
      keep: fc.array(fc.boolean(), { maxLength: 4 }),
    }),
  },
);

/** A patchRemote op made concrete against what its origin last wrote (the model holds those objects). */
const patches = new WeakMap<Op, ReturnType<typeof makePatch>>();
function patchOf(m: Model, o: Extract<Op, { op: 'patchRemote' }>) {
  // Once per op: the registry and the model must get the same objects.
  let p = patches.get(o);
  if (p === undefined) patches.set(o, (p = makePatch(m, o)));
  return p;
}

function makePatch(m: Model, o: Extract<Op, { op: 'patchRemote' }>) {
  const base: ClusterCatalog = m.written.get(o.c.cluster)?.get(o.origin) ?? { cluster: o.c.cluster, gateways: [], services: [] };
  const byKey = new Map<string, RemoteService>();
  base.services.forEach((s, i) => {
    if (o.keep[i] === true && !byKey.has(`${s.namespace}/${s.name}`)) byKey.set(`${s.namespace}/${s.name}`, s);
  });
  for (const s of o.c.services) if (!byKey.has(`${s.namespace}/${s.name}`)) byKey.set(`${s.namespace}/${s.name}`, s);
  const next: ClusterCatalog = { ...o.c, services: [...byKey.values()] };
  const removed = base.services.filter((s) => !next.services.includes(s));
  const upserts = next.services.filter((s) => !base.services.includes(s));
  return { base, next, removed, upserts };
}

/** The naive model: just the content, as plain maps, with the semantics the registry documents. */
interface Model {
  /** Origins, highest precedence first. */
  precedence: readonly string[];
  locals: Map<string, LocalService>;
  /** Every catalog written and not withdrawn: cluster → origin → catalog. */
  written: Map<string, Map<string, ClusterCatalog>>;
}

/** The owner's view: per cluster, the catalog of the highest-precedence origin holding one. */
function owned(m: Model): Map<string, { origin: string; catalog: ClusterCatalog; fresh: boolean; shadowed: string[] }> {
  const out = new Map<string, { origin: string; catalog: ClusterCatalog; fresh: boolean; shadowed: string[] }>();
  for (const [cluster, byOrigin] of m.written) {
    const origins = m.precedence.filter((o) => byOrigin.has(o));
    if (origins.length === 0) continue;
    const catalog = byOrigin.get(origins[0]!)!;
    out.set(cluster, { origin: origins[0]!, catalog, fresh: catalog.sourceStale !== true, shadowed: origins.slice(1) });
  }
  return out;
}

function applyModel(m: Model, o: Op): void {
  if (o.op === 'patchRemote') {
    applyModel(m, { op: 'putRemote', origin: o.origin, c: patchOf(m, o).next });
    return;
  }
  switch (o.op) {
    case 'putLocal':
      m.locals.set(`${o.s.namespace}/${o.s.name}`, o.s);
      break;
    case 'removeLocal':
      m.locals.delete(`${o.ns}/${o.name}`);
      break;
    case 'replaceLocal':
      m.locals = new Map(o.list.map((s) => [`${s.namespace}/${s.name}`, s]));
      break;
    case 'putRemote':
      if (!m.written.has(o.c.cluster)) m.written.set(o.c.cluster, new Map());
      m.written.get(o.c.cluster)!.set(o.origin, o.c);
      break;
    case 'removeRemote':
      m.written.get(o.cluster)?.delete(o.origin);
      break;
    case 'replaceRemotes': {
      for (const byOrigin of m.written.values()) byOrigin.delete(o.origin);
      for (const c of o.list) {
        if (!m.written.has(c.cluster)) m.written.set(c.cluster, new Map());
        m.written.get(c.cluster)!.set(o.origin, c); // on duplicates in one list the last wins
      }
      break;
    }
  }
}

function applyRegistry(r: Registry, o: Op, m: Model): void {
  switch (o.op) {
    case 'putLocal':
      return r.putLocal(o.s);
    case 'removeLocal':
      return r.removeLocal(o.ns, o.name);
    case 'replaceLocal':
      return r.replaceLocal(o.list);
    case 'putRemote':
      return r.putRemote(o.origin, o.c);
    case 'removeRemote':
      return r.removeRemote(o.cluster, o.origin);
    case 'replaceRemotes':
      return r.replaceRemotes(o.origin, o.list);
    case 'patchRemote': {
      const p = patchOf(m, o);
      return r.patchRemote(o.origin, p.base, p.next, p.removed, p.upserts);
    }
  }
}

/** Every observable read over the whole name universe, as plain data. */
function observe(r: Registry) {
  const lookups: unknown[] = [];
  for (const ns of NS) {
    lookups.push(['ns', ns, r.hasNamespace(ns)]);
    for (const name of NAMES) {
      lookups.push(['local', ns, name, r.localService(ns, name)]);
      lookups.push(['exports', ns, name, r.remoteExports(ns, name).map((e) => [e.catalog.cluster, e.fresh, e.service])]);
    }
  }
  // Plain JSON: an equal re-put keeps the stored object, which may differ in prototype only.
  return JSON.parse(
    JSON.stringify({
      lookups,
      locals: r.localServices(),
      catalogs: r.remoteCatalogs().map((c) => [c, r.remoteOrigin(c.cluster), r.remoteFresh(c.cluster)]),
    }),
  ) as unknown;
}

/** The expected indexes, computed naively from the model. */
function expectedIndexes(m: Model) {
  const exports = new Map<string, Set<string>>();
  const namespaces = new Map<string, number>();
  const bump = (ns: string) => namespaces.set(ns, (namespaces.get(ns) ?? 0) + 1);
  for (const s of m.locals.values()) bump(s.namespace);
  const remotes = owned(m);
  for (const [cluster, e] of remotes) {
    const keys = new Map(e.catalog.services.map((s) => [`${s.namespace}/${s.name}`, s]));
    for (const [k, s] of keys) {
      if (!exports.has(k)) exports.set(k, new Set());
      exports.get(k)!.add(cluster);
      bump(s.namespace);
    }
  }
  const sorted = <T>(xs: [string, T][]) => xs.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return {
    locals: [...m.locals.keys()].sort(),
    remotes: [...remotes.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([cluster, e]) => ({ cluster, origin: e.origin, fresh: e.fresh, shadowed: e.shadowed })),
    exports: sorted([...exports].map(([k, cs]): [string, string[]] => [k, [...cs].sort()])),
    namespaces: sorted([...namespaces]),
  };
}

/** Content as the model sees it, for "did this write change anything" (structural, as JSON). */
function content(m: Model): unknown {
  const sortedEntries = <T>(xs: Map<string, T>) => [...xs.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return JSON.parse(
    JSON.stringify({
      locals: sortedEntries(m.locals),
      remotes: sortedEntries(owned(m)).map(([c, e]) => [c, e.fresh, e.catalog]),
    }),
  ) as unknown;
}

test('after any sequence of writes, indexes and reads equal the naive model and a rebuilt registry; serial moves iff content changed', (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), fc.constantFrom(['sync', 'file'], ['file', 'sync']), (ops, precedence) => {
      const r = new Registry({ initialSerial: 7, originPrecedence: precedence });
      const m: Model = { precedence, locals: new Map(), written: new Map() };
      for (const o of ops) {
        const before = content(m);
        const serial = r.serial();
        // The registry first: a patch is made against what the model held before this write (once
        // per application: shrinking may replay an op object in another sequence).
        patches.delete(o);
        applyRegistry(r, o, m);
        applyModel(m, o);
        const changed = !isDeepStrictEqual(before, content(m));
        if (r.serial() !== (changed ? serial + 1 : serial)) return false;
        // Incremental maintenance: the indexes agree with the model after every single write.
        if (!isDeepStrictEqual(r.indexSnapshot(), expectedIndexes(m))) return false;
      }
      // Rebuild from scratch with the final content and compare every read and index.
      // Every written catalog, lowest precedence first, so each owner takes over from its shadow.
      const fresh = new Registry({ initialSerial: 7, originPrecedence: precedence });
      fresh.replaceLocal([...m.locals.values()]);
      for (const origin of [...precedence].reverse()) {
        for (const byOrigin of m.written.values()) {
          const c = byOrigin.get(origin);
          if (c !== undefined) fresh.putRemote(origin, c);
        }
      }
      return isDeepStrictEqual(r.indexSnapshot(), fresh.indexSnapshot()) && isDeepStrictEqual(observe(r), observe(fresh));
    }),
    { numRuns: 1500 },
  );
  t.pass();
});

// patchLocal is how the file source applies a reload in O(changes): the services it held that are
// gone from the file (by content), and the new ones. It must leave the registry as replaceLocal
// of the new list does, for every pair of lists (keys kept, changed, added, removed).
test('patchLocal(removed, upserts) = replaceLocal(next), starting from any list', (t) => {
  const listArb = fc.uniqueArray(localArb, { selector: (s) => `${s.namespace}/${s.name}`, maxLength: 8 });
  fc.assert(
    fc.property(listArb, listArb, (before, after) => {
      // Equal content, as the registry compares records (fast-check also makes null-prototype
      // objects, which isDeepStrictEqual tells apart from plain ones with the same content).
      const same = (a: LocalService, b: LocalService) => recordsEqual(a, b);
      const removed = before.filter((b) => !after.some((a) => same(a, b)));
      const upserts = after.filter((a) => !before.some((b) => same(a, b)));
      const replaced = new Registry({ initialSerial: 1 });
      replaced.replaceLocal(before);
      replaced.replaceLocal(after);
      const patched = new Registry({ initialSerial: 1 });
      patched.replaceLocal(before);
      const serial = patched.serial();
      patched.patchLocal(removed, upserts);
      if (!isDeepStrictEqual(observe(patched), observe(replaced))) return false;
      if (!isDeepStrictEqual(patched.indexSnapshot(), replaced.indexSnapshot())) return false;
      // The serial moves exactly when something changed.
      return (patched.serial() !== serial) === removed.length + upserts.length > 0;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});
