/**
 * Domain records of the registry (PURE, types only).
 *
 * Owns: the slim shapes every source converts into (file catalog, Kubernetes objects, peer
 * catalogs). Nothing here knows dns2, client-node or the wire.
 * Invariants: namespaces, service names and cluster names are lowercase DNS labels; addresses are
 * canonical textual IPv4/IPv6; a remote catalog never carries endpoint IPs (SPEC §2).
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface GeoLocation {
  readonly lat: number;
  readonly lon: number;
}

export interface Gateway {
  readonly address: string;
  readonly port: number;
}

export interface Endpoint {
  readonly address: string;
  readonly ready: boolean;
}

/** How the answers for one service are spread (SPEC §6 "Order of addresses"; issue 16). */
export type TrafficPolicy = 'failover' | 'spread' | 'weighted';

/**
 * A service's own traffic settings, overriding the cluster's and dns.*: the Kubernetes annotations
 * `gsdns.io/policy`, `gsdns.io/weight`, `gsdns.io/local-share`, or the catalog file's `policy`,
 * `weight`, `localShare` fields. Absent fields mean "the default".
 */
export interface TrafficSettings {
  /** dns.policy for this service. */
  readonly policy?: TrafficPolicy | undefined;
  /** This cluster's weight for this service (cluster.weight for it; 0 drains it), 0–1000. */
  readonly weight?: number | undefined;
  /** dns.localShare for this service, 0–100 (local services only; not carried by sync). */
  readonly localShare?: number | undefined;
}

interface LocalServiceBase {
  readonly namespace: string;
  readonly name: string;
  readonly ports: readonly ServicePort[];
  /** Per-service overrides (absent: none). */
  readonly traffic?: TrafficSettings | undefined;
}

/** A Service with one or more ClusterIPs (dual-stack allowed); healthy when readyEndpoints ≥ 1. */
export interface ClusterIPService extends LocalServiceBase {
  readonly kind: 'clusterIP';
  readonly clusterIPs: readonly string[];
  readonly readyEndpoints: number;
}

/** A headless Service (`clusterIP: None`); answers are its ready endpoint addresses. */
export interface HeadlessService extends LocalServiceBase {
  readonly kind: 'headless';
  readonly endpoints: readonly Endpoint[];
}

/** An ExternalName Service; answered with a CNAME, as CoreDNS does. */
export interface ExternalNameService extends LocalServiceBase {
  readonly kind: 'externalName';
  readonly externalName: string;
}

export type LocalService = ClusterIPService | HeadlessService | ExternalNameService;

/** A service as a peer exports it: metadata only, no endpoints. */
export interface RemoteService {
  readonly namespace: string;
  readonly name: string;
  readonly ready: boolean;
  readonly ports: readonly ServicePort[];
  /** The exporting cluster's policy for this service, when it overrides its default (sync carries it). */
  readonly policy?: TrafficPolicy | undefined;
  /** The exporting cluster's weight for this service, when it overrides the catalog's `weight`. */
  readonly weight?: number | undefined;
}

/** Identity and locality of a cluster, as configured (local) or as its catalog says (remote). */
export interface ClusterLocality {
  readonly cluster: string;
  readonly region?: string | undefined;
  readonly zone?: string | undefined;
  readonly location?: GeoLocation | undefined;
}

/** What a cluster tells its peers (SPEC §2 "Catalog"). */
export interface ClusterCatalog extends ClusterLocality {
  readonly gateways: readonly Gateway[];
  readonly services: readonly RemoteService[];
  /** The cluster's weight (cluster.weight, default 100 when absent): its share under policy `weighted`, and SRV weight. */
  readonly weight?: number | undefined;
  /** The cluster's dns.policy (absent: failover), so receivers can tell when exporters disagree on a service. */
  readonly policy?: TrafficPolicy | undefined;
  /**
   * Set by the exporting cluster when its own local source (e.g. the Kubernetes API) has failed
   * for longer than its staleness window: the `ready` flags are unverified. Receivers hold such a
   * catalog as not fresh, so its services are used only to fail open (SPEC §1 row 3).
   */
  readonly sourceStale?: boolean | undefined;
}

