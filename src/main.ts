/**
 * Composition root: config → build the graph → start → signals → ordered shutdown (STYLE.md).
 *
 * Owns: wiring the adapters (file or Kubernetes source, forwarder, DNS edge, ops HTTP) around the pure core (registry,
 * answer). Never: contains protocol or answer logic of its own.
 * Invariants: the DNS listeners are up before the source loads, so a bad catalog at start still
 * yields SERVFAIL in-zone (not a refused port); shutdown goes not-ready first, then closes the
 * listeners in reverse start order.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/index.js';
import { flushLogs, type Logger } from './log.js';
import { Registry } from './registry/registry.js';
import { answer } from './answer/answer.js';
import type { AnswerContext, AnswerOptions, ClientLocality, GatewayHealth } from './answer/types.js';
import { createDnsServer } from './dns/server.js';
import { FileSource, FILE_ORIGIN } from './sources/file.js';
// Type only: client-node (about 75 MB of RSS) is imported only when source.type is kubernetes.
import type { KubernetesSource } from './sources/kubernetes/informers.js';
import type { Gateway } from './registry/types.js';
import { SyncService, syncDescriptorReserve } from './sync/service.js';
import { Readiness } from './health/readiness.js';
import { OpsServer, type DebugEndpoints } from './ops/http.js';
import { parseType } from './ops/presentation.js';
import { describeDecision, describeForward } from './ops/describe.js';
import { Forwarder } from './forward/forwarder.js';
import { isSelf, parseResolvConf, resolveUpstreams, type Upstream } from './forward/upstreams.js';
import { RESOLV_CONF } from './util/formats.js';
import type { DnsRequest } from './dns/types.js';
import { answerRecordBudget, encodeQuestion } from './dns/wire.js';
import { GatewayProber } from './health/prober.js';
import { EcsClient, LazyGeoip } from './locality/geoip.js';
import { DegradedLog } from './ops/degraded-log.js';
import { ipFamily } from './util/ip.js';
import { Metrics, type BuildInfo } from './ops/metrics.js';
import { QueryLog } from './ops/query-log.js';
import { ConsolidatedLog } from './ops/consolidated-log.js';
import { SelfTest, SELF_TEST_LABEL_PREFIX, type ExpectedReply } from './ops/self-test.js';
import { RRType } from './answer/types.js';

export { describeDecision } from './ops/describe.js';

/** Until gateway probing exists, every gateway's health is "unknown", which counts as healthy. */
export const catalogOnlyHealth: GatewayHealth = {
  isHealthy: () => undefined,
  rttMs: () => undefined,
};

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

