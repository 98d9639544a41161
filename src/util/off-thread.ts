/**
 * One long-lived worker thread answering requests in order (edge: worker_threads).
 *
 * Owns: starting the worker on first use, matching replies to requests, restarting the worker after
 * a crash, and terminating it on close.
 * Why: parsing and validating a large catalog (YAML or JSON, 10,000s of services) costs hundreds of
 * milliseconds to seconds of CPU; on the thread that answers DNS that is a gap with no answers
 * (issue 13 measured 8 s at 50,000 services). A worker does it beside the event loop; only small
 * results (what changed) come back.
 * Never: keeps the process alive by itself (the worker is unref'd); leaves a request unanswered: a
 * crash or close rejects every pending request with an error, and the next request starts a new
 * worker.
 * Invariants: requests are answered in the order the worker finishes them, each exactly once.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';

export interface OffThreadOptions {
  /** The worker module: a URL next to the caller's module (`.js` when built, `.ts` under tsx). */
  readonly url: URL;
  /** Told when the worker dies unexpectedly (it is restarted on the next request). */
  readonly onCrash?: ((err: Error) => void) | undefined;
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
}

/** The message a worker module receives, and what it must post back. */
export interface OffThreadRequest<T> {
  readonly id: number;
  readonly body: T;
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
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  crashes = 0;
  /** Workers stopped for idleness (idleMs). */
  idleStops = 0;

  constructor(private readonly opts: OffThreadOptions) {}

  run(body: Req, transfer: readonly TransferListItem[] = []): Promise<Res> {
    if (this.closed) return Promise.reject(new Error('worker closed'));
    const worker = this.ensure();
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const id = this.nextId++;
    return new Promise<Res>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve, reject });
      worker.postMessage({ id, body } satisfies OffThreadRequest<Req>, [...transfer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    const w = this.worker;
    this.worker = undefined;
    this.failAll(new Error('worker closed'));
    if (w) await w.terminate();
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    // From source under tsx (tests), the worker registers tsx's loader before importing the .ts
    // module (an inherited --import does not cover a worker's entry point on Node 20).
    const w = this.opts.url.pathname.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(this.opts.url.href)}); })`, {
          eval: true,
        })
      : new Worker(this.opts.url);
    w.unref();
    w.on('message', (m: OffThreadReply<Res>) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.armIdle(w);
      if (m.ok) p.resolve(m.body);
      else p.reject(new Error(m.error));
    });
    const died = (err: Error): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      if (this.closed) return;
      this.crashes++;
      this.failAll(err);
      this.opts.onCrash?.(err);
    };
    w.on('error', died);
    w.on('exit', (code) => died(new Error(`worker exited with code ${code}`)));
    this.worker = w;
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
  });
}
