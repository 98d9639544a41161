/**
 * The registry (PURE): local services and remote catalogs, with the indexes the answer path reads.
 *
 * Owns: local services by `ns/name`; remote catalogs by cluster, with their owning origin and
 * freshness, and the catalogs of lower-precedence origins kept aside (shadowed) for each cluster;
 * the index `ns/name → exporting clusters` (sorted by name) with each one's service of that name,
 * the only place a cluster's services are held by key (a map per cluster besides it, with its key
 * strings, cost about 80 octets of heap per remote service in bench:sync's 50 clusters × 10,000
 * services; what a remote service costs in all is now about 50); a per-namespace reference count of
 * local services plus remote exports (empty non-terminals, RFC 8020); the ready addresses of each
 * local headless service, split by family (so a query never walks every endpoint); the SOA serial;
 * `localHealthy`, SPEC §3's readiness predicate on a local service record.
 * Must never: do I/O, read the clock, log, throw from a lookup, or know where writes come from
 * (sources and sync call the writer; the DNS handler makes synchronous reads).
 * Invariants:
 *  - every index is maintained incrementally: a write costs O(what it changed) (a catalog write
 *    costs O(size of that catalog), a `patchRemote` O(its changes)), and after any sequence of writes the indexes equal those of a
 *    registry built from scratch with the same final content (property-tested);
 *  - no remote catalog is named like `localCluster`;
 *  - one owner per remote cluster: the indexed catalog is that of the highest-precedence origin
 *    that holds one; every other origin's catalog of that cluster is shadowed (stored, not indexed)
 *    and takes over, as a diff, when the owner withdraws. Writes to a shadow are not content
 *    changes (no serial move);
 *  - a remote catalog is fresh iff it does not say `sourceStale: true`;
 *  - `serial()` moves (by 1, RFC 1982 serial arithmetic) iff a write changed the content, compared
 *    structurally: re-putting an equal record is not a change;
 *  - arrays returned by lookups are frozen, cached until the next change that affects them, and
 *    never mutated afterwards, so callers may hold them.
 */
import type {
  ClusterCatalog,
  ClusterMeta,
  HeadlessService,
  LocalService,
  ReadyAddresses,
  RegistryReader,
  RegistryWriter,
  RemoteExport,
  RemoteService,
} from './types.js';

export interface RegistryOptions {
  /** First SOA serial; the caller passes unix seconds so a restart does not move the serial back. */
  readonly initialSerial: number;
  /**
   * This cluster's name: a remote catalog named like it is never stored (the answer path would
   * never use it). Its writers refuse such catalogs with an error first (sync client, file source).
   */
  readonly localCluster?: string | undefined;
  /**
   * Origins of remote catalogs, highest precedence first (config `sync.remotePrecedence`). Default
   * `['sync', 'file']`: a live peer wins over the file's static `remotes:`. An origin not listed
   * ranks below every listed one.
   */
  readonly originPrecedence?: readonly string[] | undefined;
}

/** Live sync over the catalog file's static `remotes:` (SPEC §6 "One owner per remote cluster"). */
export const DEFAULT_ORIGIN_PRECEDENCE: readonly string[] = Object.freeze(['sync', 'file']);

/** A read-only picture of the indexes, for tests and /debug; keys sorted. */
export interface RegistryIndexSnapshot {
  readonly locals: readonly string[];
  readonly remotes: readonly {
    readonly cluster: string;
    readonly origin: string;
    readonly fresh: boolean;
    /** Origins whose catalog of this cluster is kept aside, highest precedence first. */
    readonly shadowed: readonly string[];
  }[];
  readonly exports: readonly (readonly [key: string, clusters: readonly string[]])[];
  readonly namespaces: readonly (readonly [namespace: string, refs: number])[];
}

/** A catalog kept aside because a higher-precedence origin owns its cluster. */
export interface ShadowedCatalog {
  readonly origin: string;
  readonly catalog: ClusterCatalog;
}

