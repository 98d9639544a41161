/**
 * Locality ranking of remote clusters (PURE).
 *
 * Owns: where a client is (`ClientLocality`), the great-circle distance, the rank order of clusters relative to a client (SPEC §3
 * "Rank of a remote cluster"), the tier a policy keeps (SPEC §3 "Tiers"), and which clusters are
 * of equal rank (locality.rttMarginMs), the runs that rotate (answer/order.ts).
 * Must never: do I/O, look up geolocation (that is geoip.ts, an adapter), read the clock, or
 * decide health — callers pass only the clusters they want ranked.
 * Invariants: the order is total and deterministic for a given input (tier, then distance, then
 * RTT with unknown RTT last, then cluster name by code unit); inputs are never mutated.
 */
import type { GeoLocation } from '../registry/types.js';

/**
 * Where the client is, for locality ranking (SPEC §3). `region`, `zone` and `location` may be
 * computed when first read (an ECS client is placed by geoip-lite, which costs about 150 MB to
 * load), so the core reads them only when a decision depends on them: ranking remote clusters,
 * or building an explanation. `ecsSourcePrefix` is always a plain value.
 */
export interface ClientLocality {
  readonly region?: string | undefined;
  readonly zone?: string | undefined;
  readonly location?: GeoLocation | undefined;
  /** Set when the location came from an ECS subnet: the prefix length it was derived from. */
  readonly ecsSourcePrefix?: number | undefined;
}

/** Mean Earth radius (IUGG), km. */
const EARTH_RADIUS_KM = 6371.0088;
const DEG = Math.PI / 180;

/**
 * Locality tier of a cluster relative to the client (SPEC §3), lower is nearer.
 * 0 same zone, 1 same region, 2 both located (ranked by distance), 3 unknown location.
 */
export type Tier = 0 | 1 | 2 | 3;

export const TIER_ZONE: Tier = 0;
export const TIER_REGION: Tier = 1;
export const TIER_DISTANCE: Tier = 2;
export const TIER_UNKNOWN: Tier = 3;

/** What ranking needs to know about one cluster. Extra fields of T are carried through untouched. */
export interface RankInput {
  readonly cluster: string;
  readonly region?: string | undefined;
  readonly zone?: string | undefined;
  readonly location?: GeoLocation | undefined;
  /** Best known gateway RTT (EWMA, ms); undefined when never measured. */
  readonly rttMs?: number | undefined;
}

/** A cluster with its place relative to the client. */
export interface Ranked<T extends RankInput = RankInput> {
  readonly input: T;
  readonly tier: Tier;
  /** Great-circle distance from the client, when both sides are located (even in tiers 0/1). */
  readonly distanceKm: number | undefined;
}

/** Great-circle distance between two points (haversine formula), in kilometres. */
export function haversineKm(a: GeoLocation, b: GeoLocation): number {
  const dLat = (b.lat - a.lat) * DEG;
  const dLon = (b.lon - a.lon) * DEG;
  const s1 = Math.sin(dLat / 2);
  const s2 = Math.sin(dLon / 2);
  const h = s1 * s1 + Math.cos(a.lat * DEG) * Math.cos(b.lat * DEG) * s2 * s2;
  // Clamp: rounding can push h a hair past 1 for antipodal points, and asin(>1) is NaN.
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(Math.min(1, Math.max(0, h))));
}

function isLocated(l: GeoLocation | undefined): l is GeoLocation {
  return l !== undefined && Number.isFinite(l.lat) && Number.isFinite(l.lon);
}

/**
 * Tier and distance of one cluster relative to the client.
 *
 * Zone names are only unique within a region in general (a provider may reuse "a", "b"), so a zone
 * match counts only when the regions do not contradict each other: both regions known and
 * different means "not the same zone"; one side unknown is given the benefit of the doubt
 * (Kubernetes zone labels such as eu-west-1a embed the region in practice).
 * Empty strings count as unknown.
 */
export function localityOf(
  client: ClientLocality,
  c: Pick<RankInput, 'region' | 'zone' | 'location'>,
): { tier: Tier; distanceKm: number | undefined } {
  const bothLocated = isLocated(client.location) && isLocated(c.location);
  const distanceKm = bothLocated ? haversineKm(client.location, c.location) : undefined;
  const regionsKnown = !!client.region && !!c.region;
  if (!!client.zone && client.zone === c.zone && !(regionsKnown && client.region !== c.region)) {
    return { tier: TIER_ZONE, distanceKm };
  }
  if (regionsKnown && client.region === c.region) return { tier: TIER_REGION, distanceKm };
  if (distanceKm !== undefined) return { tier: TIER_DISTANCE, distanceKm };
  return { tier: TIER_UNKNOWN, distanceKm };
}

