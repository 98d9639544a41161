/**
 * Sync carries traffic settings end to end (issue 16): two gsdns processes over real mutual TLS on
 * loopback. The exporter's cluster.weight and dns.policy arrive as its catalog's, its services'
 * own policy and weight (catalog file fields) as theirs, never localShare; a change of one
 * service's weight alone reaches the peer; and the receiver shows, on /debug/clusters and
 * /debug/services, what each cluster states and the policy conflict with its own service.
 */
import test from 'ava';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnGsdns, tempDir } from '../helpers/gsdns-process.js';
import { makePki, type TlsFiles } from '../helpers/pki.js';
import { until } from '../helpers/poll.js';
import { freePort } from '../helpers/unbound.js';

const TD = 'gsdns.local';

function writeCatalog(dir: string, text: string): void {
  // Atomic replace, as a ConfigMap update would be.
  writeFileSync(join(dir, 'catalog.tmp'), text);
  copyFileSync(join(dir, 'catalog.tmp'), join(dir, 'catalog.yaml'));
}

function configText(o: {
  name: string;
  gateway: string;
  extra: string;
  syncPort: number;
  tls: TlsFiles;
  peer: { name: string; port: number };
}) {
  return `cluster: {name: ${o.name}, gateways: [{address: ${o.gateway}, port: 15443}]${o.extra}}
source: {type: file, file: {path: catalog.yaml}}
sync:
  listen: {address: 127.0.0.1, port: ${o.syncPort}}
  trustDomain: ${TD}
  tls: {ca: ${JSON.stringify(o.tls.ca)}, cert: ${JSON.stringify(o.tls.cert)}, key: ${JSON.stringify(o.tls.key)}}
  peers: [{name: ${o.peer.name}, url: "https://127.0.0.1:${o.peer.port}"}]
`;
}

const euCatalog = (cartWeight: number) => `services:
  - {namespace: shop, name: cart, clusterIPs: [10.96.0.1], readyEndpoints: 1, weight: ${cartWeight}, localShare: 90, policy: weighted}
  - {namespace: shop, name: pay, clusterIPs: [10.96.0.2], readyEndpoints: 1, policy: spread}
  - {namespace: shop, name: plain, clusterIPs: [10.96.0.3], readyEndpoints: 1}
`;

interface RemoteCluster {
  cluster: string;
  weight?: number;
  policy?: string;
}
interface ServicesView {
  remote: { cluster: string; weight?: number; policy?: string; services: Record<string, unknown>[] }[];
  traffic: { service: string; policy: string; policyFrom: string; policyConflict?: boolean; clusters: Record<string, unknown>[] }[];
}
const getJson = async <T>(port: number, path: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${port}${path}`)).json()) as T;

test('two processes: weight and policy of the cluster and of each service arrive over mTLS, a weight change alone propagates, a conflict shows', async (t) => {
  const pki = await makePki(t, { trustDomain: TD, clusters: ['eu', 'us'] });
  const [euPort, usPort] = await Promise.all([freePort(), freePort()]);
  const euDir = tempDir(t, 'gsdns-sync-eu-');
  const usDir = tempDir(t, 'gsdns-sync-us-');
  writeCatalog(euDir, euCatalog(50));
  // us has cart too, stating spread against eu's weighted.
  writeCatalog(usDir, 'services:\n  - {namespace: shop, name: cart, clusterIPs: [10.96.1.1], readyEndpoints: 1, policy: spread}\n');
  writeFileSync(
    join(euDir, 'gsdns.yaml'),
    configText({
      name: 'eu',
      gateway: '203.0.113.10',
      extra: ', weight: 300',
      syncPort: euPort,
      tls: pki.clusters['eu']!,
      peer: { name: 'us', port: usPort },
    }) + 'dns: {policy: weighted}\n',
  );
  writeFileSync(
    join(usDir, 'gsdns.yaml'),
    configText({
      name: 'us',
      gateway: '198.51.100.20',
      extra: '',
      syncPort: usPort,
      tls: pki.clusters['us']!,
      peer: { name: 'eu', port: euPort },
    }),
  );
  const [, us] = await Promise.all([
    spawnGsdns(t, ['--config', join(euDir, 'gsdns.yaml')]),
    spawnGsdns(t, ['--config', join(usDir, 'gsdns.yaml')]),
  ]);

  const euAt = async () =>
    (await getJson<{ remote: RemoteCluster[] }>(us.httpPort, '/debug/clusters')).remote.find((c) => c.cluster === 'eu');
  await until(t, 'us holds eu', async () => (await euAt()) !== undefined);
  const eu = (await euAt())!;
  t.is(eu.weight, 300, 'cluster.weight arrives as the catalog weight');
  t.is(eu.policy, 'weighted', 'dns.policy arrives as the catalog policy');

  const view = await getJson<ServicesView>(us.httpPort, '/debug/services');
  const remote = view.remote.find((c) => c.cluster === 'eu')!;
  t.is(remote.weight, 300);
  const byName = new Map(remote.services.map((s) => [s['name'], s]));
  t.is(byName.get('cart')!['weight'], 50, 'a service weight override is carried');
  t.is(byName.get('cart')!['policy'], 'weighted', 'a stated policy is carried even when it equals the cluster default');
  t.false('localShare' in byName.get('cart')!, 'localShare stays with its cluster');
  t.is(byName.get('pay')!['policy'], 'spread', 'a service policy override is carried');
  t.false('policy' in byName.get('plain')! || 'weight' in byName.get('plain')!, 'no override, nothing more said');

  const traffic = new Map(view.traffic.map((e) => [e.service, e]));
  t.deepEqual(traffic.get('shop/pay'), {
    service: 'shop/pay',
    policy: 'spread',
    policyFrom: 'exporters',
    clusters: [{ cluster: 'eu', policy: 'spread', weight: 300 }],
  });
  // eu's dns.policy (weighted, its catalog's) is eu's default, imposed on nobody: plain states none.
  t.deepEqual(traffic.get('shop/plain'), {
    service: 'shop/plain',
    policy: 'failover',
    policyFrom: 'default',
    clusters: [{ cluster: 'eu', weight: 300 }],
  });
  // us's own service states spread and wins; eu's differing statement is shown as a conflict.
  t.deepEqual(traffic.get('shop/cart'), {
    service: 'shop/cart',
    policy: 'spread',
    policyFrom: 'local',
    policyConflict: true,
    clusters: [
      { cluster: 'us', local: true, policy: 'spread', weight: 100 },
      { cluster: 'eu', policy: 'weighted', weight: 50 },
    ],
  });

  // One service's weight alone changes at eu: the peer sees it.
  writeCatalog(euDir, euCatalog(60));
  await until(t, 'the new weight reaches us', async () => {
    const v = await getJson<ServicesView>(us.httpPort, '/debug/services');
    return v.traffic.find((e) => e.service === 'shop/cart')?.clusters.some((c) => c['cluster'] === 'eu' && c['weight'] === 60) === true;
  });
});
