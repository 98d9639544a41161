/**
 * Kubernetes source (edge): client-node informers on Services and EndpointSlices feed the
 * registry; an optional informer on one gateway Service feeds this cluster's gateways (SPEC §2).
 *
 * Owns: which informers run and what each feeds (its InformerSpec), credentials (kubeconfig file
 * or in-cluster), the watchdog, staleness, the `source` readiness component and the gateway
 * Service's resolution. The guards around client-node 1.4.0's informer traps (KNOWN-DEFECTS) are
 * ManagedInformer's (managed-informer.ts): it stops for good on any error but 410 (restarted with
 * jittered exponential backoff), a half-open watch hangs forever (the watchdog here restarts it), a
 * cleanly closed watch is reopened at once (reopening is rate-limited), and a 410 relist must
 * replace wholesale (every list replaces its scope in KubeState before the informer diffs it).
 * Never: lets an informer callback throw into client-node, keeps whole API objects (they are
 * trimmed on arrival), or polls: every change reaches the registry from a watch event.
 * Invariants:
 * - The source is ready once every informer has completed one list. After that, errors and restarts
 *   never make it unready: the last-known data keeps being served, and /readyz shows the informer
 *   as degraded with its last error.
 * - Staleness (`staleAfterSeconds`, 0 = never): after the first sync, an informer is out of sync
 *   from the moment it stops watching (an error, a watchdog restart) until its next complete list.
 *   The source is stale while any Service or EndpointSlice informer has been out of sync that long:
 *   `isStale()` turns true (one warning), `onStaleChange` is told, /readyz stays 200 with the reason;
 *   it turns false at the first complete list (one info line). What it changes is main's to wire:
 *   local answers get the degraded TTL, and the catalog tells peers `sourceStale: true`.
 * - Each (re)start of an informer is a new generation with a new ListWatch; callbacks of an older
 *   generation are ignored, so a late event of a stopped informer can never reach the registry.
 * - client-node drives the protocol (list, watch, resourceVersion, 410 relist) but its object cache
 *   stays empty: objects go from the wire to KubeState's slim records directly, and client-node sees
 *   each event as a bookmark carrying its resourceVersion. Memory stays near the slim records
 *   (bench/convergence.ts measures it).
 * - An invalid traffic annotation (convert.ts) is logged and counted once per Service and value,
 *   however often events and relists repeat it; what is remembered for that leaves with the Service.
 */
