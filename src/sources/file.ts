/**
 * File source (edge): the catalog file → registry, reloaded on change (SPEC §2, issue "file source").
 *
 * Owns: reading and watching one catalog file, and the `source` readiness component.
 * Never: serves a half-applied catalog — a bad edit is rejected whole and the last good catalog
 * stays in the registry ("nothing is lost").
 * Invariants: the registry holds exactly the last successfully parsed content (local services and
 * the static remotes under origin "file"); an edit is picked up within `pollMs` (default 250 ms)
 * even where fs.watch misses it (atomic rename, ConfigMap symlink swap, network filesystems).
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../log.js';
import type { RegistryWriter } from '../registry/types.js';
import type { Readiness } from '../health/readiness.js';
import { formatCatalogIssue, parseCatalogFile, type CatalogIssue } from './catalog-file.js';

export const FILE_ORIGIN = 'file';
const COMPONENT = 'source';

export interface FileSourceStatus {
  readonly path: string;
  readonly loaded: boolean;
  readonly lastLoadedMs?: number | undefined;
  readonly lastError?: string | undefined;
  readonly lastIssues: readonly CatalogIssue[];
  readonly reloads: number;
  readonly rejected: number;
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

  constructor(private readonly opts: FileSourceOptions) {
    this.now = opts.now ?? Date.now;
    this.st = { path: opts.path, loaded: false, lastIssues: [], reloads: 0, rejected: 0 };
    this.component = opts.component ?? COMPONENT;
    opts.readiness.set(this.component, { ready: false, detail: `catalog ${opts.path} not loaded yet` });
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
    const { path, logger } = this.opts;
    let text: string;
    try {
      const s = await stat(path);
      this.lastMtimeMs = s.mtimeMs;
      text = await readFile(path, 'utf8');
    } catch (err) {
      this.lastMtimeMs = -2;
      this.reject(`cannot read ${path}: ${(err as Error).message}`, [], trigger);
      return;
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.lastHash) return;
    const parsed = parseCatalogFile(text, { localCluster: this.opts.localCluster });
    if (!parsed.ok) {
      this.lastHash = hash;
      const lines = parsed.issues.map((i) => formatCatalogIssue(path, i));
      this.reject(`${lines.length} error(s) in ${path}: ${lines.join('; ')}`, parsed.issues, trigger);
      return;
    }
    this.lastHash = hash;
    if (this.opts.localServices !== false) this.opts.registry.replaceLocal(parsed.catalog.services);
    else if (parsed.catalog.services.length > 0) {
      logger.warn({ path, services: parsed.catalog.services.length }, 'services: in the catalog file are ignored with source.type kubernetes (only remotes: are used)');
    }
    this.opts.registry.replaceRemotes(FILE_ORIGIN, parsed.catalog.remotes);
    this.st = {
      ...this.st,
      loaded: true,
      lastLoadedMs: this.now(),
      lastError: undefined,
      lastIssues: [],
      reloads: this.st.reloads + 1,
    };
    this.opts.readiness.set(this.component, { ready: true, sinceMs: this.now() });
    logger.info(
      { path, trigger, services: parsed.catalog.services.length, remotes: parsed.catalog.remotes.length },
      'catalog loaded',
    );
  }

  private reject(message: string, issues: readonly CatalogIssue[], trigger: string): void {
    this.st = { ...this.st, lastError: message, lastIssues: issues, rejected: this.st.rejected + 1 };
    if (this.st.loaded) {
      // Keep serving the last good catalog; stay ready but say why in /readyz detail.
      this.opts.readiness.set(this.component, { ready: true, detail: `last edit rejected, serving last good catalog: ${message}`, sinceMs: this.now() });
      this.opts.logger.error({ path: this.opts.path, trigger, issues }, `catalog edit rejected, keeping last good catalog: ${message}`);
    } else {
      this.opts.readiness.set(this.component, { ready: false, detail: message, sinceMs: this.now() });
      this.opts.logger.error({ path: this.opts.path, trigger, issues }, `catalog invalid, not ready: ${message}`);
    }
  }
}
