/**
 * Composition root: config → build the graph → start → signals → ordered shutdown (STYLE.md).
 *
 * Owns: wiring the adapters (file source, DNS edge, ops HTTP) around the pure core (registry,
 * answer). Never: contains protocol or answer logic of its own.
 * Invariants: the DNS listeners are up before the source loads, so a bad catalog at start still
 * yields SERVFAIL in-zone (not a refused port); shutdown goes not-ready first, then closes the
 * listeners in reverse start order.
 */
import type { AddressInfo } from 'node:net';
import type { Config } from './config/index.js';
import type { Logger } from './log.js';
import { Registry } from './registry/registry.js';
import { answer } from './answer/answer.js';
import type { AnswerContext, AnswerOptions, ClientLocality, Decision, GatewayHealth } from './answer/types.js';
import { createDnsServer } from './dns/server.js';
import { FileSource, FILE_ORIGIN } from './sources/file.js';
import { Readiness } from './health/readiness.js';
import { OpsServer, type DebugEndpoints } from './ops/http.js';
import { formatRecord, parseType, rcodeName, typeName } from './ops/presentation.js';

/** Until gateway probing exists, every gateway's health is "unknown", which counts as healthy. */
export const catalogOnlyHealth: GatewayHealth = {
  isHealthy: () => undefined,
  rttMs: () => undefined,
};

export interface RunningServer {
  readonly dns: readonly { readonly address: string; readonly port: number }[];
  readonly http: AddressInfo;
  readonly registry: Registry;
  readonly readiness: Readiness;
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
  };
}

export function localClient(config: Config): ClientLocality {
  return { region: config.cluster.region, zone: config.cluster.zone, location: config.cluster.location };
}

/** The JSON shape of a decision for /debug/resolve and `gsdns explain`. */
export function describeDecision(question: { name: string; type: number }, d: Decision): Record<string, unknown> {
  const lines = [
    `;; ${question.name}. ${typeName(question.type)} → ${rcodeName(d.rcode)} (${d.kind})${d.clusters.length ? ` via ${d.clusters.join(', ')}` : ''}`,
    ...d.explanation.steps.map((s) => `;; ${s}`),
  ];
  for (const c of d.explanation.candidates) {
    const gw = c.gateways.map((g) => `${g.address}:${g.port} ${g.healthy ? 'healthy' : 'UNHEALTHY'}${g.rttMs !== undefined ? ` rtt=${g.rttMs}ms` : ''}`).join(', ');
    lines.push(
      `;;   ${c.kept ? `#${c.order ?? '-'} kept   ` : '  dropped'} ${c.cluster} tier=${c.tier}${c.distanceKm !== undefined ? ` distance=${Math.round(c.distanceKm)}km` : ''} ready=${c.ready} fresh=${c.fresh} [${gw}] — ${c.reason}`,
    );
  }
  if (d.answers.length) lines.push(';; ANSWER', ...d.answers.map(formatRecord));
  if (d.authority.length) lines.push(';; AUTHORITY', ...d.authority.map(formatRecord));
  if (d.additional.length) lines.push(';; ADDITIONAL', ...d.additional.map(formatRecord));
  return {
    question: { name: question.name, type: typeName(question.type) },
    rcode: rcodeName(d.rcode),
    kind: d.kind,
    authoritative: d.authoritative,
    clusters: d.clusters,
    answers: d.answers.map(formatRecord),
    authority: d.authority.map(formatRecord),
    additional: d.additional.map(formatRecord),
    explanation: d.explanation,
    text: lines.join('\n'),
  };
}

/** Configured features this build validates but does not act on yet (README "Configuration reference"). */
export function notYetEffective(config: Config): string[] {
  const notes: string[] = [];
  if (config.sync) notes.push('sync is configured but peer sync is not in this build; remote clusters come from the catalog file only');
  if (config.log.queries.enabled) notes.push('log.queries.enabled is set but the query log is not in this build');
  return notes;
}

