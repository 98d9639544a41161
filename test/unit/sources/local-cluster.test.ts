/**
 * A remote catalog named like this cluster (issue 12): the catalog file's `remotes:` entry is an
 * error at its key path, an edit that adds one is rejected whole while the last good catalog stays,
 * and the registry never holds such a catalog whoever writes it.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readiness } from '../../../src/registry/readiness.js';
import { silentLogger } from '../../../src/log.js';
import { Registry } from '../../../src/registry/registry.js';
import { parseCatalogFile } from '../../../src/sources/catalog-file.js';
import { FileSource } from '../../../src/sources/file.js';

const GOOD = `services:
  - {namespace: shop, name: cart, clusterIPs: [10.96.0.1], readyEndpoints: 1}
remotes:
  - {cluster: us, gateways: [{address: 198.51.100.20}], services: [{namespace: shop, name: orders}]}
`;
const WITH_LOCAL = `${GOOD}  - {cluster: eu, gateways: [{address: 203.0.113.10}], services: [{namespace: shop, name: fake}]}
`;

test('parseCatalogFile: a remotes: entry named like cluster.name is an error at its key path', (t) => {
  const r = parseCatalogFile(WITH_LOCAL, { localCluster: 'eu' });
  if (r.ok) return t.fail('accepted a remote named like this cluster');
  t.deepEqual(
    r.issues.map((i) => `${i.path}: ${i.message}`),
    [
      "remotes[1].cluster: 'eu' is this cluster's own name (cluster.name); its services belong in services: (or come from Kubernetes), not remotes:",
    ],
  );
  t.is(r.issues[0]!.line, 5);
  // Another cluster's name, or no local name given, is fine.
  t.true(parseCatalogFile(WITH_LOCAL, { localCluster: 'ap' }).ok);
  t.true(parseCatalogFile(WITH_LOCAL).ok);
});

test('FileSource: an edit adding a remote named like this cluster is rejected, the last good catalog stays', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gsdns-local-cluster-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'catalog.yaml');
  writeFileSync(path, GOOD);
  const registry = new Registry({ initialSerial: 1, localCluster: 'eu' });
  const readiness = new Readiness();
  const source = new FileSource({ path, registry, readiness, logger: silentLogger(), localCluster: 'eu', pollMs: 60_000 });
  t.teardown(() => source.stop());
  await source.start();
  t.deepEqual(
    registry.remoteCatalogs().map((c) => c.cluster),
    ['us'],
  );
  const serial = registry.serial();
  writeFileSync(path, WITH_LOCAL);
  await source.reload('test');
  const st = source.status();
  t.is(st.rejected, 1);
  t.regex(st.lastError ?? '', /remotes\[1\]\.cluster: 'eu' is this cluster's own name/);
  t.deepEqual(
    registry.remoteCatalogs().map((c) => c.cluster),
    ['us'],
    'the last good remotes stay',
  );
  t.truthy(registry.localService('shop', 'cart'), 'and the last good local services');
  t.is(registry.serial(), serial, 'nothing changed');
});

test('Registry: a remote catalog named like localCluster is never stored, by putRemote or replaceRemotes', (t) => {
  const registry = new Registry({ initialSerial: 1, localCluster: 'eu' });
  const catalog = (cluster: string) => ({
    cluster,
    gateways: [{ address: '192.0.2.1', port: 15443 }],
    services: [{ namespace: 'shop', name: 'x', ready: true, ports: [] }],
  });
  registry.putRemote('sync', catalog('eu'));
  registry.replaceRemotes('file', [catalog('eu'), catalog('us')]);
  t.deepEqual(
    registry.remoteCatalogs().map((c) => c.cluster),
    ['us'],
  );
  t.deepEqual(
    registry.remoteExports('shop', 'x').map((e) => e.catalog.cluster),
    ['us'],
  );
});
