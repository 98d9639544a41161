/**
 * One client-node informer with our guards (edge), for the Kubernetes source (informers.ts).
 *
 * Owns: one resource's informer lifecycle across generations, its status counters, paged lists,
 * the restart backoff after an error, the reconnect backoff for watches that end quickly, and the
 * HTTP agents of its watches.
 * Never: lets a callback throw into client-node, keeps whole API objects (trimmed on arrival) or
 * feeds client-node's object cache (it sees each event as a bookmark with its resourceVersion).
 * Invariants:
 * - Each start() is a new generation with a new ListWatch; callbacks of an older generation are
 *   ignored, and its watches' sockets are destroyed when it is abandoned.
 * - A complete list replaces the informer's scope wholesale (`onList`) before client-node diffs it.
 * - Out of sync from the moment it stops watching after its first list until its next complete list.
 */
import { inspect } from 'node:util';
import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../log.js';
import { Backoff, type BackoffOptions } from '../../util/backoff.js';
import type { KubeObject } from './convert.js';

export type InformerPhase = 'starting' | 'listing' | 'watching' | 'backoff' | 'stopped';

export interface InformerStatus {
  readonly resource: string;
  readonly namespace?: string | undefined;
  readonly phase: InformerPhase;
  /** Completed at least one list (ever). */
  readonly listed: boolean;
  readonly lastError?: string | undefined;
  readonly lastErrorMs?: number | undefined;
  readonly restarts: number;
  readonly watchdogRestarts: number;
  readonly delayedReconnects: number;
  readonly lastActivityMs?: number | undefined;
  /** Unix ms since which this informer, after its first list, has not been watching; absent while in sync. */
  readonly outOfSyncSinceMs?: number | undefined;
  readonly lists: number;
  readonly events: number;
}

export interface ListResult<T> {
  readonly items: T[];
  readonly metadata: {
    readonly resourceVersion?: string | undefined;
    readonly _continue?: string | undefined;
    readonly continue?: string | undefined;
  };
}

export interface InformerSpec<T extends KubeObject> {
  readonly resource: string;
  readonly namespace?: string | undefined;
  /** Watch path, e.g. /api/v1/services. */
  readonly path: string;
  readonly fieldSelector?: string | undefined;
  /** One page of the list. */
  readonly listPage: (continueToken: string | undefined) => Promise<ListResult<T>>;
  readonly trim: (obj: T) => T;
  /** A complete list arrived: replace this informer's scope wholesale. */
  readonly onList: (items: readonly T[]) => void;
  readonly onUpsert: (obj: T) => void;
  readonly onDelete: (obj: T) => void;
}

/** What every informer of a source shares. */
export interface ManagedInformerOptions {
  readonly now: () => number;
  /** Restart backoff after an informer error. */
  readonly restartBackoff: BackoffOptions;
  /** Delay before reopening a watch that ended quickly. */
  readonly reconnectBackoff: BackoffOptions;
  /** A watch that lived at least this long reopens at once. */
  readonly healthyWatchMs: number;
  readonly logger: Logger;
  /** Told after any status change that may change readiness. */
  readonly onChange: () => void;
}

/** Status code of a client-node error (ApiException `code`, Watch `statusCode`). */
function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  return undefined;
}

export function describeError(err: unknown): string {
  if (err === undefined || err === null) return 'unknown error';
  const status = statusOf(err);
  const message =
    err instanceof Error
      ? err.message
      : typeof err === 'object'
        ? JSON.stringify(err).slice(0, 300)
        : typeof err === 'string'
          ? err
          : inspect(err);
  return status !== undefined ? `HTTP ${status}: ${message.split('\n')[0]}` : message;
}

/**
 * One informer with our guards. Each start() is a new generation: a fresh ListWatch (so a fresh
 * list), whose callbacks are ignored once a newer generation exists.
 */
export class ManagedInformer<T extends KubeObject> {
  phase: InformerPhase = 'starting';
  listed = false;
  lastError: string | undefined;
  lastErrorMs: number | undefined;
  restarts = 0;
  watchdogRestarts = 0;
  delayedReconnects = 0;
  lastActivityMs: number | undefined;
  outOfSyncSinceMs: number | undefined;
  lists = 0;
  events = 0;
  private generation = 0;
  private current: ListWatch<KubernetesObject> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly restartBackoff: Backoff;
  private readonly reconnectBackoff: Backoff;
  private lastWatchStartMs = 0;
  private stopped = false;
  /** Destroys the sockets of the current generation's watches (see guardedWatch). */
  private releaseWatches: () => void = () => undefined;

