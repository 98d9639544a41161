/**
 * geoip-lite adapter (edge): where an IP address or subnet is (SPEC §3 "Client location").
 *
 * Owns: loading geoip-lite on first need (it holds about 150 MB), looking addresses up, and the
 * location of remote clusters whose catalog has none (from their first public gateway address,
 * cached per cluster and gateway list).
 * Never: loads geoip-lite in a configuration that never asks (no ECS query, every cluster
 * located), or throws: an address it cannot place (private, reserved, unknown) is undefined.
 * Invariants: geoip-lite is required at most once per process; the load is synchronous (about
 * 0.2 s, once) so the answer that triggered it already uses it.
 * Pinned to geoip-lite 1.4.10: 2.x declares node >= 24 (this project supports Node 20).
 */
import { createRequire } from 'node:module';
import type { Logger } from '../log.js';
import type { ClusterCatalog, GeoLocation } from '../registry/types.js';
import { ipFamily } from '../util/ip.js';

interface GeoipLite {
  lookup(ip: string): { ll: [number, number]; country: string; region: string; city: string } | null;
}

export interface GeoFix extends GeoLocation {
  readonly country: string;
  readonly region: string;
  readonly city: string;
}

export interface GeoLookup {
  locate(address: string): GeoFix | undefined;
}

export class LazyGeoip implements GeoLookup {
  private geoip: GeoipLite | undefined;
  private failed = false;
  loadMs: number | undefined;
  private readonly clusterCache = new WeakMap<ClusterCatalog, { location: GeoLocation | undefined }>();

  constructor(private readonly logger: Logger) {}

  get loaded(): boolean {
    return this.geoip !== undefined;
  }

  locate(address: string): GeoFix | undefined {
    if (ipFamily(address) === 0) return undefined;
    const g = this.load();
    if (!g) return undefined;
    try {
      const r = g.lookup(address);
      if (!r || !Array.isArray(r.ll) || (r.ll[0] === 0 && r.ll[1] === 0)) return undefined;
      return { lat: r.ll[0], lon: r.ll[1], country: r.country, region: r.region, city: r.city };
    } catch {
      return undefined;
    }
  }

  /**
   * The catalog's location, else the geolocation of its first public gateway. Cached per catalog
   * object (the registry replaces a catalog object when it changes), so the answer path pays one
   * WeakMap lookup per candidate.
   */
  locateCluster(catalog: ClusterCatalog): GeoLocation | undefined {
    if (catalog.location) return catalog.location;
    const cached = this.clusterCache.get(catalog);
    if (cached !== undefined) return cached.location;
    let location: GeoLocation | undefined;
    for (const g of catalog.gateways) {
      const fix = this.locate(g.address);
      if (fix) {
        location = { lat: fix.lat, lon: fix.lon };
        break;
      }
    }
    this.clusterCache.set(catalog, { location });
    return location;
  }

  private load(): GeoipLite | undefined {
    if (this.geoip || this.failed) return this.geoip;
    const started = performance.now();
    try {
      const require = createRequire(import.meta.url);
      this.geoip = require('geoip-lite') as GeoipLite;
      this.loadMs = Math.round(performance.now() - started);
      this.logger.info({ loadMs: this.loadMs }, 'geoip-lite loaded (first ECS query or unlocated cluster)');
    } catch (err) {
      this.failed = true;
      this.logger.error({ err }, 'geoip-lite could not be loaded; clients and clusters without a location rank as unknown');
    }
    return this.geoip;
  }
}
