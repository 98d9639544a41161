/**
 * Rules across configuration keys, which a JSON schema cannot say (PURE): zones that nest, limits
 * that contradict each other, peers named twice, listeners that would collide.
 *
 * Owns: each rule, and its message with the key path it is about.
 * Invariants: every rule runs on data that may have failed the schema, so it checks types first and
 * never throws; all rules run, so a bad config gets every error at once.
 */
import { formatPath, type Segment } from '../util/yaml-schema.js';
import { parseLabelSelector } from '../util/label-selector.js';

type Data = Record<string, unknown>;

/** A problem at a key path (the loader adds the source, line and column). */
export interface SchemaProblem {
  readonly segments: readonly Segment[];
  readonly message: string;
}

function asObject(value: unknown): Data | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Data) : undefined;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * Checks across keys, which a schema cannot say. Runs on data that may have failed the schema, so
 * each rule checks types first. Each pushes its problems with their key paths; all
 * run, so a bad config gets every error at once.
 */
export function semanticProblems(data: Data): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  for (const rule of SEMANTIC_RULES) rule(data, problems);
  return problems;
}

/** dns.zones: no duplicates, no zone inside another. */
function zoneRules(data: Data, problems: SchemaProblem[]): void {
  const dns = asObject(data['dns']);
  // Zones: no duplicates, no zone inside another (a name would have two authorities).
  const zones = Array.isArray(dns?.['zones']) ? (dns['zones'] as unknown[]) : [];
  zones.forEach((zone, i) => {
    if (typeof zone !== 'string' || zone === '') return;
    for (let j = 0; j < zones.length; j++) {
      const other = zones[j];
      if (j === i || typeof other !== 'string' || other === '') continue;
      if (other === zone && j < i) {
        problems.push({ segments: ['dns', 'zones', i], message: `duplicates dns.zones[${j}] '${other}'` });
        return;
      }
      if (zone.endsWith(`.${other}`)) {
        problems.push({
          segments: ['dns', 'zones', i],
          message: `'${zone}' is inside zone '${other}' (dns.zones[${j}]); zones must not nest`,
        });
        return;
      }
    }
  });
}

/** dns.degradedTtl ≤ dns.ttl; per-client TCP connections ≤ all TCP connections. */
function dnsLimitRules(data: Data, problems: SchemaProblem[]): void {
  const dns = asObject(data['dns']);
  const ttl = dns?.['ttl'];
  const degradedTtl = dns?.['degradedTtl'];
  if (isNumber(ttl) && isNumber(degradedTtl) && degradedTtl > ttl) {
    problems.push({ segments: ['dns', 'degradedTtl'], message: `must be <= dns.ttl (${ttl})` });
  }
  const tcp = asObject(dns?.['tcp']);
  const maxConnections = tcp?.['maxConnections'];
  const perClient = tcp?.['maxConnectionsPerClient'];
  if (isNumber(maxConnections) && isNumber(perClient) && perClient > maxConnections) {
    problems.push({
      segments: ['dns', 'tcp', 'maxConnectionsPerClient'],
      message: `must be <= dns.tcp.maxConnections (${maxConnections})`,
    });
  }
}

/** source.kubernetes.exportSelector parses; cluster.gatewayService needs Kubernetes and no static gateways. */
function sourceRules(data: Data, problems: SchemaProblem[]): void {
  const cluster = asObject(data['cluster']);
  // The gateway Service is read from the Kubernetes API, and it replaces the static list.
  const source = asObject(data['source']);
  const exportSelector = asObject(source?.['kubernetes'])?.['exportSelector'];
  if (typeof exportSelector === 'string') {
    const parsed = parseLabelSelector(exportSelector);
    if (!parsed.ok)
      problems.push({ segments: ['source', 'kubernetes', 'exportSelector'], message: `invalid label selector: ${parsed.error}` });
  }
  if (cluster?.['gatewayService'] !== undefined) {
    if (source?.['type'] !== 'kubernetes') {
      problems.push({
        segments: ['cluster', 'gatewayService'],
        message: 'needs source.type: kubernetes (it is read from the Kubernetes API)',
      });
    }
    if (Array.isArray(cluster['gateways']) && cluster['gateways'].length > 0) {
      problems.push({
        segments: ['cluster', 'gatewayService'],
        message: 'set either cluster.gateways or cluster.gatewayService, not both',
      });
    }
  }
}

