/**
 * Whose traffic settings apply (src/registry/traffic.ts, issue 16): the policy rule as a table
 * over the local service (absent, without and with its own policy), the exporters' stated policies
 * (a service's own; a catalog's default states none) and dns.policy; exhaustively over small meshes by property; and the
 * weight fallbacks.
 */
import test from 'ava';
import fc from 'fast-check';
import { DEFAULT_WEIGHT, effectivePolicy, localWeightOf, statedPolicy, weightOf } from '../../../src/registry/index.js';
import type { LocalService, RemoteExport, TrafficPolicy } from '../../../src/registry/types.js';

const POLICIES: readonly TrafficPolicy[] = ['failover', 'spread', 'weighted'];

const local = (policy?: TrafficPolicy): LocalService => ({
  kind: 'clusterIP',
  namespace: 'ns',
  name: 'svc',
  ports: [],
  clusterIPs: ['10.0.0.1'],
  readyEndpoints: 1,
  ...(policy === undefined ? {} : { traffic: { policy } }),
});

/** An export whose catalog states `catalogPolicy` and whose service states `servicePolicy` (either may be absent). */
const exp = (
  cluster: string,
  o: { catalogPolicy?: TrafficPolicy; servicePolicy?: TrafficPolicy; catalogWeight?: number; serviceWeight?: number } = {},
): RemoteExport => ({
  catalog: {
    cluster,
    gateways: [],
    ...(o.catalogPolicy === undefined ? {} : { policy: o.catalogPolicy }),
    ...(o.catalogWeight === undefined ? {} : { weight: o.catalogWeight }),
  },
  service: {
    namespace: 'ns',
    name: 'svc',
    ready: true,
    ports: [],
    ...(o.servicePolicy === undefined ? {} : { policy: o.servicePolicy }),
    ...(o.serviceWeight === undefined ? {} : { weight: o.serviceWeight }),
  },
  fresh: true,
});

type Row = [
  name: string,
  local: LocalService | undefined,
  exports: RemoteExport[],
  def: TrafficPolicy,
  expected: ReturnType<typeof effectivePolicy>,
];

const rows: Row[] = [
  ['nobody has it: dns.policy', undefined, [], 'spread', { policy: 'spread', conflict: false, from: 'default' }],
  ['local only, no setting: dns.policy', local(), [], 'failover', { policy: 'failover', conflict: false, from: 'default' }],
  ['local only, own setting wins', local('weighted'), [], 'failover', { policy: 'weighted', conflict: false, from: 'local' }],
  [
    'local setting wins over agreeing exporters, and shows the conflict',
    local('spread'),
    [exp('b', { servicePolicy: 'weighted' }), exp('c', { servicePolicy: 'weighted' })],
    'failover',
    { policy: 'spread', conflict: true, from: 'local' },
  ],
  [
    'local without a setting: exporters that state one and agree set it',
    local(),
    [exp('b', { servicePolicy: 'weighted' })],
    'failover',
    { policy: 'weighted', conflict: false, from: 'exporters' },
  ],
  [
    "an exporter's catalog policy (its dns.policy) is imposed on nobody",
    undefined,
    [exp('b', { catalogPolicy: 'weighted' }), exp('c', { catalogPolicy: 'weighted' })],
    'failover',
    { policy: 'failover', conflict: false, from: 'default' },
  ],
  [
    'remote only, exporters state the same policy: theirs',
    undefined,
    [exp('b', { catalogPolicy: 'failover', servicePolicy: 'spread' }), exp('c', { servicePolicy: 'spread' })],
    'failover',
    { policy: 'spread', conflict: false, from: 'exporters' },
  ],
  [
    'remote only, exporters disagree: dns.policy, conflict',
    undefined,
    [exp('b', { servicePolicy: 'weighted' }), exp('c', { servicePolicy: 'spread' })],
    'failover',
    { policy: 'failover', conflict: true, from: 'default' },
  ],
  [
    'an exporter stating nothing does not break agreement',
    undefined,
    [exp('b', { catalogPolicy: 'spread' }), exp('c', { servicePolicy: 'weighted' })],
    'failover',
    { policy: 'weighted', conflict: false, from: 'exporters' },
  ],
  [
    'nobody states one: dns.policy, no conflict',
    undefined,
    [exp('b'), exp('c', { catalogPolicy: 'weighted' })],
    'spread',
    { policy: 'spread', conflict: false, from: 'default' },
  ],
  [
    'a single exporter: its policy',
    undefined,
    [exp('b', { servicePolicy: 'failover' })],
    'weighted',
    { policy: 'failover', conflict: false, from: 'exporters' },
  ],
];

