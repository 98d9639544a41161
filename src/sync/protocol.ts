/**
 * The sync protocol's catalog codec (PURE).
 *
 * Owns: building this cluster's catalog from the registry's local services (identity, locality,
 * gateways, exported services with ports and readiness; never endpoint addresses), its canonical
 * serialisation and content-hash ETag, and strict validation of a catalog received from a peer.
 * Never: does I/O, or accepts a catalog field it does not know (additionalProperties: false).
 * Invariants:
 * - The canonical JSON depends only on the catalog's content: keys in a fixed order, services
 *   sorted by namespace/name, ports and gateways sorted, absent optional fields omitted. So every
 *   replica of a cluster, and every restart, gives the same bytes and the same ETag.
 * - Traffic settings (issue 16) are optional fields, absent from a catalog that does not set them,
 *   so a catalog without them has the bytes and ETag it had before, and older peers decode ours
 *   (their schema rejects unknown fields, so they must be upgraded before a cluster sets them).
 * - ExternalName services are not exported: a peer would answer them with our gateway address,
 *   which cannot reach an external name. Headless and ClusterIP services are.
 * - parseCatalog returns every problem with its field path, or a ClusterCatalog.
 */
import { createHash } from 'node:crypto';
import { remoteCatalogSchema, toClusterCatalog } from '../catalog/codec.js';
import { localHealthy } from '../registry/records.js';
import { DEFAULT_WEIGHT } from '../registry/traffic.js';
import type {
  ClusterCatalog,
  ClusterLocality,
  Gateway,
  LocalService,
  RemoteService,
  ServicePort,
  TrafficPolicy,
} from '../registry/types.js';
import { compileSchema, formatPath, type Segment } from '../util/yaml-schema.js';

/** Media type of /v1/catalog bodies. */
export const CATALOG_CONTENT_TYPE = 'application/json';
/** Longest long poll a server holds (SPEC §2: `?wait=` at most 60 s). */
export const MAX_WAIT_SECONDS = 60;

export interface CatalogIssue {
  readonly path: string;
  readonly message: string;
}

export type CatalogParseResult =
  { readonly ok: true; readonly catalog: ClusterCatalog } | { readonly ok: false; readonly issues: readonly CatalogIssue[] };

/** What this cluster advertises about its traffic (issue 16): `cluster.weight` and `dns.policy`. */
export interface AdvertisedTraffic {
  readonly weight: number;
  readonly policy: TrafficPolicy;
}

/**
 * This cluster's catalog: what peers learn about us. With `advertised`, the catalog carries the
 * cluster's weight and policy when they are not the defaults (100, failover), so that a cluster on
 * the defaults sends the catalog older versions accept (they refuse unknown fields) and a mixed
 * mesh keeps syncing through an upgrade. A service carries its own policy whenever it sets one (a
 * stated policy: registry/traffic.ts), and its own weight where it differs from the cluster's.
 * `localShare` stays here: it is this cluster's answer to its own clients.
 */
export function buildCatalog(
  identity: ClusterLocality,
  gateways: readonly Gateway[],
  locals: readonly LocalService[],
  sourceStale = false,
  advertised?: AdvertisedTraffic,
): ClusterCatalog {
  const services: RemoteService[] = [];
  for (const s of locals) {
    if (s.kind === 'externalName') continue;
    const policy = s.traffic?.policy;
    const weight = s.traffic?.weight;
    services.push({
      namespace: s.namespace,
      name: s.name,
      ready: localHealthy(s),
      ports: sortPorts(s.ports),
      ...(policy !== undefined ? { policy } : {}),
      ...(weight !== undefined && weight !== (advertised?.weight ?? DEFAULT_WEIGHT) ? { weight } : {}),
    });
  }
  services.sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
  return {
    cluster: identity.cluster,
    region: identity.region,
    zone: identity.zone,
    location: identity.location,
    gateways: [...gateways].sort((a, b) => compare(a.address, b.address) || a.port - b.port),
    services,
    ...(advertised === undefined || advertised.weight === DEFAULT_WEIGHT ? {} : { weight: advertised.weight }),
    ...(advertised === undefined || advertised.policy === 'failover' ? {} : { policy: advertised.policy }),
    ...(sourceStale ? { sourceStale: true } : {}),
  };
}

function sortPorts(ports: readonly ServicePort[]): ServicePort[] {
  return [...ports].sort((a, b) => compare(a.name, b.name) || a.port - b.port || compare(a.protocol, b.protocol));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A catalog's canonical JSON in parts: everything but the services (`head`, a JSON object), and
 * each service's canonical JSON in catalog order. `joinCatalog` puts them together; the delta
 * encoder (delta.ts) compares versions service by service with them.
 */
export interface CatalogParts {
  readonly head: string;
  readonly fragments: readonly string[];
}

export function catalogParts(c: ClusterCatalog): CatalogParts {
  const out: Record<string, unknown> = { cluster: c.cluster };
  if (c.region !== undefined) out['region'] = c.region;
  if (c.zone !== undefined) out['zone'] = c.zone;
  if (c.location !== undefined) out['location'] = { lat: c.location.lat, lon: c.location.lon };
  out['gateways'] = c.gateways.map((g) => ({ address: g.address, port: g.port }));
  if (c.weight !== undefined) out['weight'] = c.weight;
  if (c.policy !== undefined) out['policy'] = c.policy;
  if (c.sourceStale === true) out['sourceStale'] = true;
  const fragments = c.services.map((s) => {
    const o: Record<string, unknown> = {
      namespace: s.namespace,
      name: s.name,
      ready: s.ready,
      ports: s.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
    };
    if (s.policy !== undefined) o['policy'] = s.policy;
    if (s.weight !== undefined) o['weight'] = s.weight;
    return JSON.stringify(o);
  });
  return { head: JSON.stringify(out), fragments };
}

/** `head` with a `services` member holding `fragments` (the last member, as canonical JSON has it). */
export function joinCatalog(head: string, fragments: readonly string[]): string {
  return `${head.slice(0, -1)},"services":[${fragments.join(',')}]}`;
}

/** Canonical JSON: fixed key order, optional fields omitted when absent, services last. */
export function canonicalCatalogJson(c: ClusterCatalog): string {
  const parts = catalogParts(c);
  return joinCatalog(parts.head, parts.fragments);
}

/** A strong ETag over the canonical JSON (RFC 9110 §8.8.3). */
export function catalogEtag(canonicalJson: string): string {
  return `"${createHash('sha256').update(canonicalJson).digest('base64url')}"`;
}

const validate = compileSchema(remoteCatalogSchema);

/**
 * Validate a catalog received from a peer. `value` must be fresh JSON.parse output that nobody
 * else holds: validation applies schema defaults to it in place (copying a 10,000-service catalog
 * first cost about 15 ms, a third of the whole apply: bench/sync-scale.ts).
 */
export function parseCatalog(value: unknown): CatalogParseResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, issues: [{ path: '(root)', message: 'must be a JSON object' }] };
  }
  const data = value as Record<string, unknown>;
  const problems = validate(data);
  if (problems.length > 0)
    return { ok: false, issues: problems.map((p) => ({ path: formatPath(p.segments) || '(root)', message: p.message })) };
  const issues: CatalogIssue[] = [];
  const catalog = toClusterCatalog(data, (segments: readonly Segment[], message: string) =>
    issues.push({ path: formatPath(segments), message }),
  );
  return issues.length > 0 ? { ok: false, issues } : { ok: true, catalog };
}

export function formatCatalogIssues(issues: readonly CatalogIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}
