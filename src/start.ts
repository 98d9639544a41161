/**
 * The composition root's starters (with src/build.ts, whose builders run first): the modules that
 * start after the DNS listeners are up, in the order src/main.ts calls them: the local source (the
 * catalog file, or Kubernetes with the file's `remotes:` beside it), sync, and the self-test.
 *
 * Owns: what each of them is given, and how their events reach the core (generation bumps,
 * gateways, staleness) through `Late`. Never: contains protocol or answer logic of its own; starts
 * anything main.ts did not ask for.
 * Invariants: client-node (about 75 MB of RSS) is imported only when `source.type` is kubernetes;
 * a module that is not configured is not constructed (its `Late` field stays undefined).
 */
import { readFileSync } from 'node:fs';
import type { Config } from './config/index.js';
import type { Logger } from './log.js';
import { answer } from './answer/answer.js';
import { RRType } from './answer/types.js';
import { FileSource } from './sources/file.js';
import { SyncService, syncDescriptorReserve } from './sync/service.js';
import { parseResolvConf, resolveUpstreams, type Upstream } from './forward/upstreams.js';
import { RESOLV_CONF } from './util/formats.js';
import type { Metrics } from './ops/metrics.js';
import { SelfTest, type ExpectedReply } from './ops/self-test.js';
import { RESOLV_CONF_PATH, type Core, type Late } from './build.js';

/** selfTest.resolver, or the first nameserver of resolv.conf; undefined (logged) when there is none. */
export function selfTestResolver(config: Config, logger: Logger, resolvConfPath = RESOLV_CONF_PATH): Upstream | undefined {
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

/** The local source: the catalog file, or Kubernetes (with the file's `remotes:` beside it). */
export async function startSource(config: Config, logger: Logger, core: Core, late: Late, metrics: Metrics): Promise<void> {
  const { registry, readiness } = core;
  if (config.source.type === 'file') {
    late.source = new FileSource({
      path: config.source.file.path,
      registry,
      readiness,
      logger: logger.child({ module: 'source' }),
      localCluster: config.cluster.name,
    });
    await late.source.start();
    return;
  }
  // client-node (about 75 MB of RSS) is imported only when source.type is kubernetes.
  const { KubernetesSource } = await import('./sources/kubernetes/informers.js');
  late.kubernetes = new KubernetesSource({
    kubeconfig: config.source.kubernetes.kubeconfig,
    namespaces: config.source.kubernetes.namespaces,
    exportSelector: config.source.kubernetes.exportSelector,
    watchdogSeconds: config.source.kubernetes.watchdogSeconds,
    staleAfterSeconds: config.source.kubernetes.staleAfterSeconds,
    onStaleChange: () => {
      core.generation.bump(); // localStale is part of every local answer's context
      late.sync?.sourceStaleChanged();
    },
    gatewayService: config.cluster.gatewayService,
    onGateways: (gateways) => {
      late.localGateways = gateways;
      late.sync?.gatewaysChanged();
    },
    onProgrammed: (seconds) => metrics.observeProgramming(seconds),
    registry,
    readiness,
    logger: logger.child({ module: 'kubernetes' }),
  });
  late.kubernetes.start();
  // Static peer catalogs beside sync: only the file's `remotes:` (component "remotes").
  if (config.source.file) {
    late.source = new FileSource({
      path: config.source.file.path,
      registry,
      readiness,
      logger: logger.child({ module: 'remotes' }),
      localServices: false,
      component: 'remotes',
      localCluster: config.cluster.name,
    });
    await late.source.start();
  }
}

export async function startSync(config: Config, logger: Logger, core: Core, late: Late): Promise<void> {
  if (!config.sync) return;
  late.sync = new SyncService({
    config: config.sync,
    identity: { cluster: config.cluster.name, region: config.cluster.region, zone: config.cluster.zone, location: config.cluster.location },
    traffic: { weight: config.cluster.weight, policy: config.dns.policy },
    registry: core.registry,
    gateways: () => late.localGateways,
    localSourceStale: () => late.kubernetes?.isStale() === true,
    logger: logger.child({ module: 'sync' }),
    // The sync port stops accepting before it could take descriptors DNS and forwarding need.
    descriptorReserve: syncDescriptorReserve(config),
  });
  late.syncAddress = await late.sync.start();
}

/** selfTest.enabled: query our own zone through the cluster's resolver (ops/self-test.ts). */
export function startSelfTest(
  config: Config,
  logger: Logger,
  core: Core,
  late: Late,
  metrics: Metrics,
  resolvConfPath: string | undefined,
): void {
  if (!config.selfTest.enabled) return;
  const selfTestLog = logger.child({ module: 'selftest' });
  const resolver = selfTestResolver(config, selfTestLog, resolvConfPath);
  const report = (detail: string): void => core.readiness.set('stubWiring', { ready: true, detail, sinceMs: Date.now() });
  if (!resolver) {
    report('FAILING: no resolver to test through (set selfTest.resolver)');
    late.stubWiring = 0;
    return;
  }
  // What gsdns answers for a self-test name, as if synced: the resolver's reply must match it.
  const expected = (name: string): ExpectedReply => {
    const d = answer({ name, type: RRType.A, class: 1 }, { ...core.context, sourceReady: true }, { explain: false });
    const soa = d.authority.find((rr) => rr.data.type === RRType.SOA)?.data;
    return { rcode: d.rcode, soa: soa?.type === RRType.SOA ? { mname: soa.mname, rname: soa.rname } : undefined };
  };
  const selfTest = new SelfTest({
    zone: config.dns.zones[0]!,
    resolver,
    intervalMs: config.selfTest.intervalSeconds * 1000,
    timeoutMs: config.selfTest.timeoutMs,
    expected,
    logger: selfTestLog,
    onResult: (ok) => {
      late.stubWiring = ok ? 1 : 0;
      metrics.observeSelfTest(ok);
      report(`${ok ? 'ok' : 'FAILING'}: ${selfTest.status().reason}`);
    },
  });
  late.selfTest = selfTest;
  report('not run yet');
  selfTest.start();
}
