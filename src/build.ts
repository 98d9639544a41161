/**
 * The composition root's builders (with src/main.ts, which runs them in order): each turns the
 * config into one module, wired to the others through narrow interfaces.
 *
 * Owns: what each module is given. Never: contains protocol or answer logic of its own; starts a
 * listener (startGsdns in main.ts decides the order: DNS first, then ops, the source, sync). The
 * modules that start after the listeners (source, sync, self-test) are src/start.ts's.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/index.js';
import type { Logger } from './log.js';
import { Registry } from './registry/registry.js';
import { Draws } from './answer/order.js';
import type { AnswerContext, AnswerOptions, ClientLocality, GatewayHealth } from './answer/types.js';
import { createDnsServer, type DnsServer } from './dns/server.js';
import { createRouter, type SubnetRef } from './route/route.js';
import { AnswerCache } from './route/answer-cache.js';
import { createDebugEndpoints } from './ops/debug-endpoints.js';
import { FileSource, FILE_ORIGIN } from './sources/file.js';
// Type only: client-node (about 75 MB of RSS) is imported only when source.type is kubernetes.
import type { KubernetesSource } from './sources/kubernetes/informers.js';
import type { Gateway } from './registry/types.js';
import type { SyncService } from './sync/service.js';
import { Readiness } from './registry/readiness.js';
import { OpsServer, type DebugEndpoints } from './ops/http.js';
import { Forwarder } from './forward/forwarder.js';
import { parseResolvConf, resolveUpstreams, type Upstream } from './forward/upstreams.js';
import { RESOLV_CONF } from './util/formats.js';
import { answerRecordBudget, encodeQuestion } from './wire/wire.js';
import { GatewayProber } from './health/prober.js';
import { EcsClient, LazyGeoip } from './locality/geoip.js';
import { DegradedLog } from './ops/degraded-log.js';
import type { Metrics, BuildInfo } from './ops/metrics.js';
import { createMetrics } from './metrics-plan.js';
import { QueryLog } from './ops/query-log.js';
import { ConsolidatedLog } from './util/consolidated-log.js';
import { SELF_TEST_LABEL_PREFIX, type SelfTest } from './ops/self-test.js';

/** Until gateway probing exists, every gateway's health is "unknown", which counts as healthy. */
export const catalogOnlyHealth: GatewayHealth = {
  isHealthy: () => undefined,
  rttMs: () => undefined,
};

export function answerOptions(config: Config): AnswerOptions {
  return {
    zones: config.dns.zones,
    ttlSeconds: config.dns.ttl,
    negativeTtlSeconds: config.dns.negativeTtl,
    degradedTtlSeconds: config.dns.degradedTtl,
    maxAnswers: config.dns.maxAnswers,
    policy: config.dns.policy,
    rotate: config.dns.rotate,
    rttMarginMs: config.locality.rttMarginMs,
    localShare: config.dns.localShare,
    splitTtlSeconds: config.dns.splitTtl,
    clusterWeight: config.cluster.weight,
    nameservers: config.dns.nameservers.map((n) => n.address),
    localCluster: config.cluster.name,
    localMinReady: config.dns.localMinReady,
    localFailover: config.dns.localFailover,
    maxLocalAnswers: config.dns.maxLocalAnswers,
    chaos: config.dns.chaos,
  };
}

export function localClient(config: Config): ClientLocality {
  return { region: config.cluster.region, zone: config.cluster.zone, location: config.cluster.location };
}

/** Where `resolv.conf` in forward.upstreams reads its nameservers from. */
export const RESOLV_CONF_PATH = '/etc/resolv.conf';

/** forward.upstreams → upstream list, reading resolv.conf only when it is named. */
export function upstreamsFromConfig(config: Config, logger: Logger, resolvConfPath = RESOLV_CONF_PATH): Upstream[] {
  let resolvConf: ReturnType<typeof parseResolvConf> | undefined;
  if (config.forward.upstreams.includes(RESOLV_CONF)) {
    try {
      resolvConf = parseResolvConf(readFileSync(resolvConfPath, 'utf8'));
      for (const line of resolvConf.ignored) logger.warn({ file: resolvConfPath, line }, 'ignored a resolv.conf nameserver');
    } catch (err) {
      logger.error({ err, file: resolvConfPath }, 'cannot read resolv.conf; its nameservers are not used');
    }
  }
  return resolveUpstreams(config.forward.upstreams, resolvConf);
}