export function answerOptions(config: Config): AnswerOptions {
  return {
    zones: config.dns.zones,
    ttlSeconds: config.dns.ttl,
    negativeTtlSeconds: config.dns.negativeTtl,
    degradedTtlSeconds: config.dns.degradedTtl,
    maxAnswers: config.dns.maxAnswers,
    policy: config.dns.policy,
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

/** `a.b.c.d/len` or `v6/len` (the client subnet of /debug/resolve?subnet=), or undefined. */
function parseSubnet(text: string): { address: string; sourcePrefix: number } | undefined {
  const [address = '', len = ''] = text.split('/');
  const family = ipFamily(address);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  const sourcePrefix = len === '' ? max : Number(len);
  if (!Number.isInteger(sourcePrefix) || sourcePrefix < 0 || sourcePrefix > max) return undefined;
  return { address, sourcePrefix };
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

/** A question as a DNS client would send it, for resolving from /debug/resolve. */
function debugRequest(question: { name: string; type: number; class: number }, client: string): DnsRequest {
  const raw = encodeQuestion(question.name, question.type, question.class);
  return {
    id: 0,
    question,
    rawQuestion: raw,
    flags: { rd: true, ad: false, cd: false },
    edns: { udpPayloadSize: 1232, version: 0, dnssecOk: false, options: [] },
    transport: 'tcp',
    client: { address: client, port: 0, family: client.includes(':') ? 'IPv6' : 'IPv4' },
  };
}

export interface StartOptions {
  /** Overrides /etc/resolv.conf (tests). */
  readonly resolvConfPath?: string | undefined;
  /** gsdns_build_info labels; default: the package version and this Node.js. */
  readonly build?: BuildInfo | undefined;
}

/** selfTest.resolver, or the first nameserver of resolv.conf; undefined (logged) when there is none. */
function selfTestResolver(config: Config, logger: Logger, resolvConfPath = RESOLV_CONF_PATH): Upstream | undefined {
  if (config.selfTest.resolver !== null) return resolveUpstreams([config.selfTest.resolver], undefined)[0];
  try {
    const first = resolveUpstreams([RESOLV_CONF], parseResolvConf(readFileSync(resolvConfPath, 'utf8')))[0];
    if (!first) logger.warn({ file: resolvConfPath }, 'self-test: resolv.conf names no usable nameserver; set selfTest.resolver');
    return first;
  } catch (err) {
    logger.warn({ err, file: resolvConfPath }, 'self-test: cannot read resolv.conf; set selfTest.resolver');
    return undefined;
  }
}

/** The version in package.json (gsdns --version, gsdns_build_info). */
export const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function startGsdns(config: Config, logger: Logger, startOptions: StartOptions = {}): Promise<RunningServer> {
  const readiness = new Readiness();
  const registry = new Registry({
    initialSerial: Math.floor(Date.now() / 1000),
    localCluster: config.cluster.name,
    originPrecedence: config.sync?.remotePrecedence,
  });
  const options = answerOptions(config);
  const client = localClient(config);
  const geoip = new LazyGeoip(logger.child({ module: 'geoip' }));
  // locality.geoipPreload (on in the Helm chart): pay the ~150 MB and ~0.2 s at start, not on a query.
  if (config.locality.geoipPreload) geoip.preload();
  // health.probe.type none: every gateway counts as healthy (documentation addresses, tests).
  const probeSpec = config.health.probe;
  const prober =
    probeSpec.type === 'none'
      ? undefined
      : new GatewayProber({
          intervalMs: config.health.intervalMs,
          timeoutMs: config.health.timeoutMs,
          fall: config.health.fall,
          rise: config.health.rise,
          probe: probeSpec,
          logger: logger.child({ module: 'health' }),
          onProbe: (clusters, ms, ok) => metrics.observeProbe(clusters, ms, ok),
        });
  const health: GatewayHealth = prober ?? catalogOnlyHealth;

  // One context for every query; readiness is read at query time through the getter.
  const context: AnswerContext = {
    options,
    registry,
    health,
    client,
    get sourceReady() {
      return readiness.isReady('source');
    },
    get localStale() {
      return kubernetes?.isStale() === true;
    },
    locateCluster: (catalog) => geoip.locateCluster(catalog),
  };
  const degraded = new DegradedLog(logger.child({ module: 'dns' }));
  let source: FileSource | undefined;
  let kubernetes: KubernetesSource | undefined;
  let sync: SyncService | undefined;
  let syncAddress: AddressInfo | undefined;
  let localGateways: readonly Gateway[] = config.cluster.gateways;
  let selfTest: SelfTest | undefined;
  let stubWiring: 0 | 1 | undefined;

  /**
   * The context for one query with ECS: the subnet, once geolocated, is where the client is. The
   * lookup is lazy (EcsClient): the answer core reads the location only to rank remote clusters
   * (or to explain), so out-of-zone names, refused clients and local or negative answers never
   * load geoip-lite. Unplaceable subnets fall back to this cluster's locality (SPEC §3).
   */
  const contextFor = (ecs: { readonly address: string; readonly sourcePrefix: number }): AnswerContext => {
    if (!config.locality.ecs) return context;
    // The spread reads the sourceReady getter once: this context lives for one query.
    return { ...context, client: new EcsClient(geoip, ecs, client) };
  };

  const forwardLog = logger.child({ module: 'forward' });
  // Declared before the modules it observes; every source is read at scrape time.
  let forwarder: Forwarder;
  let dns: ReturnType<typeof createDnsServer>;
  let ops: OpsServer;
  const metrics = new Metrics(
    {
      dnsEdge: () => dns.stats(),
      forward: () => forwarder.stats(),
      registry: () => ({
        local: registry.localServices().length,
        remote: registry.remoteCatalogs().reduce((n, c) => n + c.services.length, 0),
      }),
      sync: () => sync?.status(),
      health: () => prober?.stats(),
      kubernetes: () => kubernetes?.status(),
      stubWiring: () => stubWiring,
      failOpenAnswers: () => degraded.count,
      http: () => ops.stats(),
      geoipLoaded: () => geoip.loaded,
    },
    { sync: config.sync !== undefined, health: prober !== undefined, kubernetes: config.source.type === 'kubernetes', selfTest: config.selfTest.enabled },
    startOptions.build ?? { version: PACKAGE_VERSION, nodeVersion: process.version },
  );
  forwarder = new Forwarder({
    upstreams: upstreamsFromConfig(config, forwardLog, startOptions.resolvConfPath),
    allowFrom: config.forward.allowFrom,
    timeoutMs: config.forward.timeoutMs,
    budgetMs: config.forward.budgetMs,
    serveStaleSeconds: config.forward.serveStaleSeconds,
    cache: config.forward.cache,
    maxInFlight: config.forward.maxInFlight,
    forwardClientSubnet: config.forward.forwardClientSubnet,
    logger: forwardLog,
    onTry: (upstream, ms) => metrics.observeUpstreamTry(upstream, ms),
  });

  const dnsLog = logger.child({ module: 'dns' });
  // Errors of the DNS edge are consolidated like CoreDNS `errors { consolidate 10s }`.
  const dnsErrors = new ConsolidatedLog(dnsLog);
  const queryLog = config.log.queries.enabled
    ? new QueryLog({ sampleRate: config.log.queries.sampleRate, logger: logger.child({ module: 'query' }), localCluster: config.cluster.name })
    : undefined;
  dns = createDnsServer({
    listen: config.dns.listen,
    logger: { debug: (o, m) => dnsLog.debug(o, m), warn: (o, m) => dnsErrors.warn(o, m), error: (o, m) => dnsErrors.error(o, m) },
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
    // The hot path skips building explanations; /debug/resolve asks for them. Only a name outside
    // every zone, from an allowed client, goes to the forwarder (SPEC §1: in-zone never leaks).
    handler: (req) => {
      // The stub-wiring self-test's names start with "_" (0x5f); one comparison on the hot path.
      if (selfTest && req.question.name.charCodeAt(0) === 0x5f && req.question.name.startsWith(SELF_TEST_LABEL_PREFIX)) {
        selfTest.noteQuery(req.question.name, req.client.address);
      }
      // Cheapest checks first (SPEC §6): answer() matches the zone and the class before anything
      // else, and reads the ECS client's location only when it ranks remote clusters; the ACL is
      // one prefix match. Only IN-class, non-transfer names outside every zone come back as
      // outOfZone, and only those are forwarded, for allowed clients.
      const decision = answer(req.question, req.edns?.ecs ? contextFor(req.edns.ecs) : context, { explain: false, maxRecords: answerRecordBudget(req.transport, req.edns, req.rawQuestion.length) });
      if (decision.kind === 'degraded') degraded.note(req.question.name);
      if (decision.kind !== 'outOfZone' || !forwarder.allows(req.client.address)) return decision;
      return forwarder.resolve(req);
    },
  });

  const debug: DebugEndpoints = {
    services: () => ({
      serial: registry.serial(),
      local: registry.localServices(),
      remote: registry.remoteCatalogs().map((c) => ({
        cluster: c.cluster,
        services: c.services,
      })),
    }),
    source: () =>
      kubernetes
        ? { type: 'kubernetes', ...kubernetes.status(), remotesFile: source?.status() }
        : { type: 'file', ...source?.status() },
    clusters: () => {
      const syncStatus = sync?.status();
      return {
      local: {
        cluster: config.cluster.name,
        region: config.cluster.region,
        zone: config.cluster.zone,
        location: config.cluster.location,
        gateways: localGateways,
        gatewaysFrom: config.cluster.gatewayService
          ? `service ${config.cluster.gatewayService.namespace}/${config.cluster.gatewayService.name}`
          : 'cluster.gateways',
        // geoip-lite (about 150 MB): loaded yet, and how long the load took (gsdns_geoip_loaded).
        geoip: { loaded: geoip.loaded, loadMs: geoip.loadMs, preload: config.locality.geoipPreload },
        // source.kubernetes.staleAfterSeconds: the local data lags the API server (peers are told).
        sourceStale: kubernetes?.isStale() === true,
      },
      remote: registry.remoteCatalogs().map((c) => ({
        cluster: c.cluster,
        // One owner per cluster (sync.remotePrecedence); the other source's catalog waits aside.
        owner: registry.remoteOrigin(c.cluster) ?? FILE_ORIGIN,
        shadowed: registry.remoteShadows(c.cluster).map((x) => ({ origin: x.origin, services: x.catalog.services.length })),
        fresh: registry.remoteFresh(c.cluster),
        sourceStale: c.sourceStale === true,
        region: c.region,
        zone: c.zone,
        location: c.location,
        gateways: c.gateways,
        services: c.services.length,
        peer: syncStatus?.peers.find((p) => p.peer === c.cluster),
      })),
      // Every configured peer, including those with no catalog (connecting, rejected, withdrawn).
      sync: syncStatus,
      // Every probed gateway: status, RTT (EWMA), last error, which clusters list it.
      health: prober ? { probe: config.health.probe, gateways: prober.status(), failOpenAnswers: degraded.count } : { probe: 'none', failOpenAnswers: degraded.count },
      };
    },
    forward: () => ({
      allowFrom: config.forward.allowFrom,
      ...forwarder.stats(),
    }),
    selfTest: () => (selfTest ? { enabled: true, ...selfTest.status() } : { enabled: false, hint: 'set selfTest.enabled: true (on in the Helm chart)' }),
    runSelfTest: async () => {
      // 409: there is nothing to run, which a caller asking for a run must not mistake for a verdict.
      if (!selfTest) return { status: 409, body: { enabled: false, hint: 'set selfTest.enabled: true (on in the Helm chart)' } };
      return { status: 200, body: { enabled: true, ...(await selfTest.runOnce()) } };
    },
    resolve: async ({ name, type, subnet, client }) => {
      const qtype = parseType(type);
      if (qtype === undefined) return { status: 400, body: { error: `unknown type "${type}"` } };
      const qname = name.toLowerCase().replace(/\.$/, '');
      const question = { name: qname, type: qtype, class: 1 };
      let ctx = context;
      if (subnet) {
        const parsed = parseSubnet(subnet);
        if (!parsed) return { status: 400, body: { error: `invalid subnet "${subnet}"; use e.g. 81.2.69.0/24 or 2001:db8::/48` } };
        ctx = contextFor(parsed);
      }
      const decision = answer(question, ctx, { explain: true });
      // Out-of-zone names are really resolved (through the cache), for clients allowed to.
      if (decision.kind === 'outOfZone' && forwarder.allows(client, { count: false })) {
        let request: DnsRequest;
        try {
          request = debugRequest(question, client);
        } catch (err) {
          return { status: 400, body: { error: `invalid name "${name}": ${(err as Error).message}` } };
        }
        const result = await forwarder.resolve(request);
        return { status: 200, body: describeForward(question, result, forwarder.stats().upstreams) };
      }
      return { status: 200, body: describeDecision(question, decision) };
    },
  };

  ops = new OpsServer({
    address: config.http.listen.address,
    port: config.http.listen.port,
    readiness: () => readiness.report(),
    // http.debug: on the ops listener (listen null), on a listener of its own, or nowhere.
    debug: config.http.debug.enabled ? { endpoints: debug, listen: config.http.debug.listen } : undefined,
    limits: { maxConnections: config.http.maxConnections, idleTimeoutMs: config.http.idleTimeoutMs, headersTimeoutMs: config.http.headersTimeoutMs },
    logger: logger.child({ module: 'http' }),
    routes: {
      '/metrics': async (_req, res) => {
        const { contentType, body } = await metrics.render();
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
      },
    },
  });

  // DNS first: a catalog that fails to load must still give SERVFAIL, not a closed port.
  const dnsAddresses = await dns.start();
  const loops = forwarder.upstreams().filter((u) => isSelf(u, dnsAddresses));
  for (const u of loops) forwardLog.error({ upstream: u.label }, 'upstream is this server itself (a forwarding loop); it is not used');
  forwarder.exclude(loops);
  if (forwarder.upstreams().length === 0) forwardLog.warn('no usable upstream: names outside the zones get SERVFAIL');
  let http: AddressInfo;
  let debugHttp: AddressInfo | undefined;
  try {
    http = await ops.start();
    debugHttp = ops.debugAddress();
    if (config.source.type === 'file') {
      source = new FileSource({ path: config.source.file.path, registry, readiness, logger: logger.child({ module: 'source' }), localCluster: config.cluster.name });
      await source.start();
    } else {
      const sourceLog = logger.child({ module: 'kubernetes' });
      const { KubernetesSource } = await import('./sources/kubernetes/informers.js');
      kubernetes = new KubernetesSource({
        kubeconfig: config.source.kubernetes.kubeconfig,
        namespaces: config.source.kubernetes.namespaces,
        exportSelector: config.source.kubernetes.exportSelector,
        watchdogSeconds: config.source.kubernetes.watchdogSeconds,
        staleAfterSeconds: config.source.kubernetes.staleAfterSeconds,
        onStaleChange: () => sync?.sourceStaleChanged(),
        gatewayService: config.cluster.gatewayService,
        onGateways: (gateways) => {
          localGateways = gateways;
          sync?.gatewaysChanged();
        },
        onProgrammed: (seconds) => metrics.observeProgramming(seconds),
        registry,
        readiness,
        logger: sourceLog,
      });
      kubernetes.start();
      // Static peer catalogs until sync exists: only the file's `remotes:` (component "remotes").
      if (config.source.file) {
        source = new FileSource({
          path: config.source.file.path,
          registry,
          readiness,
          logger: logger.child({ module: 'remotes' }),
          localServices: false,
          component: 'remotes',
          localCluster: config.cluster.name,
        });
        await source.start();
      }
    }
    if (config.sync) {
      sync = new SyncService({
        config: config.sync,
        identity: { cluster: config.cluster.name, region: config.cluster.region, zone: config.cluster.zone, location: config.cluster.location },
        registry,
        gateways: () => localGateways,
        localSourceStale: () => kubernetes?.isStale() === true,
        logger: logger.child({ module: 'sync' }),
        // The sync port stops accepting before it could take descriptors DNS and forwarding need.
        descriptorReserve: syncDescriptorReserve(config),
      });
      syncAddress = await sync.start();
    }
  } catch (err) {
    await sync?.stop();
    source?.stop();
    await kubernetes?.stop();
    forwarder.close();
    await ops.close();
    await dns.close();
    throw err;
  }
  const stopFollowing = prober?.follow(registry);
  if (config.selfTest.enabled) {
    const selfTestLog = logger.child({ module: 'selftest' });
    const resolver = selfTestResolver(config, selfTestLog, startOptions.resolvConfPath);
    const zone = config.dns.zones[0]!;
    // What gsdns answers for a self-test name, as if synced: the resolver's reply must match it.
    const expected = (name: string): ExpectedReply => {
      const d = answer({ name, type: RRType.A, class: 1 }, { ...context, sourceReady: true }, { explain: false });
      const soa = d.authority.find((rr) => rr.data.type === RRType.SOA)?.data;
      return { rcode: d.rcode, soa: soa?.type === RRType.SOA ? { mname: soa.mname, rname: soa.rname } : undefined };
    };
    const report = (detail: string): void => readiness.set('stubWiring', { ready: true, detail, sinceMs: Date.now() });
    if (resolver) {
      selfTest = new SelfTest({
        zone,
        resolver,
        intervalMs: config.selfTest.intervalSeconds * 1000,
        timeoutMs: config.selfTest.timeoutMs,
        expected,
        logger: selfTestLog,
        onResult: (ok) => {
          stubWiring = ok ? 1 : 0;
          metrics.observeSelfTest(ok);
          report(`${ok ? 'ok' : 'FAILING'}: ${selfTest!.status().reason}`);
        },
      });
      report('not run yet');
      selfTest.start();
    } else {
      report('FAILING: no resolver to test through (set selfTest.resolver)');
      stubWiring = 0;
    }
  }
  logger.info(
    {
      dns: dnsAddresses,
      // Under a wildcard, UDP is bound per local address (the reply leaves from the asked address).
      dnsUdp: dns.udpAddresses().filter((u) => u.addresses.length !== 1 || u.addresses[0] !== u.listen),
      http: `${http.address}:${http.port}`,
      debug: debugHttp ? `${debugHttp.address}:${debugHttp.port}` : config.http.debug.enabled ? 'on the ops listener' : 'off',
      sync: syncAddress ? `${syncAddress.address}:${syncAddress.port}` : undefined,
      cluster: config.cluster.name,
      upstreams: forwarder.upstreams().map((u) => u.label),
    },
    'gsdns serving',
  );

  let closing: Promise<void> | undefined;
  return {
    dns: dnsAddresses,
    http,
    debugHttp,
    registry,
    readiness,
    forwarder,
    kubernetes,
    sync,
    syncAddress,
    prober,
    geoip,
    degraded,
    metrics,
    selfTest,
    localGateways: () => localGateways,
    reloadFiles: async () => {
      sync?.checkTlsFiles();
      await source?.reload('SIGHUP');
    },
    close: () => {
      closing ??= (async () => {
        readiness.beginShutdown();
        selfTest?.stop();
        stopFollowing?.();
        prober?.stop();
        await sync?.stop();
        source?.stop();
        await kubernetes?.stop();
        await dns.close();
        forwarder.close();
        await ops.close();
        dnsErrors.close();
      })();
      return closing;
    },
  };
}

/**
 * `unhandledRejection` and `uncaughtException` mean a bug left the process in an unknown state:
 * log at fatal and exit non-zero, so Kubernetes restarts the pod (SPEC §5). Returns the handler.
 */
export function fatalHandler(logger: Pick<Logger, 'fatal'>, exit: (code: number) => void): (what: 'uncaughtException' | 'unhandledRejection', err: unknown) => void {
  return (what, err) => {
    logger.fatal({ err, event: what }, `${what === 'uncaughtException' ? 'uncaught exception' : 'unhandled promise rejection'}; exiting so the pod restarts`);
    exit(70); // EX_SOFTWARE
  };
}

/**
 * `gsdns serve`: start; on SIGTERM/SIGINT go not-ready at once, keep answering for
 * shutdown.lameDuckSeconds (endpoints and CoreDNS move away meanwhile), then close in order and
 * exit 0. A second signal exits at once (code 1).
 */
export async function runServer(config: Config, logger: Logger, meta: { configFile: string }): Promise<void> {
  logger.info({ config: meta.configFile }, 'starting gsdns');
  const onFatal = fatalHandler(logger, (code) => {
    void flushLogs().finally(() => process.exit(code));
  });
  process.on('uncaughtException', (err) => onFatal('uncaughtException', err));
  process.on('unhandledRejection', (err) => onFatal('unhandledRejection', err));
  // Handlers go in before anything starts: a signal that arrives while starting (or right after
  // the "serving" line, before this function resumes) must still mean an orderly exit 0.
  let running: RunningServer | undefined;
  let signalled: string | undefined;
  const lameDuckMs = config.shutdown.lameDuckSeconds * 1000;
  const stop = (): void => {
    if (!running || !signalled) return;
    const server = running;
    // Step 1: /readyz is 503 from now on, while every listener keeps serving.
    server.readiness.beginShutdown();
    logger.info({ signal: signalled, lameDuckSeconds: config.shutdown.lameDuckSeconds }, 'shutting down: not ready, still answering during lame duck');
    setTimeout(() => {
      logger.info('lame duck over: closing listeners');
      server
        .close()
        .then(() => {
          logger.info('stopped');
          return flushLogs().then(() => process.exit(0));
        })
        .catch((err: unknown) => {
          logger.error({ err }, 'error during shutdown');
          void flushLogs().finally(() => process.exit(1));
        });
    }, lameDuckMs);
  };
  const onSignal = (signal: string): void => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting at once');
      void flushLogs(250).finally(() => process.exit(1));
      return;
    }
    signalled = signal;
    stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // SIGHUP reloads files, as BIND's does; Node's default for it would end the process.
  process.on('SIGHUP', () => {
    if (!running || signalled) return;
    logger.info('SIGHUP: re-reading the catalog file and the sync TLS files (the config file is read only at start)');
    running.reloadFiles().catch((err: unknown) => logger.error({ err }, 'SIGHUP reload failed'));
  });
  running = await startGsdns(config, logger);
  stop();
}
