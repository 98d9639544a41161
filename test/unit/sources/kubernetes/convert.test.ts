/**
 * Conversion tables: Kubernetes Services and EndpointSlices → the registry's LocalService, and
 * KubeState's incremental, scoped bookkeeping (SPEC §2, issue "Kubernetes source").
 */
import test from 'ava';
import fc from 'fast-check';
import {
  changeTriggerMs,
  gatewayTargets,
  toLocalService,
  toServiceRecord,
  toSliceRecord,
  trimService,
  trimSlice,
  type KubeEndpointSlice,
  type KubeService,
  type SliceRecord,
} from '../../../../src/sources/kubernetes/convert.js';
import { KubeState } from '../../../../src/sources/kubernetes/state.js';
import { Registry } from '../../../../src/registry/registry.js';
import type { LocalService } from '../../../../src/registry/types.js';

const svc = (spec: NonNullable<KubeService['spec']>, meta: Partial<NonNullable<KubeService['metadata']>> = {}): KubeService => ({
  metadata: { namespace: 'ns', name: 'web', ...meta },
  spec,
});

type Ep = { addresses: string[]; ready?: boolean | null; terminating?: boolean; uid?: string };
const slice = (
  name: string,
  addressType: string,
  endpoints: Ep[],
  service: string | null = 'web',
  namespace = 'ns',
): KubeEndpointSlice => ({
  metadata: { namespace, name, labels: service === null ? {} : { 'kubernetes.io/service-name': service } },
  addressType,
  endpoints: endpoints.map((e) => ({
    addresses: e.addresses,
    conditions: { ready: e.ready, terminating: e.terminating },
    targetRef: e.uid ? { uid: e.uid } : undefined,
  })),
});

function local(service: KubeService, slices: KubeEndpointSlice[]): LocalService | undefined {
  const record = toServiceRecord(service);
  if (!record) return undefined;
  return toLocalService(
    record,
    slices.map(toSliceRecord).filter((s): s is SliceRecord => s !== undefined),
  );
}

const PORTS = [{ name: 'http', port: 80, protocol: 'TCP' }];

// --- the conversion table ------------------------------------------------------------------------

