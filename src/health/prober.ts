/**
 * Active gateway probes (edge): every gateway of every remote cluster, probed by TCP connect or
 * HTTP GET (SPEC §3 "Gateways"), behind the answer core's GatewayHealth interface.
 *
 * Owns: the probe targets (deduplicated by address and probed port), their timers (interval with
 * jitter, so probes do not synchronise), the probes themselves with timeouts, each target's
 * GatewayState, and probe counters.
 * Never: probes a gateway no catalog lists any more (targets follow the registry's catalogs:
 * added when a gateway appears, stopped and forgotten when it disappears, e.g. a peer withdrawn);
 * lets a probe error escape; keeps a socket past its timeout.
 * Invariants: at most one probe per target in flight; a target's first probe starts at a random
 * point within the first interval; stop() clears every timer and socket.
 */
import { connect } from 'node:net';
import { request, type IncomingMessage } from 'node:http';
import type { Logger } from '../log.js';
import type { GatewayHealth } from '../answer/types.js';
import type { ClusterCatalog, RegistryReader } from '../registry/types.js';
import { jittered } from '../util/backoff.js';
import { MAX_TIMER_MS, settleOnce } from '../util/settle-once.js';
import { GatewayState, type GatewayStateSnapshot, type ProbeResult } from './gateway-state.js';

export type ProbeSpec =
  { readonly type: 'tcp'; readonly port?: number | undefined } | { readonly type: 'http'; readonly port: number; readonly path: string };

export interface ProberOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly fall: number;
  readonly rise: number;
  readonly probe: ProbeSpec;
  readonly logger: Logger;
  readonly now?: (() => number) | undefined;
  /**
   * Told of every finished probe: the clusters listing the gateway, milliseconds, and whether it
   * succeeded (metrics: duration and failures per cluster).
   */
  readonly onProbe?: ((clusters: readonly string[], ms: number, ok: boolean) => void) | undefined;
  /** Called after any target's status changed (e.g. to bump nothing, or to log). */
  readonly onChange?: (() => void) | undefined;
}

export interface TargetStatus extends GatewayStateSnapshot {
  readonly address: string;
  /** The port probed (the gateway's own port, or health.probe.port). */
  readonly port: number;
  readonly clusters: readonly string[];
}

export interface ProberStats {
  readonly targets: number;
  readonly probes: number;
  readonly failures: number;
  /** Healthy (or unknown) targets per cluster. */
  readonly healthyByCluster: Readonly<Record<string, number>>;
  readonly durationMsTotal: number;
}

interface Target {
  readonly address: string;
  readonly port: number;
  readonly state: GatewayState;
  /** Clusters listing this gateway, and the gateway ports they list (for health lookups). */
  readonly clusters: Set<string>;
  timer: NodeJS.Timeout | undefined;
  inflight: { destroy(): void } | undefined;
}

export class GatewayProber implements GatewayHealth {
  private readonly targets = new Map<string, Target>();
  /** `cluster|address|gatewayPort` → target key. */
  private readonly byGateway = new Map<string, string>();
  private readonly now: () => number;
  private stopped = false;
  private durationMsTotal = 0;

  constructor(private readonly opts: ProberOptions) {
    this.now = opts.now ?? Date.now;
  }

  // ---- GatewayHealth ------------------------------------------------------------------------

  isHealthy(cluster: string, address: string, port: number): boolean | undefined {
    const key = this.byGateway.get(`${cluster}|${address}|${port}`);
    return key === undefined ? undefined : this.targets.get(key)?.state.healthy();
  }

  rttMs(cluster: string, address: string, port: number): number | undefined {
    const key = this.byGateway.get(`${cluster}|${address}|${port}`);
    const rtt = key === undefined ? undefined : this.targets.get(key)?.state.rttMs;
    return rtt === undefined ? undefined : Math.round(rtt * 10) / 10;
  }

  // ---- targets --------------------------------------------------------------------------------

  /** Make the targets match these catalogs: start new ones, stop vanished ones. */
  reconcile(catalogs: readonly ClusterCatalog[]): void {
    if (this.stopped) return;
    const wanted = new Map<string, { address: string; port: number; clusters: Set<string> }>();
    this.byGateway.clear();
    for (const c of catalogs) {
      for (const g of c.gateways) {
        const port = this.probedPort(g.port);
        const key = `${g.address}|${port}`;
        let w = wanted.get(key);
        if (!w) wanted.set(key, (w = { address: g.address, port, clusters: new Set() }));
        w.clusters.add(c.cluster);
        this.byGateway.set(`${c.cluster}|${g.address}|${g.port}`, key);
      }
    }
    for (const [key, t] of this.targets) {
      if (wanted.has(key)) continue;
      this.stopTarget(t);
      this.targets.delete(key);
    }
    for (const [key, w] of wanted) {
      const existing = this.targets.get(key);
      if (existing) {
        existing.clusters.clear();
        for (const c of w.clusters) existing.clusters.add(c);
        continue;
      }
      const t: Target = {
        address: w.address,
        port: w.port,
        state: new GatewayState(this.opts.fall, this.opts.rise),
        clusters: w.clusters,
        timer: undefined,
        inflight: undefined,
      };
      this.targets.set(key, t);
      // First probe at a random point of the first interval: many targets never fire together.
      this.schedule(t, Math.random() * this.opts.intervalMs);
    }
  }