for (const [name, l, exports, def, expected] of rows) {
  test(`effectivePolicy: ${name}`, (t) => {
    t.deepEqual(effectivePolicy(l, exports, def), expected);
  });
}

const policyOrNone = fc.option(fc.constantFrom(...POLICIES), { nil: undefined });
const exportArb = fc.record({ catalogPolicy: policyOrNone, servicePolicy: policyOrNone });

test('effectivePolicy: the rule holds over every small mesh', (t) => {
  fc.assert(
    fc.property(
      policyOrNone,
      fc.boolean(),
      fc.array(exportArb, { maxLength: 4 }),
      fc.constantFrom(...POLICIES),
      (lp, hasLocal, specs, def) => {
        const l = hasLocal ? local(lp) : undefined;
        const exports = specs.map((s, i) =>
          exp(`c${i}`, {
            ...(s.catalogPolicy === undefined ? {} : { catalogPolicy: s.catalogPolicy }),
            ...(s.servicePolicy === undefined ? {} : { servicePolicy: s.servicePolicy }),
          }),
        );
        const stated = exports.map(statedPolicy).filter((p): p is TrafficPolicy => p !== undefined);
        const own = l?.traffic?.policy;
        if (own !== undefined) stated.push(own);
        const distinct = new Set(stated);
        const r = effectivePolicy(l, exports, def);
        t.is(r.conflict, distinct.size > 1);
        if (own !== undefined) t.is(r.policy, own);
        else if (distinct.size === 1) t.is(r.policy, [...distinct][0]!);
        else t.is(r.policy, def);
        // Order of exporters never matters.
        t.deepEqual(effectivePolicy(l, [...exports].reverse(), def), r);
      },
    ),
  );
});

test("statedPolicy: the service's own setting; a catalog's default states nothing", (t) => {
  t.is(statedPolicy(exp('b', { catalogPolicy: 'spread', servicePolicy: 'weighted' })), 'weighted');
  t.is(statedPolicy(exp('b', { catalogPolicy: 'spread' })), undefined);
  t.is(statedPolicy(exp('b')), undefined);
});

const weightRows: [string, Parameters<typeof exp>[1], number][] = [
  ['neither: 100', {}, 100],
  ['the catalog', { catalogWeight: 300 }, 300],
  ['the service over its catalog', { catalogWeight: 300, serviceWeight: 50 }, 50],
  ['the service alone', { serviceWeight: 7 }, 7],
  ['a service weight of 0 drains, not the default', { catalogWeight: 300, serviceWeight: 0 }, 0],
  ['a catalog weight of 0 drains', { catalogWeight: 0 }, 0],
];
for (const [name, o, expected] of weightRows) {
  test(`weightOf: ${name}`, (t) => {
    t.is(weightOf(exp('b', o)), expected);
  });
}

test('localWeightOf: the service own weight, else cluster.weight (0 included)', (t) => {
  t.is(DEFAULT_WEIGHT, 100);
  t.is(localWeightOf(local(), 250), 250);
  t.is(localWeightOf({ ...local(), traffic: { weight: 0 } }, 250), 0);
  t.is(localWeightOf({ ...local(), traffic: { weight: 900, localShare: 10 } }, 250), 900);
});
