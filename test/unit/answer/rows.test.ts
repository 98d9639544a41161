/**
 * SPEC §1, row by row, against the embedded demo (plus a dual-stack and an ExternalName service),
 * under both policies. Every row states the whole answer: kind, RCODE, AA, every section, clusters
 * and the ECS scope.
 */
import test from 'ava';
import { RRType } from '../../../src/answer/types.js';
import { ask, soaAuthority, summarize, type CtxOverrides, type Summary } from './fixture.js';

type Policy = 'failover' | 'spread';

const ok = (kind: string, answers: string[], extra: Partial<Summary> = {}): Summary => ({
  kind,
  rcode: 0,
  aa: true,
  answers,
  authority: [],
  additional: [],
  clusters: [],
  ecs: 0,
  ...extra,
});
const nodata = (zone = 'global'): Summary => ({ ...ok('nodata', []), authority: soaAuthority(zone) });
const nxdomain = (zone = 'global'): Summary => ({ ...ok('nxdomain', []), rcode: 3, authority: soaAuthority(zone) });
const refused: Summary = { ...ok('outOfZone', []), rcode: 5, aa: false };
const servfail: Summary = { ...ok('notReady', []), rcode: 2, aa: false };

interface Row {
  /** SPEC §1 row (or the detail) this case pins down. */
  readonly row: string;
  readonly name: string;
  readonly types: readonly (keyof typeof RRType | number)[];
  /** Expected answer per policy; one value means "the same under both". */
  readonly expect: Summary | Readonly<Record<Policy, Summary>>;
  readonly ctx?: CtxOverrides;
}

const A = (owner: string, ip: string, ttl = 5) => `${owner} ${ttl} A ${ip}`;
const AAAA = (owner: string, ip: string, ttl = 5) => `${owner} ${ttl} AAAA ${ip}`;
const SRV = (owner: string, port: number, target: string, ttl = 5, priority = 0, weight = 0) =>
  `${owner} ${ttl} SRV ${priority} ${weight} ${port} ${target}`;

const PP = 'productpage.bookinfo.global';
const DET = 'details.bookinfo.global';
const REV = 'reviews.bookinfo.global';
const RAT = 'ratings.bookinfo.global';
const LEG = 'legacy.bookinfo.global';
const DUAL = 'dual.shop.global';
const EXT = 'ext.shop.global';
const OTHER_TYPES = ['TXT', 'MX', 'CNAME', 'SRV', 'NS', 'SOA', 'PTR', 99] as const;