interface RemoteEntry {
  /** The owner: the origin of highest precedence holding a catalog of this cluster. */
  origin: string;
  catalog: ClusterCatalog;
  /** `catalog` without its services: the same object until the meta changes (exports hold it). */
  meta: ClusterMeta;
  fresh: boolean;
  /**
   * Distinct `ns/name` keys of `catalog` (its length unless it lists a key twice). The services
   * themselves are found by key through the export index (serviceIn).
   */
  keys: number;
}

interface ExportSlot {
  /** Exporting clusters, sorted by code unit. */
  readonly clusters: string[];
  /** Per exporting cluster (same index): its catalog's service of this name; on duplicates the last one. */
  readonly services: RemoteService[];
  /** Lookup result, built on first read after a change. */
  cache: readonly RemoteExport[] | undefined;
}

const EMPTY: readonly RemoteExport[] = Object.freeze([]);
const EMPTY_SHADOWS: readonly ShadowedCatalog[] = Object.freeze([]);

function keyOf(namespace: string, name: string): string {
  return namespace + '/' + name; // labels cannot contain '/', so the key is unambiguous
}

/**
 * Structural equality of plain records (objects, arrays, primitives), as stored in the registry.
 * A property whose value is undefined equals a missing property, since optional fields arrive both
 * ways from different sources. Arrays compare in order (ClusterIP order is answer order).
 */
