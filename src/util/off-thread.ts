/**
 * One long-lived worker thread answering requests in order, or one worker per request (edge:
 * worker_threads).
 *
 * Owns: starting the worker on first use, matching replies to requests, restarting the worker after
 * a crash, and terminating it on close; with `workerPerRequest`, a new worker for each request that
 * exits once it has replied; with `idleMs`, stopping a worker that has had nothing to do for that long.
 * Why: parsing and validating a large catalog (YAML or JSON, 10,000s of services) costs hundreds of
 * milliseconds to seconds of CPU; on the thread that answers DNS that is a gap with no answers
 * (issue 13 measured 8 s at 50,000 services). A worker does it beside the event loop; only small
 * results (what changed) come back.
 * Never: keeps the process alive by itself (workers are unref'd); leaves a request unanswered: a
 * crash rejects the requests its worker held, close rejects every pending request, each with an
 * error, and the next request starts a new worker.
 * Invariants: requests are answered in the order the worker finishes them, each exactly once.
 */
import { Worker, type ResourceLimits, type TransferListItem } from 'node:worker_threads';

export interface OffThreadOptions {
  /** The worker module: a URL next to the caller's module (`.js` when built, `.ts` under tsx). */
  readonly url: URL;
  /** Told when the worker dies unexpectedly (it is restarted on the next request). */
  readonly onCrash?: ((err: Error) => void) | undefined;
  /**
   * Each request gets a new worker, which exits as soon as it has posted its reply. For rare,
   * large requests (a catalog file reload): a worker's isolate, its modules and the heap a large
   * request grew (tens of MB, which V8 keeps once grown) go back to the system only when the
   * worker exits, and exiting right after the reply frees them while this thread is still
   * deserialising it, so the two heaps barely overlap (bench:catalog-load). Costs a worker start
   * per request: about 1 ms of this thread and 0.1 s of the new one's. Default false: one worker,
   * kept until `close`.
   */
  readonly workerPerRequest?: boolean | undefined;
  /** Each worker's V8 heap limits (worker_threads `resourceLimits`). Default: V8's. */
  readonly resourceLimits?: ResourceLimits | undefined;
  /**
   * Stop the worker once it has had no request for this long (ms); the next request starts a new
   * one. A worker's heap keeps the garbage of its last jobs until it next collects, which an idle
   * worker never does (the sync decoder held about 60 MB after the initial sync of 50 catalogs).
   * Absent: the worker lives until close().
   */
  readonly idleMs?: number | undefined;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** The worker the request went to. */
  readonly worker: Worker;
}

/** The message a worker module receives, and what it must post back. */
export interface OffThreadRequest<T> {
  readonly id: number;
  readonly body: T;
  /** The worker's last request: it exits once this reply is posted (`workerPerRequest`). */
  readonly last?: boolean | undefined;
}
export type OffThreadReply<R> =
  { readonly id: number; readonly ok: true; readonly body: R } | { readonly id: number; readonly ok: false; readonly error: string };

/**
 * The sibling of `import.meta.url` named `name` (without extension): `.ts` while running from
 * source under tsx (tests), `.js` from `dist/`.
 */
export function siblingModule(importMetaUrl: string, name: string): URL {
  return new URL(`./${name}${importMetaUrl.endsWith('.ts') ? '.ts' : '.js'}`, importMetaUrl);
}

export class OffThread<Req, Res> {
  /** The worker the next request goes to; with `workerPerRequest`, none between requests. */
  private worker: Worker | undefined;
  /** Every worker not yet exited: the current one, and those finishing their last request. */
  private readonly live = new Set<Worker>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  crashes = 0;
  /** Workers started so far: the first, one after each crash, and with `workerPerRequest` one per request. */
  starts = 0;
  /** Workers stopped for idleness (idleMs). */
  idleStops = 0;

  constructor(private readonly opts: OffThreadOptions) {}

  run(body: Req, transfer: readonly TransferListItem[] = []): Promise<Res> {
    if (this.closed) return Promise.reject(new Error('worker closed'));
    const worker = this.ensure();
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const id = this.nextId++;
    const last = this.opts.workerPerRequest === true;
    return new Promise<Res>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve, reject, worker });
      worker.postMessage({ id, body, last } satisfies OffThreadRequest<Req>, [...transfer]);
      // It exits after this reply: the next request starts another.
      if (last) this.worker = undefined;
    });
  }

  /** Workers running now (between requests with `workerPerRequest`: none). */
  get running(): number {
    return this.live.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.worker = undefined;
    const all = [...this.live];
    this.failAll(new Error('worker closed'));
    await Promise.all(all.map((w) => w.terminate()));
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    // From source under tsx (tests), the worker registers tsx's loader before importing the .ts
    // module (an inherited --import does not cover a worker's entry point on Node 20).
    const w = this.opts.url.pathname.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(this.opts.url.href)}); })`, {
          eval: true,
          resourceLimits: this.opts.resourceLimits,
        })
      : new Worker(this.opts.url, { resourceLimits: this.opts.resourceLimits });
    w.unref();
    w.on('message', (m: OffThreadReply<Res>) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.armIdle(w);
      if (m.ok) p.resolve(m.body);
      else p.reject(new Error(m.error));
    });
    let dead = false;
    const died = (err: Error): void => {
      if (dead) return; // 'error' is followed by 'exit'
      dead = true;
      this.live.delete(w);
      const current = this.worker === w;
      if (current) this.worker = undefined;
      if (this.closed) return;
      const held = [...this.pending].filter(([, p]) => p.worker === w);
      // A worker that was sent its last request and answered it exits normally.
      if (!current && held.length === 0) return;
      this.crashes++;
      for (const [id, p] of held) {
        this.pending.delete(id);
        p.reject(err);
      }
      this.opts.onCrash?.(err);
    };
    w.on('error', died);
    w.on('exit', (code) => died(new Error(`worker exited with code ${code}`)));
    this.worker = w;
    this.live.add(w);
    this.starts++;
    return w;
  }

  /** With nothing pending, stop `w` after idleMs unless a request comes first. */
  private armIdle(w: Worker): void {
    const idleMs = this.opts.idleMs;
    if (idleMs === undefined || this.worker !== w) return;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.worker !== w || this.pending.size > 0) return;
      this.worker = undefined; // before terminate: its exit is not a crash
      this.idleStops++;
      void w.terminate();
    }, idleMs);
    this.idleTimer.unref();
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}

/**
 * In a worker module: answer each request with `handle` (a throw becomes an error reply, never a
 * dead worker). `transferOf` names buffers of the result to move instead of copy.
 *
 * The thread keeps the process's priority. A lower one (nice 10 on its thread id) was tried and
 * removed: on a machine busy with other processes the decoder starved, and the first catalog load,
 * which the server waits for at start, took longer than 10 s in CI.
 */
export async function serveOffThread<Req, Res>(
  handle: (body: Req) => Res,
  transferOf?: (result: Res) => TransferListItem[],
): Promise<void> {
  const { parentPort } = await import('node:worker_threads');
  if (!parentPort) throw new Error('serveOffThread: not in a worker thread');
  const port = parentPort;
  port.on('message', (m: OffThreadRequest<Req>) => {
    let reply: OffThreadReply<Res>;
    let transfer: TransferListItem[] = [];
    try {
      const body = handle(m.body);
      reply = { id: m.id, ok: true, body };
      transfer = transferOf?.(body) ?? [];
    } catch (err) {
      reply = { id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(reply, transfer);
    // The reply is queued on the parent's side already: it is delivered before the 'exit' event.
    if (m.last === true) process.exit(0);
  });
}