/**
 * Total order of ranked clusters (SPEC §3): tier; then, in the distance tier, distance rounded to
 * whole km (so co-located clusters tie and RTT decides); then RTT, known before unknown; then
 * cluster name by UTF-16 code unit (locale-independent).
 */
export function compareRanked(a: Ranked, b: Ranked): number {
  if (a.tier !== b.tier) return a.tier - b.tier;
  if (a.tier === TIER_DISTANCE) {
    const d = Math.round(a.distanceKm!) - Math.round(b.distanceKm!);
    if (d !== 0) return d;
  }
  const ra = a.input.rttMs;
  const rb = b.input.rttMs;
  const ka = ra !== undefined && Number.isFinite(ra);
  const kb = rb !== undefined && Number.isFinite(rb);
  if (ka !== kb) return ka ? -1 : 1;
  if (ka && ra !== rb) return ra - rb!;
  const na = a.input.cluster;
  const nb = b.input.cluster;
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/** Rank clusters relative to the client, nearest first (SPEC §3 "Rank of a remote cluster"). */
export function rankClusters<T extends RankInput>(client: ClientLocality, clusters: readonly T[]): Ranked<T>[] {
  const out = new Array<Ranked<T>>(clusters.length);
  for (let i = 0; i < clusters.length; i++) {
    const input = clusters[i]!;
    const { tier, distanceKm } = localityOf(client, input);
    out[i] = { input, tier, distanceKm };
  }
  out.sort(compareRanked);
  return out;
}

/**
 * Two ranked clusters are of equal rank (issue 16): the same tier, the same whole km in the distance
 * tier, and RTTs both unknown or no more than `marginMs` apart, so that a few milliseconds of probe
 * jitter do not pin every client to one cluster.
 */
export function equalRank(a: Ranked, b: Ranked, marginMs: number): boolean {
  if (a.tier !== b.tier) return false;
  if (a.tier === TIER_DISTANCE && Math.round(a.distanceKm!) !== Math.round(b.distanceKm!)) return false;
  const ra = a.input.rttMs;
  const rb = b.input.rttMs;
  const ka = ra !== undefined && Number.isFinite(ra);
  const kb = rb !== undefined && Number.isFinite(rb);
  if (ka !== kb) return false;
  return !ka || Math.abs(ra - rb!) <= marginMs;
}

/**
 * The sizes of the runs of equal rank in a ranked list (they sum to its length). Each run is
 * measured against its first member, so a chain of small RTT steps does not make one long run.
 */
export function rankClasses(ranked: readonly Ranked[], marginMs: number): number[] {
  const sizes: number[] = [];
  let head = 0;
  for (let i = 1; i <= ranked.length; i++) {
    if (i < ranked.length && equalRank(ranked[head]!, ranked[i]!, marginMs)) continue;
    if (i > head) sizes.push(i - head);
    head = i;
  }
  return sizes;
}

/**
 * The clusters a policy keeps from an already ranked list of healthy clusters (SPEC §3 "Tiers").
 * failover: every cluster in the client's zone if any, else every cluster in the client's region,
 * else the single nearest (unknown location sorts last, so it is chosen only when nothing is
 * located), or with `equalMarginMs` (rotation on) every cluster of equal rank to the nearest.
 * spread: all of them, in rank order. weighted: every cluster of the best tier (zone, region,
 * located, unknown), whatever its distance: the weights decide among them. Returns a new array;
 * the input is not mutated.
 */
export function selectTier<T extends RankInput>(
  policy: 'failover' | 'spread' | 'weighted',
  ranked: readonly Ranked<T>[],
  equalMarginMs?: number,
): Ranked<T>[] {
  if (policy === 'spread' || ranked.length === 0) return ranked.slice();
  const best = ranked[0]!;
  if (policy === 'weighted' || best.tier === TIER_ZONE || best.tier === TIER_REGION) {
    const out: Ranked<T>[] = [];
    for (const r of ranked) {
      if (r.tier !== best.tier) break; // ranked is sorted by tier first
      out.push(r);
    }
    return out;
  }
  if (equalMarginMs === undefined) return [best];
  const out: Ranked<T>[] = [best];
  for (let i = 1; i < ranked.length && equalRank(best, ranked[i]!, equalMarginMs); i++) out.push(ranked[i]!);
  return out;
}