/** forward.timeoutMs ≤ forward.budgetMs. */
function forwardRules(data: Data, problems: SchemaProblem[]): void {
  const forward = asObject(data['forward']);
  const timeoutMs = forward?.['timeoutMs'];
  const budgetMs = forward?.['budgetMs'];
  if (isNumber(timeoutMs) && isNumber(budgetMs) && timeoutMs > budgetMs) {
    problems.push({ segments: ['forward', 'timeoutMs'], message: `must be <= forward.budgetMs (${budgetMs})` });
  }
}

/** sync.peers: each name and URL once, never this cluster's own name. */
function peerRules(data: Data, problems: SchemaProblem[]): void {
  const cluster = asObject(data['cluster']);
  const sync = asObject(data['sync']);
  // Peers: each name once, never this cluster's own name (it would sync with itself).
  const clusterName = cluster?.['name'];
  const peers = Array.isArray(sync?.['peers']) ? (sync['peers'] as unknown[]) : [];
  const names = new Map<string, number>();
  const urls = new Map<string, number>();
  peers.forEach((peer, i) => {
    const p = asObject(peer);
    const name = p?.['name'];
    const url = p?.['url'];
    if (typeof name === 'string') {
      if (name === clusterName) {
        problems.push({ segments: ['sync', 'peers', i, 'name'], message: `'${name}' is this cluster's own name (cluster.name)` });
      } else if (names.has(name)) {
        problems.push({ segments: ['sync', 'peers', i, 'name'], message: `duplicates sync.peers[${names.get(name)}].name '${name}'` });
      } else names.set(name, i);
    }
    if (typeof url === 'string') {
      if (urls.has(url)) problems.push({ segments: ['sync', 'peers', i, 'url'], message: `duplicates sync.peers[${urls.get(url)}].url` });
      else urls.set(url, i);
    }
  });
}

/** health.probe.path only with HTTP probes. */
function probeRules(data: Data, problems: SchemaProblem[]): void {
  const health = asObject(data['health']);
  const probe = asObject(health?.['probe']);
  if (probe?.['type'] === 'tcp' && probe['path'] !== undefined) {
    problems.push({
      segments: ['health', 'probe', 'path'],
      message: "is only used by 'http' probes; remove it or set health.probe.type: http",
    });
  }
}

/** No two TCP listeners (DNS, ops HTTP, /debug, sync) on one address and port. */
function listenerRules(data: Data, problems: SchemaProblem[]): void {
  const dns = asObject(data['dns']);
  const sync = asObject(data['sync']);
  const http = asObject(data['http']);
  // Listeners: DNS (UDP+TCP), ops HTTP and sync are all TCP; two on one address and port cannot both bind.
  const listeners: { segments: Segment[]; address: string; port: number }[] = [];
  const addListener = (value: unknown, segments: Segment[]): void => {
    const l = asObject(value);
    if (l !== undefined && typeof l['address'] === 'string' && isNumber(l['port']) && l['port'] !== 0) {
      listeners.push({ segments, address: l['address'], port: l['port'] });
    }
  };
  if (Array.isArray(dns?.['listen'])) (dns['listen'] as unknown[]).forEach((l, i) => addListener(l, ['dns', 'listen', i]));
  addListener(http?.['listen'], ['http', 'listen']);
  const httpDebug = asObject(http?.['debug']);
  if (httpDebug?.['enabled'] !== false) addListener(httpDebug?.['listen'], ['http', 'debug', 'listen']);
  if (sync !== undefined) addListener(sync['listen'], ['sync', 'listen']);
  listeners.forEach((l, i) => {
    const clash = listeners.slice(0, i).find((o) => o.port === l.port && addressesOverlap(o.address, l.address));
    if (clash !== undefined) {
      problems.push({
        segments: l.segments,
        message: `${l.address}:${l.port} conflicts with ${formatPath(clash.segments)} (${clash.address}:${clash.port})`,
      });
    }
  });
}

const SEMANTIC_RULES: readonly ((data: Data, problems: SchemaProblem[]) => void)[] = [
  zoneRules,
  dnsLimitRules,
  sourceRules,
  forwardRules,
  peerRules,
  probeRules,
  listenerRules,
];

/** Whether two bind addresses collide on one port: equal, or one is a wildcard covering the other. */
function addressesOverlap(a: string, b: string): boolean {
  if (a === b || a === '::' || b === '::') return true; // "::" is dual-stack on Linux by default
  const v4 = (x: string): boolean => !x.includes(':');
  return (a === '0.0.0.0' && v4(b)) || (b === '0.0.0.0' && v4(a));
}
