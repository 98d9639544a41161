/**
 * The traffic annotations of a Service (issue 16: `gsdns.io/policy`, `gsdns.io/weight`,
 * `gsdns.io/local-share`) through client-node's real informers inside a spawned gsdns, against the
 * fake API server: they become the local service's traffic settings (seen on /debug/services); an
 * invalid value is ignored, logged once and counted once per Service and value, however many
 * informer events repeat it.
 */
import test from 'ava';
import { join } from 'node:path';
import { endpointSlice, service, startFakeKubeApiServer, writeKubeconfig } from '../helpers/fake-kube-apiserver.js';
import { spawnGsdns, tempDir, writeFile } from '../helpers/gsdns-process.js';
import { until } from '../helpers/poll.js';

interface TrafficEntry {
  service: string;
  policy: string;
  policyFrom: string;
  clusters: { cluster: string; local?: boolean; policy?: string; weight: number; localShare?: number }[];
}
interface ServicesView {
  local: { namespace: string; name: string; traffic?: object }[];
  traffic: TrafficEntry[];
}

const getJson = async <T>(port: number, path: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${port}${path}`)).json()) as T;
const entry = async (port: number, key: string) =>
  (await getJson<ServicesView>(port, '/debug/services')).traffic.find((e) => e.service === key);
const invalidCount = async (port: number) => (await getJson<{ invalidAnnotations: number }>(port, '/debug/source')).invalidAnnotations;
const metric = async (port: number, name: string) => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
};
const warnings = (logs: string, annotation: string, value: string) =>
  logs
    .split('\n')
    .filter((l) => l.includes('ignoring invalid annotation'))
    .map((l) => JSON.parse(l) as { service: string; annotation: string; value: string })
    .filter((r) => r.service === 'shop/bad' && r.annotation === annotation && r.value === value).length;

test('traffic annotations become the service settings; an invalid value is ignored, logged and counted once per service and value', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  const dir = tempDir(t);
  const config = join(dir, 'gsdns.yaml');
  writeFile(
    config,
    `cluster: {name: eu, weight: 100}
dns: {zones: [global], policy: failover}
log: {format: json}
source:
  type: kubernetes
  kubernetes:
    kubeconfig: ${JSON.stringify(writeKubeconfig(dir, fake))}
`,
  );
  fake.create(
    'services',
    service({
      namespace: 'shop',
      name: 'cart',
      clusterIP: '10.96.5.5',
      annotations: { 'gsdns.io/policy': 'weighted', 'gsdns.io/weight': '300', 'gsdns.io/local-share': '90' },
    }),
  );
  fake.create(
    'endpointslices',
    endpointSlice({ namespace: 'shop', name: 'cart-a', service: 'cart', endpoints: [{ addresses: ['10.244.0.1'] }] }),
  );
  const s = await spawnGsdns(t, ['--config', config]);

  await until(t, 'cart carries its annotations', async () => (await entry(s.httpPort, 'shop/cart')) !== undefined);
  t.deepEqual(await entry(s.httpPort, 'shop/cart'), {
    service: 'shop/cart',
    policy: 'weighted',
    policyFrom: 'local',
    clusters: [{ cluster: 'eu', local: true, policy: 'weighted', weight: 300, localShare: 90 }],
  });
  const local = (await getJson<ServicesView>(s.httpPort, '/debug/services')).local.find((l) => l.name === 'cart');
  t.deepEqual(local?.traffic, { policy: 'weighted', weight: 300, localShare: 90 });

  // An invalid weight: ignored (cluster.weight applies), one warning, counted once.
  const bad = (annotations: Record<string, string>, labels: Record<string, string> = {}) =>
    service({ namespace: 'shop', name: 'bad', clusterIP: '10.96.5.6', annotations, labels });
  fake.create('services', bad({ 'gsdns.io/weight': 'heavy' }));
  await until(t, 'bad is known, with the default weight', async () => (await entry(s.httpPort, 'shop/bad'))?.clusters[0]?.weight === 100);
  t.is(await invalidCount(s.httpPort), 1);

  // More events of the same Service with the same mistake (label changes), then one that changes
  // what is visible: once it shows, every earlier event has been applied (watch order).
  for (let i = 0; i < 5; i++) fake.update('services', bad({ 'gsdns.io/weight': 'heavy' }, { round: String(i) }));
  fake.update('services', bad({ 'gsdns.io/weight': 'heavy', 'gsdns.io/policy': 'spread' }));
  await until(t, 'the last event applied', async () => (await entry(s.httpPort, 'shop/bad'))?.policy === 'spread');
  t.is(await invalidCount(s.httpPort), 1, 'the same value on every event counts once');
  // The child's log lines reach this process on their own pipe, after any HTTP reply: wait for them.
  await until(t, 'the warning is logged', () => warnings(s.logs(), 'gsdns.io/weight', 'heavy') >= 1);

  // Another invalid value is a new mistake: logged and counted; fixing it stops nothing but the noise.
  fake.update('services', bad({ 'gsdns.io/weight': 'heavier', 'gsdns.io/policy': 'spread' }));
  await until(t, 'the new value is counted', async () => (await invalidCount(s.httpPort)) === 2);
  await until(t, 'the new warning is logged', () => warnings(s.logs(), 'gsdns.io/weight', 'heavier') >= 1);
  fake.update('services', bad({ 'gsdns.io/weight': '50', 'gsdns.io/policy': 'spread' }));
  await until(t, 'the fixed weight applies', async () => (await entry(s.httpPort, 'shop/bad'))?.clusters[0]?.weight === 50);
  t.is(await invalidCount(s.httpPort), 2);
  t.is(await metric(s.httpPort, 'gsdns_kubernetes_invalid_annotations_total'), 2);
  t.is(warnings(s.logs(), 'gsdns.io/weight', 'heavy'), 1, 'the same value on every event is logged once');
  t.is(warnings(s.logs(), 'gsdns.io/weight', 'heavier'), 1);
});