const rows: readonly Row[] = [
  // Row 1: local service with ≥1 ready endpoint.
  { row: 'local ClusterIP', name: PP, types: ['A', 'ANY'], expect: ok('local', [A(PP, '10.96.0.20')]) },
  { row: 'local ClusterIP, family absent → NODATA, no failover', name: PP, types: ['AAAA'], expect: nodata() },
  {
    row: 'local headless: ready endpoints only, all of them',
    name: DET,
    types: ['A', 'ANY'],
    expect: ok('local', [A(DET, '10.244.1.5'), A(DET, '10.244.2.7')]),
  },
  { row: 'local headless, family absent', name: DET, types: ['AAAA'], expect: nodata() },
  { row: 'dual-stack ClusterIPs: A', name: DUAL, types: ['A'], expect: ok('local', [A(DUAL, '10.96.0.40')]) },
  { row: 'dual-stack ClusterIPs: AAAA', name: DUAL, types: ['AAAA'], expect: ok('local', [AAAA(DUAL, 'fd00::40')]) },
  {
    row: 'dual-stack ClusterIPs: ANY (RFC 8482)',
    name: DUAL,
    types: ['ANY'],
    expect: ok('local', [A(DUAL, '10.96.0.40'), AAAA(DUAL, 'fd00::40')]),
  },
  {
    row: 'ExternalName → CNAME for every type (RFC 1034 §3.6.2)',
    name: EXT,
    types: ['A', 'AAAA', 'ANY', 'CNAME', 'TXT'],
    expect: ok('local', [`${EXT} 5 CNAME api.example.com`]),
  },

  // Row 2: not healthy locally, healthy fresh peers; ordered by locality.
  {
    row: 'remote: failover keeps the best tier (same region); spread keeps all, best first',
    name: REV,
    types: ['A', 'ANY'],
    expect: {
      failover: ok('remote', [A(REV, '192.0.2.10')], { clusters: ['cluster-west'] }),
      spread: ok('remote', [A(REV, '192.0.2.10'), A(REV, '198.51.100.10')], { clusters: ['cluster-west', 'cluster-east'] }),
    },
  },
  {
    row: 'remote-only service',
    name: RAT,
    types: ['A'],
    expect: {
      failover: ok('remote', [A(RAT, '192.0.2.10')], { clusters: ['cluster-west'] }),
      spread: ok('remote', [A(RAT, '192.0.2.10'), A(RAT, '198.51.100.10')], { clusters: ['cluster-west', 'cluster-east'] }),
    },
  },
  { row: 'remote, no gateway of the family → NODATA', name: RAT, types: ['AAAA'], expect: nodata() },
  { row: 'remote, no gateway of the family → NODATA', name: REV, types: ['AAAA'], expect: nodata() },

  // Row 3: known, nothing healthy → fail open.
  {
    row: 'fail open: every known gateway, TTL ≤ degradedTtl',
    name: LEG,
    types: ['A', 'ANY'],
    expect: ok('degraded', [A(LEG, '198.51.100.10', 1)], { clusters: ['cluster-east'] }),
  },
  { row: 'fail open, family absent → NODATA, never NXDOMAIN', name: LEG, types: ['AAAA'], expect: nodata() },

  // Row 4: no such service.
  { row: 'unknown service in a known namespace', name: 'nothing.bookinfo.global', types: ['A', 'AAAA', 'TXT', 'SRV'], expect: nxdomain() },
  { row: 'unknown service in an unknown namespace', name: 'nothing.nowhere.global', types: ['A', 'ANY'], expect: nxdomain() },

  // Row 5: the name exists, the type does not.
  ...OTHER_TYPES.map((t): Row => ({ row: `existing local service, type ${t} → NODATA`, name: PP, types: [t], expect: nodata() })),
  ...OTHER_TYPES.map((t): Row => ({ row: `remote service, type ${t} → NODATA`, name: REV, types: [t], expect: nodata() })),
  { row: 'degraded service, other type → NODATA', name: LEG, types: ['TXT', 'MX'], expect: nodata() },

  // Row 6: namespaces are empty non-terminals (RFC 8020).
  { row: 'namespace with local services', name: 'bookinfo.global', types: ['A', 'AAAA', 'TXT', 'SOA', 'ANY'], expect: nodata() },
  { row: 'namespace with local services only', name: 'shop.global', types: ['A'], expect: nodata() },
  { row: 'unknown namespace', name: 'nowhere.global', types: ['A', 'TXT'], expect: nxdomain() },

  // Row 7: SRV.
  {
    row: 'SRV, local ClusterIP: service port, target, glue',
    name: `_http._tcp.${PP}`,
    types: ['SRV', 'ANY'],
    expect: ok('local', [SRV(`_http._tcp.${PP}`, 9080, PP)], { additional: [A(PP, '10.96.0.20')] }),
  },
  {
    row: 'SRV, local headless: every ready endpoint in additional',
    name: `_http._tcp.${DET}`,
    types: ['SRV'],
    expect: ok('local', [SRV(`_http._tcp.${DET}`, 9080, DET)], { additional: [A(DET, '10.244.1.5'), A(DET, '10.244.2.7')] }),
  },
  {
    row: 'SRV, UDP port of a dual-stack service: A and AAAA in additional',
    name: `_dns._udp.${DUAL}`,
    types: ['SRV'],
    expect: ok('local', [SRV(`_dns._udp.${DUAL}`, 53, DUAL)], { additional: [A(DUAL, '10.96.0.40'), AAAA(DUAL, 'fd00::40')] }),
  },
  {
    row: 'SRV, remote: gateway port',
    name: `_http._tcp.${REV}`,
    types: ['SRV'],
    expect: {
      // One target per cluster, `C.S.N.Z`, with its tier as priority and its weight (issue 16).
      failover: ok('remote', [SRV(`_http._tcp.${REV}`, 15443, `cluster-west.${REV}`, 5, 0, 100)], {
        additional: [A(`cluster-west.${REV}`, '192.0.2.10')],
        clusters: ['cluster-west'],
      }),
      spread: ok(
        'remote',
        [
          SRV(`_http._tcp.${REV}`, 15443, `cluster-west.${REV}`, 5, 0, 100),
          SRV(`_http._tcp.${REV}`, 15443, `cluster-east.${REV}`, 5, 1, 100),
        ],
        {
          additional: [A(`cluster-west.${REV}`, '192.0.2.10'), A(`cluster-east.${REV}`, '198.51.100.10')],
          clusters: ['cluster-west', 'cluster-east'],
        },
      ),
    },
  },
  {
    row: 'SRV, fail open',
    name: `_http._tcp.${LEG}`,
    types: ['SRV'],
    expect: ok('degraded', [SRV(`_http._tcp.${LEG}`, 15443, LEG, 1)], {
      additional: [A(LEG, '198.51.100.10', 1)],
      clusters: ['cluster-east'],
    }),
  },
  { row: 'SRV name, other type → NODATA', name: `_http._tcp.${PP}`, types: ['A', 'AAAA', 'TXT'], expect: nodata() },
  { row: 'SRV, unknown port name → NXDOMAIN', name: `_grpc._tcp.${PP}`, types: ['SRV', 'A'], expect: nxdomain() },
  { row: 'SRV, port of another protocol → NXDOMAIN', name: `_http._udp.${PP}`, types: ['SRV'], expect: nxdomain() },
  { row: 'SRV, unknown service → NXDOMAIN', name: '_http._tcp.nothing.bookinfo.global', types: ['SRV'], expect: nxdomain() },
  { row: 'SRV of an ExternalName → NODATA', name: `_http._tcp.${EXT}`, types: ['SRV'], expect: nodata() },
  { row: '_tcp.S.N.Z with TCP ports: empty non-terminal', name: `_tcp.${PP}`, types: ['A', 'SRV', 'TXT'], expect: nodata() },
  { row: '_tcp.S.N.Z of a remote-only service', name: `_tcp.${LEG}`, types: ['SRV'], expect: nodata() },
  { row: '_udp.S.N.Z with UDP ports', name: `_udp.${DUAL}`, types: ['SRV'], expect: nodata() },
  { row: '_udp.S.N.Z without UDP ports', name: `_udp.${PP}`, types: ['SRV'], expect: nxdomain() },
  { row: '_tcp of an unknown service', name: '_tcp.nothing.bookinfo.global', types: ['SRV'], expect: nxdomain() },

  // Row 8: apex.
  {
    row: 'apex SOA',
    name: 'global',
    types: ['SOA'],
    expect: ok('apex', ['global 5 SOA ns.global hostmaster.global S 7200 1800 86400 5']),
  },
  {
    row: 'apex NS with glue',
    name: 'global',
    types: ['NS'],
    expect: ok('apex', ['global 5 NS ns.global'], { additional: [A('ns.global', '127.0.0.1'), AAAA('ns.global', '::1')] }),
  },
  {
    row: 'apex ANY: SOA and NS (RFC 8482 subset)',
    name: 'global',
    types: ['ANY'],
    expect: ok('apex', ['global 5 SOA ns.global hostmaster.global S 7200 1800 86400 5', 'global 5 NS ns.global'], {
      additional: [A('ns.global', '127.0.0.1'), AAAA('ns.global', '::1')],
    }),
  },
  { row: 'apex, other types → NODATA', name: 'global', types: ['A', 'AAAA', 'TXT', 'MX', 'SRV'], expect: nodata() },
  { row: 'nameserver A', name: 'ns.global', types: ['A'], expect: ok('apex', [A('ns.global', '127.0.0.1')]) },
  { row: 'nameserver AAAA', name: 'ns.global', types: ['AAAA'], expect: ok('apex', [AAAA('ns.global', '::1')]) },
  { row: 'nameserver ANY', name: 'ns.global', types: ['ANY'], expect: ok('apex', [A('ns.global', '127.0.0.1'), AAAA('ns.global', '::1')]) },
  { row: 'nameserver, other types', name: 'ns.global', types: ['TXT', 'NS', 'SOA'], expect: nodata() },
  {
    row: 'nameserver without IPv6 glue',
    name: 'ns.global',
    types: ['AAAA'],
    expect: nodata(),
    ctx: { options: { nameservers: ['127.0.0.1'] } },
  },

  // Row 9: anything else under Z.
  { row: 'deeper than a service', name: `a.${PP}`, types: ['A', 'TXT'], expect: nxdomain() },
  { row: 'much deeper', name: `a.b.c.${PP}`, types: ['A'], expect: nxdomain() },
  { row: 'three labels without a protocol label', name: `_http.${PP}`, types: ['SRV'], expect: nxdomain() },
  { row: 'four labels, port label without underscore', name: `http._tcp.${PP}`, types: ['SRV'], expect: nxdomain() },
  { row: 'four labels, empty port name', name: `_._tcp.${PP}`, types: ['SRV'], expect: nxdomain() },
  { row: 'unknown protocol label', name: `_http._quic.${PP}`, types: ['SRV'], expect: nxdomain() },
  { row: 'below the nameserver name', name: 'x.ns.global', types: ['A'], expect: nxdomain() },
  { row: 'empty label', name: 'a..global', types: ['A'], expect: nxdomain() },

  // Row 10: before the local source has synced.
  ...['global', 'ns.global', PP, REV, 'nothing.global', `_http._tcp.${PP}`, 'a.b.c.d.e.global'].map((name): Row => ({
    row: 'not synced → SERVFAIL for any in-zone name',
    name,
    types: ['A', 'SOA', 'SRV'],
    expect: servfail,
    ctx: { sourceReady: false },
  })),

  // Rows 12/13: names outside every zone are not ours (the edge forwards or REFUSES).
  ...['example.com', '', 'xglobal', 'global.example', 'com'].map((name): Row => ({
    row: 'outside every zone → REFUSED here',
    name,
    types: ['A', 'NS', 'SOA'],
    expect: refused,
  })),
  { row: 'outside every zone, even before sync', name: 'example.com', types: ['A'], expect: refused, ctx: { sourceReady: false } },

  // Protocol rule: matching is case-insensitive; owners come back lowercase.
  { row: 'case-insensitive match', name: 'ProductPage.BookInfo.GLOBAL', types: ['A'], expect: ok('local', [A(PP, '10.96.0.20')]) },
  { row: 'trailing dot tolerated', name: `${PP}.`, types: ['A'], expect: ok('local', [A(PP, '10.96.0.20')]) },
];

for (const row of rows) {
  for (const type of row.types) {
    for (const policy of ['failover', 'spread'] as const) {
      const label = `${row.row}: ${row.name || '.'} ${type} [${policy}]`;
      test(label, (t) => {
        const d = ask(row.name, type, { ...row.ctx, options: { ...row.ctx?.options, policy } });
        const expected = 'kind' in row.expect ? row.expect : row.expect[policy];
        t.deepEqual(summarize(d), expected);
      });
    }
  }
}

test('every in-zone SOA carries the registry serial', (t) => {
  for (const [name, type] of [
    ['global', 'SOA'],
    ['nothing.global', 'A'],
    [`${PP}`, 'AAAA'],
  ] as const) {
    const d = ask(name, type);
    const soa = [...d.answers, ...d.authority].find((r) => r.data.type === RRType.SOA);
    t.truthy(soa, `${name} ${type}`);
    if (soa?.data.type === RRType.SOA) t.is(soa.data.serial, 1_700_000_000 + 2); // replaceLocal + replaceRemotes
  }
});