/** The version in package.json (gsdns --version, gsdns_build_info). */
export const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

/** What startGsdns builds before anything listens: the core and the modules around it. */
export interface Core {
  readonly readiness: Readiness;
  readonly registry: Registry;
  readonly geoip: LazyGeoip;
  readonly prober: GatewayProber | undefined;
  readonly degraded: DegradedLog;
  /** The answer context of a query without ECS; readiness and staleness are read at query time. */
  readonly context: AnswerContext;
  /** The context of a query with ECS (the subnet, once geolocated, is where the client is). */
  readonly contextFor: (ecs: SubnetRef) => AnswerContext;
  /**
   * Bumped by every change that can alter an answer: registry content (catalogs, endpoints,
   * freshness), source readiness, gateway health and RTT (each probe), local staleness. The answer
   * cache keeps nothing across a bump.
   */
  readonly generation: { value: number; bump(): void };
  /** dns.answerCache: the route's wire-level answer cache, unless disabled. */
  readonly answerCache: AnswerCache | undefined;
  /**
   * The draws of the order of addresses and of the local-share split (answer/order.ts): stepped
   * once per query by the route, read by the answer core through the contexts and by the cache.
   */
  readonly draws: Draws;
}

/** The modules that start after the DNS listeners (or not at all), read through this at call time. */
export interface Late {
  source?: FileSource;
  kubernetes?: KubernetesSource;
  sync?: SyncService;
  syncAddress?: AddressInfo;
  selfTest?: SelfTest;
  stubWiring?: 0 | 1;
  localGateways: readonly Gateway[];
}

export function buildCore(
  config: Config,
  logger: Logger,
  late: Late,
  onProbe: (clusters: readonly string[], ms: number, ok: boolean) => void,
): Core {
  const readiness = new Readiness();
  const generation = {
    value: 0,
    bump(): void {
      this.value++;
    },
  };
  const registry = new Registry({
    initialSerial: Math.floor(Date.now() / 1000),
    localCluster: config.cluster.name,
    originPrecedence: config.sync?.remotePrecedence,
  });
  const geoip = new LazyGeoip(logger.child({ module: 'geoip' }));
  // locality.geoipPreload (on in the Helm chart): pay the ~150 MB and ~0.2 s at start, not on a query.
  if (config.locality.geoipPreload) geoip.preload();
  // health.probe.type none: every gateway counts as healthy (documentation addresses, tests).
  const probe = config.health.probe;
  const prober =
    probe.type === 'none'
      ? undefined
      : new GatewayProber({
          intervalMs: config.health.intervalMs,
          timeoutMs: config.health.timeoutMs,
          fall: config.health.fall,
          rise: config.health.rise,
          probe,
          logger: logger.child({ module: 'health' }),
          onProbe: (clusters, ms, ok) => {
            generation.bump(); // a probe moves the RTT average, which orders clusters of one tier
            onProbe(clusters, ms, ok);
          },
          onChange: () => generation.bump(),
        });
  const client = localClient(config);
  const draws = new Draws();
  const context: AnswerContext = {
    draw: draws,
    options: answerOptions(config),
    registry,
    health: prober ?? catalogOnlyHealth,
    client,
    get sourceReady() {
      return readiness.isReady('source');
    },
    get localStale() {
      return late.kubernetes?.isStale() === true;
    },
    locateCluster: (catalog) => geoip.locateCluster(catalog),
  };
  // The ECS lookup is lazy (EcsClient): the answer core reads the location only to rank remote
  // clusters (or to explain), so out-of-zone names, refused clients and local or negative answers
  // never load geoip-lite. Unplaceable subnets fall back to this cluster's locality (SPEC §3).
  // The spread reads the sourceReady getter once: this context lives for one query.
  const contextFor = (ecs: SubnetRef): AnswerContext => ({ ...context, client: new EcsClient(geoip, ecs, client) });
  registry.subscribe(() => generation.bump());
  readiness.onChange(() => generation.bump());
  return {
    readiness,
    registry,
    geoip,
    prober,
    degraded: new DegradedLog(logger.child({ module: 'dns' })),
    context,
    contextFor,
    generation,
    draws,
    answerCache: config.dns.answerCache.enabled
      ? new AnswerCache({ maxEntries: config.dns.answerCache.maxEntries, maxBytes: config.dns.answerCache.maxBytes })
      : undefined,
  };
}