export async function startGsdns(config: Config, logger: Logger): Promise<RunningServer> {
  const readiness = new Readiness();
  const registry = new Registry({ initialSerial: Math.floor(Date.now() / 1000) });
  const options = answerOptions(config);
  const client = localClient(config);
  const health = catalogOnlyHealth;

  // One context for every query; readiness is read at query time through the getter.
  const context: AnswerContext = {
    options,
    registry,
    health,
    client,
    get sourceReady() {
      return readiness.isReady('source');
    },
  };

  const dnsLog = logger.child({ module: 'dns' });
  const dns = createDnsServer({
    listen: config.dns.listen,
    logger: dnsLog,
    ecsEnabled: config.locality.ecs,
    limits: {
      tcpIdleTimeoutMs: config.dns.tcp.idleTimeoutMs,
      maxTcpConnections: config.dns.tcp.maxConnections,
      maxTcpConnectionsPerClient: config.dns.tcp.maxConnectionsPerClient,
      maxInFlightPerConnection: config.dns.tcp.maxInFlightPerConnection,
    },
    // The hot path skips building explanations; /debug/resolve asks for them.
    handler: (req) => answer(req.question, context, { explain: false }),
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
    clusters: () => ({
      local: { cluster: config.cluster.name, region: config.cluster.region, zone: config.cluster.zone, location: config.cluster.location, gateways: config.cluster.gateways },
      remote: registry.remoteCatalogs().map((c) => ({
        cluster: c.cluster,
        origin: FILE_ORIGIN,
        region: c.region,
        zone: c.zone,
        location: c.location,
        gateways: c.gateways,
        services: c.services.length,
      })),
    }),
    resolve: ({ name, type }) => {
      const qtype = parseType(type);
      if (qtype === undefined) return { status: 400, body: { error: `unknown type "${type}"` } };
      const qname = name.toLowerCase().replace(/\.$/, '');
      const question = { name: qname, type: qtype, class: 1 };
      return { status: 200, body: describeDecision(question, answer(question, context, { explain: true })) };
    },
  };

  const ops = new OpsServer({
    address: config.http.listen.address,
    port: config.http.listen.port,
    readiness: () => readiness.report(),
    debug,
    logger: logger.child({ module: 'http' }),
  });

  // DNS first: a catalog that fails to load must still give SERVFAIL, not a closed port.
  const dnsAddresses = await dns.start();
  let source: FileSource | undefined;
  let http: AddressInfo;
  try {
    http = await ops.start();
    if (config.source.type === 'file') {
      source = new FileSource({ path: config.source.file.path, registry, readiness, logger: logger.child({ module: 'source' }) });
      await source.start();
    } else {
      readiness.set('source', { ready: false, detail: `source type "${config.source.type}" is not implemented in this build` });
      logger.error({ type: config.source.type }, 'source type not implemented; in-zone answers are SERVFAIL');
    }
  } catch (err) {
    source?.stop();
    await ops.close();
    await dns.close();
    throw err;
  }
  for (const note of notYetEffective(config)) logger.warn(note);
  logger.info({ dns: dnsAddresses, http: `${http.address}:${http.port}`, cluster: config.cluster.name }, 'gsdns serving');

  let closing: Promise<void> | undefined;
  return {
    dns: dnsAddresses,
    http,
    registry,
    readiness,
    close: () => {
      closing ??= (async () => {
        readiness.beginShutdown();
        source?.stop();
        await dns.close();
        await ops.close();
      })();
      return closing;
    },
  };
}

/** `gsdns serve`: start, then stop in order on SIGTERM/SIGINT and exit 0. */
export async function runServer(config: Config, logger: Logger, meta: { configFile: string }): Promise<void> {
  logger.info({ config: meta.configFile }, 'starting gsdns');
  // Handlers go in before anything starts: a signal that arrives while starting (or right after
  // the "serving" line, before this function resumes) must still mean an orderly exit 0.
  let running: RunningServer | undefined;
  let signalled: string | undefined;
  const stop = (): void => {
    if (!running || !signalled) return;
    logger.info({ signal: signalled }, 'shutting down');
    running
      .close()
      .then(() => {
        logger.info('stopped');
        logger.flush?.();
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      });
  };
  const onSignal = (signal: string): void => {
    if (signalled) return;
    signalled = signal;
    stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  running = await startGsdns(config, logger);
  stop();
}
