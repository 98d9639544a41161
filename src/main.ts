/**
 * Composition root: config → build the graph (src/build.ts) → start in order → ordered shutdown
 * (STYLE.md); signals and the process are src/serve.ts's, the metrics plan src/metrics-plan.ts's.
 *
 * Owns: the order modules start and stop in, and what a running server exposes (RunningServer).
 * Never: contains protocol or answer logic of its own.
 * Invariants: the DNS listeners are up before the source loads, so a bad catalog at start still
 * yields SERVFAIL in-zone (not a refused port); shutdown goes not-ready first, then closes the
 * listeners in reverse start order.
 */
import type { AddressInfo } from 'node:net';
import type { Config } from './config/index.js';
import type { Logger } from './log.js';
import type { Registry } from './registry/registry.js';
import type { Readiness } from './registry/readiness.js';
import type { KubernetesSource } from './sources/kubernetes/informers.js';
import type { Gateway } from './registry/types.js';
import type { SyncService } from './sync/service.js';
import type { Forwarder } from './forward/forwarder.js';
import type { GatewayProber } from './health/prober.js';
import type { LazyGeoip } from './locality/geoip.js';
import type { DegradedLog } from './ops/degraded-log.js';
import type { Metrics, BuildInfo } from './ops/metrics.js';
import type { SelfTest } from './ops/self-test.js';
import { isSelf } from './forward/upstreams.js';
import { buildCore, buildDebug, buildDns, buildForwarder, buildMetrics, buildOps, logServing, type Late } from './build.js';
import { startSelfTest, startSource, startSync } from './start.js';
import type { DnsServer } from './dns/server.js';
import type { OpsServer } from './ops/http.js';

export { describeDecision } from './ops/describe.js';
export { answerOptions, catalogOnlyHealth, localClient, PACKAGE_VERSION, RESOLV_CONF_PATH, upstreamsFromConfig } from './build.js';

export interface RunningServer {
  readonly dns: readonly { readonly address: string; readonly port: number }[];
  readonly http: AddressInfo;
  /** The /debug listener's address, when `http.debug.listen` gives /debug a listener of its own. */
  readonly debugHttp?: AddressInfo | undefined;
  readonly registry: Registry;
  readonly readiness: Readiness;
  readonly forwarder: Forwarder;
  /** Present with `source.type: kubernetes`. */
  readonly kubernetes?: KubernetesSource | undefined;
  /** This cluster's gateways: `cluster.gateways`, or the addresses of `cluster.gatewayService`. */
  localGateways(): readonly Gateway[];
  /**
   * SIGHUP: re-read the files gsdns already follows (the catalog file, the sync TLS files) now
   * instead of at their next poll. The config file is read only at start.
   */
  reloadFiles(): Promise<void>;
  /** Present unless `health.probe.type` is `none`. */
  readonly prober?: GatewayProber | undefined;
  readonly geoip: LazyGeoip;
  readonly degraded: DegradedLog;
  readonly metrics: Metrics;
  /** Present when `selfTest.enabled`. */
  readonly selfTest?: SelfTest | undefined;
  /** Present when the `sync` block is configured. */
  readonly sync?: SyncService | undefined;
  /** The sync listener's bound address, when sync is configured. */
  readonly syncAddress?: AddressInfo | undefined;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Overrides /etc/resolv.conf (tests). */
  readonly resolvConfPath?: string | undefined;
  /** gsdns_build_info labels; default: the package version and this Node.js. */
  readonly build?: BuildInfo | undefined;
}

export async function startGsdns(config: Config, logger: Logger, startOptions: StartOptions = {}): Promise<RunningServer> {
  const late: Late = { localGateways: config.cluster.gateways };
  const edges: { dns?: DnsServer; forwarder?: Forwarder; ops?: OpsServer } = {};
  const core = buildCore(config, logger, late, (clusters, ms, ok) => metrics.observeProbe(clusters, ms, ok));
  const metrics = buildMetrics(config, core, late, edges, startOptions.build);
  const forwardLog = logger.child({ module: 'forward' });
  const forwarder = (edges.forwarder = buildForwarder(config, forwardLog, metrics, startOptions.resolvConfPath));
  const { dns, errors: dnsErrors } = buildDns(config, logger, core, late, forwarder, metrics);
  edges.dns = dns;
  const ops = (edges.ops = buildOps(config, logger, core, buildDebug(config, core, late, forwarder), metrics));

  // DNS first: a catalog that fails to load must still give SERVFAIL, not a closed port.
  const dnsAddresses = await dns.start();
  const loops = forwarder.upstreams().filter((u) => isSelf(u, dnsAddresses));
  for (const u of loops) forwardLog.error({ upstream: u.label }, 'upstream is this server itself (a forwarding loop); it is not used');
  forwarder.exclude(loops);
  if (forwarder.upstreams().length === 0) forwardLog.warn('no usable upstream: names outside the zones get SERVFAIL');
  let http: AddressInfo;
  try {
    http = await ops.start();
    await startSource(config, logger, core, late, metrics);
    await startSync(config, logger, core, late);
  } catch (err) {
    await late.sync?.stop();
    late.source?.stop();
    await late.kubernetes?.stop();
    forwarder.close();
    await ops.close();
    await dns.close();
    throw err;
  }
  const debugHttp = ops.debugAddress();
  const stopFollowing = core.prober?.follow(core.registry);
  startSelfTest(config, logger, core, late, metrics, startOptions.resolvConfPath);
  logServing(config, logger, dns, dnsAddresses, { http, debugHttp, sync: late.syncAddress }, forwarder);

  let closing: Promise<void> | undefined;
  const { readiness, registry, prober, geoip, degraded } = core;
  return {
    dns: dnsAddresses,
    http,
    debugHttp,
    registry,
    readiness,
    forwarder,
    kubernetes: late.kubernetes,
    sync: late.sync,
    syncAddress: late.syncAddress,
    prober,
    geoip,
    degraded,
    metrics,
    selfTest: late.selfTest,
    localGateways: () => late.localGateways,
    reloadFiles: async () => {
      late.sync?.checkTlsFiles();
      await late.source?.reload('SIGHUP');
    },
    close: () => {
      closing ??= (async () => {
        readiness.beginShutdown();
        late.selfTest?.stop();
        stopFollowing?.();
        prober?.stop();
        await late.sync?.stop();
        late.source?.stop();
        await late.kubernetes?.stop();
        await dns.close();
        forwarder.close();
        await ops.close();
        dnsErrors.close();
      })();
      return closing;
    },
  };
}
