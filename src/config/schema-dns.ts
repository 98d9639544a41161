/**
 * The `dns` section of the config schema (PURE): the authoritative server's listeners, zones,
 * TTLs, answer shaping, traffic policy and edge limits. Part of schema.ts, split out for size.
 *
 * Owns: every `dns.*` key, its type, range, default and description (docs/configuration.md is
 * generated from them). Must never: rename a key listed in SPEC §5.
 */
import { block, int, ip, TTL_MAX, type JsonSchema } from './schema-kit.js';

export const dnsSchema: JsonSchema = block('The authoritative DNS server for the zones.', {
  zones: {
    type: 'array',
    description: 'Zones answered authoritatively; lowercased, a trailing dot is stripped. Must not nest.',
    default: ['global'],
    minItems: 1,
    items: { type: 'string', format: 'domain-name' },
  },
  listen: {
    type: 'array',
    description:
      'Addresses served over both UDP and TCP. A wildcard (`0.0.0.0`, or `::` for both families) serves every local address: TCP on the wildcard, UDP on one socket per address (see `dns.interfaceRescanMs`).',
    default: [{ address: '127.0.0.1', port: 5353 }],
    minItems: 1,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['address', 'port'],
      properties: {
        address: ip('Address to bind.'),
        port: { type: 'integer', minimum: 0, maximum: 65535, description: 'Port to bind; 0 picks a free port.' },
      },
    },
  },
  nameservers: {
    type: 'array',
    description: 'Glue addresses of `ns.<zone>`, the apex NS record.',
    default: [{ address: '127.0.0.1' }],
    minItems: 1,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['address'],
      properties: { address: ip('Nameserver address (A or AAAA glue).') },
    },
  },
  ttl: int('TTL in seconds of positive answers.', 5, 0, TTL_MAX),
  negativeTtl: int('TTL in seconds of NXDOMAIN/NODATA answers and the SOA minimum (RFC 2308).', 5, 0, TTL_MAX),
  degradedTtl: int(
    'TTL cap in seconds of fail-open answers (no healthy candidate); at most `dns.ttl`. Unset, it is 1, or `dns.ttl` when that is lower.',
    1,
    0,
    TTL_MAX,
  ),
  maxAnswers: int('Most address records in one answer.', 8, 1),
  policy: {
    type: 'string',
    enum: ['failover', 'spread', 'weighted'],
    default: 'failover',
    description:
      "`failover` answers with the best locality tier only; `spread` with every healthy cluster, best first; `weighted` with every healthy cluster of the best tier, the first address drawn at random in proportion to the clusters' weights (`cluster.weight`). Also advertised to peers in the catalog. A service overrides it with the `gsdns.io/policy` annotation or the catalog file's `policy`.",
  },
  rotate: {
    type: 'boolean',
    default: true,
    description:
      'Addresses of equal rank (the gateways of one cluster, clusters of one tier within `locality.rttMarginMs`) rotate from query to query, so clients that use the first address spread evenly. false: a stable order (tier, RTT, name), for tests and operators who want it.',
  },
  localShare: int(
    "Percent of answers that stay local while the local service is healthy; the rest are answered as if it were unhealthy (remote clusters). A migration knob; a service overrides it with the `gsdns.io/local-share` annotation or the catalog file's `localShare`. Resolvers cache per name, so the split a client sees also depends on the TTL (`dns.splitTtl`) and the number of resolver replicas.",
    100,
    0,
    100,
  ),
  splitTtl: int(
    'TTL cap in seconds of an answer chosen by the local-share split (`dns.localShare` below 100), so that cached answers re-draw soon and the observed split converges.',
    5,
    0,
    TTL_MAX,
  ),
  interfaceRescanMs: int(
    'A wildcard `dns.listen` address (`0.0.0.0`, or `::` for both families) binds UDP on each local address, so a reply leaves from the address the query was sent to (Node has no IP_PKTINFO; clients drop replies from another address). The interfaces are rescanned this often to bind new addresses and close vanished ones; 0 scans only at start. TCP keeps the wildcard.',
    5000,
    0,
  ),
  answerCache: block(
    'The wire-level answer cache: in-zone replies kept fully encoded, so a repeated question skips the answer core and the encoder. Every change that can alter an answer (catalogs, endpoint readiness, gateway health and RTT, freshness, source readiness) invalidates all entries at once; fail-open answers, SERVFAIL for an unsynced source and names outside the zones are never kept.',
    {
      enabled: {
        type: 'boolean',
        default: true,
        description: 'Keep encoded answers. false: every query goes through the answer core (for benchmarks and comparisons).',
      },
      maxEntries: int('Most replies kept (least recently used out first).', 10000, 1),
      maxBytes: int('Most octets of kept replies, keys and bookkeeping.', 16777216, 65536),
    },
  ),
  tcp: block('Limits of the DNS-over-TCP listener.', {
    idleTimeoutMs: int(
      'Close a TCP connection with nothing in flight and no complete message or finished answer for this long. Octets of an incomplete message do not count as activity.',
      10000,
      1,
    ),
    messageTimeoutMs: int(
      'Close a TCP connection whose message has not arrived whole this long after its first octet (the length prefix). A query arrives in one or two segments; 1000 leaves room for a retransmitted segment across zones (Knot uses 500).',
      1000,
      1,
      60000,
    ),
    maxConnections: int(
      'Most open TCP connections in total. At the cap, the least recently active connection with no query in flight (idle, or mid-message) is closed to admit a new one; the new one is refused only if every connection has a query in flight.',
      1000,
      1,
    ),
    maxConnectionsPerClient: int(
      "Most open TCP connections from one client address. At the cap, that client's least recently active connection with no query in flight is closed to admit its new one; refused only if all of them have a query in flight.",
      50,
      1,
    ),
    maxInFlightPerConnection: int('Most pipelined queries answered concurrently on one connection.', 32, 1),
  }),
  localFailover: {
    type: 'boolean',
    default: true,
    description:
      'Answer with remote clusters when a local service has fewer than `localMinReady` ready endpoints. false: a service that exists here is always answered locally (its ClusterIPs, or its ready endpoints), as plain cluster DNS would.',
  },
  localMinReady: int('A local service with fewer ready endpoints than this spills over to remote clusters.', 1, 1),
  maxLocalAnswers: {
    type: ['integer', 'null'],
    minimum: 1,
    default: null,
    description:
      'Most address records of a local headless service in one answer (its ready endpoints). null: as many as fit in the reply (512 octets over UDP without EDNS, at most 1232 with it, 65535 over TCP); a UDP answer that does not fit is sent with TC=1 and the records that fit. Either way a query costs at most what its reply can hold, however many endpoints the service has.',
  },
  chaos: block(
    "Answers to the CHAOS-class server identity queries (class CH, TXT or ANY), as BIND's `version` and `server-id` options. They are never forwarded; any other class CH name is REFUSED.",
    {
      version: {
        type: ['string', 'null'],
        default: null,
        maxLength: 255,
        pattern: '^[\\x20-\\x7e]*$',
        description:
          'Text of `version.bind` and `version.server` (printable ASCII, one TXT string of at most 255 octets). null: REFUSED (nothing about the build is revealed).',
      },
      id: {
        type: ['string', 'null'],
        default: null,
        maxLength: 255,
        pattern: '^[\\x20-\\x7e]*$',
        description:
          'Text of `id.server` and `hostname.bind` (RFC 4892), e.g. the pod name (printable ASCII, at most 255 octets). null: REFUSED.',
      },
    },
  ),
});