  constructor(
    private readonly spec: InformerSpec<T>,
    private readonly kubeConfig: KubeConfig,
    private readonly opts: ManagedInformerOptions,
  ) {
    this.restartBackoff = new Backoff(opts.restartBackoff);
    this.reconnectBackoff = new Backoff(opts.reconnectBackoff);
  }

  status(): InformerStatus {
    return {
      resource: this.spec.resource,
      namespace: this.spec.namespace,
      phase: this.phase,
      listed: this.listed,
      lastError: this.lastError,
      lastErrorMs: this.lastErrorMs,
      restarts: this.restarts,
      watchdogRestarts: this.watchdogRestarts,
      delayedReconnects: this.delayedReconnects,
      lastActivityMs: this.lastActivityMs,
      outOfSyncSinceMs: this.outOfSyncSinceMs,
      lists: this.lists,
      events: this.events,
    };
  }

  get label(): string {
    return this.spec.namespace ? `${this.spec.resource}/${this.spec.namespace}` : this.spec.resource;
  }

  start(): void {
    if (this.stopped) return;
    const generation = ++this.generation;
    this.phase = 'listing';
    this.markOutOfSync();
    this.touch();
    const live = (): boolean => generation === this.generation && !this.stopped;
    this.releaseWatches();
    const watch = this.guardedWatch(live);
    const informer = new ListWatch<KubernetesObject>(
      this.spec.path,
      watch as unknown as Watch,
      () => this.listAll(live),
      false,
      undefined,
      this.spec.fieldSelector,
    );
    this.current = informer;
    const guard = (what: string, fn: () => void): void => {
      if (!live()) return;
      try {
        fn();
      } catch (err) {
        // Never throw into client-node's emitter: log, and let the data converge on the next event.
        this.opts.logger.error({ err, informer: this.label, what }, 'informer callback failed');
      }
    };
    // Objects reach KubeState from listAll and from the guarded watch; client-node's cache stays
    // empty, so it has no add/update/delete callbacks to give.
    informer.on('connect', () => guard('connect', () => this.touch()));
    informer.on('error', (err: unknown) => guard('error', () => this.failed(err)));
    informer.start().catch((err: unknown) => guard('start', () => this.failed(err)));
  }

  /** Stop for good (shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    this.phase = 'stopped';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const informer = this.current;
    this.current = undefined;
    this.releaseWatches();
    await informer?.stop().catch(() => undefined);
  }

  /** Abandon the current generation and start a new one now (watchdog). */
  restartNow(reason: string): void {
    if (this.stopped) return;
    this.watchdogRestarts++;
    this.opts.logger.warn({ informer: this.label, reason }, 'restarting informer');
    const old = this.current;
    this.generation++;
    this.releaseWatches();
    void old?.stop().catch(() => undefined);
    this.start();
  }

  /** Milliseconds since the last sign of life, or 0 while not expecting any. */
  silenceMs(nowMs: number): number {
    if (this.phase !== 'watching' && this.phase !== 'listing') return 0;
    return this.lastActivityMs === undefined ? 0 : nowMs - this.lastActivityMs;
  }

  private touch(): void {
    this.lastActivityMs = this.opts.now();
  }

  /** Not watching any more: keep the earliest such moment until the next complete list. */
  private markOutOfSync(): void {
    if (this.listed && this.outOfSyncSinceMs === undefined) this.outOfSyncSinceMs = this.opts.now();
  }