const cases: Array<[string, KubeService, KubeEndpointSlice[], LocalService | undefined]> = [
  [
    'ClusterIP, two ready endpoints',
    svc({ clusterIP: '10.96.0.10', ports: PORTS }),
    [slice('web-a', 'IPv4', [{ addresses: ['10.1.0.1'] }, { addresses: ['10.1.0.2'], ready: true }])],
    {
      namespace: 'ns',
      name: 'web',
      kind: 'clusterIP',
      clusterIPs: ['10.96.0.10'],
      readyEndpoints: 2,
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    },
  ],
  [
    'ClusterIP: ready false, terminating and ready-unset are told apart',
    svc({ clusterIP: '10.96.0.10' }),
    [
      slice('web-a', 'IPv4', [
        { addresses: ['10.1.0.1'], ready: false },
        { addresses: ['10.1.0.2'], ready: true, terminating: true },
        { addresses: ['10.1.0.3'], ready: null },
        { addresses: ['10.1.0.4'] },
      ]),
    ],
    { namespace: 'ns', name: 'web', kind: 'clusterIP', clusterIPs: ['10.96.0.10'], readyEndpoints: 2, ports: [] },
  ],
  [
    'ClusterIP: ready endpoints summed over several slices',
    svc({ clusterIP: '10.96.0.10' }),
    [
      slice('web-a', 'IPv4', [{ addresses: ['10.1.0.1'] }, { addresses: ['10.1.0.2'] }]),
      slice('web-b', 'IPv4', [{ addresses: ['10.1.0.3'] }, { addresses: ['10.1.0.4'], ready: false }]),
    ],
    { namespace: 'ns', name: 'web', kind: 'clusterIP', clusterIPs: ['10.96.0.10'], readyEndpoints: 3, ports: [] },
  ],
  [
    'ClusterIP: an endpoint that appears in two slices (mid-migration) counts once',
    svc({ clusterIP: '10.96.0.10' }),
    [slice('web-a', 'IPv4', [{ addresses: ['10.1.0.1'], uid: 'p1' }]), slice('web-b', 'IPv4', [{ addresses: ['10.1.0.1'], uid: 'p1' }])],
    { namespace: 'ns', name: 'web', kind: 'clusterIP', clusterIPs: ['10.96.0.10'], readyEndpoints: 1, ports: [] },
  ],
  [
    'dual-stack ClusterIP: both ClusterIPs, a pod in the IPv4 and IPv6 slices counts once',
    svc({ clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00:0:0::a'] }),
    [
      slice('web-v4', 'IPv4', [
        { addresses: ['10.1.0.1'], uid: 'p1' },
        { addresses: ['10.1.0.2'], uid: 'p2' },
      ]),
      slice('web-v6', 'IPv6', [
        { addresses: ['fd01::1'], uid: 'p1' },
        { addresses: ['fd01::2'], uid: 'p2' },
      ]),
    ],
    { namespace: 'ns', name: 'web', kind: 'clusterIP', clusterIPs: ['10.96.0.10', 'fd00::a'], readyEndpoints: 2, ports: [] },
  ],
  [
    'ClusterIP with no slices: 0 ready (fails over to remote)',
    svc({ clusterIP: '10.96.0.10' }),
    [],
    { namespace: 'ns', name: 'web', kind: 'clusterIP', clusterIPs: ['10.96.0.10'], readyEndpoints: 0, ports: [] },
  ],
  ['ClusterIP not allocated yet: not answerable', svc({ clusterIP: '' }), [], undefined],
  [
    'headless: ready addresses of both families, sorted, not-ready kept as not ready',
    svc({ clusterIP: 'None' }),
    [
      slice('web-v6', 'IPv6', [{ addresses: ['fd01::2'] }]),
      slice('web-v4', 'IPv4', [
        { addresses: ['10.1.0.9'] },
        { addresses: ['10.1.0.3'], ready: false },
        { addresses: ['10.1.0.4'], terminating: true, ready: false },
      ]),
    ],
    {
      namespace: 'ns',
      name: 'web',
      kind: 'headless',
      endpoints: [
        { address: '10.1.0.3', ready: false },
        { address: '10.1.0.4', ready: false },
        { address: '10.1.0.9', ready: true },
        { address: 'fd01::2', ready: true },
      ],
      ports: [],
    },
  ],
  [
    'headless with publishNotReadyAddresses: not-ready and terminating addresses count',
    svc({ clusterIP: 'None', publishNotReadyAddresses: true }),
    [
      slice('web-v4', 'IPv4', [
        { addresses: ['10.1.0.3'], ready: false },
        { addresses: ['10.1.0.4'], terminating: true },
      ]),
    ],
    {
      namespace: 'ns',
      name: 'web',
      kind: 'headless',
      endpoints: [
        { address: '10.1.0.3', ready: true },
        { address: '10.1.0.4', ready: true },
      ],
      ports: [],
    },
  ],
  [
    'headless: the same address in two slices, ready in one, is one ready endpoint',
    svc({ clusterIP: 'None' }),
    [slice('a', 'IPv4', [{ addresses: ['10.1.0.3'], ready: false }]), slice('b', 'IPv4', [{ addresses: ['10.1.0.3'] }])],
    { namespace: 'ns', name: 'web', kind: 'headless', endpoints: [{ address: '10.1.0.3', ready: true }], ports: [] },
  ],
  [
    'headless: FQDN slices and addresses of the wrong family are ignored',
    svc({ clusterIP: 'None' }),
    [slice('a', 'FQDN', [{ addresses: ['db.example.com'] }]), slice('b', 'IPv4', [{ addresses: ['fd01::1', '10.1.0.1'] }])],
    { namespace: 'ns', name: 'web', kind: 'headless', endpoints: [{ address: '10.1.0.1', ready: true }], ports: [] },
  ],
  [
    'ExternalName: a CNAME target, lowercased, trailing dot removed',
    svc({ type: 'ExternalName', externalName: 'DB.Example.COM.' }),
    [],
    { namespace: 'ns', name: 'web', kind: 'externalName', externalName: 'db.example.com', ports: [] },
  ],
  ['ExternalName without a target: not answerable', svc({ type: 'ExternalName', externalName: '' }), [], undefined],
  [
    'ports: names lowercased, protocol defaults to TCP, invalid ports dropped',
    svc({
      clusterIP: '10.96.0.10',
      ports: [
        { name: 'GRPC', port: 9090, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
        { port: 8080 },
        { name: 'bad', port: 0 },
        { name: 'weird', port: 1, protocol: 'HTTP' },
      ],
    }),
    [],
    {
      namespace: 'ns',
      name: 'web',
      kind: 'clusterIP',
      clusterIPs: ['10.96.0.10'],
      readyEndpoints: 0,
      ports: [
        { name: 'grpc', port: 9090, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: '', port: 8080, protocol: 'TCP' },
        { name: 'weird', port: 1, protocol: 'TCP' },
      ],
    },
  ],
  ['no metadata: nothing', { spec: { clusterIP: '10.96.0.10' } }, [], undefined],
];

for (const [title, service, slices, expected] of cases) {
  test(`convert: ${title}`, (t) => {
    t.deepEqual(local(service, slices), expected);
    // The informer cache keeps trimmed objects; converting them must give the same answer.
    t.deepEqual(local(trimService(service), slices.map(trimSlice)), expected);
  });
}

test('convert: a slice without the service-name label belongs to no service', (t) => {
  t.is(toSliceRecord(slice('x', 'IPv4', [{ addresses: ['10.0.0.1'] }], null))?.service, undefined);
});

test('gatewayTargets: LoadBalancer ingress IPs and hostnames, else externalIPs', (t) => {
  t.deepEqual(
    gatewayTargets({
      spec: { externalIPs: ['198.51.100.9'] },
      status: { loadBalancer: { ingress: [{ ip: '203.0.113.10' }, { hostname: 'LB.Example.com.' }, { ip: '203.0.113.10' }] } },
    }),
    { addresses: ['203.0.113.10'], hostnames: ['lb.example.com'] },
  );
  t.deepEqual(gatewayTargets({ spec: { externalIPs: ['198.51.100.9', 'bogus'] } }), { addresses: ['198.51.100.9'], hostnames: [] });
  t.deepEqual(gatewayTargets({}), { addresses: [], hostnames: [] });
});

test('trimService keeps only what conversion and the informer need', (t) => {
  const full = {
    metadata: {
      namespace: 'ns',
      name: 'web',
      resourceVersion: '7',
      labels: { a: 'b' },
      annotations: { big: 'x'.repeat(10_000) },
      managedFields: [{}],
    },
    spec: {
      clusterIP: '10.96.0.10',
      selector: { app: 'web' },
      sessionAffinity: 'None',
      ports: [{ name: 'http', port: 80, targetPort: 8080 }],
    },
    status: {},
  } as unknown as KubeService;
  const trimmed = trimService(full);
  t.false(JSON.stringify(trimmed).includes('annotations'));
  t.false(JSON.stringify(trimmed).includes('selector'));
  t.is(trimmed.metadata?.resourceVersion, '7');
  t.true(JSON.stringify(trimmed).length < 400);
});

// --- KubeState: incremental, scoped, no leftovers -------------------------------------------------

function stateWithRegistry(exported: (ns: string, labels: Record<string, string>) => boolean = () => true) {
  const registry = new Registry({ initialSerial: 1 });
  const writes: string[] = [];
  const spy = {
    putLocal: (s: LocalService) => {
      writes.push(`put ${s.namespace}/${s.name}`);
      registry.putLocal(s);
    },
    removeLocal: (ns: string, name: string) => {
      writes.push(`remove ${ns}/${name}`);
      registry.removeLocal(ns, name);
    },
  };
  const state = new KubeState(spy, (svc) => exported(svc.namespace, { ...svc.labels }));
  return { registry, state, writes };
}

const rec = (ns: string, name: string, ip = '10.96.0.10', labels: Record<string, string> = {}) =>
  toServiceRecord({ metadata: { namespace: ns, name, labels }, spec: { clusterIP: ip } })!;
const srec = (ns: string, name: string, service: string, n: number) =>
  toSliceRecord(
    slice(
      name,
      'IPv4',
      Array.from({ length: n }, (_, i) => ({ addresses: [`10.2.0.${i + 1}`] })),
      service,
      ns,
    ),
  )!;

test('state: a slice change rebuilds only its service', (t) => {
  const { state, writes, registry } = stateWithRegistry();
  state.upsertService(rec('ns', 'a'));
  state.upsertService(rec('ns', 'b'));
  writes.length = 0;
  state.upsertSlice(srec('ns', 'a-1', 'a', 2));
  t.deepEqual(writes, ['put ns/a']);
  t.is((registry.localService('ns', 'a') as { readyEndpoints: number }).readyEndpoints, 2);
  writes.length = 0;
  state.removeSlice('ns', 'a-1');
  t.deepEqual(writes, ['put ns/a']);
  t.is((registry.localService('ns', 'a') as { readyEndpoints: number }).readyEndpoints, 0);
});

test('state: a slice that moves to another service updates both', (t) => {
  const { state, registry } = stateWithRegistry();
  state.upsertService(rec('ns', 'a'));
  state.upsertService(rec('ns', 'b'));
  state.upsertSlice(srec('ns', 's', 'a', 3));
  state.upsertSlice(srec('ns', 's', 'b', 3));
  t.is((registry.localService('ns', 'a') as { readyEndpoints: number }).readyEndpoints, 0);
  t.is((registry.localService('ns', 'b') as { readyEndpoints: number }).readyEndpoints, 3);
});

test('state: slices that arrive before their service are kept and counted when it appears', (t) => {
  const { state, registry } = stateWithRegistry();
  state.upsertSlice(srec('ns', 'a-1', 'a', 2));
  t.is(registry.localService('ns', 'a'), undefined);
  state.upsertService(rec('ns', 'a'));
  t.is((registry.localService('ns', 'a') as { readyEndpoints: number }).readyEndpoints, 2);
});

test('state: replace is wholesale within its scope and leaves other namespaces alone', (t) => {
  const { state, registry } = stateWithRegistry();
  state.upsertService(rec('ns1', 'a'));
  state.upsertService(rec('ns1', 'b'));
  state.upsertService(rec('ns2', 'c'));
  state.upsertSlice(srec('ns1', 'a-1', 'a', 1));
  state.upsertSlice(srec('ns1', 'b-1', 'b', 1));
  // A relist of ns1 in which b and its slice were deleted during an outage.
  state.replaceServices('ns1', [rec('ns1', 'a')]);
  state.replaceSlices('ns1', [srec('ns1', 'a-1', 'a', 4)]);
  t.deepEqual(
    registry
      .localServices()
      .map((s) => `${s.namespace}/${s.name}`)
      .sort(),
    ['ns1/a', 'ns2/c'],
  );
  t.is((registry.localService('ns1', 'a') as { readyEndpoints: number }).readyEndpoints, 4);
  // A cluster-wide relist replaces everything.
  state.replaceServices(undefined, [rec('ns2', 'd')]);
  t.deepEqual(
    registry.localServices().map((s) => `${s.namespace}/${s.name}`),
    ['ns2/d'],
  );
});

test('state: unexported services are never written, and leave when they stop matching', (t) => {
  const { state, registry, writes } = stateWithRegistry((ns, labels) => ns !== 'kube-system' && labels['export'] === 'yes');
  state.upsertService(rec('kube-system', 'dns', '10.96.0.53', { export: 'yes' }));
  state.upsertService(rec('ns', 'hidden'));
  t.deepEqual(writes, []);
  state.upsertService(rec('ns', 'shown', '10.96.0.11', { export: 'yes' }));
  t.deepEqual(
    registry.localServices().map((s) => s.name),
    ['shown'],
  );
  state.upsertService(rec('ns', 'shown', '10.96.0.11', { export: 'no' }));
  t.deepEqual(registry.localServices(), []);
  t.deepEqual(writes, ['put ns/shown', 'remove ns/shown']);
});

test('state: an unchanged event does not move the registry serial', (t) => {
  const { state, registry } = stateWithRegistry();
  state.upsertService(rec('ns', 'a'));
  state.upsertSlice(srec('ns', 'a-1', 'a', 2));
  const serial = registry.serial();
  state.upsertService(rec('ns', 'a'));
  state.upsertSlice(srec('ns', 'a-1', 'a', 2));
  state.replaceSlices(undefined, [srec('ns', 'a-1', 'a', 2)]);
  t.is(registry.serial(), serial);
});

test('state: any sequence of events ends where a fresh replace of the final objects ends (property)', (t) => {
  const names = ['a', 'b', 'c'];
  const nss = ['n1', 'n2'];
  const op = fc.oneof(
    fc.record({
      k: fc.constant('svc' as const),
      ns: fc.constantFrom(...nss),
      name: fc.constantFrom(...names),
      ip: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({ k: fc.constant('delsvc' as const), ns: fc.constantFrom(...nss), name: fc.constantFrom(...names) }),
    fc.record({
      k: fc.constant('slice' as const),
      ns: fc.constantFrom(...nss),
      name: fc.constantFrom('s1', 's2', 's3'),
      svc: fc.constantFrom(...names),
      n: fc.integer({ min: 0, max: 3 }),
    }),
    fc.record({ k: fc.constant('delslice' as const), ns: fc.constantFrom(...nss), name: fc.constantFrom('s1', 's2', 's3') }),
    fc.record({ k: fc.constant('relist' as const), ns: fc.constantFrom(...nss, undefined) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const { state, registry } = stateWithRegistry((ns) => ns !== 'n2' || true);
      const services = new Map<string, ReturnType<typeof rec>>();
      const slices = new Map<string, ReturnType<typeof srec>>();
      for (const o of ops) {
        if (o.k === 'svc') {
          const r = rec(o.ns, o.name, `10.96.0.${o.ip}`);
          services.set(`${o.ns}/${o.name}`, r);
          state.upsertService(r);
        } else if (o.k === 'delsvc') {
          services.delete(`${o.ns}/${o.name}`);
          state.removeService(o.ns, o.name);
        } else if (o.k === 'slice') {
          const r = srec(o.ns, o.name, o.svc, o.n);
          slices.set(`${o.ns}/${o.name}`, r);
          state.upsertSlice(r);
        } else if (o.k === 'delslice') {
          slices.delete(`${o.ns}/${o.name}`);
          state.removeSlice(o.ns, o.name);
        } else {
          const inScope = (ns: string) => o.ns === undefined || ns === o.ns;
          state.replaceServices(
            o.ns,
            [...services.values()].filter((s) => inScope(s.namespace)),
          );
          state.replaceSlices(
            o.ns,
            [...slices.values()].filter((s) => inScope(s.namespace)),
          );
        }
      }
      const fresh = stateWithRegistry();
      fresh.state.replaceServices(undefined, [...services.values()]);
      fresh.state.replaceSlices(undefined, [...slices.values()]);
      const view = (r: Registry) =>
        JSON.stringify([...r.localServices()].sort((x, y) => `${x.namespace}/${x.name}`.localeCompare(`${y.namespace}/${y.name}`)));
      if (view(registry) !== view(fresh.registry)) throw new Error(`diverged:\n${view(registry)}\n${view(fresh.registry)}`);
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('changeTriggerMs reads the EndpointSlice last-change-trigger-time (RFC 3339), and trimSlice keeps it', (t) => {
  const slice = (value?: string) => ({
    metadata: {
      name: 's',
      namespace: 'n',
      annotations: value === undefined ? undefined : { 'endpoints.kubernetes.io/last-change-trigger-time': value, other: 'x' },
    },
  });
  t.is(changeTriggerMs(slice('2026-11-26T06:10:32Z')), Date.UTC(2026, 10, 26, 6, 10, 32));
  t.is(changeTriggerMs(slice('2026-11-26T06:10:32.250Z')), Date.UTC(2026, 10, 26, 6, 10, 32, 250));
  t.is(changeTriggerMs(slice('2026-11-26T07:10:32+01:00')), Date.UTC(2026, 10, 26, 6, 10, 32));
  t.is(changeTriggerMs(slice(undefined)), undefined);
  t.is(changeTriggerMs(slice('yesterday')), undefined);
  t.is(changeTriggerMs(slice('2026-13-45T99:99:99Z')), undefined);
  t.is(changeTriggerMs(slice('1700000000')), undefined);
  const trimmed = trimSlice(slice('2026-11-26T06:10:32Z'));
  t.deepEqual(
    trimmed.metadata?.annotations,
    { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-11-26T06:10:32Z' },
    'only that annotation is kept',
  );
  t.is(trimSlice(slice(undefined)).metadata?.annotations, undefined);
});

// --- traffic annotations (issue 16) ----------------------------------------------------------------

const annotated = (annotations: Record<string, string>): KubeService =>
  svc({ clusterIP: '10.96.0.10', ports: [{ port: 80 }] }, { annotations });

const trafficRows: [string, Record<string, string>, object | undefined, string[]][] = [
  ['none', {}, undefined, []],
  ['unrelated annotations only', { 'example.com/x': 'y' }, undefined, []],
  ['policy', { 'gsdns.io/policy': 'weighted' }, { policy: 'weighted' }, []],
  ['policy with blanks and capitals', { 'gsdns.io/policy': ' Spread ' }, { policy: 'spread' }, []],
  ['weight 0 drains (a value, not absence)', { 'gsdns.io/weight': '0' }, { weight: 0 }, []],
  ['weight 1000', { 'gsdns.io/weight': '1000' }, { weight: 1000 }, []],
  ['local-share', { 'gsdns.io/local-share': '90' }, { localShare: 90 }, []],
  [
    'all three',
    { 'gsdns.io/policy': 'failover', 'gsdns.io/weight': '300', 'gsdns.io/local-share': '0' },
    { policy: 'failover', weight: 300, localShare: 0 },
    [],
  ],
  ['unknown policy: ignored, reported', { 'gsdns.io/policy': 'random' }, undefined, ['gsdns.io/policy=random']],
  ['weight above 1000', { 'gsdns.io/weight': '1001' }, undefined, ['gsdns.io/weight=1001']],
  ['negative weight', { 'gsdns.io/weight': '-1' }, undefined, ['gsdns.io/weight=-1']],
  ['fractional weight', { 'gsdns.io/weight': '2.5' }, undefined, ['gsdns.io/weight=2.5']],
  ['weight in another notation', { 'gsdns.io/weight': '1e2' }, undefined, ['gsdns.io/weight=1e2']],
  ['empty weight', { 'gsdns.io/weight': '' }, undefined, ['gsdns.io/weight=']],
  ['local-share above 100', { 'gsdns.io/local-share': '101' }, undefined, ['gsdns.io/local-share=101']],
  [
    'one bad value does not hide the good ones',
    { 'gsdns.io/policy': 'weighted', 'gsdns.io/weight': 'heavy', 'gsdns.io/local-share': '50' },
    { policy: 'weighted', localShare: 50 },
    ['gsdns.io/weight=heavy'],
  ],
];
for (const [name, annotations, traffic, invalid] of trafficRows) {
  test(`traffic annotations: ${name}`, (t) => {
    const record = toServiceRecord(trimService(annotated(annotations)))!;
    t.deepEqual(record.traffic, traffic);
    t.deepEqual(
      (record.invalidAnnotations ?? []).map((i) => `${i.annotation}=${i.value}`),
      invalid,
    );
    const local = toLocalService(record, []);
    t.deepEqual(local.traffic, traffic);
    if (traffic === undefined) t.false('traffic' in local, 'no settings, no traffic key');
  });
}

test('trimService keeps the traffic annotations and only them', (t) => {
  const trimmed = trimService(annotated({ 'gsdns.io/weight': '5', 'kubectl.kubernetes.io/last-applied-configuration': '{"big":1}' }));
  t.deepEqual(trimmed.metadata?.annotations, { 'gsdns.io/weight': '5' });
  t.is(trimService(annotated({ 'x/y': 'z' })).metadata?.annotations, undefined);
});
