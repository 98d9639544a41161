/**
 * The sync catalog codec and certificate identity rules (pure): catalog building, canonical JSON,
 * content-hash ETag, strict validation with field paths, and SAN identity parsing.
 */
import test from 'ava';
import fc from 'fast-check';
import { buildCatalog, canonicalCatalogJson, catalogEtag, parseCatalog } from '../../../src/sync/protocol.js';
import { checkPeerIdentity, clusterIdentity, parseSubjectAltName } from '../../../src/sync/identity.js';
import type { LocalService } from '../../../src/registry/types.js';

const locals: LocalService[] = [
  {
    kind: 'clusterIP',
    namespace: 'shop',
    name: 'cart',
    clusterIPs: ['10.96.0.1'],
    readyEndpoints: 2,
    ports: [
      { name: 'http', port: 80, protocol: 'TCP' },
      { name: 'grpc', port: 9090, protocol: 'TCP' },
    ],
  },
  { kind: 'clusterIP', namespace: 'shop', name: 'api', clusterIPs: ['10.96.0.2'], readyEndpoints: 0, ports: [] },
  {
    kind: 'headless',
    namespace: 'db',
    name: 'pg',
    endpoints: [
      { address: '10.244.0.1', ready: false },
      { address: '10.244.0.2', ready: true },
    ],
    ports: [],
  },
  { kind: 'headless', namespace: 'db', name: 'down', endpoints: [{ address: '10.244.0.3', ready: false }], ports: [] },
  { kind: 'externalName', namespace: 'db', name: 'ext', externalName: 'db.example.com', ports: [] },
];
const identity = { cluster: 'eu', region: 'eu-west-1', zone: 'eu-west-1a', location: { lat: 53.35, lon: -6.26 } };
const gateways = [
  { address: '203.0.113.20', port: 15443 },
  { address: '203.0.113.10', port: 15443 },
];

test('buildCatalog: exported services with readiness and ports, sorted; no endpoints; no ExternalName', (t) => {
  const c = buildCatalog(identity, gateways, locals);
  t.deepEqual(c, {
    ...identity,
    gateways: [
      { address: '203.0.113.10', port: 15443 },
      { address: '203.0.113.20', port: 15443 },
    ],
    services: [
      { namespace: 'db', name: 'down', ready: false, ports: [] },
      { namespace: 'db', name: 'pg', ready: true, ports: [] },
      { namespace: 'shop', name: 'api', ready: false, ports: [] },
      {
        namespace: 'shop',
        name: 'cart',
        ready: true,
        ports: [
          { name: 'grpc', port: 9090, protocol: 'TCP' },
          { name: 'http', port: 80, protocol: 'TCP' },
        ],
      },
    ],
  });
  t.false(canonicalCatalogJson(c).includes('10.96.'), 'no ClusterIPs or endpoints leave the cluster');
  t.false(canonicalCatalogJson(c).includes('10.244.'));
});

test('canonical JSON and ETag depend only on content: input order and replica do not matter', (t) => {
  fc.assert(
    fc.property(fc.shuffledSubarray(locals, { minLength: locals.length, maxLength: locals.length }), fc.boolean(), (shuffled, flip) => {
      const gws = flip ? [...gateways].reverse() : gateways;
      const a = canonicalCatalogJson(buildCatalog(identity, gws, shuffled));
      const b = canonicalCatalogJson(buildCatalog({ ...identity }, gateways, locals));
      return a === b && catalogEtag(a) === catalogEtag(b);
    }),
  );
  const etag = catalogEtag(canonicalCatalogJson(buildCatalog(identity, gateways, locals)));
  t.regex(etag, /^"[A-Za-z0-9_-]{43}"$/);
  const changed = catalogEtag(
    canonicalCatalogJson(buildCatalog(identity, gateways, [{ ...locals[1]!, readyEndpoints: 1 } as LocalService, ...locals])),
  );
  t.not(changed, etag, 'a readiness change changes the ETag');
  // A ClusterIP or endpoint-count change that keeps readiness does not (peers never see those).
  const same = catalogEtag(
    canonicalCatalogJson(
      buildCatalog(identity, gateways, [
        { ...locals[0]!, readyEndpoints: 7, clusterIPs: ['10.96.9.9'] } as LocalService,
        ...locals.slice(1),
      ]),
    ),
  );
  t.is(same, etag);
});

