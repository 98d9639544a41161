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
 */
import type { ClusterCatalog, RemoteService } from '../registry/types.js';
import { fingerprint } from '../util/fingerprint.js';
import { formatCatalogIssues, parseCatalog } from './protocol.js';

export interface DecodeRequest {
  /** The response body (UTF-8 JSON). */
  readonly body: Uint8Array;
  /** Fingerprints of the services of the catalog the caller holds, in order (empty: none). */
  readonly baseFingerprints: Float64Array;
  readonly maxServices: number;
}

export type CatalogMeta = Omit<ClusterCatalog, 'services'>;

export type DecodeResult =
  | { readonly kind: 'refused'; readonly reason: 'invalid-catalog' | 'too-many-services'; readonly message: string }
  | {
      readonly kind: 'catalog';
      /** Everything but the services. */
      readonly meta: CatalogMeta;
      /** Per service, in order: its fingerprint (key and content). */
      readonly fingerprints: Float64Array;
      /** Per service, in order: the index of the same service in the base catalog, or -1 (the next of `fresh`). */
      readonly refs: Int32Array;
      readonly fresh: readonly RemoteService[];
      /** Every service is the base's, at the same index (the meta may still differ). */
      readonly sameServices: boolean;
    };

/** Key and content of a remote service, canonically. */
export function serviceFingerprint(s: RemoteService): number {
  let text = s.namespace + '/' + s.name + (s.ready ? '|1' : '|0');
  for (const p of s.ports) text += '|' + p.name + ':' + p.port + '/' + p.protocol;
  return fingerprint(text);
}

export function fingerprintsOf(services: readonly RemoteService[]): Float64Array {
  const out = new Float64Array(services.length);
  for (let i = 0; i < services.length; i++) out[i] = serviceFingerprint(services[i]!);
  return out;
}

const text = new TextDecoder();

export function decodeCatalog(req: DecodeRequest): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text.decode(req.body));
  } catch (err) {
    return { kind: 'refused', reason: 'invalid-catalog', message: `catalog is not JSON: ${(err as Error).message}` };
  }
  // Count before validating: validation costs O(services).
  const listed = (value as { services?: unknown } | null)?.services;
  if (Array.isArray(listed) && listed.length > req.maxServices) {
    return {
      kind: 'refused',
      reason: 'too-many-services',
      message: `catalog lists ${listed.length} services, more than sync.maxCatalogServices (${req.maxServices}); refused, the last good catalog is kept`,
    };
  }
  const parsed = parseCatalog(value);
  if (!parsed.ok) return { kind: 'refused', reason: 'invalid-catalog', message: `invalid catalog (last good one kept): ${formatCatalogIssues(parsed.issues)}` };
  const { services, ...meta } = parsed.catalog;
  const base = new Map<number, number>();
  for (let j = 0; j < req.baseFingerprints.length; j++) base.set(req.baseFingerprints[j]!, j);
  const fingerprints = fingerprintsOf(services);
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
  return { kind: 'catalog', meta, fingerprints, refs, fresh, sameServices };
}

/**
 * The decoded catalog, from the held one and a result decoded against its fingerprints (PURE).
 * Unchanged services are the held objects.
 */
export function rebuildCatalog(held: ClusterCatalog | undefined, r: Extract<DecodeResult, { kind: 'catalog' }>): ClusterCatalog {
  const services: RemoteService[] = new Array(r.refs.length);
  let k = 0;
  for (let i = 0; i < r.refs.length; i++) {
    const j = r.refs[i]!;
    if (j >= 0) {
      const s = held?.services[j];
      if (s === undefined) throw new Error('a delta against a catalog that is not held');
      services[i] = s;
    } else services[i] = r.fresh[k++]!;
  }
  return { ...r.meta, services };
}
