/**
 * The catalog file decoded off the event loop (PURE; catalog-file-worker.ts runs it in a worker).
 *
 * Owns: from the file's octets, its content hash (an unchanged file is not parsed again), the parse
 * and validation (parseCatalogFile: every error with its line), and the local services that differ
 * from what the caller holds, by fingerprint. Issue 13 measured a reload stopping DNS for 0.68 s at
 * 5,000 services, 1.8 s at 10,000 and 8.1 s at 50,000 while all of this ran on the DNS thread.
 * Never: does I/O or keeps state between calls (the caller sends the hash and fingerprints of what
 * it holds).
 * Invariants: `rebuildLocals(held, result)` lists the decoded services in file order, the held
 * objects standing in for every service whose fingerprint (key and content) is unchanged.
 */
import { createHash } from 'node:crypto';
import type { ClusterCatalog, LocalService } from '../registry/types.js';
import { fingerprint } from '../util/fingerprint.js';
import { parseCatalogFile, parseCatalogFileFast, type CatalogIssue, type CatalogParseResult, type CatalogReading } from './catalog-file.js';

export interface FileDecodeRequest {
  readonly bytes: Uint8Array;
  /** Hash of the content the caller last decoded (accepted or not): equal means unchanged. */
  readonly lastHash: string | undefined;
  /** Fingerprints of the local services the caller holds (any order). */
  readonly baseFingerprints: Float64Array;
  readonly localCluster?: string | undefined;
  /**
   * The fresh services as one JSON text (`freshJson`, `fresh` then empty), for a reply that crosses
   * threads. JSON.parse builds them on the DNS thread in about half the time that deserialising
   * the objects took (50,000 services: about 0.25 s against 0.5 s), and smaller: the registry's
   * heap after a full GC was 27 MB against 44 MB (bench:catalog-load). Their JSON is at hand
   * already: it is what the fingerprints hash.
   */
  readonly freshAsJson?: boolean | undefined;
}

export type FileDecodeResult =
  | { readonly kind: 'unchanged'; readonly hash: string }
  | { readonly kind: 'invalid'; readonly hash: string; readonly issues: readonly CatalogIssue[] }
  | {
      readonly kind: 'catalog';
      readonly hash: string;
      /** Per local service, in file order. */
      readonly fingerprints: Float64Array;
      /** The services whose fingerprint is not among the base's, in file order (see `freshServices`). */
      readonly fresh: readonly LocalService[];
      /** With `freshAsJson`: `fresh` as a JSON array, and `fresh` is empty. */
      readonly freshJson?: string | undefined;
      /** The fingerprint of each of `fresh`. */
      readonly freshFingerprints: Float64Array;
      /** The base's fingerprints that are no longer in the file. */
      readonly removed: Float64Array;
      readonly serviceCount: number;
      readonly remotes: readonly ClusterCatalog[];
      readonly reading: CatalogReading;
    };

/** What the worker thread is asked: it reads `path` itself, so the DNS thread never holds the octets. */
export type FileReadRequest = Omit<FileDecodeRequest, 'bytes'> & { readonly path: string };

export type FileReadResult = FileDecodeResult | { readonly kind: 'unreadable'; readonly message: string };

/** The fresh services of a decoded catalog, from `freshJson` when it crossed threads as JSON. */
export function freshServices(r: Extract<FileDecodeResult, { kind: 'catalog' }>): readonly LocalService[] {
  return r.freshJson === undefined ? r.fresh : (JSON.parse(r.freshJson) as LocalService[]);
}

const text = new TextDecoder();

export function decodeCatalogFileBytes(req: FileDecodeRequest): FileDecodeResult {
  return decode(req, (t) => parseCatalogFile(t, { localCluster: req.localCluster }))!;
}

/**
 * The same with the fast reading only, for a small file on the DNS thread (a few milliseconds);
 * `undefined` when the file needs more (problems to place on their lines, or what the fast reading
 * leaves to the positioned one): then the caller sends it to the worker. An empty file (a writer
 * halfway) is refused here.
 */
export function decodeCatalogFileBytesFast(req: FileDecodeRequest): FileDecodeResult | undefined {
  return decode(req, (t) => parseCatalogFileFast(t, { localCluster: req.localCluster }));
}

function decode(req: FileDecodeRequest, parse: (text: string) => CatalogParseResult | undefined): FileDecodeResult | undefined {
  const hash = createHash('sha256').update(req.bytes).digest('hex');
  if (hash === req.lastHash) return { kind: 'unchanged', hash };
  const parsed = parse(text.decode(req.bytes));
  if (parsed === undefined) return undefined;
  if (!parsed.ok) return { kind: 'invalid', hash, issues: parsed.issues };
  const base = new Set<number>();
  for (let i = 0; i < req.baseFingerprints.length; i++) base.add(req.baseFingerprints[i]!);
  const services = parsed.catalog.services;
  const fingerprints = new Float64Array(services.length);
  const fresh: LocalService[] = [];
  const freshJson: string[] = [];
  const freshAt: number[] = [];
  const now = new Set<number>();
  for (let i = 0; i < services.length; i++) {
    // Key and content of a service: its canonical JSON as the parser builds it (fixed key order).
    const json = JSON.stringify(services[i]);
    const f = fingerprint(json);
    fingerprints[i] = f;
    now.add(f);
    if (!base.has(f)) {
      if (req.freshAsJson === true) freshJson.push(json);
      else fresh.push(services[i]!);
      freshAt.push(f);
    }
  }
  const removed: number[] = [];
  for (const f of base) if (!now.has(f)) removed.push(f);
  return {
    kind: 'catalog',
    hash,
    fingerprints,
    fresh,
    ...(req.freshAsJson === true ? { freshJson: `[${freshJson.join(',')}]` } : {}),
    freshFingerprints: Float64Array.from(freshAt),
    removed: Float64Array.from(removed),
    serviceCount: services.length,
    remotes: parsed.catalog.remotes,
    reading: parsed.reading,
  };
}

/**
 * The decoded local services, in file order, from the held ones (by fingerprint) and the fresh ones
 * (PURE). Throws if a fingerprint is neither held nor fresh (a caller bug: wrong base).
 */
export function rebuildLocals(
  held: ReadonlyMap<number, LocalService>,
  r: Extract<FileDecodeResult, { kind: 'catalog' }>,
  fresh: readonly LocalService[] = freshServices(r),
): LocalService[] {
  const out = new Array<LocalService>(r.fingerprints.length);
  let k = 0;
  for (let i = 0; i < r.fingerprints.length; i++) {
    const s = held.get(r.fingerprints[i]!);
    if (s !== undefined) out[i] = s;
    else {
      const f = fresh[k++];
      if (f === undefined) throw new Error('catalog decode: a service neither held nor sent');
      out[i] = f;
    }
  }
  return out;
}