test('buildCatalog with advertised traffic: non-default weight and policy; a service its stated policy and differing weight; never localShare', (t) => {
  const withTraffic: LocalService[] = [
    { ...(locals[0] as LocalService), traffic: { policy: 'weighted', weight: 300, localShare: 90 } },
    { ...(locals[1] as LocalService), traffic: { policy: 'spread', weight: 150 } },
    { ...(locals[2] as LocalService), traffic: { localShare: 0 } },
  ];
  const c = buildCatalog(identity, gateways, withTraffic, false, { weight: 150, policy: 'spread' });
  t.is(c.weight, 150);
  t.is(c.policy, 'spread');
  const byName = new Map(c.services.map((s) => [s.name, s]));
  t.is(byName.get('cart')!.policy, 'weighted');
  t.is(byName.get('cart')!.weight, 300);
  t.is(byName.get('api')!.policy, 'spread', 'a stated policy is carried even when it equals the cluster default');
  t.false('weight' in byName.get('api')!, 'a weight equal to the cluster weight says nothing more');
  t.false('policy' in byName.get('pg')! || 'weight' in byName.get('pg')!);
  const json = canonicalCatalogJson(c);
  t.false(json.includes('localShare'));
  t.regex(json, /"gateways":\[.*\],"weight":150,"policy":"spread","services":/);
  t.regex(json, /"name":"cart","ready":true,"ports":\[.*?\],"policy":"weighted","weight":300\}/);
  const parsed = parseCatalog(JSON.parse(json));
  if (!parsed.ok) return t.fail(JSON.stringify(parsed.issues));
  t.is(canonicalCatalogJson(parsed.catalog), json, 'round trip');
  // A weight alone changes the bytes and the ETag.
  const heavier = buildCatalog(identity, gateways, withTraffic, false, { weight: 151, policy: 'spread' });
  t.not(catalogEtag(canonicalCatalogJson(heavier)), catalogEtag(json));
});

test('buildCatalog with the default traffic settings: the bytes older versions accept (no weight, no policy fields)', (t) => {
  const json = canonicalCatalogJson(buildCatalog(identity, gateways, locals, false, { weight: 100, policy: 'failover' }));
  t.is(json, canonicalCatalogJson(buildCatalog(identity, gateways, locals)));
  t.false(/"weight"|"policy"/.test(json));
});

test('buildCatalog without advertised traffic: the bytes of before issue 16 (no weight, no policy fields)', (t) => {
  const json = canonicalCatalogJson(buildCatalog(identity, gateways, locals));
  t.false(/"weight"|"policy"/.test(json));
});

test('parseCatalog accepts what buildCatalog produces, round trip', (t) => {
  const c = buildCatalog(identity, gateways, locals);
  const parsed = parseCatalog(JSON.parse(canonicalCatalogJson(c)));
  if (!parsed.ok) return t.fail(JSON.stringify(parsed.issues));
  t.deepEqual(canonicalCatalogJson(parsed.catalog), canonicalCatalogJson(c));
});

