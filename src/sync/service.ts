/**
 * Sync, assembled (edge): the TLS files, this cluster's published catalog, the sync server and one
 * client per peer.
 *
 * Owns: keeping the published catalog (canonical JSON + ETag) in step with the registry's local
 * services and this cluster's gateways, waking long polls when it changes, checking at start that
 * our own certificate names this cluster, and the sync status for /debug.
 * Never: publishes remote services (a cluster exports only what it runs), or starts with a
 * certificate that names another cluster.
 * Invariants: the snapshot served is rebuilt before it is read whenever the registry's local
 * services or the gateways changed since it was built; publishing is debounced by a few ms so a
 * burst of changes (a relist) wakes each long poll once.
 */
import type { AddressInfo } from 'node:net';
import type { SyncConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Registry } from '../registry/registry.js';
import type { ClusterLocality, Gateway } from '../registry/types.js';
import { PeerClient, type PeerStatus } from './client.js';
import { clusterIdentity } from './identity.js';
import { buildCatalog, canonicalCatalogJson, catalogEtag } from './protocol.js';
import { SyncServer, type CatalogSnapshot, type SyncServerStats } from './server.js';
import { TlsFiles } from './tls-files.js';
import { WorkBudget } from './work-budget.js';

export interface SyncServiceOptions {
  readonly config: SyncConfig;
  readonly identity: ClusterLocality;
  readonly registry: Registry;
  readonly gateways: () => readonly Gateway[];
  readonly logger: Logger;
  /** Debounce of catalog publication after a change. Default 5 ms. */
  readonly publishDelayMs?: number | undefined;
}

export interface SyncStatus {
  readonly listen: string;
  readonly etag: string;
  readonly services: number;
  readonly server: SyncServerStats;
  readonly peers: readonly PeerStatus[];
  /** Times a catalog waited for the apply budget (sync.applyBudgetPercent). */
  readonly budgetWaits: number;
  readonly tls: { readonly notAfter: string; readonly reloads: number; readonly lastError?: string | undefined };
}

export class SyncService {
  private readonly tls: TlsFiles;
  private readonly server: SyncServer;
  private readonly clients: PeerClient[];
  private readonly budget: WorkBudget;
  private snap: CatalogSnapshot | undefined;
  private dirty = true;
  private publishTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private address: AddressInfo | undefined;

  constructor(private readonly opts: SyncServiceOptions) {
    const { config, logger } = opts;
    // Our certificate must name this cluster, at start and after every rotation.
    this.tls = new TlsFiles(config.tls, logger, (m) => {
      const own = clusterIdentity(m.subjectAltName, config.trustDomain);
      if (own.ok && own.cluster === opts.identity.cluster) return undefined;
      return `must name this cluster (${opts.identity.cluster}) in trust domain ${config.trustDomain}: ${own.ok ? `it names ${own.cluster}` : own.reason}`;
    });
    this.server = new SyncServer({
      address: config.listen.address,
      port: config.listen.port,
      trustDomain: config.trustDomain,
      tls: this.tls,
      snapshot: () => this.snapshot(),
      logger,
    });
    const budget = new WorkBudget(config.applyBudgetPercent / 100);
    this.budget = budget;
    this.clients = config.peers.map(
      (p) =>
        new PeerClient({
          name: p.name,
          url: p.url,
          trustDomain: config.trustDomain,
          tls: this.tls,
          registry: opts.registry,
          staleAfterSeconds: config.staleAfterSeconds,
          budget,
          logger: logger.child({ peer: p.name }),
        }),
    );
  }

  async start(): Promise<AddressInfo> {
    this.unsubscribe = this.opts.registry.subscribe((change) => {
      if (change.locals) this.changed();
    });
    this.address = await this.server.start();
    this.tls.start();
    for (const c of this.clients) c.start();
    this.opts.logger.info({ listen: `${this.address.address}:${this.address.port}`, peers: this.clients.length, etag: this.snapshot().etag }, 'sync started');
    return this.address;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.publishTimer) clearTimeout(this.publishTimer);
    for (const c of this.clients) c.stop();
    this.tls.stop();
    await this.server.close();
  }

  /** This cluster's gateways changed (e.g. the gateway Service's LoadBalancer address). */
  gatewaysChanged(): void {
    this.changed();
  }

  snapshot(): CatalogSnapshot {
    if (this.dirty || !this.snap) {
      const catalog = buildCatalog(this.opts.identity, this.opts.gateways(), this.opts.registry.localServices());
      const json = canonicalCatalogJson(catalog);
      this.snap = { json, etag: catalogEtag(json), services: catalog.services.length };
      this.dirty = false;
    }
    return this.snap;
  }

  status(): SyncStatus {
    const snap = this.snapshot();
    const m = this.tls.current();
    return {
      listen: this.address ? `${this.address.address}:${this.address.port}` : '',
      etag: snap.etag,
      services: snap.services,
      server: this.server.stats(),
      peers: this.clients.map((c) => c.status()),
      budgetWaits: this.budget.waits,
      tls: { notAfter: m.notAfter, reloads: this.tls.reloads, lastError: this.tls.lastError },
    };
  }

  private changed(): void {
    this.dirty = true;
    if (this.publishTimer) return;
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined;
      this.server.notify();
    }, this.opts.publishDelayMs ?? 5);
    this.publishTimer.unref();
  }
}