  /** Follow the registry: reconcile now and whenever remote catalogs change. Returns unsubscribe. */
  follow(registry: RegistryReader & { subscribe(l: (c: { catalogs: boolean }) => void): () => void }): () => void {
    this.reconcile(registry.remoteCatalogs());
    return registry.subscribe((change) => {
      if (change.catalogs) this.reconcile(registry.remoteCatalogs());
    });
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.targets.values()) this.stopTarget(t);
    this.targets.clear();
    this.byGateway.clear();
  }

  status(): TargetStatus[] {
    return [...this.targets.values()]
      .map((t) => ({ address: t.address, port: t.port, clusters: [...t.clusters].sort(), ...t.state.snapshot() }))
      .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
  }

  stats(): ProberStats {
    const healthyByCluster: Record<string, number> = {};
    let probes = 0;
    let failures = 0;
    for (const t of this.targets.values()) {
      probes += t.state.probes;
      failures += t.state.failures;
      for (const c of t.clusters) {
        healthyByCluster[c] ??= 0;
        if (t.state.healthy() !== false) healthyByCluster[c]++;
      }
    }
    return { targets: this.targets.size, probes, failures, healthyByCluster, durationMsTotal: this.durationMsTotal };
  }

  // ---- probing --------------------------------------------------------------------------------

  private probedPort(gatewayPort: number): number {
    const p = this.opts.probe;
    return p.type === 'http' ? p.port : (p.port ?? gatewayPort);
  }

  private stopTarget(t: Target): void {
    if (t.timer) clearTimeout(t.timer);
    t.timer = undefined;
    t.inflight?.destroy();
    t.inflight = undefined;
  }

  private schedule(t: Target, delayMs: number): void {
    if (this.stopped) return;
    // Capped: beyond setTimeout's limit a huge health.intervalMs would turn into a probe loop.
    t.timer = setTimeout(
      () => {
        t.timer = undefined;
        void this.probe(t);
      },
      Math.min(delayMs, MAX_TIMER_MS),
    );
    t.timer.unref();
  }

  private async probe(t: Target): Promise<void> {
    const started = performance.now();
    const result = await (this.opts.probe.type === 'http' ? this.httpProbe(t, this.opts.probe.path) : this.tcpProbe(t));
    const ms = performance.now() - started;
    this.durationMsTotal += ms;
    // A target removed (or the prober stopped) while probing: drop the result.
    if (this.stopped || this.targets.get(`${t.address}|${t.port}`) !== t) return;
    this.opts.onProbe?.([...t.clusters], ms, result.ok);
    const before = t.state.status;
    if (t.state.record(result, this.now())) {
      const level = t.state.status === 'unhealthy' ? 'warn' : 'info';
      this.opts.logger[level](
        {
          gateway: `${t.address}:${t.port}`,
          clusters: [...t.clusters],
          from: before,
          to: t.state.status,
          error: result.error,
          rttMs: result.rttMs === undefined ? undefined : Math.round(result.rttMs * 100) / 100,
        },
        `gateway ${t.state.status}`,
      );
      this.opts.onChange?.();
    }
    // Jitter ±10 % keeps targets from drifting into lockstep.
    this.schedule(t, jittered(this.opts.intervalMs, 0.1));
  }

  private tcpProbe(t: Target): Promise<ProbeResult> {
    const started = performance.now();
    const socket = connect({ host: t.address, port: t.port });
    t.inflight = socket;
    const op = settleOnce<ProbeResult>({
      timeoutMs: this.opts.timeoutMs,
      onTimeout: () => ({ ok: false, error: `no TCP connect within ${this.opts.timeoutMs} ms` }),
      cleanup: () => {
        t.inflight = undefined;
        socket.destroy();
      },
    });
    op.listen(socket, 'connect', () => op.resolve({ ok: true, rttMs: performance.now() - started }));
    op.listen(socket, 'error', (err: NodeJS.ErrnoException) => op.resolve({ ok: false, error: err.code ?? err.message }));
    op.listen(socket, 'close', () => op.resolve({ ok: false, error: 'closed before connecting' }));
    return op.promise;
  }

  private httpProbe(t: Target, path: string): Promise<ProbeResult> {
    const started = performance.now();
    const req = request({ host: t.address, port: t.port, path, method: 'GET', agent: false, headers: { 'user-agent': 'gsdns-probe' } });
    t.inflight = req;
    const op = settleOnce<ProbeResult>({
      timeoutMs: this.opts.timeoutMs,
      onTimeout: () => ({ ok: false, error: `no HTTP answer within ${this.opts.timeoutMs} ms` }),
      cleanup: () => {
        t.inflight = undefined;
        req.destroy();
      },
    });
    op.listen(req, 'response', (res: IncomingMessage) => {
      res.resume();
      const status = res.statusCode ?? 0;
      op.resolve(status >= 200 && status < 300 ? { ok: true, rttMs: performance.now() - started } : { ok: false, error: `HTTP ${status}` });
    });
    op.listen(req, 'error', (err: NodeJS.ErrnoException) => op.resolve({ ok: false, error: err.code ?? err.message }));
    req.end();
    return op.promise;
  }
}
