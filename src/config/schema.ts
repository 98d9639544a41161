/**
 * The JSON Schema of the gsdns configuration file (draft-07, validated by ajv 8).
 *
 * Owns: every config key, its type, range, default and description. The config reference in
 * docs/configuration.md is generated from this schema (`npx tsx scripts/gen-config-reference.ts`). The custom
 * string formats (IP, CIDR, DNS label, upstream, ...) and their parsers live in `util/formats.ts`,
 * shared with the catalog file.
 * Must never: read files or the environment, or import an I/O module (it is PURE); rename a key
 * listed in SPEC §5.
 * Invariants: every object has `additionalProperties: false`, so a typo is an error; every key
 * with a sensible default declares it (nested blocks default to `{}` so their own defaults
 * apply); conditional requirements (`if`/`then`) only add `required`, never properties.
 */
import { schemaNodeAt } from '../util/yaml-schema.js';

export type { JsonSchema, JsonType } from './schema-kit.js';
import { block, int, ip, listen, port, type JsonSchema, type JsonType } from './schema-kit.js';
import { dnsSchema } from './schema-dns.js';

// --- the schema ---------------------------------------------------------------------------------

export const configSchema: JsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'gsdns configuration',
  type: 'object',
  additionalProperties: false,
  required: ['cluster'],
  properties: {
    cluster: {
      type: 'object',
      description: 'Identity and locality of this cluster, as advertised to peers.',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: {
          type: 'string',
          format: 'dns-label',
          description: "This cluster's name: a lowercase RFC 1123 DNS label, unique in the mesh.",
        },
        region: { type: 'string', minLength: 1, description: "Region, e.g. the nodes' topology.kubernetes.io/region." },
        zone: { type: 'string', minLength: 1, description: "Zone, e.g. the nodes' topology.kubernetes.io/zone." },
        location: {
          type: 'object',
          description: 'Coordinates of the cluster; when absent, peers geolocate its gateway addresses.',
          additionalProperties: false,
          required: ['lat', 'lon'],
          properties: {
            lat: { type: 'number', minimum: -90, maximum: 90, description: 'Latitude in degrees.' },
            lon: { type: 'number', minimum: -180, maximum: 180, description: 'Longitude in degrees.' },
          },
        },
        gateways: {
          type: 'array',
          description: "This cluster's east-west gateways, advertised to peers.",
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['address'],
            properties: {
              address: ip('Gateway address (IPv4 or IPv6).'),
              port: port('Gateway port.', 15443),
            },
          },
        },
        gatewayService: {
          type: 'object',
          description:
            "A Service whose LoadBalancer ingress (IPs, or hostnames resolved) or else externalIPs are this cluster's gateways, watched for changes, e.g. istio-system/istio-eastwestgateway. Needs `source.type: kubernetes`; replaces `cluster.gateways`.",
          additionalProperties: false,
          required: ['namespace', 'name'],
          properties: {
            namespace: { type: 'string', format: 'dns-label', description: 'Namespace of the gateway Service.' },
            name: { type: 'string', format: 'dns-label', description: 'Name of the gateway Service.' },
            port: port('Port advertised for each gateway address.', 15443),
          },
        },
        weight: int(
          "This cluster's weight, advertised to peers in its catalog: under `policy: weighted` each cluster of the best tier is first in answers in proportion to its weight, and it is the SRV weight (RFC 2782). 0 drains the cluster: it is answered only when no other cluster is healthy. A service overrides it with the `gsdns.io/weight` annotation or the catalog file's `weight`.",
          100,
          0,
          1000,
        ),
      },
    },
    dns: dnsSchema,
    source: block(
      'Where local services come from.',
      {
        type: {
          type: 'string',
          enum: ['file', 'kubernetes'],
          default: 'file',
          description: '`file` reads a catalog file and reloads it on change; `kubernetes` watches Services and EndpointSlices.',
        },
        file: {
          type: 'object',
          description:
            'The catalog file. Required when `source.type` is `file`. With `kubernetes` it is optional and only its `remotes:` are used (static peer catalogs until sync).',
          additionalProperties: false,
          required: ['path'],
          properties: {
            path: { type: 'string', format: 'file-path', description: 'Path of the catalog file.' },
          },
        },
        kubernetes: block('The Kubernetes API source.', {
          kubeconfig: {
            type: ['string', 'null'],
            format: 'file-path',
            default: null,
            description: 'Path of a kubeconfig; null uses the in-cluster service account.',
          },
          namespaces: {
            type: 'array',
            description: 'Namespaces whose services are exported; empty means every namespace.',
            default: [],
            uniqueItems: true,
            items: { type: 'string', format: 'dns-label' },
          },
          exportSelector: {
            type: 'string',
            default: '',
            description: 'Label selector a Service must match to be exported; empty means every Service.',
          },
          watchdogSeconds: int('Restart the informers when no event or bookmark arrives for this long; 0 disables.', 300, 0),
          staleAfterSeconds: int(
            'The local data is stale once a Service or EndpointSlice informer has not been watching (API server errors, restarts) for this long after the first sync. While stale gsdns keeps answering from the last-known data, with local answers capped at `dns.degradedTtl`; `/readyz` stays 200 with the reason (every replica loses the API server at once), and the catalog tells peers `sourceStale: true`, so they use this cluster only to fail open. 0 disables.',
            300,
            0,
          ),
        }),
      },
      {
        if: { properties: { type: { const: 'file' } } },
        then: { required: ['file'] },
      },
    ),
    forward: block('Forwarding of names outside the zones.', {
      upstreams: {
        type: 'array',
        description: '`host[:port]` IP entries (IPv6 bare or as `[addr]:port`, port 53 by default), or `resolv.conf`. Tried in order.',
        default: ['resolv.conf'],
        minItems: 1,
        items: { type: 'string', format: 'upstream' },
      },
      allowFrom: {
        type: 'array',
        description: 'CIDRs of clients allowed to resolve names outside the zones; every other client gets REFUSED.',
        default: ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
        items: { type: 'string', format: 'cidr' },
      },
      cache: block('The forwarding cache (bounded LRU).', {
        maxEntries: int('Most cached answers.', 10000, 1),
        maxBytes: int('Most octets of cached answers (message bodies plus bookkeeping).', 67108864, 65536),
      }),
      maxInFlight: int('Most upstream exchanges at once; queries beyond get SERVFAIL (or a stale answer), counted.', 512, 1),
      forwardClientSubnet: {
        type: 'boolean',
        default: false,
        description: "Pass the client's EDNS Client Subnet option upstream; answers scoped to a subnet are then not cached.",
      },
      serveStaleSeconds: int(
        'How long past expiry a cached answer may be served when every upstream fails (RFC 8767); 0 disables.',
        3600,
        0,
      ),
      timeoutMs: int('Timeout of one try against one upstream.', 2000, 1),
      budgetMs: int('Total time for one forwarded query, across tries and upstreams.', 5000, 1),
    }),
    sync: {
      type: 'object',
      description: 'Catalog sync with peer clusters over mutual TLS. Omit the whole block to run without peers.',
      additionalProperties: false,
      required: ['trustDomain', 'tls'],
      properties: {
        listen: listen('Address of the HTTPS catalog endpoint (`GET /v1/catalog`).', '0.0.0.0', 7443),
        trustDomain: {
          type: 'string',
          format: 'domain-name',
          description: 'Peer certificates name `<cluster>.<trustDomain>` (SAN DNS) or `spiffe://<trustDomain>/cluster/<cluster>`.',
        },
        tls: {
          type: 'object',
          description: 'PEM files for mutual TLS.',
          additionalProperties: false,
          required: ['ca', 'cert', 'key'],
          properties: {
            ca: { type: 'string', format: 'file-path', description: 'The shared root CA that every peer certificate chains to.' },
            cert: { type: 'string', format: 'file-path', description: "This cluster's certificate." },
            key: { type: 'string', format: 'file-path', description: 'The private key of `cert`.' },
          },
        },
        peers: {
          type: 'array',
          description: 'Peer clusters to watch.',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'url'],
            properties: {
              name: { type: 'string', format: 'dns-label', description: "The peer's cluster name, as its certificate names it." },
              url: { type: 'string', format: 'https-url', description: "Base URL of the peer's sync endpoint." },
            },
          },
        },
        staleAfterSeconds: int('How long a silent peer keeps its last catalog before its services are withdrawn.', 300, 1),
        remotePrecedence: {
          type: 'array',
          description:
            "Which source owns a remote cluster that both list, highest first: `sync` (live peers) or `file` (the catalog file's static `remotes:`). The other source's catalog of that cluster is kept aside and takes over when the owner withdraws it (a peer withdrawn after `staleAfterSeconds`, or the cluster removed from the file). Both must be listed.",
          default: ['sync', 'file'],
          items: { type: 'string', enum: ['sync', 'file'] },
          minItems: 2,
          maxItems: 2,
          uniqueItems: true,
        },
        applyBudgetPercent: int(
          'Most of each second spent parsing and applying peer catalogs, so DNS keeps the rest of the thread during change storms; later changes of a peer coalesce meanwhile.',
          50,
          1,
          100,
        ),
        maxConnections: int(
          'Most open connections to the sync port, authenticated or not; more are closed at accept. Each peer replica holds one long poll and may overlap it with a reconnect: 50 peer clusters × 3 replicas × 2 = 300 fit in 512 with room for probes and restarts. Raise it for larger meshes.',
          512,
          1,
        ),
        maxConnectionsPerSource: int(
          'Most connections from one address whose TLS handshake has not completed; more are closed at accept. A peer cluster behind one NAT address reconnects a few replicas at a time; a stranger holding handshakes open is bounded by this (and by `handshakeTimeoutMs`). Authenticated connections do not count.',
          16,
          1,
        ),
        handshakeTimeoutMs: int(
          "Close a connection whose TLS handshake has not finished this long after it opened (Node's `handshakeTimeout`; its default is 120 s). A full TLS 1.3 handshake is 1 round trip plus the certificate checks; 5000 covers an intercontinental path with retransmits.",
          5000,
          100,
          120000,
        ),
        descriptorReserve: {
          type: ['integer', 'null'],
          minimum: 0,
          default: null,
          description:
            'Descriptors the sync port never takes: it refuses connections while the descriptors in use (/proc/self/fd, sampled) would exceed the soft RLIMIT_NOFILE minus this. null: derived, `dns.tcp.maxConnections` × the DNS listeners + `forward.maxInFlight` + `http.maxConnections` × the HTTP listeners + 64 (files, listeners, probes). Where the limit cannot be read (not Linux), nothing is refused for descriptors.',
        },
        maxCatalogBytes: int(
          'Largest peer catalog accepted, in octets (100 to 200 per service). A larger one is refused (peer state rejected, the last good catalog kept) from its Content-Length, or while it streams, without buffering it whole. 2 MiB holds `maxCatalogServices` services with a few ports each.',
          2 * 1024 * 1024,
          1024,
        ),
        maxCatalogServices: int(
          "Most services in one peer catalog; a catalog with more is refused (peer state rejected, the last good catalog kept). Memory: parsing a catalog at the service limit (10,000 services, 1.5 MiB) raised peak RSS by about 11 MiB, and a held remote service costs about 50 B of heap when other peers export the same service (one shared object) and a few hundred octets when only its cluster does (bench:sync-flood, bench:sync: 50 peers × 10,000 shared services held 23 MB of heap, 210–240 MB RSS with located peers): size the memory limit for the mesh (the chart's 384 Mi includes geoip-lite's 146 MB).",
          10000,
          1,
        ),
      },
    },
    health: block('Active probing of remote gateways.', {
      intervalMs: int('Time between probes of one gateway.', 1000, 1),
      timeoutMs: int('Timeout of one probe.', 500, 1),
      fall: int('Consecutive failures that make a gateway unhealthy.', 3, 1),
      rise: int('Consecutive successes that make a gateway healthy.', 2, 1),
      probe: block(
        'How a gateway is probed.',
        {
          type: {
            type: 'string',
            enum: ['tcp', 'http', 'none'],
            default: 'tcp',
            description:
              '`tcp` connects; `http` GETs `path` on `port` and expects a 2xx; `none` turns probing off (every gateway counts as healthy, e.g. for documentation addresses no probe can reach).',
          },
          port: port("Port to probe. Optional for `tcp` (default: the gateway's port); required for `http`, e.g. 15021."),
          path: { type: 'string', format: 'http-path', description: 'Path to GET; required for `http`, e.g. `/healthz/ready`.' },
        },
        {
          if: { properties: { type: { const: 'http' } }, required: ['type'] },
          then: { required: ['port', 'path'] },
        },
      ),
    }),
    locality: block('Client locality.', {
      rttMarginMs: {
        type: 'number',
        minimum: 0,
        default: 5,
        description:
          'Clusters of equal locality tier whose gateway RTTs differ by no more than this many milliseconds count as equal (and rotate, see `dns.rotate`), so a few milliseconds of probe jitter do not pin every client to one cluster.',
      },
      ecs: {
        type: 'boolean',
        default: true,
        description: 'Locate clients by their EDNS Client Subnet (RFC 7871) when a query carries one.',
      },
      geoipPreload: {
        type: 'boolean',
        default: false,
        description:
          'Load geoip-lite (about 150 MB of memory, 0.2 s) at start. false: it is loaded on first need: an in-zone name whose answer ranks remote clusters for a client with ECS, or a remote cluster with no location. Never for names outside the zones, refused clients, or local and negative answers.',
      },
    }),
    http: block(
      'The ops HTTP server: /healthz, /readyz, /metrics and, unless `http.debug` moves or disables them, /debug/*. The limits apply to every HTTP listener (ops and debug) separately.',
      {
        listen: listen('Address of the ops HTTP server.', '127.0.0.1', 8080),
        debug: block(
          'The /debug/* endpoints: the inventory of every cluster, answer explanations (`/debug/resolve` forwards names outside the zones) and the self-test trigger.',
          {
            enabled: {
              type: 'boolean',
              default: true,
              description: 'Serve /debug/* at all. false: /debug/* is 404 everywhere and `gsdns explain` cannot work.',
            },
            listen: {
              type: ['object', 'null'],
              default: null,
              additionalProperties: false,
              description:
                'A listener of its own for /debug/* (e.g. `{address: 127.0.0.1, port: 8081}`, reached with `kubectl port-forward`); /debug/* on `http.listen` is then 404. null: /debug/* is served on `http.listen`.',
              properties: {
                address: { ...ip('Address to bind.'), default: '127.0.0.1' },
                port: { type: 'integer', minimum: 0, maximum: 65535, default: 8081, description: 'Port to bind; 0 picks a free port.' },
              },
            },
          },
        ),
        maxConnections: int(
          'Most open connections on each HTTP listener. At the cap a new connection closes the one idle longest (no request in progress: silent, or between keep-alive requests); it is refused only when every connection has a request in progress. Probes and scrapes need a few; 512 is above the accept backlog (511), so a probe accepted in one burst with a flood is not the oldest idle connection before its request is read.',
          512,
          1,
        ),
        idleTimeoutMs: int(
          "Close a connection with no request in progress after this long: one that has not sent a byte since it opened, or a keep-alive connection since its last response. 5000 is Node's keep-alive default; Prometheus scrapes every 15 s or more and kubelet probes open a connection per probe, so neither keeps one longer.",
          5000,
          100,
        ),
        headersTimeoutMs: int(
          'A request (line, headers and any body) must arrive within this long of its first byte (of the connection opening, for the first one), else the connection is closed with 408. Checked every min(1 s, a quarter of this). A probe or scrape sends its request in one packet; 5000 leaves room for a loaded node.',
          5000,
          100,
        ),
      },
    ),
    selfTest: block(
      'The stub-wiring self-test: a unique name in the first zone is resolved through the cluster resolver (as a pod would) and must reach this server. The result is `gsdns_stub_wiring_ok`, `/readyz` detail (never failing readiness) and `/debug/selftest`.',
      {
        enabled: { type: 'boolean', default: false, description: 'Run the self-test (on in the Helm chart).' },
        resolver: {
          type: ['string', 'null'],
          format: 'upstream',
          default: null,
          description:
            'Resolver to query, `host[:port]`. Default (null): the first `nameserver` of /etc/resolv.conf, i.e. the cluster DNS (CoreDNS).',
        },
        intervalSeconds: int('Seconds between self-tests.', 30, 1),
        timeoutMs: int("How long one self-test waits for the resolver's reply and for the query to arrive here.", 5000, 100),
      },
    ),
    shutdown: block('Graceful shutdown on SIGTERM/SIGINT.', {
      lameDuckSeconds: {
        type: 'number',
        minimum: 0,
        maximum: 600,
        default: 5,
        description:
          'After the first signal, /readyz is 503 at once and DNS keeps answering this long (so endpoints and CoreDNS stop sending here) before the listeners close. A second signal exits at once.',
      },
    }),
    log: block('Logging (pino on stdout).', {
      level: {
        type: 'string',
        enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
        default: 'info',
        description: 'Minimum level logged.',
      },
      format: {
        type: 'string',
        enum: ['auto', 'json', 'pretty'],
        default: 'auto',
        description:
          'json: one JSON object per line (for log collectors); pretty: one readable line per entry (pino-pretty); auto: pretty when stdout is a terminal, else json (a container keeps JSON, `npm start` in a terminal is readable).',
      },
      queries: block('The query log.', {
        enabled: {
          type: 'boolean',
          default: false,
          description:
            'Log one line per query, with the fields of CoreDNS\'s `log` plugin plus the answer source and cluster (docs/operations.md "Query log").',
        },
        sampleRate: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          default: 1.0,
          description: 'Fraction of queries logged when enabled.',
        },
      }),
    }),
  },
};

/** The sub-schema at a key path (segments; numbers index arrays), or undefined when no such key exists. */
export function schemaAt(segments: readonly (string | number)[], root: JsonSchema = configSchema): JsonSchema | undefined {
  return schemaNodeAt(root, segments);
}

/** The JSON types a schema node admits (an empty list means "any"). */
export function typesOf(node: JsonSchema): readonly JsonType[] {
  if (node.type === undefined) return [];
  return typeof node.type === 'string' ? [node.type] : node.type;
}