export function buildForwarder(config: Config, log: Logger, metrics: Metrics, resolvConfPath: string | undefined): Forwarder {
  return new Forwarder({
    upstreams: upstreamsFromConfig(config, log, resolvConfPath),
    allowFrom: config.forward.allowFrom,
    timeoutMs: config.forward.timeoutMs,
    budgetMs: config.forward.budgetMs,
    serveStaleSeconds: config.forward.serveStaleSeconds,
    cache: config.forward.cache,
    maxInFlight: config.forward.maxInFlight,
    forwardClientSubnet: config.forward.forwardClientSubnet,
    logger: log,
    onTry: (upstream, ms) => metrics.observeUpstreamTry(upstream, ms),
  });
}

/** The DNS edge, handing every decoded query to the route (src/route/route.ts). */
export function buildDns(
  config: Config,
  logger: Logger,
  core: Core,
  late: Late,
  forwarder: Forwarder,
  metrics: Metrics,
): { dns: DnsServer; errors: ConsolidatedLog } {
  const dnsLog = logger.child({ module: 'dns' });
  // Errors of the DNS edge are consolidated like CoreDNS `errors { consolidate 10s }`.
  const errors = new ConsolidatedLog(dnsLog);
  const queryLog = config.log.queries.enabled
    ? new QueryLog({
        sampleRate: config.log.queries.sampleRate,
        logger: logger.child({ module: 'query' }),
        localCluster: config.cluster.name,
      })
    : undefined;
  const handler = createRouter({
    context: core.context,
    contextFor: config.locality.ecs ? core.contextFor : undefined,
    forward: forwarder,
    selfTest: { prefix: SELF_TEST_LABEL_PREFIX, note: (name, client) => late.selfTest?.noteQuery(name, client) },
    onDegraded: (name) => core.degraded.note(name),
    recordBudget: (req) => answerRecordBudget(req.transport, req.edns, req.rawQuestion.length),
    answerCache: core.answerCache ? { cache: core.answerCache, generation: () => core.generation.value } : undefined,
    ecsEcho: config.locality.ecs,
    draws: core.draws,
    rotate: config.dns.rotate,
  });
  const dns = createDnsServer({
    listen: config.dns.listen,
    logger: { debug: (o, m) => dnsLog.debug(o, m), warn: (o, m) => errors.warn(o, m), error: (o, m) => errors.error(o, m) },
    ecsEnabled: config.locality.ecs,
    observer: {
      observe: (event) => {
        const answeredFrom = metrics.observeQuery(event);
        queryLog?.log(event, answeredFrom);
      },
    },
    limits: {
      tcpIdleTimeoutMs: config.dns.tcp.idleTimeoutMs,
      tcpMessageTimeoutMs: config.dns.tcp.messageTimeoutMs,
      maxTcpConnections: config.dns.tcp.maxConnections,
      maxTcpConnectionsPerClient: config.dns.tcp.maxConnectionsPerClient,
      maxInFlightPerConnection: config.dns.tcp.maxInFlightPerConnection,
      interfaceRescanMs: config.dns.interfaceRescanMs,
    },
    handler,
  });
  return { dns, errors };
}

