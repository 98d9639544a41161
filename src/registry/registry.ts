/**
 * The registry (PURE): local services and remote catalogs, with the indexes the answer path reads.
 *
 * Owns: local services by `ns/name`; remote catalogs by cluster, with their owning origin and
 * freshness, and which origin owns each cluster (the others' catalogs wait in shadows.ts); the
 * export index (export-index.ts), kept in step with the owned catalogs; a per-namespace reference
 * count of local services plus remote exports (empty non-terminals, RFC 8020); the ready addresses
 * of each local headless service, split by family (so a query never walks every endpoint); the SOA
 * serial; the change listeners. Record equality and derived views are records.ts's.
 * Must never: do I/O, read the clock, log, throw from a lookup, or know where writes come from
 * (sources and sync call the writer; the DNS handler makes synchronous reads).
 * Invariants:
 *  - every index is maintained incrementally: a write costs O(what it changed) (a catalog write
 *    costs O(size of that catalog), a `patchRemote` O(its changes)), and after any sequence of
 *    writes the indexes equal those of a registry built from scratch with the same final content
 *    (property-tested);
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
import { ExportIndex } from './export-index.js';
import { byCodeUnit, keyOf, metaEqual, metaOf, readyAddressesOf, recordsEqual, servicesByKey } from './records.js';
import { Shadows, type ShadowedCatalog } from './shadows.js';
import type {
  ClusterCatalog,
  ClusterMeta,
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
  private readonly shadows: Shadows;
  private readonly exportIndex = new ExportIndex((cluster) => this.remotes.get(cluster));
  private readonly namespaceRefs = new Map<string, number>();
  /** Local headless services' ready addresses by `ns/name`, kept in step with `locals`. */
  private readonly readyIndex = new Map<string, ReadyAddresses>();
  private localList: readonly LocalService[] | undefined;
  private catalogList: readonly ClusterCatalog[] | undefined;

  private readonly listeners = new Set<(change: { readonly locals: boolean; readonly catalogs: boolean }) => void>();

  private readonly localCluster: string | undefined;

  constructor(options: RegistryOptions) {
    this.localCluster = options.localCluster;
    this.shadows = new Shadows(options.originPrecedence ?? DEFAULT_ORIGIN_PRECEDENCE);
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
    return this.exportIndex.lookup(keyOf(namespace, name));
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
    return this.shadows.of(cluster);
  }

  /** The indexes as plain sorted data, for tests and /debug. O(size of the registry). */
  indexSnapshot(): RegistryIndexSnapshot {
    return {
      locals: [...this.locals.keys()].sort(byCodeUnit),
      remotes: [...this.remotes.entries()]
        .sort((a, b) => byCodeUnit(a[0], b[0]))
        .map(([cluster, e]) => ({ cluster, origin: e.origin, fresh: e.fresh, shadowed: this.remoteShadows(cluster).map((x) => x.origin) })),
      exports: this.exportIndex.snapshot(),
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
        this.exportIndex.put(k, cluster, s);
        this.refNamespace(s.namespace);
        e.keys++;
        continue;
      }
      gone.delete(k);
      // An equal record in a new object: cached lookups keep the old one, which is equal.
      const differs = !recordsEqual(old, s);
      this.exportIndex.put(k, cluster, s, differs);
      changed ||= differs;
    }
    for (const [k, s] of gone) {
      changed = true;
      this.exportIndex.remove(k, cluster);
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
    for (const cluster of this.shadows.clustersOf(origin)) if (!next.has(cluster)) gone.push(cluster);
    for (const cluster of gone) changed = this.withdrawRemote(cluster, origin) || changed;
    for (const c of next.values()) changed = this.offerRemote(origin, c) || changed;
    if (changed) this.changed(false, true);
  }

  // ---- internals --------------------------------------------------------------------------

  /** A write from `origin`: owned, taken over, or kept aside. True when the indexed content changed. */
  private offerRemote(origin: string, catalog: ClusterCatalog): boolean {
    const cluster = catalog.cluster;
    if (cluster === this.localCluster) return false;
    const e = this.remotes.get(cluster);
    if (e !== undefined && e.origin !== origin && this.shadows.compareOrigins(origin, e.origin) > 0) {
      this.shadows.keep(cluster, origin, catalog); // the owner outranks this origin
      return false;
    }
    if (e !== undefined && e.origin !== origin) this.shadows.keep(cluster, e.origin, e.catalog); // take over
    this.shadows.drop(cluster, origin);
    return this.setRemote(origin, catalog);
  }

  /** `origin` withdraws its catalog of `cluster`. True when the indexed content changed. */
  private withdrawRemote(cluster: string, origin: string): boolean {
    const e = this.remotes.get(cluster);
    if (e === undefined || e.origin !== origin) {
      this.shadows.drop(cluster, origin);
      return false;
    }
    const next = this.remoteShadows(cluster)[0];
    if (next === undefined) return this.deleteRemote(cluster);
    this.shadows.drop(cluster, next.origin);
    return this.setRemote(next.origin, next.catalog);
  }

  /** Remove one local service; true when it was there. */
  private dropLocal(k: string): boolean {
    const old = this.locals.get(k);
    if (old === undefined) return false;
    this.locals.delete(k);
    this.readyIndex.delete(k);
    this.unrefNamespace(old.namespace);
    return true;
  }

  /** Insert or replace one local service; true when the content changed. */
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
        this.exportIndex.put(k, cluster, s);
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
        this.exportIndex.remove(k, cluster);
        this.unrefNamespace(s.namespace);
      }
    }
    for (const [k, s] of services) {
      const was = this.exportIndex.serviceIn(k, cluster);
      if (was === undefined) {
        changed = true;
        this.exportIndex.put(k, cluster, s);
        this.refNamespace(s.namespace);
      } else if (was !== s) {
        // An equal record in a new object: cached lookups keep the old one, which is equal.
        const differs = !recordsEqual(was, s);
        this.exportIndex.put(k, cluster, s, differs);
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
      if (this.exportIndex.serviceIn(k, e.catalog.cluster) !== s || gone.has(k)) return false;
      gone.add(k);
    }
    const added = new Set<string>();
    for (const s of upserts) {
      const k = keyOf(s.namespace, s.name);
      if (added.has(k) || (!gone.has(k) && this.exportIndex.serviceIn(k, e.catalog.cluster) !== undefined)) return false;
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
    for (const s of e.catalog.services) this.exportIndex.invalidate(keyOf(s.namespace, s.name));
    return true;
  }

  private deleteRemote(cluster: string): boolean {
    const e = this.remotes.get(cluster);
    if (e === undefined) return false;
    this.remotes.delete(cluster);
    for (const [k, s] of servicesByKey(e.catalog)) {
      this.exportIndex.remove(k, cluster);
      this.unrefNamespace(s.namespace);
    }
    return true;
  }

  private refNamespace(ns: string): void {
    this.namespaceRefs.set(ns, (this.namespaceRefs.get(ns) ?? 0) + 1);
  }

  private unrefNamespace(ns: string): void {
    const n = (this.namespaceRefs.get(ns) ?? 0) - 1;
    if (n > 0) this.namespaceRefs.set(ns, n);
    else this.namespaceRefs.delete(ns);
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