import { promises as dns } from 'node:dns';
import { CoreV1Api, DiscoveryV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../log.js';
import { KubeCredentialsError } from '../../errors.js';
import type { Readiness } from '../../registry/readiness.js';
import type { Gateway, RegistryWriter } from '../../registry/types.js';
import type { BackoffOptions } from '../../util/backoff.js';
import { canonicalIp } from '../../util/ip.js';
import {
  gatewayTargets,
  toServiceRecord,
  toSliceRecord,
  trimService,
  trimSlice,
  changeTriggerMs,
  type KubeEndpointSlice,
  type KubeObject,
  type KubeService,
  type ServiceRecord,
} from './convert.js';
import {
  describeError,
  ManagedInformer,
  type InformerSpec,
  type InformerStatus,
  type ListResult,
  type ManagedInformerOptions,
} from './managed-informer.js';
import { isExportedNamespace, parseLabelSelector } from './selector.js';
import { KubeState } from './state.js';

const COMPONENT = 'source';
/** Items per list page (client-go's pager uses 500 too). */
const PAGE_SIZE = 500;

export type { BackoffOptions };
export type { InformerPhase, InformerStatus } from './managed-informer.js';

export interface KubernetesSourceOptions {
  /** Path of a kubeconfig, or null for the in-cluster service account. */
  readonly kubeconfig: string | null;
  /** Namespaces to watch; empty = every namespace (kube-system exported only if listed). */
  readonly namespaces: readonly string[];
  readonly exportSelector: string;
  /** Restart an informer after this long without an event, bookmark or connect; 0 disables. */
  readonly watchdogSeconds: number;
  /** The source is stale once an informer has been out of sync this long (see the header); 0 disables. */
  readonly staleAfterSeconds?: number | undefined;
  /** Told when the source turns stale (true) or recovers (false). */
  readonly onStaleChange?: ((stale: boolean) => void) | undefined;
  readonly gatewayService?: { readonly namespace: string; readonly name: string; readonly port: number } | undefined;
  /** Called whenever the gateway Service's addresses change. */
  readonly onGateways?: ((gateways: readonly Gateway[]) => void) | undefined;
  readonly registry: Pick<RegistryWriter, 'putLocal' | 'removeLocal'>;
  readonly readiness: Readiness;
  readonly logger: Logger;
  /** Restart backoff after an informer error. Default 1 s doubling to 30 s, jittered ±20 %. */
  readonly restartBackoff?: BackoffOptions | undefined;
  /** Delay before reopening a watch that ended quickly. Default 250 ms doubling to 30 s. */
  readonly reconnectBackoff?: BackoffOptions | undefined;
  /** A watch that lived at least this long reopens at once. Default 5000. */
  readonly healthyWatchMs?: number | undefined;
  readonly now?: () => number;
  /**
   * Called after a watched EndpointSlice change reached the registry, with the seconds since the
   * change that caused it (its last-change-trigger-time annotation; slices without it are skipped).
   * Lists are not measured: their annotations date from whenever the slice last changed.
   */
  readonly onProgrammed?: ((seconds: number) => void) | undefined;
  /** Resolves a LoadBalancer ingress hostname to its addresses. Default: the system resolver (getaddrinfo). */
  readonly lookupHost?: ((host: string) => Promise<readonly { readonly address: string }[]>) | undefined;
}

export interface KubernetesSourceStatus {
  readonly synced: boolean;
  /** Out of sync for longer than staleAfterSeconds (see the module header). */
  readonly stale: boolean;
  /** Seconds the longest out-of-sync Service/EndpointSlice informer has been so; 0 when all are in sync. */
  readonly outOfSyncSeconds: number;
  readonly staleAfterSeconds: number;
  readonly services: number;
  readonly exported: number;
  readonly slices: number;
  readonly informers: readonly InformerStatus[];
  readonly gateways: readonly Gateway[];
  /** Traffic annotation values ignored as invalid, counted once per service and value (not per event). */
  readonly invalidAnnotations: number;
}

export class KubernetesSource {
  private readonly state: KubeState;
  private readonly informers: ManagedInformer<KubeObject>[] = [];
  private gatewayInformer: ManagedInformer<KubeService> | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private gatewayRefresh: NodeJS.Timeout | undefined;
  private gateways: readonly Gateway[] = [];
  private gatewayObject: KubeService | undefined;
  /** Bumped by every resolveGateways(); an older resolution that finishes late publishes nothing. */
  private gatewayGeneration = 0;
  private readonly now: () => number;
  private everSynced = false;
  private stale = false;
  /**
   * Per `namespace/name`, the invalid traffic annotations last reported for it (annotation=value,
   * joined): a Service is logged and counted when that changes, not on every event or relist. An
   * entry leaves with its Service, or when the Service is fixed.
   */
  private readonly invalidReported = new Map<string, string>();
  private invalidAnnotations = 0;

  constructor(private readonly opts: KubernetesSourceOptions) {
    this.now = opts.now ?? Date.now;
    const selector = parseLabelSelector(opts.exportSelector);
    // The config loader validated the selector; a bad one here is a programming error.
    if (!selector.ok) throw new Error(`invalid source.kubernetes.exportSelector: ${selector.error}`);
    const sel = selector.selector;
    this.state = new KubeState(opts.registry, (svc) => isExportedNamespace(svc.namespace, opts.namespaces) && sel.matches(svc.labels));
    opts.readiness.set(COMPONENT, { ready: false, detail: 'kubernetes: waiting for the first list of services and endpointslices' });
  }

  /** Start every informer; resolves at once (lists complete in the background, readiness follows). */
  start(): void {
    const kc = loadCredentials(this.opts.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const common: ManagedInformerOptions = {
      now: this.now,
      restartBackoff: this.opts.restartBackoff ?? { initialMs: 1000, maxMs: 30_000 },
      reconnectBackoff: this.opts.reconnectBackoff ?? { initialMs: 250, maxMs: 30_000 },
      healthyWatchMs: this.opts.healthyWatchMs ?? 5000,
      logger: this.opts.logger,
      onChange: () => this.updateReadiness(),
    };
    const scopes: (string | undefined)[] = this.opts.namespaces.length > 0 ? [...this.opts.namespaces] : [undefined];
    for (const namespace of scopes) {
      this.informers.push(new ManagedInformer(this.serviceSpec(core, namespace), kc, common));
      this.informers.push(new ManagedInformer(this.sliceSpec(discovery, namespace), kc, common));
    }
    const gw = this.opts.gatewayService;
    if (gw) {
      this.gatewayInformer = new ManagedInformer<KubeService>(this.gatewaySpec(core, gw), kc, common);
      // Load-balancer hostnames (e.g. AWS ELB) change their addresses behind our back.
      this.gatewayRefresh = setInterval(() => void this.resolveGateways(), 60_000);
      this.gatewayRefresh.unref();
    }
    for (const informer of this.informers) informer.start();
    this.gatewayInformer?.start();
    this.startWatchdog();
  }

  async stop(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.gatewayRefresh) clearInterval(this.gatewayRefresh);
    this.watchdog = undefined;
    this.gatewayRefresh = undefined;
    await Promise.all([...this.informers, ...(this.gatewayInformer ? [this.gatewayInformer] : [])].map((i) => i.stop()));
  }

  /** Whether the local data is stale (see the module header). */
  isStale(): boolean {
    return this.stale;
  }

  status(): KubernetesSourceStatus {
    const counts = this.state.counts();
    return {
      synced: this.everSynced,
      stale: this.stale,
      outOfSyncSeconds: Math.round(this.outOfSyncMs() / 100) / 10,
      staleAfterSeconds: this.opts.staleAfterSeconds ?? 0,
      ...counts,
      informers: [...this.informers, ...(this.gatewayInformer ? [this.gatewayInformer] : [])].map((i) => i.status()),
      gateways: this.gateways,
      invalidAnnotations: this.invalidAnnotations,
    };
  }

  /** The Services of one namespace (or of all): every change goes to KubeState. */
  private serviceSpec(core: CoreV1Api, namespace: string | undefined): InformerSpec<KubeService> {
    return {
      resource: 'services',
      namespace,
      path: namespace ? `/api/v1/namespaces/${namespace}/services` : '/api/v1/services',
      listPage: (token) =>
        (namespace
          ? core.listNamespacedService({ namespace, limit: PAGE_SIZE, _continue: token })
          : core.listServiceForAllNamespaces({ limit: PAGE_SIZE, _continue: token })) as unknown as Promise<ListResult<KubeService>>,
      trim: trimService,
      onList: (items) => {
        const records = items.map(toServiceRecord).filter(isDefined);
        this.forgetInvalid(namespace, new Set(records.map((r) => `${r.namespace}/${r.name}`)));
        for (const r of records) this.reportInvalid(r);
        this.state.replaceServices(namespace, records);
      },
      onUpsert: (obj) => this.upsertService(obj),
      onDelete: (obj) => {
        if (obj.metadata?.namespace && obj.metadata.name) {
          this.invalidReported.delete(`${obj.metadata.namespace}/${obj.metadata.name}`);
          this.state.removeService(obj.metadata.namespace, obj.metadata.name);
        }
      },
    };
  }

  /** The EndpointSlices of one namespace (or of all); watched changes are timed for onProgrammed. */
  private sliceSpec(discovery: DiscoveryV1Api, namespace: string | undefined): InformerSpec<KubeEndpointSlice> {
    return {
      resource: 'endpointslices',
      namespace,
      path: namespace ? `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices` : '/apis/discovery.k8s.io/v1/endpointslices',
      listPage: (token) =>
        (namespace
          ? discovery.listNamespacedEndpointSlice({ namespace, limit: PAGE_SIZE, _continue: token })
          : discovery.listEndpointSliceForAllNamespaces({ limit: PAGE_SIZE, _continue: token })) as unknown as Promise<
          ListResult<KubeEndpointSlice>
        >,
      trim: trimSlice,
      onList: (items) => this.state.replaceSlices(namespace, items.map(toSliceRecord).filter(isDefined)),
      onUpsert: (obj) => {
        const record = toSliceRecord(obj);
        if (!record) return;
        this.state.upsertSlice(record);
        const trigger = this.opts.onProgrammed ? changeTriggerMs(obj) : undefined;
        // Clocks of the controller-manager and this pod differ slightly; never report below 0.
        if (trigger !== undefined) this.opts.onProgrammed?.(Math.max(0, this.now() - trigger) / 1000);
      },
      onDelete: (obj) => {
        if (obj.metadata?.namespace && obj.metadata.name) this.state.removeSlice(obj.metadata.namespace, obj.metadata.name);
      },
    };
  }

  /** The one gateway Service (a field selector on its name): it feeds this cluster's gateways. */
  private gatewaySpec(core: CoreV1Api, gw: NonNullable<KubernetesSourceOptions['gatewayService']>): InformerSpec<KubeService> {
    return {
      resource: 'gateway-service',
      namespace: gw.namespace,
      path: `/api/v1/namespaces/${gw.namespace}/services`,
      fieldSelector: `metadata.name=${gw.name}`,
      listPage: (token) =>
        core.listNamespacedService({
          namespace: gw.namespace,
          fieldSelector: `metadata.name=${gw.name}`,
          limit: PAGE_SIZE,
          _continue: token,
        }) as unknown as Promise<ListResult<KubeService>>,
      trim: trimService,
      onList: (items) => this.setGatewayObject(items.find((s) => s.metadata?.name === gw.name)),
      onUpsert: (obj) => {
        if (obj.metadata?.name === gw.name) this.setGatewayObject(obj);
      },
      onDelete: (obj) => {
        if (obj.metadata?.name === gw.name) this.setGatewayObject(undefined);
      },
    };
  }

  /** One timer for the watchdog and the staleness clock. */
  private startWatchdog(): void {
    const watchdogMs = this.opts.watchdogSeconds * 1000;
    const staleMs = (this.opts.staleAfterSeconds ?? 0) * 1000;
    const periods = [1000, ...(watchdogMs > 0 ? [watchdogMs] : []), ...(staleMs > 0 ? [Math.max(50, staleMs / 4)] : [])];
    if (watchdogMs > 0 || staleMs > 0) {
      this.watchdog = setInterval(() => this.checkWatchdog(watchdogMs), Math.min(...periods));
      this.watchdog.unref();
    }
  }

  /**
   * One warning per Service and invalid value, counted: the informer delivers a Service again on
   * every change of it and on every relist, and the same mistake must not fill the log.
   */
  private reportInvalid(record: ServiceRecord): void {
    const key = `${record.namespace}/${record.name}`;
    const invalid = record.invalidAnnotations;
    if (invalid === undefined) {
      this.invalidReported.delete(key);
      return;
    }
    const signature = invalid.map((i) => `${i.annotation}=${i.value}`).join('\n');
    if (this.invalidReported.get(key) === signature) return;
    const before = this.invalidReported.get(key)?.split('\n') ?? [];
    this.invalidReported.set(key, signature);
    for (const i of invalid) {
      if (before.includes(`${i.annotation}=${i.value}`)) continue;
      this.invalidAnnotations++;
      this.opts.logger.warn(
        { service: key, annotation: i.annotation, value: i.value },
        `ignoring invalid annotation ${i.annotation} on Service ${key}: expected ${i.expected}; the default applies`,
      );
    }
  }

  /** Drop the reports of Services a list of `namespace` (undefined: all) no longer holds. */
  private forgetInvalid(namespace: string | undefined, listed: ReadonlySet<string>): void {
    for (const key of this.invalidReported.keys()) {
      if ((namespace === undefined || key.startsWith(`${namespace}/`)) && !listed.has(key)) this.invalidReported.delete(key);
    }
  }

  private upsertService(obj: KubeService): void {
    const record = toServiceRecord(obj);
    if (record) this.reportInvalid(record);
    if (record) this.state.upsertService(record);
    // A Service that lost its address (or never had one) is not answerable: take it out.
    else if (obj.metadata?.namespace && obj.metadata.name) {
      this.invalidReported.delete(`${obj.metadata.namespace}/${obj.metadata.name}`);
      this.state.removeService(obj.metadata.namespace, obj.metadata.name);
    }
  }

  /** How long the longest out-of-sync Service/EndpointSlice informer has been so (0 before the first sync). */
  private outOfSyncMs(): number {
    if (!this.everSynced) return 0;
    const nowMs = this.now();
    let worst = 0;
    for (const informer of this.informers) {
      const since = informer.outOfSyncSinceMs;
      if (since !== undefined) worst = Math.max(worst, nowMs - since);
    }
    return worst;
  }

  private checkStale(): void {
    const staleMs = (this.opts.staleAfterSeconds ?? 0) * 1000;
    const outMs = this.outOfSyncMs();
    const stale = staleMs > 0 && outMs >= staleMs;
    if (stale === this.stale) return;
    this.stale = stale;
    if (stale) {
      this.opts.logger.warn(
        { outOfSyncSeconds: Math.round(outMs / 1000), staleAfterSeconds: this.opts.staleAfterSeconds },
        'kubernetes source stale: serving last-known local data with the degraded TTL, and telling peers (sourceStale)',
      );
    } else {
      this.opts.logger.info({}, 'kubernetes source in sync again: local data is fresh');
    }
    this.opts.onStaleChange?.(stale);
  }

  private checkWatchdog(watchdogMs: number): void {
    const nowMs = this.now();
    for (const informer of [...this.informers, ...(this.gatewayInformer ? [this.gatewayInformer] : [])]) {
      const silence = informer.silenceMs(nowMs);
      if (watchdogMs > 0 && silence >= watchdogMs) {
        informer.restartNow(
          `no event, bookmark or connect for ${Math.round(silence / 1000)} s (source.kubernetes.watchdogSeconds): a half-open watch`,
        );
      }
    }
    this.updateReadiness();
  }

  private updateReadiness(): void {
    const statuses = this.informers.map((i) => i.status());
    if (!this.everSynced && statuses.every((s) => s.listed)) {
      this.everSynced = true;
      this.opts.logger.info({ ...this.state.counts() }, 'kubernetes source synced');
    }
    this.checkStale();
    const troubled = statuses.filter((s) => s.phase === 'backoff' || (!s.listed && s.lastError));
    const describe = (s: InformerStatus): string =>
      `${s.namespace ? `${s.resource} in ${s.namespace}` : s.resource}: ${s.phase}${s.lastError ? ` (last error: ${s.lastError})` : ''}`;
    if (!this.everSynced) {
      const waiting = statuses.filter((s) => !s.listed);
      this.opts.readiness.set(COMPONENT, {
        ready: false,
        detail: `kubernetes: waiting for the first list of ${waiting.map(describe).join('; ')}`,
        sinceMs: this.now(),
      });
      return;
    }
    // Stale stays ready: every replica loses the same API server at once, and failing readiness
    // would take the cluster's DNS away entirely; the reason is in the detail, metrics and logs.
    const stale = this.stale
      ? `STALE: not in sync with the API server for ${Math.round(this.outOfSyncMs() / 1000)} s (source.kubernetes.staleAfterSeconds ${this.opts.staleAfterSeconds}), local answers use the degraded TTL and peers are told; `
      : '';
    this.opts.readiness.set(COMPONENT, {
      ready: true,
      detail:
        troubled.length > 0 || this.stale
          ? `kubernetes: ${stale}degraded, serving last-known data; ${troubled.map(describe).join('; ')}`
          : undefined,
      sinceMs: this.now(),
    });
  }

  private setGatewayObject(obj: KubeService | undefined): void {
    this.gatewayObject = obj;
    void this.resolveGateways();
  }

  /**
   * Turns the gateway Service into this cluster's gateways. Hostname lookups take time and several
   * resolutions can overlap (a Service change, the minute refresh): only the newest one may publish,
   * so a slow older lookup never re-advertises gateways the Service no longer has.
   */
  private async resolveGateways(): Promise<void> {
    const gw = this.opts.gatewayService;
    if (!gw) return;
    const generation = ++this.gatewayGeneration;
    const targets = this.gatewayObject ? gatewayTargets(this.gatewayObject) : { addresses: [], hostnames: [] };
    const addresses = [...targets.addresses];
    const lookup = this.opts.lookupHost ?? ((host: string) => dns.lookup(host, { all: true }));
    for (const host of targets.hostnames) {
      try {
        for (const r of await lookup(host)) addresses.push(canonicalIp(r.address));
      } catch (err) {
        this.opts.logger.warn({ host, err: describeError(err) }, 'cannot resolve a gateway hostname; skipping it');
      }
      if (generation !== this.gatewayGeneration) return; // a newer resolution started meanwhile
    }
    const next = [...new Set(addresses)].sort().map((address) => ({ address, port: gw.port }));
    if (JSON.stringify(next) === JSON.stringify(this.gateways)) return;
    this.gateways = next;
    this.opts.logger.info(
      { gateways: next.map((g) => `${g.address}:${g.port}`), service: `${gw.namespace}/${gw.name}` },
      'local gateways changed',
    );
    this.opts.onGateways?.(next);
  }
}

/** A kubeconfig file, or the in-cluster service account; a clear error when neither works. */
function loadCredentials(kubeconfig: string | null): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) {
    try {
      kc.loadFromFile(kubeconfig);
    } catch (err) {
      throw new KubeCredentialsError(`source.kubernetes.kubeconfig: cannot load ${kubeconfig}`, { cause: err });
    }
  } else {
    kc.loadFromCluster();
  }
  const server = kc.getCurrentCluster()?.server ?? '';
  let valid: boolean;
  try {
    valid = new URL(server).hostname !== 'undefined';
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new KubeCredentialsError(
      kubeconfig
        ? `source.kubernetes.kubeconfig: ${kubeconfig} has no usable cluster server (got "${server}")`
        : 'source.kubernetes.kubeconfig is null but this is not a Kubernetes pod (no in-cluster API address: KUBERNETES_SERVICE_HOST/PORT unset); set a kubeconfig path',
    );
  }
  return kc;
}

function isDefined<T>(v: T | undefined): v is T {
  return v !== undefined;
}