export function recordsEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  }
  const aArr = Array.isArray(a);
  if (aArr !== Array.isArray(b)) return false;
  if (aArr) {
    const x = a as readonly unknown[];
    const y = b as readonly unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!recordsEqual(x[i], y[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const k in x) {
    if (x[k] === undefined) continue;
    if (!recordsEqual(x[k], y[k])) return false;
  }
  for (const k in y) {
    if (y[k] !== undefined && x[k] === undefined) return false;
  }
  return true;
}

/**
 * The distinct ready addresses of a headless service by family, in endpoint order, and its ready
 * count. O(endpoints); the registry calls it once per write of the service.
 */
export function readyAddressesOf(service: HeadlessService): ReadyAddresses {
  const v4: string[] = [];
  const v6: string[] = [];
  const seen = new Set<string>();
  let ready = 0;
  for (const e of service.endpoints) {
    if (!e.ready) continue;
    ready++;
    if (seen.has(e.address)) continue;
    seen.add(e.address);
    (e.address.indexOf(':') >= 0 ? v6 : v4).push(e.address);
  }
  return Object.freeze({ v4: Object.freeze(v4), v6: Object.freeze(v6), ready });
}

/**
 * SPEC §3: a local service is healthy with ≥1 ready endpoint (dns.localMinReady raises the bar).
 * `ready` (a headless service's precomputed ready addresses) makes it O(1). A predicate on
 * registry records, shared by the answer path and the sync catalog builder.
 */
export function localHealthy(local: LocalService, minReady = 1, ready?: ReadyAddresses): boolean {
  // An ExternalName is an alias: always.
  switch (local.kind) {
    case 'clusterIP':
      return local.readyEndpoints >= minReady;
    case 'headless': {
      if (ready !== undefined) return ready.ready >= minReady;
      let count = 0;
      for (const e of local.endpoints) if (e.ready && ++count >= minReady) return true;
      return false;
    }
    case 'externalName':
      return true;
  }
}

function metaOf(catalog: ClusterCatalog): ClusterMeta {
  const { services: _services, ...meta } = catalog;
  return Object.freeze(meta);
}

/** Equal catalogs apart from their services. */
function metaEqual(meta: ClusterMeta, catalog: ClusterCatalog): boolean {
  const x = meta as Record<string, unknown>;
  const y = catalog as unknown as Record<string, unknown>;
  for (const k in x) if (x[k] !== undefined && !recordsEqual(x[k], y[k])) return false;
  for (const k in y) if (k !== 'services' && y[k] !== undefined && x[k] === undefined) return false;
  return true;
}

/** A catalog's services by `ns/name`; on duplicates the last one wins. */
function servicesByKey(catalog: ClusterCatalog): Map<string, RemoteService> {
  const m = new Map<string, RemoteService>();
  for (const s of catalog.services) m.set(keyOf(s.namespace, s.name), s);
  return m;
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** First index i with sorted[i] >= value. */
function lowerBound(sorted: readonly string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * In-memory registry. Writers: sources (`replaceLocal`, `putLocal`, `removeLocal`), the file source
 * and sync (`putRemote`, `patchRemote`, `replaceRemotes`, `removeRemote`). Reader: the answer
 * path and /debug.
 *
 * Ownership of remote catalogs: a cluster has one owner, the origin of highest precedence that
 * holds a catalog of it (`originPrecedence`; by default live sync over the file). A write from a
 * lower origin is kept aside; when the owner withdraws (`removeRemote`, or `replaceRemotes` without
 * the cluster), the best shadowed catalog is applied as a diff, so nothing flaps through an empty
 * state. `replaceRemotes(origin, …)` touches only what `origin` wrote.
 * Freshness comes from the catalog (`sourceStale`). A freshness change is a content change (answers
 * depend on it), so it moves the serial; an owner-only change is not.
 */
export class Registry implements RegistryReader, RegistryWriter {
  private serialValue: number;
  private readonly locals = new Map<string, LocalService>();
  private readonly remotes = new Map<string, RemoteEntry>();
  /** Per cluster, the catalogs of origins that do not own it, by origin. */
  private readonly shadows = new Map<string, Map<string, ClusterCatalog>>();
  private readonly precedence: readonly string[];
  private readonly exportIndex = new Map<string, ExportSlot>();
  private readonly namespaceRefs = new Map<string, number>();
  /** Local headless services' ready addresses by `ns/name`, kept in step with `locals`. */
  private readonly readyIndex = new Map<string, ReadyAddresses>();
  private localList: readonly LocalService[] | undefined;
  private catalogList: readonly ClusterCatalog[] | undefined;

  private readonly listeners = new Set<(change: { readonly locals: boolean; readonly catalogs: boolean }) => void>();

  private readonly localCluster: string | undefined;

  constructor(options: RegistryOptions) {
    this.localCluster = options.localCluster;
    this.precedence = options.originPrecedence ?? DEFAULT_ORIGIN_PRECEDENCE;
    // SOA serials are uint32 (RFC 1035 §3.3.13).
    this.serialValue = Math.floor(options.initialSerial) >>> 0;
  }

  // ---- reader -----------------------------------------------------------------------------

  serial(): number {
    return this.serialValue;
  }

  localService(namespace: string, name: string): LocalService | undefined {
    return this.locals.get(keyOf(namespace, name));
  }

  remoteExports(namespace: string, name: string): readonly RemoteExport[] {
    const slot = this.exportIndex.get(keyOf(namespace, name));
    if (slot === undefined) return EMPTY;
    if (slot.cache === undefined) slot.cache = this.buildExports(slot);
    return slot.cache;
  }

  readyAddresses(namespace: string, name: string): ReadyAddresses | undefined {
    return this.readyIndex.get(keyOf(namespace, name));
  }

  hasNamespace(namespace: string): boolean {
    return (this.namespaceRefs.get(namespace) ?? 0) > 0;
  }

  /** Every local service, sorted by namespace/name. */
  localServices(): readonly LocalService[] {
    if (this.localList === undefined) {
      const keys = [...this.locals.keys()].sort(byCodeUnit);
      this.localList = Object.freeze(keys.map((k) => this.locals.get(k)!));
    }
    return this.localList;
  }

  /** Every remote catalog (fresh or stale), sorted by cluster name. */
  remoteCatalogs(): readonly ClusterCatalog[] {
    if (this.catalogList === undefined) {
      const keys = [...this.remotes.keys()].sort(byCodeUnit);
      this.catalogList = Object.freeze(keys.map((k) => this.remotes.get(k)!.catalog));
    }
    return this.catalogList;
  }

  /** Freshness of a remote catalog; undefined when the cluster is unknown (withdrawn). */
  remoteFresh(cluster: string): boolean | undefined {
    return this.remotes.get(cluster)?.fresh;
  }

  /** Origin (writer) that owns a remote catalog; undefined when the cluster is unknown. */
  remoteOrigin(cluster: string): string | undefined {
    return this.remotes.get(cluster)?.origin;
  }

  /** Catalogs of `cluster` kept aside for its owner, highest precedence first (for /debug). */
  remoteShadows(cluster: string): readonly ShadowedCatalog[] {
    const m = this.shadows.get(cluster);
    if (m === undefined) return EMPTY_SHADOWS;
    return [...m.entries()].map(([origin, catalog]) => ({ origin, catalog })).sort((a, b) => this.compareOrigins(a.origin, b.origin));
  }

  /** The indexes as plain sorted data, for tests and /debug. O(size of the registry). */
  indexSnapshot(): RegistryIndexSnapshot {
    return {
      locals: [...this.locals.keys()].sort(byCodeUnit),
      remotes: [...this.remotes.entries()]
        .sort((a, b) => byCodeUnit(a[0], b[0]))
        .map(([cluster, e]) => ({ cluster, origin: e.origin, fresh: e.fresh, shadowed: this.remoteShadows(cluster).map((x) => x.origin) })),
      exports: [...this.exportIndex.entries()]
        .sort((a, b) => byCodeUnit(a[0], b[0]))
        .map(([k, slot]) => [k, slot.clusters.slice()] as const),
      namespaces: [...this.namespaceRefs.entries()].sort((a, b) => byCodeUnit(a[0], b[0])),
    };
  }

  // ---- writer -----------------------------------------------------------------------------

  replaceLocal(services: readonly LocalService[]): void {
    const next = new Map<string, LocalService>();
    for (const s of services) next.set(keyOf(s.namespace, s.name), s);
    let changed = false;
    for (const k of this.locals.keys()) if (!next.has(k)) changed = this.dropLocal(k) || changed;
    for (const [k, s] of next) changed = this.setLocal(k, s) || changed;
    if (changed) this.changed(true, false);
  }

  /**
   * One write of a local change set, in O(changes): each of `removed` leaves unless `upserts` has
   * its key, then every upsert is put. The same as replaceLocal of the resulting list.
   */
  patchLocal(removed: readonly LocalService[], upserts: readonly LocalService[]): void {
    const kept = new Set<string>();
    for (const s of upserts) kept.add(keyOf(s.namespace, s.name));
    let changed = false;
    for (const s of removed) {
      const k = keyOf(s.namespace, s.name);
      if (!kept.has(k)) changed = this.dropLocal(k) || changed;
    }
    for (const s of upserts) changed = this.setLocal(keyOf(s.namespace, s.name), s) || changed;
    if (changed) this.changed(true, false);
  }

  putLocal(service: LocalService): void {
    if (this.setLocal(keyOf(service.namespace, service.name), service)) this.changed(true, false);
  }

  removeLocal(namespace: string, name: string): void {
    if (this.dropLocal(keyOf(namespace, name))) this.changed(true, false);
  }

  putRemote(origin: string, catalog: ClusterCatalog): void {
    if (this.offerRemote(origin, catalog)) this.changed(false, true);
  }

  removeRemote(cluster: string, origin: string): void {
    if (this.withdrawRemote(cluster, origin)) this.changed(false, true);
  }

  patchRemote(
    origin: string,
    base: ClusterCatalog,
    catalog: ClusterCatalog,
    removed: readonly RemoteService[],
    upserts: readonly RemoteService[],
  ): void {
    const cluster = catalog.cluster;
    const e = this.remotes.get(cluster);
    if (
      e === undefined ||
      e.origin !== origin ||
      e.catalog !== base ||
      base.cluster !== cluster ||
      !this.patchFits(e, catalog, removed, upserts)
    ) {
      this.putRemote(origin, catalog);
      return;
    }
    let changed = this.setMeta(e, catalog);
    const gone = new Map<string, RemoteService>();
    for (const s of removed) gone.set(keyOf(s.namespace, s.name), s);
    for (const s of upserts) {
      const k = keyOf(s.namespace, s.name);
      const old = gone.get(k);
      if (old === undefined) {
        changed = true;
        this.putExport(k, cluster, s);
        this.refNamespace(s.namespace);
        e.keys++;
        continue;
      }
      gone.delete(k);
      // An equal record in a new object: cached lookups keep the old one, which is equal.
      const differs = !recordsEqual(old, s);
      this.putExport(k, cluster, s, differs);
      changed ||= differs;
    }
    for (const [k, s] of gone) {
      changed = true;
      this.removeExport(k, cluster);
      this.unrefNamespace(s.namespace);
      e.keys--;
    }
    // Same services, same meta: the order is still content (remoteCatalogs shows it).
    if (!changed) changed = !recordsEqual(base.services, catalog.services);
    e.catalog = catalog;
    if (changed) this.changed(false, true);
  }

  replaceRemotes(origin: string, catalogs: readonly ClusterCatalog[]): void {
    const next = new Map<string, ClusterCatalog>();
    for (const c of catalogs) next.set(c.cluster, c);
    let changed = false;
    const gone: string[] = [];
    for (const [cluster, e] of this.remotes) if (e.origin === origin && !next.has(cluster)) gone.push(cluster);
    for (const [cluster, m] of this.shadows) if (m.has(origin) && !next.has(cluster)) gone.push(cluster);
    for (const cluster of gone) changed = this.withdrawRemote(cluster, origin) || changed;
    for (const c of next.values()) changed = this.offerRemote(origin, c) || changed;
    if (changed) this.changed(false, true);
  }

  // ---- internals --------------------------------------------------------------------------

  /** Lower is stronger: the index in `precedence`, unlisted origins after it by name. */
  private compareOrigins(a: string, b: string): number {
    const ia = this.precedence.indexOf(a);
    const ib = this.precedence.indexOf(b);
    const ra = ia < 0 ? this.precedence.length : ia;
    const rb = ib < 0 ? this.precedence.length : ib;
    return ra !== rb ? ra - rb : byCodeUnit(a, b);
  }

  /** A write from `origin`: owned, taken over, or kept aside. True when the indexed content changed. */
  private offerRemote(origin: string, catalog: ClusterCatalog): boolean {
    const cluster = catalog.cluster;
    if (cluster === this.localCluster) return false;
    const e = this.remotes.get(cluster);
    if (e !== undefined && e.origin !== origin && this.compareOrigins(origin, e.origin) > 0) {
      this.shadow(cluster, origin, catalog); // the owner outranks this origin
      return false;
    }
    if (e !== undefined && e.origin !== origin) this.shadow(cluster, e.origin, e.catalog); // take over
    this.unshadow(cluster, origin);
    return this.setRemote(origin, catalog);
  }

  /** `origin` withdraws its catalog of `cluster`. True when the indexed content changed. */
  private withdrawRemote(cluster: string, origin: string): boolean {
    const e = this.remotes.get(cluster);
    if (e === undefined || e.origin !== origin) {
      this.unshadow(cluster, origin);
      return false;
    }
    const next = this.remoteShadows(cluster)[0];
    if (next === undefined) return this.deleteRemote(cluster);
    this.unshadow(cluster, next.origin);
    return this.setRemote(next.origin, next.catalog);
  }

  private shadow(cluster: string, origin: string, catalog: ClusterCatalog): void {
    let m = this.shadows.get(cluster);
    if (m === undefined) this.shadows.set(cluster, (m = new Map<string, ClusterCatalog>()));
    m.set(origin, catalog);
  }

  private unshadow(cluster: string, origin: string): void {
    const m = this.shadows.get(cluster);
    if (m === undefined) return;
    m.delete(origin);
    if (m.size === 0) this.shadows.delete(cluster);
  }

  /** Insert or replace one local service; true when the content changed. */
  private dropLocal(k: string): boolean {
    const old = this.locals.get(k);
    if (old === undefined) return false;
    this.locals.delete(k);
    this.readyIndex.delete(k);
    this.unrefNamespace(old.namespace);
    return true;
  }

  private setLocal(k: string, s: LocalService): boolean {
    const old = this.locals.get(k);
    if (old !== undefined && recordsEqual(old, s)) return false;
    this.locals.set(k, s);
    if (s.kind === 'headless') this.readyIndex.set(k, readyAddressesOf(s));
    else this.readyIndex.delete(k);
    if (old === undefined) this.refNamespace(s.namespace);
    return true;
  }

  /** Insert or diff-apply one remote catalog; true when the content changed. O(size of the catalog). */
  private setRemote(origin: string, catalog: ClusterCatalog): boolean {
    const cluster = catalog.cluster;
    if (cluster === this.localCluster) return false;
    const e = this.remotes.get(cluster);
    const services = servicesByKey(catalog);
    if (e === undefined) {
      this.remotes.set(cluster, { origin, catalog, meta: metaOf(catalog), fresh: catalog.sourceStale !== true, keys: services.size });
      for (const [k, s] of services) {
        this.putExport(k, cluster, s);
        this.refNamespace(s.namespace);
      }
      return true;
    }
    e.origin = origin; // the caller decided ownership; an owner-only change is not a content change
    if (e.catalog === catalog) return false;
    let changed = this.setMeta(e, catalog);
    // Diff the keyed service sets: only added, removed or replaced keys touch the export index.
    for (const [k, s] of servicesByKey(e.catalog)) {
      if (!services.has(k)) {
        changed = true;
        this.removeExport(k, cluster);
        this.unrefNamespace(s.namespace);
      }
    }
    for (const [k, s] of services) {
      const was = this.serviceIn(k, cluster);
      if (was === undefined) {
        changed = true;
        this.putExport(k, cluster, s);
        this.refNamespace(s.namespace);
      } else if (was !== s) {
        // An equal record in a new object: cached lookups keep the old one, which is equal.
        const differs = !recordsEqual(was, s);
        this.putExport(k, cluster, s, differs);
        changed ||= differs;
      }
    }
    // Same services, same meta: the order is still content (remoteCatalogs shows it).
    if (!changed) changed = !recordsEqual(e.catalog.services, catalog.services);
    e.catalog = catalog;
    e.keys = services.size;
    return changed;
  }

  /**
   * Whether a patch can be applied as one (O(changes)): `base`, held as `e`, has unique keys;
   * `removed` are distinct services of it; `upserts` have distinct keys, none of a kept service;
   * and the counts add up to `catalog`. Sync's catalogs always fit (its decoder refuses duplicate
   * keys); anything else takes the full diff, which has the documented last-wins rule.
   */
  private patchFits(
    e: RemoteEntry,
    catalog: ClusterCatalog,
    removed: readonly RemoteService[],
    upserts: readonly RemoteService[],
  ): boolean {
    if (e.keys !== e.catalog.services.length) return false;
    if (catalog.services.length !== e.catalog.services.length - removed.length + upserts.length) return false;
    const gone = new Set<string>();
    for (const s of removed) {
      const k = keyOf(s.namespace, s.name);
      if (this.serviceIn(k, e.catalog.cluster) !== s || gone.has(k)) return false;
      gone.add(k);
    }
    const added = new Set<string>();
    for (const s of upserts) {
      const k = keyOf(s.namespace, s.name);
      if (added.has(k) || (!gone.has(k) && this.serviceIn(k, e.catalog.cluster) !== undefined)) return false;
      added.add(k);
    }
    return true;
  }

  /**
   * Take `catalog`'s meta (everything but services) and freshness into `e`; true when either
   * changed. A change replaces the meta object, so every cached lookup of the cluster is rebuilt
   * (O(catalog), rare: gateways, locality or staleness).
   */
  private setMeta(e: RemoteEntry, catalog: ClusterCatalog): boolean {
    const fresh = catalog.sourceStale !== true;
    if (fresh === e.fresh && metaEqual(e.meta, catalog)) return false;
    e.meta = metaOf(catalog);
    e.fresh = fresh;
    for (const s of e.catalog.services) this.invalidateKey(keyOf(s.namespace, s.name));
    return true;
  }

  private deleteRemote(cluster: string): boolean {
    const e = this.remotes.get(cluster);
    if (e === undefined) return false;
    this.remotes.delete(cluster);
    for (const [k, s] of servicesByKey(e.catalog)) {
      this.removeExport(k, cluster);
      this.unrefNamespace(s.namespace);
    }
    return true;
  }

  /** `cluster`'s service named by key `k`, through the export index. */
  private serviceIn(k: string, cluster: string): RemoteService | undefined {
    const slot = this.exportIndex.get(k);
    if (slot === undefined) return undefined;
    const i = lowerBound(slot.clusters, cluster);
    return slot.clusters[i] === cluster ? slot.services[i] : undefined;
  }

  /**
   * `cluster` exports `s` as key `k` (added, or its service replaced). `invalidate` false keeps the
   * cached lookup (a replacement by an equal record).
   */
  private putExport(k: string, cluster: string, s: RemoteService, invalidate = true): void {
    let slot = this.exportIndex.get(k);
    if (slot === undefined) {
      slot = { clusters: [], services: [], cache: undefined };
      this.exportIndex.set(k, slot);
    }
    const i = lowerBound(slot.clusters, cluster);
    if (slot.clusters[i] === cluster) slot.services[i] = s;
    else {
      slot.clusters.splice(i, 0, cluster);
      slot.services.splice(i, 0, s);
      invalidate = true;
    }
    if (invalidate) slot.cache = undefined;
  }

  private removeExport(k: string, cluster: string): void {
    const slot = this.exportIndex.get(k);
    if (slot === undefined) return;
    const i = lowerBound(slot.clusters, cluster);
    if (slot.clusters[i] === cluster) {
      slot.clusters.splice(i, 1);
      slot.services.splice(i, 1);
    }
    if (slot.clusters.length === 0) this.exportIndex.delete(k);
    else slot.cache = undefined;
  }

  private invalidateKey(k: string): void {
    const slot = this.exportIndex.get(k);
    if (slot !== undefined) slot.cache = undefined;
  }

  private refNamespace(ns: string): void {
    this.namespaceRefs.set(ns, (this.namespaceRefs.get(ns) ?? 0) + 1);
  }

  private unrefNamespace(ns: string): void {
    const n = (this.namespaceRefs.get(ns) ?? 0) - 1;
    if (n > 0) this.namespaceRefs.set(ns, n);
    else this.namespaceRefs.delete(ns);
  }

  private buildExports(slot: ExportSlot): readonly RemoteExport[] {
    const out: RemoteExport[] = [];
    for (let i = 0; i < slot.clusters.length; i++) {
      const e = this.remotes.get(slot.clusters[i]!);
      if (e === undefined) continue; // unreachable while indexes agree
      out.push({ catalog: e.meta, service: slot.services[i]!, fresh: e.fresh });
    }
    return Object.freeze(out);
  }

  /** Record a content change: move the serial (RFC 1982 wrap) and drop affected list caches. */
  private changed(locals: boolean, catalogs: boolean): void {
    this.serialValue = (this.serialValue + 1) >>> 0;
    if (locals) this.localList = undefined;
    if (catalogs) this.catalogList = undefined;
    for (const listener of this.listeners) {
      try {
        listener({ locals, catalogs });
      } catch {
        // A listener's failure is its own; the registry's state is already consistent.
      }
    }
  }

  /**
   * Call `listener` after every content change (synchronously, once per write), e.g. so the sync
   * server can wake long polls when local services change. Returns the unsubscribe function.
   */
  subscribe(listener: (change: { readonly locals: boolean; readonly catalogs: boolean }) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
