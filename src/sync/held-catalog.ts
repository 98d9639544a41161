/**
 * The catalog a sync client holds from one peer (edge: writes the registry; no I/O, timers or
 * clock): decoding a body against it, applying the result, and withdrawing it.
 *
 * Owns: the held catalog, the fingerprints and keys of its services (sent with every body, so the
 * decoder returns only what changed), the scratch arrays that let a small delta decoded on the DNS
 * thread allocate no typed array, and the peer's entry in the registry (origin "sync").
 * Never: decides whether a catalog is acceptable (client.ts checks status, identity and the claimed
 * cluster before applying), or keeps a withdrawn peer's services in the registry.
 * Invariants: every service of the catalog held is the interner's object (intern.ts, shared by all
 * peers) and one use of it: a changed service is interned when applied, a dropped one released,
 * and a withdrawal releases them all. The registry holds what this holds, from the first apply to
 * the withdrawal.
 */
import type { ClusterCatalog, RegistryWriter } from '../registry/types.js';
import { metaEqual } from '../registry/records.js';
import type { OffThread } from '../util/off-thread.js';
import {
  decodeCatalog,
  deltaScratch,
  rebuildCatalog,
  removedServices,
  type DecodeRequest,
  type DecodeResult,
  type DeltaScratch,
} from './catalog-decoder.js';
import type { ServiceInterner } from './intern.js';

export const SYNC_ORIGIN = 'sync';

const NO_FINGERPRINTS = new Float64Array(0);
/** Deltas up to this size are decoded on this thread (within the apply budget), not in the worker. */
const INLINE_DELTA_BYTES = 32 * 1024;

export type DecodedCatalog = Extract<DecodeResult, { kind: 'catalog' }>;

export interface HeldCatalogOptions {
  /** The peer's name (its registry entry). */
  readonly name: string;
  readonly registry: Pick<RegistryWriter, 'putRemote' | 'patchRemote' | 'removeRemote'>;
  readonly interner: ServiceInterner;
  /** Most services in one catalog (sync.maxCatalogServices). */
  readonly maxServices: number;
  /** The worker that decodes bodies off the DNS thread. Absent: decoded on this thread. */
  readonly decoder?: OffThread<DecodeRequest, DecodeResult> | undefined;
}

export class HeldCatalog {
  private held: ClusterCatalog | undefined;
  /** Fingerprints of `held`'s services, sent with each body so the decoder returns only changes. */
  private heldFingerprints: Float64Array = NO_FINGERPRINTS;
  private heldKeys: Float64Array = NO_FINGERPRINTS;
  /**
   * Inline deltas allocate no typed arrays (DecodeRequest.scratch): one set of arrays backs
   * heldFingerprints/heldKeys when a delta was decoded into it, the spare set takes the next delta,
   * and the two swap when it is applied.
   */
  private heldScratch: DeltaScratch | undefined;
  private spareScratch: DeltaScratch | undefined;
  private keptScratch = new Uint8Array(0);

  constructor(private readonly opts: HeldCatalogOptions) {}

  /** The catalog held (undefined before the first apply and after a withdrawal). */
  get current(): ClusterCatalog | undefined {
    return this.held;
  }

  /**
   * A body decoded against what is held (a delta against it when `deltaBase` is its ETag), with
   * the catalog it was decoded against: what is held may change while the worker decodes.
   */
  async decode(
    body: Uint8Array<ArrayBuffer>,
    deltaBase: string | undefined,
  ): Promise<{ decoded: DecodeResult; base: ClusterCatalog | undefined }> {
    const base = this.held;
    const request: DecodeRequest = {
      body,
      baseFingerprints: this.heldFingerprints,
      baseKeys: this.heldKeys,
      maxServices: this.opts.maxServices,
      deltaBase,
    };
    // A small delta is decoded here: parsing a few services costs less than the round trip to the
    // worker (copying the held fingerprints there and the new ones back, 16 octets per service).
    const decoder = deltaBase !== undefined && body.length <= INLINE_DELTA_BYTES ? undefined : this.opts.decoder;
    if (decoder === undefined) {
      const held = this.heldFingerprints.length;
      // Room for the held services and then some; a delta that adds more allocates (and the spare grows next time).
      if (this.spareScratch === undefined || this.spareScratch.fingerprints.length < held + 1)
        this.spareScratch = deltaScratch(withHeadroom(held));
    }
    const decoded = decoder ? await decoder.run(request, [body.buffer]) : decodeCatalog({ ...request, scratch: this.spareScratch });
    return { decoded, base };
  }

  /**
   * A decoded catalog: rebuilt from what we held plus what changed (unchanged services stay the
   * same objects, so the registry's diff is cheap; changed ones are interned, so a service that
   * every peer exports is one object), and put into the registry. Undefined when nothing changed;
   * else the catalog now held and how many of its services changed.
   */
  apply(decoded: DecodedCatalog, base: ClusterCatalog | undefined): { catalog: ClusterCatalog; changed: number } | undefined {
    if (base !== undefined && base === this.held && decoded.sameServices && metaEqual(decoded.meta, base)) return undefined;
    const interner = this.opts.interner;
    // Interned before the released ones go (below): a changed service equal to a released one keeps its entry.
    const fresh = decoded.packed !== undefined ? interner.internPacked(decoded.packed) : decoded.fresh.map((s) => interner.intern(s));
    let catalog = rebuildCatalog(base, decoded, fresh);
    // What we held was withdrawn while this was in flight (its uses are gone): the kept services
    // are interned again, and the catalog is put whole.
    const patch = base !== undefined && base === this.held;
    if (!patch && base !== undefined) {
      const services = catalog.services.slice();
      for (let i = 0; i < services.length; i++) if (decoded.refs[i]! >= 0) services[i] = interner.intern(services[i]!);
      catalog = { ...catalog, services };
    }
    this.held = catalog;
    this.heldFingerprints = decoded.fingerprints;
    this.heldKeys = decoded.keys;
    if (this.spareScratch !== undefined && decoded.fingerprints.buffer === this.spareScratch.fingerprints.buffer) {
      const previous = this.heldScratch;
      this.heldScratch = this.spareScratch;
      this.spareScratch = previous;
    } else this.heldScratch = undefined;
    // Only the changed services touch the registry's indexes: as a patch of what we wrote before
    // (O(changes) there), else diffed against what it holds.
    if (patch) {
      if (this.keptScratch.length < base.services.length) this.keptScratch = new Uint8Array(withHeadroom(base.services.length));
      const removed = removedServices(base, decoded, this.keptScratch);
      this.opts.registry.patchRemote(SYNC_ORIGIN, base, catalog, removed, fresh);
      for (const s of removed) interner.release(s);
    } else this.opts.registry.putRemote(SYNC_ORIGIN, catalog);
    return { catalog, changed: fresh.length };
  }

  /** Remove the peer's services from the registry and release them; nothing is held after. */
  withdraw(): void {
    if (!this.held) return;
    this.opts.registry.removeRemote(this.opts.name, SYNC_ORIGIN);
    for (const s of this.held.services) this.opts.interner.release(s);
    this.held = undefined;
    this.heldFingerprints = NO_FINGERPRINTS;
    this.heldKeys = NO_FINGERPRINTS;
    this.heldScratch = undefined;
  }
}

/** A capacity for `n` services that leaves room for a few added ones before it must grow. */
function withHeadroom(n: number): number {
  return n + Math.max(64, n >> 4);
}