/** /debug, read through the modules at request time (ops/debug-endpoints.ts). */
export function buildDebug(config: Config, core: Core, late: Late, forwarder: Forwarder): DebugEndpoints {
  const { registry, geoip, prober, degraded } = core;
  return createDebugEndpoints(
    {
      registry,
      local: () => ({
        cluster: config.cluster.name,
        region: config.cluster.region,
        zone: config.cluster.zone,
        location: config.cluster.location,
        gateways: late.localGateways,
        gatewaysFrom: config.cluster.gatewayService
          ? `service ${config.cluster.gatewayService.namespace}/${config.cluster.gatewayService.name}`
          : 'cluster.gateways',
        // geoip-lite (about 150 MB): loaded yet, and how long the load took (gsdns_geoip_loaded).
        geoip: { loaded: geoip.loaded, loadMs: geoip.loadMs, preload: config.locality.geoipPreload },
        // source.kubernetes.staleAfterSeconds: the local data lags the API server (peers are told).
        sourceStale: late.kubernetes?.isStale() === true,
      }),
      source: () =>
        late.kubernetes
          ? { type: 'kubernetes', ...late.kubernetes.status(), remotesFile: late.source?.status() }
          : { type: 'file', ...late.source?.status() },
      sync: () => late.sync?.status(),
      health: () =>
        prober
          ? { probe: config.health.probe, gateways: prober.status(), failOpenAnswers: degraded.count }
          : { probe: 'none', failOpenAnswers: degraded.count },
      forward: forwarder,
      allowFrom: config.forward.allowFrom,
      selfTest: () => late.selfTest,
      context: core.context,
      // Without locality.ecs a subnet changes nothing, as in DNS.
      contextFor: config.locality.ecs ? core.contextFor : () => core.context,
      fileOrigin: FILE_ORIGIN,
      traffic: { cluster: config.cluster.name, weight: config.cluster.weight, policy: config.dns.policy },
    },
    encodeQuestion,
  );
}

export function buildOps(config: Config, logger: Logger, core: Core, debug: DebugEndpoints, metrics: Metrics): OpsServer {
  return new OpsServer({
    address: config.http.listen.address,
    port: config.http.listen.port,
    readiness: () => core.readiness.report(),
    // http.debug: on the ops listener (listen null), on a listener of its own, or nowhere.
    debug: config.http.debug.enabled ? { endpoints: debug, listen: config.http.debug.listen } : undefined,
    limits: {
      maxConnections: config.http.maxConnections,
      idleTimeoutMs: config.http.idleTimeoutMs,
      headersTimeoutMs: config.http.headersTimeoutMs,
    },
    logger: logger.child({ module: 'http' }),
    routes: {
      '/metrics': async (_req, res) => {
        const { contentType, body } = await metrics.render();
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
      },
    },
  });
}

export function buildMetrics(
  config: Config,
  core: Core,
  late: Late,
  edges: { dns?: DnsServer; forwarder?: Forwarder; ops?: OpsServer },
  build: BuildInfo | undefined,
): Metrics {
  const { registry, prober, degraded, geoip, answerCache } = core;
  // Declared before the modules it observes; every source is read at scrape time.
  return createMetrics(
    {
      dnsEdge: () => edges.dns!.stats(),
      forward: () => edges.forwarder!.stats(),
      registry: () => ({
        local: registry.localServices().length,
        remote: registry.remoteCatalogs().reduce((n, c) => n + c.services.length, 0),
      }),
      sync: () => late.sync?.status(),
      health: () => prober?.stats(),
      kubernetes: () => late.kubernetes?.status(),
      stubWiring: () => late.stubWiring,
      failOpenAnswers: () => degraded.count,
      http: () => edges.ops!.stats(),
      geoipLoaded: () => geoip.loaded,
      answerCache: answerCache ? () => answerCache.stats() : undefined,
    },
    {
      sync: config.sync !== undefined,
      health: prober !== undefined,
      kubernetes: config.source.type === 'kubernetes',
      selfTest: config.selfTest.enabled,
    },
    build ?? { version: PACKAGE_VERSION, nodeVersion: process.version },
  );
}

/** The one "gsdns serving" line: every listener and upstream. */
export function logServing(
  config: Config,
  logger: Logger,
  dns: DnsServer,
  dnsAddresses: readonly { address: string; port: number }[],
  listeners: { http: AddressInfo; debugHttp: AddressInfo | undefined; sync: AddressInfo | undefined },
  forwarder: Forwarder,
): void {
  const { http, debugHttp, sync } = listeners;
  logger.info(
    {
      dns: dnsAddresses,
      // Under a wildcard, UDP is bound per local address (the reply leaves from the asked address).
      dnsUdp: dns.udpAddresses().filter((u) => u.addresses.length !== 1 || u.addresses[0] !== u.listen),
      http: `${http.address}:${http.port}`,
      debug: debugHttp ? `${debugHttp.address}:${debugHttp.port}` : config.http.debug.enabled ? 'on the ops listener' : 'off',
      sync: sync ? `${sync.address}:${sync.port}` : undefined,
      cluster: config.cluster.name,
      upstreams: forwarder.upstreams().map((u) => u.label),
    },
    'gsdns serving',
  );
}
