/**
 * Peer catalogs decoded off the event loop (PURE; catalog-worker.ts runs it in a worker thread).
 *
 * Owns: turning a peer's response body into a validated catalog (JSON, the service-count limit,
 * the catalog schema), and the difference from the catalog the caller holds, so the DNS thread
 * receives only what changed (issue 13: 50 peers × 10,000 services changing once a second left DNS
 * at 0.31 of its quiet rate while all of it ran on the DNS thread).
 * Never: does I/O or keeps state between calls (the caller sends the fingerprints of what it holds,
 * so a restarted worker loses nothing); treats two different services as equal except on a 53-bit
 * fingerprint collision of the same service's versions (about 1 in 2^53).
 * Invariants: `rebuildCatalog(held, result)` equals the decoded catalog, and reuses the held
 * service objects for unchanged services, so the registry's diff short-circuits on identity.
 *
 * Fast path: a service's fingerprint is the hash of its octets in the body (its element of the
 * top-level `services` array, as the peer sent it), found by a byte scanner that knows JSON's
 * strings and nesting (catalog-scan.ts). Against a held catalog, only the elements whose octets changed are parsed
 * and validated, with the rest of the body (the catalog without its unchanged services); a change
 * to one service of 10,000 costs a scan and a hash of the body instead of a parse and validation of
 * all of it. Anything the fast path does not accept (an odd shape, an invalid element, a duplicate)
 * goes the full way, which gives the exact error. Equal octets are equal services: an element is
 * reused only when its octets hash like a service already validated from this peer's own body.
 * The worker sends its results back packed (catalog-pack.ts).
 */
import type { ClusterCatalog, RemoteService } from '../registry/types.js';
import { packServices, type PackedServices } from './catalog-pack.js';
import { fingerprintOctets, fingerprintsOf, keyFingerprint, keysOf, serviceSpans, type ServiceSpans } from './catalog-scan.js';
import { deltaRefs } from './delta.js';
import { formatCatalogIssues, parseCatalog } from './protocol.js';

export interface DecodeRequest {
  /** The response body (UTF-8 JSON). */
  readonly body: Uint8Array;
  /** Fingerprints of the services of the catalog the caller holds, in order (empty: none). */
  readonly baseFingerprints: Float64Array;
  /** Fingerprints of those services' keys (namespace/name), in the same order. */
  readonly baseKeys: Float64Array;
  readonly maxServices: number;
  /**
   * Set when the body is a delta (226 IM Used, delta.ts): the ETag of the catalog the caller holds,
   * whose services `baseFingerprints` and `baseKeys` describe.
   */
  readonly deltaBase?: string | undefined;
  /**
   * Arrays a delta is decoded into when they are large enough (the result's arrays are then views
   * of them), so that a delta decoded on the DNS thread allocates no typed array: backing stores
   * held for a second each (a change storm: 50 a second) drove V8 into a major GC of the whole
   * heap every few seconds. Never sent to the worker.
   */
  readonly scratch?: DeltaScratch | undefined;
}

/** Reusable arrays for decodeDelta (see DecodeRequest.scratch). */
export interface DeltaScratch {
  readonly fingerprints: Float64Array;
  readonly keys: Float64Array;
  readonly refs: Int32Array;
}

/** A DeltaScratch for catalogs of up to `capacity` services. */
export function deltaScratch(capacity: number): DeltaScratch {
  return { fingerprints: new Float64Array(capacity), keys: new Float64Array(capacity), refs: new Int32Array(capacity) };
}

/** The first `n` elements of `into` when it has room (a view: no new backing store), else a new array. */
function fit(into: Float64Array | undefined, n: number): Float64Array {
  return into !== undefined && into.length >= n ? into.subarray(0, n) : new Float64Array(n);
}

export type CatalogMeta = Omit<ClusterCatalog, 'services'>;

export type DecodeResult =
  | { readonly kind: 'refused'; readonly reason: 'invalid-catalog' | 'too-many-services' | 'invalid-delta'; readonly message: string }
  | {
      readonly kind: 'catalog';
      /** Everything but the services. */
      readonly meta: CatalogMeta;
      /** Per service, in order: its fingerprint (key and content). */
      readonly fingerprints: Float64Array;
      /** Per service, in order: the fingerprint of its key (namespace/name). */
      readonly keys: Float64Array;
      /** Per service, in order: the index of the same service in the base catalog, or -1 (the next of `fresh`). */
      readonly refs: Int32Array;
      /** The changed services, in order (empty when they come `packed`). */
      readonly fresh: readonly RemoteService[];
      /** The changed services packed into a few arrays (catalog-pack.ts packServices), as the worker sends them. */
      readonly packed?: PackedServices | undefined;
      /** Every service is the base's, at the same index (the meta may still differ). */
      readonly sameServices: boolean;
    };

const text = new TextDecoder();

