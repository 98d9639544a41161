/**
 * File source (edge): the catalog file → registry, reloaded on change (SPEC §2, issue "file source").
 *
 * Owns: reading and watching one catalog file, and the `source` readiness component.
 * Never: serves a half-applied catalog — a bad edit is rejected whole and the last good catalog
 * stays in the registry ("nothing is lost").
 * Invariants: the registry holds exactly the last successfully parsed content (local services and
 * the static remotes under origin "file"); an edit is picked up within `pollMs` (default 250 ms)
 * even where fs.watch misses it (atomic rename, ConfigMap symlink swap, network filesystems).
 * Hashing, parsing and validating the file, and finding which services changed, run in a worker
 * thread (catalog-file-decoder.ts), one per reload that exits once it has replied: the DNS thread
 * only applies what changed, one synchronous write, so answers never see half a catalog and never
 * wait for a parse. A small file (up to 32 KiB) that the fast reading accepts is decoded on the DNS
 * thread instead, in a few milliseconds.
 */
import { readFile, stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../log.js';
import type { LocalService, RegistryWriter } from '../registry/types.js';
import type { Readiness } from '../registry/readiness.js';
import { OffThread, siblingModule } from '../util/off-thread.js';
import { formatCatalogIssue, type CatalogIssue, type CatalogReading } from './catalog-file.js';
import {
  decodeCatalogFileBytes,
  decodeCatalogFileBytesFast,
  freshServices,
  rebuildLocals,
  type FileReadRequest,
  type FileReadResult,
} from './catalog-file-decoder.js';

export const FILE_ORIGIN = 'file';
/**
 * A file up to this size is read on the DNS thread, fast reading only (about 5 ms at 32 KiB, some
 * 300 services): no worker to start for the small catalogs most clusters have. One that needs the
 * positioned reading (problems to place on their lines; anchors, tags) still goes to a worker,
 * like every larger file. The same bound as sync's inline deltas.
 */
const INLINE_FILE_BYTES = 32 * 1024;
/** The decoder worker's young generation (V8's default grows to 48 MB). bench:catalog-load. */
const DECODER_YOUNG_GENERATION_MB = 8;
const COMPONENT = 'source';

export interface FileSourceStatus {
  readonly path: string;
  readonly loaded: boolean;
  readonly lastLoadedMs?: number | undefined;
  readonly lastError?: string | undefined;
  readonly lastIssues: readonly CatalogIssue[];
  readonly reloads: number;
  readonly rejected: number;
  /** A read file is being hashed, parsed and compared (off the DNS thread) right now. */
  readonly decoding: boolean;
  /** Services that differed from what was held, at the last applied reload. */
  readonly lastChanged?: number | undefined;
  /**
   * How the last applied catalog was read: `fast`, or `positioned` when the fast reading could not
   * vouch for the text (anchors, tags): several times slower, and far more memory for large files.
   */
  readonly lastReading?: CatalogReading | undefined;
}

export interface FileSourceOptions {
  readonly path: string;
  readonly registry: RegistryWriter;
  readonly readiness: Readiness;
  readonly logger: Logger;
  readonly pollMs?: number;
  readonly now?: () => number;
  /**
   * false: only the file's `remotes:` are applied (the Kubernetes source owns local services);
   * `services:` are ignored with a warning. Default true.
   */
  readonly localServices?: boolean | undefined;
  /** Readiness component name. Default `source`. */
  readonly component?: string | undefined;
  /** This cluster's name: a `remotes:` entry named like it is rejected as an invalid edit. */
  readonly localCluster?: string | undefined;
  /** false: decode on this thread (unit tests). Default true: a worker thread. */
  readonly offThread?: boolean | undefined;
}

export class FileSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastHash: string | undefined;
  private lastMtimeMs = -1;
  private loading: Promise<void> | undefined;
  private again = false;
  private st: FileSourceStatus;
  private readonly now: () => number;
  private readonly component: string;
  private readonly decoder: OffThread<FileReadRequest, FileReadResult> | undefined;
  /** The local services applied last, by fingerprint, and those fingerprints (sent as the base). */
  private held = new Map<number, LocalService>();
  private heldFingerprints: Float64Array = new Float64Array(0);

  constructor(private readonly opts: FileSourceOptions) {
    this.now = opts.now ?? Date.now;
    this.st = { path: opts.path, loaded: false, lastIssues: [], reloads: 0, rejected: 0, decoding: false };
    this.component = opts.component ?? COMPONENT;
    opts.readiness.set(this.component, { ready: false, detail: `catalog ${opts.path} not loaded yet` });
    this.decoder =
      opts.offThread === false
        ? undefined
        : new OffThread<FileReadRequest, FileReadResult>({
            url: siblingModule(import.meta.url, 'catalog-file-worker'),
            onCrash: (err) => opts.logger.error({ err }, 'the catalog decoder worker died; restarting it at the next reload'),
            // Issue 15: a worker kept between reloads held about 30 MB (its isolate, yaml, ajv, the
            // compiled schema) plus the heap its last decode grew, which V8 does not give back.
            // One per reload, exiting once it has replied, frees all of it while this thread takes
            // the reply in. A small young generation keeps the decode's own peak down, no slower:
            // peak RSS of a load, 100 MB against 120 MB with V8's default at 10,000 services, 171
            // against 192 MB at 50,000 (bench:catalog-load).
            workerPerRequest: true,
            resourceLimits: { maxYoungGenerationSizeMb: DECODER_YOUNG_GENERATION_MB },
          });
  }

  status(): FileSourceStatus {
    return this.st;
  }

  /** Load once (the server starts even if this fails), then watch. */
  async start(): Promise<void> {
    await this.reload('start');
    try {
      // Watch the folder, not the file: editors and Kubernetes ConfigMaps replace the file by rename.
      this.watcher = watch(dirname(this.opts.path), { persistent: false }, (_event, name) => {
        if (name === null || name === basename(this.opts.path) || name.startsWith('..')) void this.reload('watch');
      });
      this.watcher.on('error', (err) => this.opts.logger.warn({ err }, 'catalog watch failed; polling only'));
    } catch (err) {
      this.opts.logger.warn({ err }, 'catalog watch unavailable; polling only');
    }
    const poll = async (): Promise<void> => {
      try {
        const s = await stat(this.opts.path);
        if (s.mtimeMs !== this.lastMtimeMs) await this.reload('poll');
      } catch {
        if (this.lastMtimeMs !== -2) await this.reload('poll');
      }
    };
    this.timer = setInterval(() => void poll(), this.opts.pollMs ?? 250);
    this.timer.unref();
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    this.watcher = undefined;
    this.timer = undefined;
    void this.decoder?.close();
  }

  /** Serialised: a reload requested while one runs is coalesced into one more run. */
  reload(trigger: string): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        await this.loadOnce(trigger);
      } while (this.again);
    })().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async loadOnce(trigger: string): Promise<void> {
    try {
      await this.loadAndApply(trigger);
    } finally {
      this.st = { ...this.st, decoding: false };
    }
  }

  private async loadAndApply(trigger: string): Promise<void> {
    const { path, logger } = this.opts;
    const base = { lastHash: this.lastHash, baseFingerprints: this.heldFingerprints, localCluster: this.opts.localCluster };
    let decoded: FileReadResult;
    try {
      const s = await stat(path);
      this.lastMtimeMs = s.mtimeMs;
      this.st = { ...this.st, decoding: true };
      // The worker reads the file itself: the octets of a large file never reach this thread's heap.
      if (!this.decoder) decoded = decodeCatalogFileBytes({ ...base, bytes: await readFile(path) });
      else {
        const small = s.size <= INLINE_FILE_BYTES ? await readFile(path) : undefined;
        const inline =
          small !== undefined && small.length <= INLINE_FILE_BYTES ? decodeCatalogFileBytesFast({ ...base, bytes: small }) : undefined;
        decoded = inline ?? (await this.decoder.run({ ...base, path }));
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // stat or readFile failed (a missing file), or the worker died or was closed: nothing was
      // applied; the next change or poll tries again.
      this.lastMtimeMs = code === undefined ? -1 : -2;
      this.reject(`${code === undefined ? 'cannot decode' : 'cannot read'} ${path}: ${(err as Error).message}`, [], trigger);
      return;
    }
    if (decoded.kind === 'unreadable') {
      this.lastMtimeMs = -2;
      this.reject(`cannot read ${path}: ${decoded.message}`, [], trigger);
      return;
    }
    if (decoded.kind === 'unchanged') return;
    this.lastHash = decoded.hash;
    if (decoded.kind === 'invalid') {
      const lines = decoded.issues.map((i) => formatCatalogIssue(path, i));
      this.reject(`${lines.length} error(s) in ${path}: ${lines.join('; ')}`, decoded.issues, trigger);
      return;
    }
    const services = decoded.serviceCount;
    const fresh = this.opts.localServices !== false ? freshServices(decoded) : [];
    if (this.opts.localServices !== false) {
      if (this.held.size === 0) {
        const locals = rebuildLocals(this.held, decoded, fresh);
        this.opts.registry.replaceLocal(locals);
        for (let i = 0; i < locals.length; i++) this.held.set(decoded.fingerprints[i]!, locals[i]!);
      } else {
        // Only what changed: O(changes) on this thread, one registry write (issue 13: a 50,000-
        // service file with 50 changes stalled answers 89 ms rebuilding and diffing every service).
        const removed: LocalService[] = [];
        for (const f of decoded.removed) {
          const s = this.held.get(f);
          if (s === undefined) throw new Error('catalog decode: a removed service that was not held');
          removed.push(s);
          this.held.delete(f);
        }
        this.opts.registry.patchLocal(removed, fresh);
        for (let i = 0; i < fresh.length; i++) this.held.set(decoded.freshFingerprints[i]!, fresh[i]!);
      }
      this.heldFingerprints = decoded.fingerprints;
    } else if (services > 0) {
      logger.warn({ path, services }, 'services: in the catalog file are ignored with source.type kubernetes (only remotes: are used)');
    }
    this.opts.registry.replaceRemotes(FILE_ORIGIN, decoded.remotes);
    this.st = {
      ...this.st,
      loaded: true,
      lastLoadedMs: this.now(),
      lastError: undefined,
      lastIssues: [],
      reloads: this.st.reloads + 1,
      lastChanged: decoded.freshFingerprints.length,
      lastReading: decoded.reading,
    };
    this.opts.readiness.set(this.component, { ready: true, sinceMs: this.now() });
    logger.info({ path, trigger, services, remotes: decoded.remotes.length, reading: decoded.reading }, 'catalog loaded');
  }

  private reject(message: string, issues: readonly CatalogIssue[], trigger: string): void {
    this.st = { ...this.st, lastError: message, lastIssues: issues, rejected: this.st.rejected + 1 };
    if (this.st.loaded) {
      // Keep serving the last good catalog; stay ready but say why in /readyz detail.
      this.opts.readiness.set(this.component, {
        ready: true,
        detail: `last edit rejected, serving last good catalog: ${message}`,
        sinceMs: this.now(),
      });
      this.opts.logger.error({ path: this.opts.path, trigger, issues }, `catalog edit rejected, keeping last good catalog: ${message}`);
    } else {
      this.opts.readiness.set(this.component, { ready: false, detail: message, sinceMs: this.now() });
      this.opts.logger.error({ path: this.opts.path, trigger, issues }, `catalog invalid, not ready: ${message}`);
    }
  }
}
