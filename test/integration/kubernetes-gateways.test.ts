/**
 * The local gateway list from `cluster.gatewayService` (src/sources/kubernetes/informers.ts)
 * against the fake API server, with the hostname lookup in the test's hands: resolutions overlap
 * (a Service change while a slow ELB hostname is still being looked up), and only the newest one
 * may publish. A slow, older lookup must never re-advertise gateways the Service no longer has.
 */
import test from 'ava';
import { silentLogger } from '../../src/log.js';
import { Readiness } from '../../src/registry/readiness.js';
import { KubernetesSource } from '../../src/sources/kubernetes/informers.js';
import type { Gateway } from '../../src/registry/types.js';
import { tempDir } from '../helpers/gsdns-process.js';
import { service, startFakeKubeApiServer, writeKubeconfig } from '../helpers/fake-kube-apiserver.js';

interface HeldLookup {
  readonly host: string;
  release(addresses: readonly string[]): void;
}

test('a slow hostname lookup that finishes after a newer resolution does not bring back old gateways', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create(
    'services',
    service({ namespace: 'istio-system', name: 'eastwest', loadBalancerIngress: [{ hostname: 'slow-elb.example.test' }] }),
  );
  const held: HeldLookup[] = [];
  let lookupStarted: (() => void) | undefined;
  const published: (readonly Gateway[])[] = [];
  let onPublish: (() => void) | undefined;
  const source = new KubernetesSource({
    kubeconfig: writeKubeconfig(tempDir(t), fake),
    namespaces: [],
    exportSelector: '',
    watchdogSeconds: 0,
    gatewayService: { namespace: 'istio-system', name: 'eastwest', port: 15443 },
    onGateways: (gateways) => {
      published.push(gateways);
      onPublish?.();
    },
    registry: { putLocal: () => {}, removeLocal: () => {} },
    readiness: new Readiness(),
    logger: silentLogger(),
    lookupHost: (host) =>
      new Promise((resolve) => {
        held.push({ host, release: (addresses) => resolve(addresses.map((address) => ({ address }))) });
        lookupStarted?.();
      }),
  });
  t.teardown(() => source.stop());
  const firstLookup = new Promise<void>((resolve) => (lookupStarted = resolve));
  source.start();
  await firstLookup; // resolution 1 waits on the slow hostname

  // The Service moves to an IP ingress: resolution 2 needs no lookup and publishes at once.
  const secondPublished = new Promise<void>((resolve) => (onPublish = resolve));
  fake.modify('services', 'istio-system', 'eastwest', (o) => {
    (o as unknown as { status: { loadBalancer: { ingress: { ip: string }[] } } }).status.loadBalancer.ingress = [{ ip: '203.0.113.20' }];
  });
  await secondPublished;
  t.deepEqual(published.at(-1), [{ address: '203.0.113.20', port: 15443 }]);

  // Now the slow lookup of the old hostname answers. Its resolution is older: it must not publish.
  t.is(held.length, 1);
  held[0]!.release(['198.51.100.99']);
  // Let the released lookup's continuation run to its end (microtasks, then one macrotask turn).
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  t.deepEqual(published, [[{ address: '203.0.113.20', port: 15443 }]], 'only the newest resolution published');
  t.deepEqual(source.status().gateways, [{ address: '203.0.113.20', port: 15443 }]);
});
