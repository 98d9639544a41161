/**
 * Fixtures for the answer core: the embedded demo as a registry, a hand-written GatewayHealth, and
 * a compact text form of decisions so tables can state whole answers.
 */
import { answer } from '../../../src/answer/answer.js';
import {
  RRType,
  type AnswerContext,
  type AnswerOptions,
  type ClientLocality,
  type Decision,
  type GatewayHealth,
  type ResourceRecord,
} from '../../../src/answer/types.js';
import { Registry } from '../../../src/registry/registry.js';
import type { ClusterCatalog, LocalService } from '../../../src/registry/types.js';

export const HTTP = { name: 'http', port: 9080, protocol: 'TCP' } as const;

/** SPEC's embedded demo (config/demo-catalog.yaml), plus a dual-stack and an ExternalName service. */
export const DEMO_LOCAL: readonly LocalService[] = [
  { kind: 'clusterIP', namespace: 'bookinfo', name: 'productpage', clusterIPs: ['10.96.0.20'], readyEndpoints: 1, ports: [HTTP] },
  {
    kind: 'headless',
    namespace: 'bookinfo',
    name: 'details',
    ports: [HTTP],
    endpoints: [
      { address: '10.244.1.5', ready: true },
      { address: '10.244.2.7', ready: true },
      { address: '10.244.3.9', ready: false },
    ],
  },
  { kind: 'clusterIP', namespace: 'bookinfo', name: 'reviews', clusterIPs: ['10.96.0.30'], readyEndpoints: 0, ports: [HTTP] },
];

export const EXTRA_LOCAL: readonly LocalService[] = [
  {
    kind: 'clusterIP',
    namespace: 'shop',
    name: 'dual',
    clusterIPs: ['10.96.0.40', 'fd00::40'],
    readyEndpoints: 2,
    ports: [HTTP, { name: 'dns', port: 53, protocol: 'UDP' }],
  },
  { kind: 'externalName', namespace: 'shop', name: 'ext', externalName: 'API.Example.com.', ports: [HTTP] },
];

const svc = (name: string, ready = true) => ({ namespace: 'bookinfo', name, ready, ports: [HTTP] });

export const CLUSTER_WEST: ClusterCatalog = {
  cluster: 'cluster-west',
  region: 'eu-west-1',
  zone: 'eu-west-1b',
  gateways: [{ address: '192.0.2.10', port: 15443 }],
  services: [svc('reviews'), svc('ratings')],
};

export const CLUSTER_EAST: ClusterCatalog = {
  cluster: 'cluster-east',
  region: 'us-east-1',
  gateways: [{ address: '198.51.100.10', port: 15443 }],
  services: [svc('reviews'), svc('ratings'), svc('legacy', false)],
};

export const DEMO_CLIENT: ClientLocality = { region: 'eu-west-1', zone: 'eu-west-1a' };

export const BASE_OPTIONS: AnswerOptions = {
  zones: ['global'],
  ttlSeconds: 5,
  negativeTtlSeconds: 5,
  degradedTtlSeconds: 1,
  maxAnswers: 8,
  policy: 'failover',
  // SPEC §1's tables are of the canonical order (issue 16: they hold with rotation off).
  rotate: false,
  nameservers: ['127.0.0.1', '::1'],
  localCluster: 'demo-local',
};

export const INITIAL_SERIAL = 1_700_000_000;

export function demoRegistry(opts: { extra?: boolean } = {}): Registry {
  const r = new Registry({ initialSerial: INITIAL_SERIAL });
  r.replaceLocal(opts.extra === false ? DEMO_LOCAL : [...DEMO_LOCAL, ...EXTRA_LOCAL]);
  r.replaceRemotes('file', [CLUSTER_WEST, CLUSTER_EAST]);
  return r;
}

