/**
 * Sync, assembled (edge): the TLS files, this cluster's published catalog, the sync server and one
 * client per peer.
 *
 * Owns: keeping the published catalog (canonical JSON + ETag) in step with the registry's local
 * services and this cluster's gateways, waking long polls when it changes, checking at start that
 * our own certificate names this cluster, the sync port's descriptor budget (soft RLIMIT_NOFILE
 * minus `syncDescriptorReserve`), and the sync status for /debug (with the budget and its use).
 * Never: publishes remote services (a cluster exports only what it runs), starts with a
 * certificate that names another cluster, or lets peers apply a catalog named like this cluster.
 * Invariants: the snapshot served is rebuilt before it is read whenever the registry's local
 * services or the gateways changed since it was built; publishing is debounced by a few ms so a
 * burst of changes (a relist) wakes each long poll once.
 */
import type { AddressInfo } from 'node:net';
import type { Config, SyncConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Registry } from '../registry/registry.js';
import type { ClusterLocality, Gateway } from '../registry/types.js';
import { PeerClient, type PeerStatus } from './client.js';
import { clusterIdentity } from './identity.js';
import { catalogVersion } from './delta.js';
import { buildCatalog, type AdvertisedTraffic } from './protocol.js';
import { SyncServer, type CatalogSnapshot, type SyncServerStats } from './server.js';
import { TlsFiles } from './tls-files.js';
import { WorkBudget } from './work-budget.js';
import { OffThread, siblingModule } from '../util/off-thread.js';
import { ServiceInterner } from './intern.js';
import type { DecodeRequest, DecodeResult } from './catalog-decoder.js';
import { DescriptorBudget } from '../util/descriptors.js';

/** Descriptors for everything but sync, beyond the listeners' own caps: files, listeners, probes, logs. */
export const DESCRIPTOR_MARGIN = 64;

/**
 * `sync.descriptorReserve`, or when null what the rest of gsdns may hold at its caps: DNS over TCP
 * on every DNS listener, one socket per upstream exchange, every HTTP listener's connections, and
 * DESCRIPTOR_MARGIN.
 */
export function syncDescriptorReserve(
  config: Pick<Config, 'dns' | 'forward' | 'http'> & { readonly sync?: Pick<SyncConfig, 'descriptorReserve'> | undefined },
): number {
  const explicit = config.sync?.descriptorReserve;
  if (explicit !== null && explicit !== undefined) return explicit;
  const httpListeners = config.http.debug.enabled && config.http.debug.listen !== null ? 2 : 1;
  return (
    config.dns.tcp.maxConnections * config.dns.listen.length +
    config.forward.maxInFlight +
    config.http.maxConnections * httpListeners +
    DESCRIPTOR_MARGIN
  );
}

export interface SyncServiceOptions {
  readonly config: SyncConfig;
  readonly identity: ClusterLocality;
  /** cluster.weight and dns.policy, carried by the catalog (issue 16); absent: not advertised. */
  readonly traffic?: AdvertisedTraffic | undefined;
  readonly registry: Registry;
  readonly gateways: () => readonly Gateway[];
  readonly logger: Logger;
  /** Debounce of catalog publication after a change. Default 5 ms. */
  readonly publishDelayMs?: number | undefined;
  /** Descriptors the sync port leaves to the rest (syncDescriptorReserve). Absent: no descriptor budget. */
  readonly descriptorReserve?: number | undefined;
  /** This cluster's name; defaults to identity.cluster (a catalog named like it is refused). */
  readonly localCluster?: string | undefined;
  /** Whether the local source is stale: the catalog then says `sourceStale: true`. Absent: never. */
  readonly localSourceStale?: (() => boolean) | undefined;
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

/** The catalog decoder worker stops after this long without a catalog to decode. */
export const DECODER_IDLE_MS = 10_000;

export class SyncService {
  private readonly tls: TlsFiles;
  private readonly server: SyncServer;
  private readonly clients: PeerClient[];
  private readonly budget: WorkBudget;
  /** One worker decodes every peer's catalogs off the DNS thread (catalog-worker.ts). */
  private readonly decoder: OffThread<DecodeRequest, DecodeResult>;
  private readonly descriptors: DescriptorBudget | undefined;
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
    if (opts.descriptorReserve !== undefined) {
      this.descriptors = new DescriptorBudget({ reserve: opts.descriptorReserve });
      const { limit } = this.descriptors;
      if (limit !== undefined && limit - opts.descriptorReserve < config.maxConnections) {
        logger.warn(
          { limit, reserve: opts.descriptorReserve, maxConnections: config.maxConnections },
          'sync: the descriptor limit leaves fewer descriptors than sync.maxConnections once DNS, forwarding and HTTP are reserved for; sync connections will be refused early (raise ulimit -n, or lower the caps)',
        );
      }
    }
    this.server = new SyncServer({
      address: config.listen.address,
      port: config.listen.port,
      trustDomain: config.trustDomain,
      tls: this.tls,
      snapshot: () => this.snapshot(),
      logger,
      maxConnections: config.maxConnections,
      maxConnectionsPerSource: config.maxConnectionsPerSource,
      handshakeTimeoutMs: config.handshakeTimeoutMs,
      descriptors: this.descriptors,
    });
    const budget = new WorkBudget(config.applyBudgetPercent / 100);
    this.budget = budget;
    this.decoder = new OffThread<DecodeRequest, DecodeResult>({
      url: siblingModule(import.meta.url, 'catalog-worker'),
      onCrash: (err) => logger.error({ err }, 'sync: the catalog decoder worker died; restarting it (the fetches it held are retried)'),
      // An idle decoder holds the garbage of the catalogs it decoded (about 60 MB after an initial
      // sync of 50 peers × 10,000 services): stopped after a while without work, started again on
      // the next full catalog (about 0.1 to 0.3 s; deltas between gsdns peers rarely need it).
      idleMs: DECODER_IDLE_MS,
    });
    const decoder = this.decoder;
    // One table of distinct remote services for every peer: a service that all of them export is one object.
    const interner = new ServiceInterner();
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
          maxBodyBytes: config.maxCatalogBytes,
          maxServices: config.maxCatalogServices,
          localCluster: opts.localCluster ?? opts.identity.cluster,
          decoder,
          interner,
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
    this.opts.logger.info(
      { listen: `${this.address.address}:${this.address.port}`, peers: this.clients.length, etag: this.snapshot().etag },
      'sync started',
    );
    return this.address;
  }

  /** Re-read the TLS files now if they changed (SIGHUP), instead of at the next poll. */
  checkTlsFiles(): void {
    this.tls.check();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.publishTimer) clearTimeout(this.publishTimer);
    for (const c of this.clients) c.stop();
    await this.decoder.close();
    this.tls.stop();
    await this.server.close();
  }

  /** This cluster's gateways changed (e.g. the gateway Service's LoadBalancer address). */
  gatewaysChanged(): void {
    this.changed();
  }

  /** The local source turned stale or fresh: the catalog changes, and long polls are answered. */
  sourceStaleChanged(): void {
    this.changed();
  }

  snapshot(): CatalogSnapshot {
    if (this.dirty || !this.snap) {
      const catalog = buildCatalog(
        this.opts.identity,
        this.opts.gateways(),
        this.opts.registry.localServices(),
        this.opts.localSourceStale?.() === true,
        this.opts.traffic,
      );
      const version = catalogVersion(catalog, this.snap?.version);
      this.snap = { json: version.json, etag: version.etag, services: catalog.services.length, version };
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