function tooMany(count: number, max: number): DecodeResult {
  return {
    kind: 'refused',
    reason: 'too-many-services',
    message: `catalog lists ${count} services, more than sync.maxCatalogServices (${max}); refused, the last good catalog is kept`,
  };
}

export function decodeCatalog(req: DecodeRequest): DecodeResult {
  if (req.deltaBase !== undefined) return decodeDelta(req, req.deltaBase);
  const spans = serviceSpans(req.body);
  if (spans !== undefined) {
    if (spans.starts.length > req.maxServices) return tooMany(spans.starts.length, req.maxServices);
    const octets = new Float64Array(spans.starts.length);
    for (let i = 0; i < octets.length; i++) octets[i] = fingerprintOctets(req.body, spans.starts[i]!, spans.ends[i]!);
    if (req.baseFingerprints.length > 0) {
      const fast = decodeAgainstBase(req, spans, octets);
      if (fast !== undefined) return fast;
    }
    return decodeWhole(req, octets);
  }
  return decodeWhole(req, undefined);
}

/** Only the elements whose octets changed are parsed; undefined: take the whole way. */
function decodeAgainstBase(req: DecodeRequest, spans: ServiceSpans, octets: Float64Array): DecodeResult | undefined {
  const base = new Map<number, number>();
  for (let j = 0; j < req.baseFingerprints.length; j++) base.set(req.baseFingerprints[j]!, j);
  const n = octets.length;
  const refs = new Int32Array(n);
  const freshAt: number[] = [];
  let sameServices = n === req.baseFingerprints.length;
  for (let i = 0; i < n; i++) {
    const j = base.get(octets[i]!);
    if (j === undefined) {
      refs[i] = -1;
      freshAt.push(i);
      sameServices = false;
    } else {
      refs[i] = j;
      if (j !== i) sameServices = false;
    }
  }
  // The catalog without its unchanged services: the meta and the changed elements only.
  let json = text.decode(req.body.subarray(0, spans.open + 1));
  for (let k = 0; k < freshAt.length; k++) {
    const i = freshAt[k]!;
    json += (k === 0 ? '' : ',') + text.decode(req.body.subarray(spans.starts[i], spans.ends[i]));
  }
  json += text.decode(req.body.subarray(spans.close));
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const parsed = parseCatalog(value);
  if (!parsed.ok || parsed.catalog.services.length !== freshAt.length) return undefined;
  const { services: fresh, ...meta } = parsed.catalog;
  const keys = new Float64Array(n);
  const seen = new Set<number>();
  let k = 0;
  for (let i = 0; i < n; i++) {
    const key = refs[i]! >= 0 ? req.baseKeys[refs[i]!] : keyFingerprint(fresh[k++]!);
    if (key === undefined || seen.has(key)) return undefined; // a duplicate: the whole way names it
    seen.add(key);
    keys[i] = key;
  }
  return { kind: 'catalog', meta, fingerprints: octets, keys, refs, fresh, sameServices };
}

function badDelta(message: string): DecodeResult {
  return { kind: 'refused', reason: 'invalid-delta', message: `invalid catalog delta (the full catalog is fetched next): ${message}` };
}

/**
 * A delta body (delta.ts) against the caller's catalog: the listed services are parsed and
 * validated with the catalog's other members, the rest are the base's. O(changes) parsing, plus
 * O(services) typed-array work for the refs and the key check.
 */
