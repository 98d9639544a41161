/**
 * Shadowed catalogs (PURE): the order of remote-catalog origins, and per cluster the catalogs of
 * origins that do not own it, kept aside for when the owner withdraws.
 *
 * Owns: the origin precedence (`compareOrigins`) and the shelf of shadowed catalogs by cluster and
 * origin. Which origin owns a cluster, and what a takeover does to the indexes, is the registry's.
 * Must never: index a shadowed catalog, count it as content, do I/O, log, or throw.
 * Invariants:
 *  - at most one catalog per (cluster, origin); a cluster with none has no entry;
 *  - `of(cluster)` lists highest precedence first: listed origins in `precedence` order, unlisted
 *    ones after them by name.
 */
import { byCodeUnit } from './records.js';
import type { ClusterCatalog } from './types.js';

/** A catalog kept aside because a higher-precedence origin owns its cluster. */
export interface ShadowedCatalog {
  readonly origin: string;
  readonly catalog: ClusterCatalog;
}

const NONE: readonly ShadowedCatalog[] = Object.freeze([]);

export class Shadows {
  /** Per cluster, the catalogs of origins that do not own it, by origin. */
  private readonly byCluster = new Map<string, Map<string, ClusterCatalog>>();

  /** @param precedence origins, highest precedence first */
  constructor(private readonly precedence: readonly string[]) {}

  /** Lower is stronger: the index in `precedence`, unlisted origins after it by name. */
  compareOrigins(a: string, b: string): number {
    const ia = this.precedence.indexOf(a);
    const ib = this.precedence.indexOf(b);
    const ra = ia < 0 ? this.precedence.length : ia;
    const rb = ib < 0 ? this.precedence.length : ib;
    return ra !== rb ? ra - rb : byCodeUnit(a, b);
  }

  /** Keep `origin`'s catalog of `cluster` aside (replacing the one it kept before). */
  keep(cluster: string, origin: string, catalog: ClusterCatalog): void {
    let m = this.byCluster.get(cluster);
    if (m === undefined) this.byCluster.set(cluster, (m = new Map<string, ClusterCatalog>()));
    m.set(origin, catalog);
  }

  /** Forget `origin`'s catalog of `cluster`, if one is kept. */
  drop(cluster: string, origin: string): void {
    const m = this.byCluster.get(cluster);
    if (m === undefined) return;
    m.delete(origin);
    if (m.size === 0) this.byCluster.delete(cluster);
  }

  /** The catalogs kept for `cluster`, highest precedence first. O(catalogs kept for it). */
  of(cluster: string): readonly ShadowedCatalog[] {
    const m = this.byCluster.get(cluster);
    if (m === undefined) return NONE;
    return [...m.entries()].map(([origin, catalog]) => ({ origin, catalog })).sort((a, b) => this.compareOrigins(a.origin, b.origin));
  }

  /** The clusters of which `origin` has a catalog kept aside. */
  clustersOf(origin: string): string[] {
    const out: string[] = [];
    for (const [cluster, m] of this.byCluster) if (m.has(origin)) out.push(cluster);
    return out;
  }
}
