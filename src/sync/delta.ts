/**
 * Catalog deltas (PURE): a catalog sent as its difference from a version the peer already holds,
 * in the way of RFC 3229 delta encoding, so a peer that changes one service of 10,000 sends that
 * one service and not a megabyte (issue 13: 50 peers changing once a second moved 50 MB/s).
 *
 * Protocol (an extension the client asks for; SPEC §2's full catalog stays the default):
 *  - the client sends `A-IM: gsdns-delta` with `If-None-Match: <the ETag it holds>`;
 *  - a server that still has that version may answer `226 IM Used` with `IM: gsdns-delta`, the
 *    new catalog's ETag, and a delta body; otherwise it answers as it always does (200 with the
 *    full catalog, or 304). A client that did not ask never gets a delta.
 *  - The delta body is the new catalog's canonical JSON with only the services that are new or
 *    changed, plus a first member `delta`: `{"base": <ETag>, "count": n, "removed": [i…],
 *    "at": [i…]}`. `removed` are indices into the base's services, `at` the indices in the new
 *    catalog of the services listed, both strictly increasing. The new catalog is the base without
 *    `removed`, with the listed services put at `at`: both are in canonical order, so the kept
 *    services keep their relative order.
 *
 * Owns: a catalog version's parts (its ETag, head, keys and service fragments), encoding a delta
 * between two versions, and checking and applying one (`deltaRefs`).
 * Never: does I/O; accepts a delta that does not add up against the base (the client then
 * fetches the full catalog).
 * Invariants: applying `encodeDelta(base, next)` to `base` gives exactly `next`'s services, in
 * order, as canonical fragments (property-tested), so the result hashes to `next`'s ETag.
 */
import type { ClusterCatalog } from '../registry/types.js';
import { catalogEtag, catalogParts, joinCatalog } from './protocol.js';

/** The instance-manipulation name (RFC 3229 `A-IM` / `IM`). */
export const DELTA_IM = 'gsdns-delta';
/** RFC 3229 §10.4.1: 226 IM Used. */
export const IM_USED = 226;

/**
 * Whether an `A-IM` (request) or `IM` (response) header names gsdns-delta (RFC 3229 §10.5: a list
 * of instance manipulations, case-insensitive, each with optional parameters).
 */
export function namesDelta(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  return text.split(',').some((x) => x.split(';')[0]!.trim().toLowerCase() === DELTA_IM);
}

/** One version of a catalog, as a server keeps it to send later versions as deltas against it. */
export interface CatalogVersion {
  readonly etag: string;
  /** The canonical JSON without services (catalogParts). */
  readonly head: string;
  /** `namespace/name` of each service, in catalog order. */
  readonly keys: readonly string[];
  /** Each service's canonical JSON, in catalog order. */
  readonly fragments: readonly string[];
}

/**
 * A catalog's version: its canonical JSON (`json`), ETag, and the parts deltas are made from. With
 * `previous`, unchanged services reuse its key and fragment strings, so the versions a server keeps
 * share what they have in common (and encodeDelta compares them by reference).
 */
export function catalogVersion(catalog: ClusterCatalog, previous?: CatalogVersion): CatalogVersion & { readonly json: string } {
  const parts = catalogParts(catalog);
  const keys = catalog.services.map((s) => s.namespace + '/' + s.name);
  const fragments = parts.fragments as string[];
  if (previous !== undefined) {
    // One walk in step (both in canonical order); a service not met in step just is not shared.
    let j = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      while (j < previous.keys.length && previous.keys[j] !== key && compareKeys(previous.keys[j]!, key) < 0) j++;
      if (j < previous.keys.length && previous.keys[j] === key) {
        keys[i] = previous.keys[j]!;
        if (previous.fragments[j] === fragments[i]) fragments[i] = previous.fragments[j]!;
        j++;
      }
    }
  }
  const json = joinCatalog(parts.head, fragments);
  return { etag: catalogEtag(json), head: parts.head, keys, fragments, json };
}

/** Octets a version holds (its fragments and keys, as UTF-16 estimates): what a history bound counts. */
export function versionSize(v: CatalogVersion): number {
  let n = v.head.length;
  for (let i = 0; i < v.fragments.length; i++) n += v.fragments[i]!.length + v.keys[i]!.length;
  return 2 * n;
}

