/**
 * The catalog versions the sync server keeps as delta bases, and the delta bodies it serves
 * against them (PURE; delta.ts encodes, server.ts answers with what this gives).
 *
 * Owns: the last DELTA_HISTORY versions (at most DELTA_HISTORY_BYTES of them), and one encoded
 * delta per base to the current version, shared by every peer that names that base.
 * Never: does I/O or reads a clock; serves a delta that is not smaller than the full catalog, or
 * one whose target is not the snapshot being answered.
 * Invariants: the version remembered last is kept last and never evicted by the byte bound (it
 * may exceed it alone); remembering a new version clears the cached bodies, so each is a delta to
 * the version remembered last (the server remembers every snapshot before it answers with it).
 */
import { encodeDelta, versionSize, type CatalogVersion } from './delta.js';

/** Versions kept as delta bases (delta.ts): a peer at most this many changes behind gets a delta. */
export const DELTA_HISTORY = 8;
/** …and at most this many octets of them (a 10,000-service catalog's version is about 3 MB). */
export const DELTA_HISTORY_BYTES = 32 * 1024 * 1024;

/** What the server is answering with: the catalog in full, its ETag, and its version (if any). */
export interface DeltaTarget {
  readonly json: string;
  readonly etag: string;
  readonly version?: CatalogVersion | undefined;
}

export class DeltaHistory {
  /** Recent versions, oldest first, the current one last; bounded by DELTA_HISTORY(_BYTES). */
  private readonly versions: (CatalogVersion & { readonly size: number })[] = [];
  /** Delta bodies to the current version, by base ETag (one encoding serves every peer). */
  private readonly bodies = new Map<string, string | undefined>();

  /** Keep `v` as the current version (and a base for later deltas); the oldest leave first. */
  remember(v: CatalogVersion): void {
    const last = this.versions[this.versions.length - 1];
    if (last?.etag === v.etag) return;
    this.bodies.clear();
    this.versions.push({ ...v, size: versionSize(v) });
    let total = 0;
    for (const h of this.versions) total += h.size;
    while (this.versions.length > DELTA_HISTORY || (this.versions.length > 1 && total > DELTA_HISTORY_BYTES))
      total -= this.versions.shift()!.size;
  }

  /** The delta body from `base` to `snap` (cached per base), or undefined: send it in full. */
  body(snap: DeltaTarget, base: string): string | undefined {
    const current = snap.version;
    if (current === undefined || current.etag !== snap.etag) return undefined;
    if (this.bodies.has(base)) return this.bodies.get(base);
    const from = this.versions.find((v) => v.etag === base);
    let body: string | undefined = from === undefined ? undefined : encodeDelta(from, current);
    // Not worth it when it is not smaller than the catalog itself (a small catalog, or most changed).
    if (body !== undefined && body.length >= snap.json.length) body = undefined;
    this.bodies.set(base, body);
    return body;
  }
}
