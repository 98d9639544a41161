/**
 * geoip-lite adapter (edge): where an IP address or subnet is (SPEC §3 "Client location").
 *
 * Owns: loading geoip-lite on first need (it holds about 150 MB), looking addresses up, and the
 * location of remote clusters whose catalog has none (from their first public gateway address,
 * cached per cluster and gateway list).
 * The location of an ECS client is lazy (EcsClient): it is looked up when the answer core first
 * reads it, which it does only to rank remote clusters or to explain, so names outside the zones,
 * refused clients, and local or negative answers never load geoip-lite (SPEC §6: the cheapest
 * checks first).
 * Never: loads geoip-lite in a configuration that never asks (no ECS client whose answer ranks
 * remote clusters, every cluster located, `locality.geoipPreload` off), or throws: an address it
 * cannot place (private, reserved, unknown) is undefined.
 * Invariants: geoip-lite is required at most once per process; the load is synchronous (about
 * 0.2 s, once) so the answer that triggered it already uses it; `loaded` is what
 * gsdns_geoip_loaded reports.
 * Pinned to geoip-lite 1.4.10: 2.x declares node >= 24 (this project supports Node 20).
 */
import { createRequire } from 'node:module';
import type { ClientLocality } from './rank.js';
import type { Logger } from '../log.js';
import type { ClusterMeta, GeoLocation } from '../registry/types.js';
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
  private readonly clusterCache = new WeakMap<ClusterMeta, { location: GeoLocation | undefined }>();

  constructor(private readonly logger: Logger) {}

  get loaded(): boolean {
    return this.geoip !== undefined;
  }

  /** Load now (`locality.geoipPreload`) rather than on the first query that needs it. */
  preload(): boolean {
    return this.load('preload') !== undefined;
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
   * meta object (the registry replaces it when the cluster's meta changes), so the answer path pays one
   * WeakMap lookup per candidate.
   */
  locateCluster(catalog: ClusterMeta): GeoLocation | undefined {
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

  private load(why: 'preload' | 'lookup' = 'lookup'): GeoipLite | undefined {
    if (this.geoip || this.failed) return this.geoip;
    const started = performance.now();
    try {
      const require = createRequire(import.meta.url);
      this.geoip = require('geoip-lite') as GeoipLite;
      this.loadMs = Math.round(performance.now() - started);
      this.logger.info(
        { loadMs: this.loadMs },
        why === 'preload'
          ? 'geoip-lite loaded (locality.geoipPreload)'
          : 'geoip-lite loaded (first remote ranking for an ECS client, or an unlocated cluster)',
      );
    } catch (err) {
      this.failed = true;
      this.logger.error({ err }, 'geoip-lite could not be loaded; clients and clusters without a location rank as unknown');
    }
    return this.geoip;
  }
}

/**
 * The locality of a client that sent ECS (RFC 7871), placed by geoip-lite when first read. A
 * subnet that cannot be placed (private, reserved, unknown, /0) falls back to `fallback`, this
 * cluster's locality (SPEC §3); the answer is still scoped to the subnet, since another subnet
 * might be placed elsewhere. `ecsSourcePrefix` is a plain field: reading it never looks anything up.
 */
export class EcsClient implements ClientLocality {
  readonly ecsSourcePrefix: number;
  private placed: ClientLocality | undefined;

  constructor(
    private readonly geo: GeoLookup,
    private readonly subnet: { readonly address: string; readonly sourcePrefix: number },
    private readonly fallback: ClientLocality,
  ) {
    this.ecsSourcePrefix = subnet.sourcePrefix;
  }

  get region(): string | undefined {
    return this.place().region;
  }

  get zone(): string | undefined {
    return this.place().zone;
  }

  get location(): GeoLocation | undefined {
    return this.place().location;
  }

  /** Whether the subnet has been looked up yet (tests, explanations). */
  get lookedUp(): boolean {
    return this.placed !== undefined;
  }

  /** Explanations (/debug/resolve) show where the client was placed and from which subnet. */
  toJSON(): Record<string, unknown> {
    const p = this.place();
    return {
      region: p.region,
      zone: p.zone,
      location: p.location,
      ecsSourcePrefix: this.ecsSourcePrefix,
      ecsSubnet: `${this.subnet.address}/${this.subnet.sourcePrefix}`,
      placedBy: p === this.fallback ? 'this cluster (the subnet is not placed by geoip-lite)' : 'geoip-lite',
    };
  }

  private place(): ClientLocality {
    if (this.placed === undefined) {
      const fix = this.subnet.sourcePrefix > 0 ? this.geo.locate(this.subnet.address) : undefined;
      this.placed = fix ? { location: { lat: fix.lat, lon: fix.lon } } : this.fallback;
    }
    return this.placed;
  }
}