function decodeDelta(req: DecodeRequest, baseEtag: string): DecodeResult {
  const spans = serviceSpans(req.body);
  if (spans === undefined) return badDelta('no top-level services array');
  let value: unknown;
  try {
    value = JSON.parse(text.decode(req.body));
  } catch (err) {
    return badDelta(`not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !('delta' in value)) return badDelta('no delta member');
  const { delta: header, ...rest } = value as Record<string, unknown>;
  const refs = deltaRefs(header, baseEtag, req.baseFingerprints.length, spans.starts.length, req.maxServices, req.scratch?.refs);
  if (typeof refs === 'string') return badDelta(refs);
  const parsed = parseCatalog(rest);
  // The full catalog, fetched next, gives the verdict on the peer (rejected or not).
  if (!parsed.ok) return badDelta(formatCatalogIssues(parsed.issues));
  const { services: fresh, ...meta } = parsed.catalog;
  if (fresh.length !== spans.starts.length) return badDelta('the services array scans differently from how it parses');
  const n = refs.length;
  const fingerprints = fit(req.scratch?.fingerprints, n);
  const keys = fit(req.scratch?.keys, n);
  const freshKeys = new Set<number>();
  let k = 0;
  for (let i = 0; i < n; i++) {
    const j = refs[i]!;
    if (j >= 0) {
      fingerprints[i] = req.baseFingerprints[j]!;
      keys[i] = req.baseKeys[j]!;
    } else {
      fingerprints[i] = fingerprintOctets(req.body, spans.starts[k]!, spans.ends[k]!);
      const key = keyFingerprint(fresh[k++]!);
      if (freshKeys.has(key)) return badDelta('a service is listed twice');
      freshKeys.add(key);
      keys[i] = key;
    }
  }
  // A listed service must not repeat a kept one (the base's keys are distinct already).
  if (freshKeys.size > 0)
    for (let i = 0; i < n; i++)
      if (refs[i]! >= 0 && freshKeys.has(keys[i]!)) return badDelta('a listed service is also kept from the base');
  const sameServices = fresh.length === 0 && n === req.baseFingerprints.length;
  return { kind: 'catalog', meta, fingerprints, keys, refs, fresh, sameServices };
}

function decodeWhole(req: DecodeRequest, octets: Float64Array | undefined): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text.decode(req.body));
  } catch (err) {
    return { kind: 'refused', reason: 'invalid-catalog', message: `catalog is not JSON: ${(err as Error).message}` };
  }
  // Count before validating: validation costs O(services).
  const listed = (value as { services?: unknown } | null)?.services;
  if (Array.isArray(listed) && listed.length > req.maxServices) return tooMany(listed.length, req.maxServices);
  const parsed = parseCatalog(value);
  if (!parsed.ok)
    return {
      kind: 'refused',
      reason: 'invalid-catalog',
      message: `invalid catalog (last good one kept): ${formatCatalogIssues(parsed.issues)}`,
    };
  const { services, ...meta } = parsed.catalog;
  // Octet fingerprints when the scan agrees with the parse; otherwise content fingerprints (they
  // never match a later octet fingerprint: the next catalog then takes this way again, nothing worse).
  const fingerprints = octets !== undefined && octets.length === services.length ? octets : fingerprintsOf(services);
  const base = new Map<number, number>();
  for (let j = 0; j < req.baseFingerprints.length; j++) base.set(req.baseFingerprints[j]!, j);
  const refs = new Int32Array(services.length);
  const fresh: RemoteService[] = [];
  let sameServices = services.length === req.baseFingerprints.length;
  for (let i = 0; i < services.length; i++) {
    const j = base.get(fingerprints[i]!);
    if (j === undefined) {
      refs[i] = -1;
      fresh.push(services[i]!);
      sameServices = false;
    } else {
      refs[i] = j;
      if (j !== i) sameServices = false;
    }
  }
  return { kind: 'catalog', meta, fingerprints, keys: keysOf(services), refs, fresh, sameServices };
}

/**
 * The decoded catalog, from the held one and a result decoded against its fingerprints (PURE).
 * Unchanged services are the held objects; changed ones are `fresh` (default `r.fresh`: the
 * caller may pass equal objects of its own, in the same order, e.g. interned ones).
 */
export function rebuildCatalog(
  held: ClusterCatalog | undefined,
  r: Extract<DecodeResult, { kind: 'catalog' }>,
  fresh: readonly RemoteService[] = r.fresh,
): ClusterCatalog {
  const services = new Array<RemoteService>(r.refs.length);
  let k = 0;
  for (let i = 0; i < r.refs.length; i++) {
    const j = r.refs[i]!;
    if (j >= 0) {
      const s = held?.services[j];
      if (s === undefined) throw new Error('a delta against a catalog that is not held');
      services[i] = s;
    } else services[i] = fresh[k++]!;
  }
  return { ...r.meta, services };
}

/** The held services a result decoded against `held` does not keep (PURE; in `held`'s order). */
export function removedServices(
  held: ClusterCatalog,
  r: Extract<DecodeResult, { kind: 'catalog' }>,
  scratch?: Uint8Array,
): RemoteService[] {
  // The caller's scratch when it has room (zeroed here), so a delta allocates no backing store.
  const n = held.services.length;
  const kept = scratch !== undefined && scratch.length >= n ? scratch.subarray(0, n).fill(0) : new Uint8Array(n);
  for (let i = 0; i < r.refs.length; i++) {
    const j = r.refs[i]!;
    if (j >= 0) kept[j] = 1;
  }
  const removed: RemoteService[] = [];
  for (let i = 0; i < kept.length; i++) if (kept[i] === 0) removed.push(held.services[i]!);
  return removed;
}

/** A result with its changed services packed (the worker's reply: packServices). */
export function packResult(r: DecodeResult): DecodeResult {
  return r.kind === 'catalog' && r.packed === undefined ? { ...r, fresh: [], packed: packServices(r.fresh) } : r;
}

/** The buffers of a result's arrays, to move to the receiving thread rather than copy. */
export function resultBuffers(r: DecodeResult): ArrayBuffer[] {
  if (r.kind !== 'catalog') return [];
  const arrays: ArrayBufferView[] = [r.refs, r.fingerprints, r.keys];
  if (r.packed !== undefined)
    arrays.push(r.packed.keys, r.packed.ends, r.packed.slash, r.packed.ready, r.packed.ports, r.packed.policy, r.packed.weight);
  return arrays.map((a) => a.buffer as ArrayBuffer);
}