export interface DeltaHeader {
  readonly base: string;
  readonly count: number;
  readonly removed: readonly number[];
  readonly at: readonly number[];
}

/** Canonical order of two `namespace/name` keys: by namespace, then by name (protocol.ts's sort). */
function compareKeys(a: string, b: string): number {
  const na = a.slice(0, a.indexOf('/'));
  const nb = b.slice(0, b.indexOf('/'));
  if (na !== nb) return na < nb ? -1 : 1;
  const ra = a.slice(na.length + 1);
  const rb = b.slice(nb.length + 1);
  return ra < rb ? -1 : ra > rb ? 1 : 0;
}

/**
 * The body of `next` as a delta against `base`. One merge walk over both, O(services), comparing
 * keys in order only where the versions differ. Correct for any order (a service not met in step
 * is removed and listed again); compact when both are in canonical order, as served catalogs are.
 */
export function encodeDelta(base: CatalogVersion, next: CatalogVersion): string {
  const removed: number[] = [];
  const at: number[] = [];
  const listed: string[] = [];
  let j = 0;
  for (let i = 0; i < next.keys.length; i++) {
    const key = next.keys[i]!;
    // Base services before this key left.
    while (j < base.keys.length && base.keys[j] !== key && compareKeys(base.keys[j]!, key) < 0) removed.push(j++);
    if (j < base.keys.length && base.keys[j] === key) {
      if (base.fragments[j] !== next.fragments[i]) {
        removed.push(j);
        at.push(i);
        listed.push(next.fragments[i]!);
      }
      j++;
    } else {
      at.push(i);
      listed.push(next.fragments[i]!);
    }
  }
  while (j < base.keys.length) removed.push(j++);
  const header: DeltaHeader = { base: base.etag, count: next.keys.length, removed, at };
  return joinCatalog(`{"delta":${JSON.stringify(header)},${next.head.slice(1)}`, listed);
}

/** Whether `v` is a strictly increasing array of integers in [0, limit). */
function indices(v: unknown, limit: number): v is number[] {
  if (!Array.isArray(v)) return false;
  let prev = -1;
  for (const x of v) {
    if (!Number.isSafeInteger(x) || (x as number) <= prev || (x as number) >= limit) return false;
    prev = x as number;
  }
  return true;
}

/**
 * Check a parsed delta header against the base the client holds (`baseCount` services, ETag
 * `baseEtag`) and the number of services the body lists; the refs of the new catalog (per
 * service: its index in the base, or -1 for the next listed one), or a reason.
 */
export function deltaRefs(
  header: unknown,
  baseEtag: string,
  baseCount: number,
  listed: number,
  maxServices: number,
  into?: Int32Array,
): Int32Array | string {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return 'delta must be an object';
  const h = header as Record<string, unknown>;
  for (const k of Object.keys(h))
    if (k !== 'base' && k !== 'count' && k !== 'removed' && k !== 'at') return `delta has an unknown member ${JSON.stringify(k)}`;
  if (h['base'] !== baseEtag) return `delta is against ${JSON.stringify(h['base'])}, but we hold ${baseEtag}`;
  const count = h['count'];
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) return 'delta.count must be a whole number';
  if (count > maxServices) return `delta.count ${count} is more than sync.maxCatalogServices (${maxServices})`;
  if (!indices(h['removed'], baseCount)) return 'delta.removed must be increasing indices of the base';
  if (!indices(h['at'], count)) return 'delta.at must be increasing indices of the new catalog';
  const removed = h['removed'];
  const at = h['at'];
  if (at.length !== listed) return `delta.at has ${at.length} indices for ${listed} listed services`;
  if (count !== baseCount - removed.length + at.length)
    return `delta.count ${count} is not ${baseCount} - ${removed.length} removed + ${at.length} listed`;
  // Into the caller's scratch when it is large enough: a view, so no new backing store.
  const refs = into !== undefined && into.length >= count ? into.subarray(0, count) : new Int32Array(count);
  let j = 0;
  let r = 0;
  let k = 0;
  for (let i = 0; i < refs.length; i++) {
    if (k < at.length && at[k] === i) {
      refs[i] = -1;
      k++;
      continue;
    }
    while (r < removed.length && removed[r] === j) {
      r++;
      j++;
    }
    refs[i] = j++;
  }
  return refs;
}
