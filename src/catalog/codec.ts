/**
 * The catalog codec (PURE): one cluster's catalog as the file source's `remotes[i]` and a peer's
 * /v1/catalog body spell it (SPEC §2), shared by `sources/catalog-file.ts` and `sync/protocol.ts`
 * so neither adapter imports the other.
 *
 * Owns: the JSON Schema of a cluster catalog and its building blocks (DNS label, IP address,
 * service port), and the conversion of a validated catalog value into a `ClusterCatalog`.
 * Never: does I/O, logs, throws for bad input (duplicates are reported through a callback), or
 * knows which source a catalog came from.
 * Invariants: `toClusterCatalog` yields lowercase clusters, namespaces and names, canonical IP
 * text, `sourceStale` only when true, and `policy`/`weight` (catalog and service) only when present; the schema rejects every field it does not name
 * (additionalProperties: false).
 */
import type { ClusterCatalog, RemoteService, ServicePort, TrafficPolicy } from '../registry/types.js';
import { canonicalIp } from '../util/ip.js';
import type { Segment } from '../util/yaml-schema.js';

/** A lowercase RFC 1123 DNS label (the `dns-label` format of `util/formats.ts`). */
export const dnsLabel = { type: 'string', format: 'dns-label' } as const;

/** An IPv4 or IPv6 address (the `ip` format of `util/formats.ts`); converted to canonical text. */
export const ipAddress = { type: 'string', format: 'ip' } as const;

/** A service port (SPEC §2); `protocol` defaults to TCP. */
export const portSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['port'],
  properties: {
    name: { type: 'string', pattern: '^$|^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    protocol: { enum: ['TCP', 'UDP', 'SCTP'], default: 'TCP' },
  },
} as const;

/** A traffic policy (issue 16): how the answers for a service are spread. */
export const policySchema = { enum: ['failover', 'spread', 'weighted'] } as const;

/** A cluster's or service's weight (issue 16): 0 drains, 100 is the default share. */
export const weightSchema = { type: 'integer', minimum: 0, maximum: 1000 } as const;

/** A service's share of answers that stay local, in percent (issue 16; local services only). */
export const localShareSchema = { type: 'integer', minimum: 0, maximum: 100 } as const;

const gatewaySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['address'],
  properties: {
    address: ipAddress,
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 15443 },
  },
} as const;

/** One cluster's catalog (SPEC §2): the file's `remotes[i]`, and what a peer serves at /v1/catalog. */
export const remoteCatalogSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['cluster', 'gateways'],
  properties: {
    cluster: dnsLabel,
    region: { type: 'string', minLength: 1 },
    zone: { type: 'string', minLength: 1 },
    location: {
      type: 'object',
      additionalProperties: false,
      required: ['lat', 'lon'],
      properties: {
        lat: { type: 'number', minimum: -90, maximum: 90 },
        lon: { type: 'number', minimum: -180, maximum: 180 },
      },
    },
    gateways: { type: 'array', items: gatewaySchema },
    // The exporting cluster's own source is stale (source.kubernetes.staleAfterSeconds): its
    // `ready` flags are unverified, so receivers use its services only to fail open.
    sourceStale: { type: 'boolean' },
    // Traffic policies (issue 16): optional, so catalogs of older peers still decode.
    weight: weightSchema,
    policy: policySchema,
    services: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['namespace', 'name'],
        properties: {
          namespace: dnsLabel,
          name: dnsLabel,
          ready: { type: 'boolean', default: true },
          ports: { type: 'array', items: portSchema, default: [] },
          // The exporting cluster's own setting for this service, when it overrides the catalog's.
          policy: policySchema,
          weight: weightSchema,
        },
      },
    },
  },
} as const;

const lower = (s: string): string => s.toLowerCase();

/** Validated `ports` (defaults applied) → ServicePort[]; an absent list is empty. */
export function toPorts(raw: unknown): ServicePort[] {
  return ((raw as { name?: string; port: number; protocol: ServicePort['protocol'] }[]) ?? []).map((p) => ({
    name: p.name ?? '',
    port: p.port,
    protocol: p.protocol,
  }));
}

/**
 * A catalog value that passed `remoteCatalogSchema` (defaults applied) → ClusterCatalog, reporting
 * duplicate services through `issue` (segments relative to the catalog).
 */
export function toClusterCatalog(
  r: Record<string, unknown>,
  issue: (segments: readonly Segment[], message: string) => void,
): ClusterCatalog {
  const svcSeen = new Set<string>();
  const services: RemoteService[] = (r['services'] as Record<string, unknown>[]).map((s, j) => {
    const key = `${lower(String(s['namespace']))}/${lower(String(s['name']))}`;
    if (svcSeen.has(key)) issue(['services', j], `duplicate service ${key}`);
    svcSeen.add(key);
    return {
      namespace: lower(String(s['namespace'])),
      name: lower(String(s['name'])),
      ready: s['ready'] as boolean,
      ports: toPorts(s['ports']),
      ...trafficOf(s),
    };
  });
  return {
    cluster: lower(String(r['cluster'])),
    region: r['region'] as string | undefined,
    zone: r['zone'] as string | undefined,
    location: r['location'] as { lat: number; lon: number } | undefined,
    gateways: (r['gateways'] as { address: string; port: number }[]).map((g) => ({ address: canonicalIp(g.address), port: g.port })),
    services,
    ...trafficOf(r),
    ...(r['sourceStale'] === true ? { sourceStale: true } : {}),
  };
}

/**
 * The validated `policy` and `weight` of a catalog or one of its services, each only when present
 * (an absent field means the default, and is left out so equal values compare and serialise alike).
 */
export function trafficOf(v: Record<string, unknown>): { policy?: TrafficPolicy; weight?: number } {
  const policy = v['policy'] as TrafficPolicy | undefined;
  const weight = v['weight'] as number | undefined;
  return { ...(policy === undefined ? {} : { policy }), ...(weight === undefined ? {} : { weight }) };
}