/** Re-put a cluster's catalog saying its own source is stale (`sourceStale`): known, not fresh. */
export function markStale(r: Registry, cluster: string): void {
  const c = r.remoteCatalogs().find((x) => x.cluster === cluster);
  if (c === undefined) throw new Error(`no catalog for ${cluster}`);
  r.putRemote(r.remoteOrigin(cluster)!, { ...c, sourceStale: true });
}

/** A hand-written GatewayHealth: explicit states per "cluster address:port"; everything else unknown. */
export class FakeHealth implements GatewayHealth {
  private readonly states = new Map<string, { healthy?: boolean | undefined; rttMs?: number | undefined }>();

  set(cluster: string, address: string, port: number, state: { healthy?: boolean; rttMs?: number }): this {
    this.states.set(`${cluster} ${address}:${port}`, state);
    return this;
  }

  isHealthy(cluster: string, address: string, port: number): boolean | undefined {
    return this.states.get(`${cluster} ${address}:${port}`)?.healthy;
  }

  rttMs(cluster: string, address: string, port: number): number | undefined {
    return this.states.get(`${cluster} ${address}:${port}`)?.rttMs;
  }
}

export interface CtxOverrides {
  options?: Partial<AnswerOptions>;
  registry?: AnswerContext['registry'];
  health?: GatewayHealth;
  client?: ClientLocality;
  sourceReady?: boolean;
  localStale?: boolean;
}

export function context(o: CtxOverrides = {}): AnswerContext {
  return {
    options: { ...BASE_OPTIONS, ...o.options },
    registry: o.registry ?? demoRegistry(),
    health: o.health ?? new FakeHealth(),
    client: o.client ?? DEMO_CLIENT,
    sourceReady: o.sourceReady ?? true,
    localStale: o.localStale,
  };
}

const typeNames = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]));
export const typeName = (t: number): string => typeNames.get(t) ?? `TYPE${t}`;

/** "owner ttl TYPE rdata"; the SOA serial is shown as S (checked on its own). */
export function rr(r: ResourceRecord): string {
  const d = r.data;
  let rdata: string;
  switch (d.type) {
    case 1:
    case 28:
      rdata = d.address;
      break;
    case 2:
      rdata = d.host;
      break;
    case 5:
      rdata = d.target;
      break;
    case 6:
      rdata = `${d.mname} ${d.rname} S ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
      break;
    case 33:
      rdata = `${d.priority} ${d.weight} ${d.port} ${d.target}`;
      break;
    case 16:
      rdata = d.strings.map((x) => JSON.stringify(x)).join(' ');
      break;
  }
  const cls = r.class === undefined || r.class === 1 ? '' : r.class === 3 ? 'CH ' : `CLASS${r.class} `;
  return `${r.name} ${r.ttl} ${cls}${typeName(d.type)} ${rdata}`;
}

export interface Summary {
  kind: string;
  rcode: number;
  aa: boolean;
  answers: string[];
  authority: string[];
  additional: string[];
  clusters: string[];
  ecs: number;
}

export function summarize(d: Decision): Summary {
  return {
    kind: d.kind,
    rcode: d.rcode,
    aa: d.authoritative,
    answers: d.answers.map(rr),
    authority: d.authority.map(rr),
    additional: d.additional.map(rr),
    clusters: [...d.clusters],
    ecs: d.ecsScopePrefix,
  };
}

export function ask(name: string, type: number | keyof typeof RRType, o: CtxOverrides | AnswerContext = {}): Decision {
  const ctx = 'registry' in o && 'options' in o && 'health' in o && 'client' in o && 'sourceReady' in o ? (o as AnswerContext) : context(o);
  const t = typeof type === 'number' ? type : RRType[type];
  return answer({ name, type: t, class: 1 }, ctx);
}

/** The negative-answer authority section for a zone (RFC 2308 §3). */
export const soaAuthority = (zone = 'global', ttl = 5): string[] => [
  `${zone} ${ttl} SOA ns.${zone} hostmaster.${zone} S 7200 1800 86400 ${ttl}`,
];
