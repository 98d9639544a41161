/**
 * The worker's packed services (src/sync/catalog-pack.ts): they unpack to the services they were
 * packed from, port lists shared, traffic overrides present exactly when they were.
 */
import test from 'ava';
import { packServices, unpackServices } from '../../../src/sync/catalog-pack.js';

test('packed services unpack to the same services, with each distinct port list once', (t) => {
  const http = { name: 'http', port: 80, protocol: 'TCP' as const };
  const services = [
    { namespace: 'shop', name: 'cart', ready: true, ports: [http] },
    { namespace: 'shop', name: 'pay', ready: false, ports: [http] },
    { namespace: 'ünï', name: 'çödé', ready: true, ports: [] },
    { namespace: 'a', name: 'b', ready: true, ports: [http, { name: 'dns', port: 53, protocol: 'UDP' as const }] },
  ];
  const packed = packServices(services);
  t.deepEqual(unpackServices(packed), services);
  t.is(packed.portLists.length, 3);
  t.deepEqual(unpackServices(packServices([])), []);
});

test('packed services carry their own policy and weight (0 included), and leave them out when absent', (t) => {
  const services = [
    { namespace: 'shop', name: 'cart', ready: true, ports: [], policy: 'weighted' as const, weight: 0 },
    { namespace: 'shop', name: 'pay', ready: true, ports: [], weight: 1000 },
    { namespace: 'shop', name: 'api', ready: false, ports: [], policy: 'spread' as const },
    { namespace: 'shop', name: 'old', ready: true, ports: [] },
  ];
  const back = unpackServices(packServices(services));
  t.deepEqual(back, services);
  t.false('policy' in back[3]! || 'weight' in back[3]!);
});