  /** client-node stopped this informer for good; start a new generation after a backoff. */
  private failed(err: unknown): void {
    this.lastError = describeError(err);
    this.lastErrorMs = this.opts.now();
    this.restarts++;
    const old = this.current;
    this.generation++;
    this.current = undefined;
    this.releaseWatches();
    void old?.stop().catch(() => undefined);
    const delay = this.restartBackoff.next();
    this.phase = 'backoff';
    this.markOutOfSync();
    this.opts.logger.warn(
      { informer: this.label, err: this.lastError, retryInMs: delay, restarts: this.restarts },
      'informer stopped on an error; restarting with backoff (serving last-known data)',
    );
    this.opts.onChange();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start();
    }, delay);
    this.restartTimer.unref();
  }

  /** Every page of a consistent list; replaces this informer's scope before client-node diffs it. */
  private async listAll(live: () => boolean): Promise<ListResult<T>> {
    const items: T[] = [];
    let token: string | undefined;
    let resourceVersion: string | undefined;
    for (let restarted = false; ;) {
      let page: ListResult<T>;
      try {
        page = await this.spec.listPage(token);
      } catch (err) {
        // A continue token past the server's compaction: start the list over, once (client-go does).
        if (statusOf(err) === 410 && token !== undefined && !restarted) {
          restarted = true;
          token = undefined;
          items.length = 0;
          continue;
        }
        throw err;
      }
      for (const item of page.items) items.push(this.spec.trim(item));
      resourceVersion = page.metadata.resourceVersion;
      token = page.metadata._continue ?? page.metadata.continue ?? undefined;
      if (!token) break;
    }
    if (live()) {
      this.spec.onList(items);
      this.listed = true;
      this.lists++;
      this.phase = 'watching';
      this.outOfSyncSinceMs = undefined;
      this.touch();
      this.restartBackoff.reset();
      this.opts.onChange();
    }
    // client-node would keep every listed object in its cache, which nothing here reads: it gets
    // the resourceVersion only (KubeState above already holds the slim records).
    return { items: [], metadata: { resourceVersion } };
  }

  /**
   * The Watch client-node's ListWatch drives, wrapped: bookmarks requested and counted as life,
   * objects trimmed on arrival, and a watch that ended quickly reopened only after a backoff
   * (client-node reopens a cleanly closed watch at once: upstream #1933).
   */
  private guardedWatch(live: () => boolean): Pick<Watch, 'watch'> {
    const { config, release } = agentTrackingConfig(this.kubeConfig);
    this.releaseWatches = release;
    const inner = new Watch(config);
    return {
      watch: async (path, queryParams, callback, done) => {
        await this.delayQuickReconnect();
        if (!live()) return new AbortController();
        this.lastWatchStartMs = this.opts.now();
        this.touch();
        const controller = await inner.watch(
          path,
          { ...queryParams, allowWatchBookmarks: true },
          (phase: string, apiObj: unknown, watchObj?: unknown) => {
            if (live()) this.onWatchEvent(phase, apiObj, watchObj, callback);
          },
          (err: unknown) => {
            if (err && live()) this.opts.logger.debug({ informer: this.label, err: describeError(err) }, 'watch ended with an error');
            // One watch at a time per generation: every agent so far belongs to finished watches.
            release();
            done(err);
          },
        );
        // Connected after this generation was abandoned: close it instead of letting it run.
        if (!live()) {
          controller.abort();
          release();
        }
        return controller;
      },
    };
  }

  /** Before (re)opening a watch: wait a backoff if the previous one lived less than healthyWatchMs. */
  private async delayQuickReconnect(): Promise<void> {
    const lived = this.opts.now() - this.lastWatchStartMs;
    if (this.lastWatchStartMs > 0 && lived < this.opts.healthyWatchMs) {
      const delay = this.reconnectBackoff.next();
      this.delayedReconnects++;
      this.opts.logger.debug({ informer: this.label, livedMs: lived, delayMs: delay }, 'watch ended quickly; reopening after a delay');
      await new Promise((r) => setTimeout(r, delay).unref());
    } else {
      this.reconnectBackoff.reset();
    }
  }

  /** One watch event of the live generation: objects go to the spec, client-node gets a bookmark. */
  private onWatchEvent(phase: string, apiObj: unknown, watchObj: unknown, callback: WatchCallback): void {
    this.touch();
    if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') {
      callback(phase, apiObj, watchObj);
      return;
    }
    this.events++;
    const obj = this.spec.trim(apiObj as T);
    try {
      if (phase === 'DELETED') this.spec.onDelete(obj);
      else this.spec.onUpsert(obj);
    } catch (err) {
      this.opts.logger.error({ err, informer: this.label, phase }, 'informer event handling failed');
    }
    // client-node needs only the new resourceVersion; as a BOOKMARK it records just that and
    // caches nothing.
    callback('BOOKMARK', { metadata: { resourceVersion: obj.metadata?.resourceVersion } }, watchObj);
  }
}

type WatchCallback = Parameters<Watch['watch']>[2];

/**
 * The KubeConfig a Watch uses, keeping every HTTP agent it makes. client-node's stop() cannot
 * abort a watch whose response headers never came (a black-holed API server), and a stopped
 * informer whose watch connects later keeps running. Each watch gets its own HTTP agent
 * (client-node creates one per request); release() destroys their sockets when the watch ends or
 * its generation is abandoned.
 */
function agentTrackingConfig(kc: KubeConfig): { config: KubeConfig; release: () => void } {
  const agents = new Set<{ destroy(): void }>();
  const config = {
    getCurrentCluster: () => kc.getCurrentCluster(),
    applyToFetchOptions: async (opts: object) => {
      const init = await kc.applyToFetchOptions(opts);
      const agent = (init as { agent?: unknown }).agent as { destroy?: () => void } | undefined;
      if (agent && typeof agent.destroy === 'function') agents.add(agent as { destroy(): void });
      return init;
    },
  };
  const release = (): void => {
    for (const agent of agents) agent.destroy();
    agents.clear();
  };
  return { config: config as unknown as KubeConfig, release };
}