/**
 * The ready endpoint addresses of a headless service, derived once when the service is written so
 * that answering costs what the answer holds, not what the service holds.
 */
export interface ReadyAddresses {
  /** Distinct ready IPv4 addresses, in endpoint order. */
  readonly v4: readonly string[];
  /** Distinct ready IPv6 addresses, in endpoint order. */
  readonly v6: readonly string[];
  /** Ready endpoints, duplicates included (what readiness counts, SPEC §3). */
  readonly ready: number;
}

/** A catalog without its services: who the cluster is, where, and through which gateways. */
export type ClusterMeta = Omit<ClusterCatalog, 'services'>;

/** A remote cluster that exports a given service, as returned by a registry lookup. */
export interface RemoteExport {
  /**
   * The exporting cluster's catalog without its services. The registry keeps one such object per
   * cluster until the catalog's meta changes, so a write that changes some services leaves the
   * other services' lookups (and what they hold) alone.
   */
  readonly catalog: ClusterMeta;
  readonly service: RemoteService;
  /** false when the catalog says its cluster's own source is stale (`sourceStale`): known, not healthy. */
  readonly fresh: boolean;
}

/** Read side of the registry: synchronous, I/O-free, never throws. */
export interface RegistryReader {
  /** SOA serial; strictly increases whenever the registry's content changes. */
  serial(): number;
  localService(namespace: string, name: string): LocalService | undefined;
  /** Remote clusters exporting namespace/name, in cluster-name order. */
  remoteExports(namespace: string, name: string): readonly RemoteExport[];
  /** True when any local or remote service lives in the namespace (an empty non-terminal). */
  hasNamespace(namespace: string): boolean;
  localServices(): readonly LocalService[];
  remoteCatalogs(): readonly ClusterCatalog[];
  /**
   * Freshness of one remote catalog (undefined when unknown). Optional, for explanations only:
   * it lets /debug/resolve show the state of clusters that do not export the asked name.
   */
  remoteFresh?(cluster: string): boolean | undefined;
  /**
   * The ready addresses of a local headless service, precomputed on write (frozen, O(1)); undefined
   * for other kinds and unknown names. Optional: without it the answer path derives them from
   * `endpoints` per query (O(endpoints)), which only small test readers should rely on.
   */
  readyAddresses?(namespace: string, name: string): ReadyAddresses | undefined;
}

/** Write side of the registry, used by sources and sync. Every write bumps the serial if it changed anything. */
export interface RegistryWriter {
  /** Replace every local service at once (file reload, informer relist). */
  replaceLocal(services: readonly LocalService[]): void;
  /** One write of a change set: `removed` leave unless `upserts` has their key; `upserts` are put. */
  patchLocal(removed: readonly LocalService[], upserts: readonly LocalService[]): void;
  putLocal(service: LocalService): void;
  removeLocal(namespace: string, name: string): void;
  /**
   * Add or replace one remote cluster's catalog as written by `origin` (e.g. "file", "sync"). A
   * cluster has one owner at a time, the origin of highest precedence that holds a catalog for it;
   * a lower origin's catalog is kept aside (shadowed) and used when the owner withdraws.
   */
  putRemote(origin: string, catalog: ClusterCatalog): void;
  /** Withdraw `origin`'s catalog of `cluster`; a shadowed catalog of another origin takes over. */
  removeRemote(cluster: string, origin: string): void;
  /** Replace the set of remote catalogs written by one origin (e.g. "file") wholesale. */
  replaceRemotes(origin: string, catalogs: readonly ClusterCatalog[]): void;
  /**
   * `putRemote(origin, catalog)` when the caller knows what changed since `base`, the catalog it
   * wrote before: `removed` are services of `base` not in `catalog` (by object), `upserts` the
   * services of `catalog` not in `base`. O(changes) when `origin` owns the cluster and the registry
   * holds `base`; otherwise the same as `putRemote`.
   */
  patchRemote(
    origin: string,
    base: ClusterCatalog,
    catalog: ClusterCatalog,
    removed: readonly RemoteService[],
    upserts: readonly RemoteService[],
  ): void;
}