const bad: Array<[string, unknown, RegExp]> = [
  ['not an object', [1, 2], /\(root\): must be a JSON object/],
  ['no cluster', { gateways: [] }, /cluster/],
  ['cluster not a label', { cluster: 'Bad_Name', gateways: [] }, /cluster: must be/],
  ['unknown field', { cluster: 'eu', gateways: [], endpoints: [] }, /unknown key 'endpoints'|endpoints/],
  ['bad gateway address', { cluster: 'eu', gateways: [{ address: '999.1.1.1' }] }, /gateways\[0\]\.address: must be/],
  [
    'bad port',
    { cluster: 'eu', gateways: [], services: [{ namespace: 'a', name: 'b', ports: [{ port: 70000 }] }] },
    /services\[0\]\.ports\[0\]\.port/,
  ],
  ['ready not boolean', { cluster: 'eu', gateways: [], services: [{ namespace: 'a', name: 'b', ready: 'yes' }] }, /services\[0\]\.ready/],
  [
    'duplicate service',
    {
      cluster: 'eu',
      gateways: [],
      services: [
        { namespace: 'a', name: 'b' },
        { namespace: 'a', name: 'b' },
      ],
    },
    /services\[1\]: duplicate service a\/b/,
  ],
  ['latitude out of range', { cluster: 'eu', gateways: [], location: { lat: 91, lon: 0 } }, /location\.lat/],
  ['catalog weight out of range', { cluster: 'eu', gateways: [], weight: 1001 }, /^weight: must be <= 1000/],
  ['catalog policy unknown', { cluster: 'eu', gateways: [], policy: 'nearest' }, /^policy: must be one of/],
  [
    'service weight negative',
    { cluster: 'eu', gateways: [], services: [{ namespace: 'a', name: 'b', weight: -1 }] },
    /services\[0\]\.weight: must be >= 0/,
  ],
  [
    'service localShare (a local setting, never carried)',
    { cluster: 'eu', gateways: [], services: [{ namespace: 'a', name: 'b', localShare: 50 }] },
    /services\[0\]\.localShare/,
  ],
];
for (const [title, value, message] of bad) {
  test(`parseCatalog refuses: ${title}, naming the field`, (t) => {
    const r = parseCatalog(value);
    t.false(r.ok);
    if (!r.ok) t.regex(r.issues.map((i) => `${i.path}: ${i.message}`).join('\n'), message);
  });
}

test('parseCatalog never throws on arbitrary JSON values', (t) => {
  fc.assert(fc.property(fc.jsonValue(), (v) => typeof parseCatalog(v).ok === 'boolean'));
  t.pass();
});

// --- identity -----------------------------------------------------------------------------------

test("parseSubjectAltName reads Node's format, quoted values included", (t) => {
  t.deepEqual(parseSubjectAltName('DNS:eu.gsdns.local, URI:spiffe://gsdns.local/cluster/eu, IP Address:127.0.0.1'), [
    { type: 'DNS', value: 'eu.gsdns.local' },
    { type: 'URI', value: 'spiffe://gsdns.local/cluster/eu' },
    { type: 'IP Address', value: '127.0.0.1' },
  ]);
  t.deepEqual(parseSubjectAltName('DNS:"a,b.example", DNS:c'), [
    { type: 'DNS', value: 'a,b.example' },
    { type: 'DNS', value: 'c' },
  ]);
  t.deepEqual(parseSubjectAltName(undefined), []);
});

const identities: Array<[string, string | undefined, string | RegExp]> = [
  ['both forms, same cluster', 'DNS:eu.gsdns.local, URI:spiffe://gsdns.local/cluster/eu', 'eu'],
  ['DNS form only', 'DNS:eu.gsdns.local', 'eu'],
  ['SPIFFE form only, case-insensitive', 'URI:SPIFFE://GSDNS.local/cluster/EU', 'eu'],
  ['another trust domain', 'DNS:eu.other.local, URI:spiffe://other.local/cluster/eu', /names no cluster in trust domain gsdns\.local/],
  ['no SAN', undefined, /no subjectAltName/],
  ['only localhost', 'DNS:localhost', /names no cluster/],
  ['deeper name is not a cluster', 'DNS:a.eu.gsdns.local', /names no cluster/],
  ['two clusters', 'DNS:eu.gsdns.local, DNS:us.gsdns.local', /several clusters \(eu, us\)/],
  ['SPIFFE path with more segments', 'URI:spiffe://gsdns.local/cluster/eu/extra', /names no cluster/],
];
for (const [title, san, expected] of identities) {
  test(`clusterIdentity: ${title}`, (t) => {
    const r = clusterIdentity(san, 'gsdns.local');
    if (typeof expected === 'string') t.deepEqual(r, { ok: true, cluster: expected });
    else {
      t.false(r.ok);
      if (!r.ok) t.regex(r.reason, expected);
    }
  });
}

test("checkPeerIdentity: the configured name must be the certificate's cluster", (t) => {
  t.is(checkPeerIdentity('DNS:eu.gsdns.local', 'eu', 'gsdns.local'), undefined);
  t.regex(checkPeerIdentity('DNS:us.gsdns.local', 'eu', 'gsdns.local') ?? '', /names cluster us, but this peer is configured as eu/);
});
