/**
 * Registry records (PURE): structural equality of the records the registry stores, and the views
 * derived from one record: its `ns/name` key, a headless service's ready addresses, SPEC §3's
 * readiness predicate `localHealthy`, a catalog's meta (everything but its services) and its
 * services by key.
 * Must never: do I/O, read the clock, log, throw, or mutate an argument.
 * Invariants:
 *  - equality is structural: a property whose value is undefined equals a missing one, arrays
 *    compare in order (ClusterIP order is answer order);
 *  - derived values that the registry keeps (ready addresses, meta) are frozen.
 */
import type { ClusterCatalog, ClusterMeta, HeadlessService, LocalService, ReadyAddresses, RemoteService } from './types.js';

/** The registry's key of a service. */
export function keyOf(namespace: string, name: string): string {
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

/** A catalog without its services, frozen. */
export function metaOf(catalog: ClusterCatalog): ClusterMeta {
  const { services: _services, ...meta } = catalog;
  return Object.freeze(meta);
}

/** Equal catalogs apart from their services. */
export function metaEqual(meta: ClusterMeta, catalog: ClusterCatalog): boolean {
  const x = meta as Record<string, unknown>;
  const y = catalog as unknown as Record<string, unknown>;
  for (const k in x) if (x[k] !== undefined && !recordsEqual(x[k], y[k])) return false;
  for (const k in y) if (k !== 'services' && y[k] !== undefined && x[k] === undefined) return false;
  return true;
}

/** A catalog's services by `ns/name`; on duplicates the last one wins. */
export function servicesByKey(catalog: ClusterCatalog): Map<string, RemoteService> {
  const m = new Map<string, RemoteService>();
  for (const s of catalog.services) m.set(keyOf(s.namespace, s.name), s);
  return m;
}

/** Sort order of keys and cluster names: by UTF-16 code unit, as `<` compares (locale-free). */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
