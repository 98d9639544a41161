/**
 * Shadowed catalogs: the origin order (listed origins by precedence, unlisted after them by name)
 * and the shelf of kept-aside catalogs per cluster.
 */
import test from 'ava';
import { Shadows } from '../../../src/registry/shadows.js';
import type { ClusterCatalog } from '../../../src/registry/types.js';

const cat = (cluster: string, zone: string): ClusterCatalog => ({ cluster, zone, gateways: [], services: [] });

test('compareOrigins: precedence order first, unlisted origins after every listed one, by name', (t) => {
  const s = new Shadows(['sync', 'file']);
  const origins = ['zz', 'file', 'aa', 'sync', 'B'];
  t.deepEqual(
    [...origins].sort((a, b) => s.compareOrigins(a, b)),
    ['sync', 'file', 'B', 'aa', 'zz'],
  );
  t.is(s.compareOrigins('sync', 'sync'), 0);
});

test('keep, drop, of and clustersOf', (t) => {
  const s = new Shadows(['sync', 'file']);
  t.deepEqual(s.of('east'), []);
  s.keep('east', 'other', cat('east', 'z0'));
  s.keep('east', 'file', cat('east', 'z1'));
  s.keep('east', 'file', cat('east', 'z2')); // one per (cluster, origin): replaced
  s.keep('west', 'file', cat('west', 'z3'));
  t.deepEqual(
    s.of('east').map((x) => [x.origin, x.catalog.zone]),
    [
      ['file', 'z2'],
      ['other', 'z0'],
    ],
  );
  t.deepEqual(s.clustersOf('file'), ['east', 'west']);
  t.deepEqual(s.clustersOf('other'), ['east']);
  s.drop('east', 'file');
  s.drop('east', 'nobody');
  s.drop('north', 'file');
  t.deepEqual(s.clustersOf('file'), ['west']);
  s.drop('east', 'other');
  t.deepEqual(s.of('east'), []);
  t.deepEqual(s.clustersOf('other'), []);
});
