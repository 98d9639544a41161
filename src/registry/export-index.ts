/**
 * The export index (PURE): `ns/name → exporting clusters`, sorted by name, with each cluster's
 * service of that name, and the lookup the answer path reads from it.
 *
 * Owns: the only place a cluster's remote services are held by key (a map per cluster besides it,
 * with its key strings, cost about 80 octets of heap per remote service in bench:sync's 50
 * clusters × 10,000 services; what a remote service costs in all is now about 50); the cached
 * lookup result per key. A cluster's meta and freshness are not held here: the owner passes a
 * resolver that reads them when a lookup is built.
 * Must never: do I/O, read the clock, log, throw from a lookup, or decide what a write means (the
 * registry diffs catalogs and tells the index which keys changed).
 * Invariants:
 *  - a slot exists iff at least one cluster exports its key: removing the last cluster deletes it;
 *  - a slot's clusters are distinct and sorted by code unit, and `services[i]` is `clusters[i]`'s;
 *  - `lookup` is a Map get and, once built, returns the cached frozen array: no allocation per
 *    call on the DNS hot path. The cache is dropped by any change to the slot's clusters, by a
 *    replacement that is not known to be equal, and by `invalidate` (the owner's meta or freshness
 *    change); a dropped array is never mutated, so callers may hold it.
 */
import { byCodeUnit } from './records.js';
import type { ClusterMeta, RemoteExport, RemoteService } from './types.js';

/** What a lookup needs of an exporting cluster, read when the lookup is built. */
export interface ExportingCluster {
  /** The cluster's catalog without services (the object exports hold). */
  readonly meta: ClusterMeta;
  readonly fresh: boolean;
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

export class ExportIndex {
  private readonly slots = new Map<string, ExportSlot>();

  /**
   * @param clusterOf the current meta and freshness of an indexed cluster; undefined only if the
   * owner's indexes disagree (such a cluster is then left out of the lookup).
   */
  constructor(private readonly clusterOf: (cluster: string) => ExportingCluster | undefined) {}

  /** The clusters exporting key `k`, sorted by name; frozen, cached until the slot changes. */
  lookup(k: string): readonly RemoteExport[] {
    const slot = this.slots.get(k);
    if (slot === undefined) return EMPTY;
    if (slot.cache === undefined) slot.cache = this.build(slot);
    return slot.cache;
  }

  /** `cluster`'s service of key `k`. O(log clusters exporting `k`). */
  serviceIn(k: string, cluster: string): RemoteService | undefined {
    const slot = this.slots.get(k);
    if (slot === undefined) return undefined;
    const i = lowerBound(slot.clusters, cluster);
    return slot.clusters[i] === cluster ? slot.services[i] : undefined;
  }

  /**
   * `cluster` exports `s` as key `k` (added, or its service replaced). `invalidate` false keeps the
   * cached lookup (a replacement by an equal record); adding a cluster always drops it.
   */
  put(k: string, cluster: string, s: RemoteService, invalidate = true): void {
    let slot = this.slots.get(k);
    if (slot === undefined) {
      slot = { clusters: [], services: [], cache: undefined };
      this.slots.set(k, slot);
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

  /** `cluster` no longer exports key `k`; the slot goes with its last cluster. */
  remove(k: string, cluster: string): void {
    const slot = this.slots.get(k);
    if (slot === undefined) return;
    const i = lowerBound(slot.clusters, cluster);
    if (slot.clusters[i] === cluster) {
      slot.clusters.splice(i, 1);
      slot.services.splice(i, 1);
    }
    if (slot.clusters.length === 0) this.slots.delete(k);
    else slot.cache = undefined;
  }

  /** Drop the cached lookup of key `k` (an exporting cluster's meta or freshness changed). */
  invalidate(k: string): void {
    const slot = this.slots.get(k);
    if (slot !== undefined) slot.cache = undefined;
  }

  /** Every key with its exporting clusters, keys sorted; copies. O(size of the index). */
  snapshot(): readonly (readonly [key: string, clusters: readonly string[]])[] {
    return [...this.slots.entries()].sort((a, b) => byCodeUnit(a[0], b[0])).map(([k, slot]) => [k, slot.clusters.slice()] as const);
  }

  private build(slot: ExportSlot): readonly RemoteExport[] {
    const out: RemoteExport[] = [];
    for (let i = 0; i < slot.clusters.length; i++) {
      const c = this.clusterOf(slot.clusters[i]!);
      if (c === undefined) continue; // unreachable while indexes agree
      out.push({ catalog: c.meta, service: slot.services[i]!, fresh: c.fresh });
    }
    return Object.freeze(out);
  }
}
