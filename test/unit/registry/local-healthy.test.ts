/**
 * SPEC §3's readiness of a local service (`localHealthy`), the predicate the answer path and the
 * sync catalog builder share: a table over every kind and `dns.localMinReady`, and a property that
 * a headless service's precomputed ready addresses give the same verdict as walking its endpoints.
 */
import test from 'ava';
import fc from 'fast-check';
import { localHealthy, readyAddressesOf } from '../../../src/registry/index.js';
import type { Endpoint, HeadlessService, LocalService } from '../../../src/registry/types.js';

const base = { namespace: 'ns', name: 'svc', ports: [] } as const;
const clusterIP = (readyEndpoints: number): LocalService => ({ ...base, kind: 'clusterIP', clusterIPs: ['10.0.0.1'], readyEndpoints });
const headless = (...ready: boolean[]): HeadlessService => ({
  ...base,
  kind: 'headless',
  endpoints: ready.map((r, i) => ({ address: `10.0.1.${i + 1}`, ready: r })),
});

const cases: readonly [string, LocalService, number, boolean][] = [
  ['clusterIP, no ready endpoints', clusterIP(0), 1, false],
  ['clusterIP, one ready endpoint', clusterIP(1), 1, true],
  ['clusterIP, below localMinReady', clusterIP(2), 3, false],
  ['clusterIP, at localMinReady', clusterIP(3), 3, true],
  ['headless, no endpoints', headless(), 1, false],
  ['headless, only unready endpoints', headless(false, false), 1, false],
  ['headless, one ready of two', headless(false, true), 1, true],
  ['headless, below localMinReady', headless(true, false, true), 3, false],
  ['headless, at localMinReady', headless(true, true, true), 3, true],
  ['externalName is an alias: always healthy', { ...base, kind: 'externalName', externalName: 'example.org' }, 5, true],
];

for (const [name, service, minReady, expected] of cases) {
  test(`localHealthy: ${name}`, (t) => {
    t.is(localHealthy(service, minReady), expected);
    if (service.kind === 'headless') t.is(localHealthy(service, minReady, readyAddressesOf(service)), expected);
  });
}

test('localHealthy: the default bar is one ready endpoint', (t) => {
  t.false(localHealthy(clusterIP(0)));
  t.true(localHealthy(clusterIP(1)));
  t.true(localHealthy(headless(false, true)));
});

test('localHealthy: precomputed ready addresses agree with the endpoints', (t) => {
  const endpoint = fc.record({ address: fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::1'), ready: fc.boolean() });
  fc.assert(
    fc.property(fc.array(endpoint, { maxLength: 8 }), fc.integer({ min: 1, max: 6 }), (endpoints: Endpoint[], minReady) => {
      const s: HeadlessService = { ...base, kind: 'headless', endpoints };
      const expected = endpoints.filter((e) => e.ready).length >= minReady;
      return localHealthy(s, minReady) === expected && localHealthy(s, minReady, readyAddressesOf(s)) === expected;
    }),
  );
  t.pass();
});
