/**
 * The /debug endpoints' handlers (ops/http.ts serves them): what an operator reads to see why an
 * answer is what it is.
 *
 * Owns: the shape of each /debug body, and /debug/resolve's parsing of its parameters.
 * Never: changes state (POST /debug/selftest/run only runs a self-test); forwards for a client
 * forward.allowFrom refuses; counts a /debug look as a DNS query or refusal.
 * Invariants: every module is read through `DebugSources` at request time, so a module started
 * after the endpoints were built (the source, sync, the self-test) shows once it exists.
 */
import type { AnswerContext, Decision } from '../answer/types.js';
import type { DnsRequest, ForwardResult, HandlerResult } from '../wire/types.js';
import type { ClusterCatalog, LocalService, RemoteExport, TrafficPolicy } from '../registry/types.js';
import { effectivePolicy, localWeightOf, statedPolicy, weightOf } from '../registry/traffic.js';
import { FORWARD, routeExplained, type ForwardStep, type SubnetRef } from '../route/route.js';
import { ipFamily } from '../util/ip.js';
import type { DebugEndpoints } from './http.js';
import { describeDecision, describeForward, type UpstreamView } from './describe.js';
import { parseType } from './presentation.js';

/** How /debug reads the running server; every function is called per request. */
export interface DebugSources {
  readonly registry: {
    serial(): number;
    localServices(): readonly LocalService[];
    remoteCatalogs(): readonly ClusterCatalog[];
    remoteOrigin(cluster: string): string | undefined;
    remoteShadows(cluster: string): readonly { readonly origin: string; readonly catalog: ClusterCatalog }[];
    remoteFresh(cluster: string): boolean | undefined;
    localService(namespace: string, name: string): LocalService | undefined;
    remoteExports(namespace: string, name: string): readonly RemoteExport[];
  };
  /** This cluster's own traffic settings: cluster.name, cluster.weight, dns.policy (issue 16). */
  readonly traffic: { readonly cluster: string; readonly weight: number; readonly policy: TrafficPolicy };
  /** This cluster: identity, gateways and where they come from, geoip, staleness. */
  readonly local: () => object;
  /** The local source's status (file, or Kubernetes with the remotes file). */
  readonly source: () => object;
  /** The sync service's status; its `peers` list each configured peer. */
  readonly sync: () => { readonly peers: readonly { readonly peer: string }[] } | undefined;
  /** Gateway health: probe settings, per-gateway status, fail-open answers. */
  readonly health: () => object;
  readonly forward: ForwardStep & {
    resolve(request: DnsRequest): ForwardResult | Promise<ForwardResult> | HandlerResult | Promise<HandlerResult>;
    stats(): { readonly upstreams: readonly UpstreamView[] };
  };
  readonly allowFrom: readonly string[];
  readonly selfTest: () => { status(): object; runOnce(): Promise<object> } | undefined;
  /** The answer context, and the one for a client subnet (ECS). */
  readonly context: AnswerContext;
  readonly contextFor: (ecs: SubnetRef) => AnswerContext;
  /** The name of the file source's origin, shown as a remote catalog's owner when it has no other. */
  readonly fileOrigin: string;
}

const SELF_TEST_HINT = 'set selfTest.enabled: true (on in the Helm chart)';

/** `a.b.c.d/len` or `v6/len` (the client subnet of /debug/resolve?subnet=), or undefined. */
export function parseSubnet(text: string): SubnetRef | undefined {
  const [address = '', len = ''] = text.split('/');
  const family = ipFamily(address);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  const sourcePrefix = len === '' ? max : Number(len);
  if (!Number.isInteger(sourcePrefix) || sourcePrefix < 0 || sourcePrefix > max) return undefined;
  return { address, sourcePrefix };
}

/** A question as a DNS client would send it, for resolving from /debug/resolve. */
function debugRequest(question: DnsRequest['question'], client: string, rawQuestion: Buffer): DnsRequest {
  return {
    id: 0,
    question,
    rawQuestion,
    flags: { rd: true, ad: false, cd: false },
    edns: { udpPayloadSize: 1232, version: 0, dnssecOk: false, options: [] },
    transport: 'tcp',
    client: { address: client, port: 0, family: client.includes(':') ? 'IPv6' : 'IPv4' },
  };
}

export function createDebugEndpoints(
  s: DebugSources,
  encodeQuestion: (name: string, type: number, klass: number) => Buffer,
): DebugEndpoints {
  return {
    services: () => ({
      serial: s.registry.serial(),
      local: s.registry.localServices(),
      remote: s.registry.remoteCatalogs().map((c) => ({ cluster: c.cluster, weight: c.weight, policy: c.policy, services: c.services })),
      traffic: trafficView(s),
    }),
    source: () => s.source(),
    clusters: () => clusters(s),
    forward: () => ({ allowFrom: s.allowFrom, ...s.forward.stats() }),
    selfTest: () => {
      const selfTest = s.selfTest();
      return selfTest ? { enabled: true, ...selfTest.status() } : { enabled: false, hint: SELF_TEST_HINT };
    },
    runSelfTest: async () => {
      const selfTest = s.selfTest();
      // 409: there is nothing to run, which a caller asking for a run must not mistake for a verdict.
      if (!selfTest) return { status: 409, body: { enabled: false, hint: SELF_TEST_HINT } };
      return { status: 200, body: { enabled: true, ...(await selfTest.runOnce()) } };
    },
    resolve: (params) => resolve(s, encodeQuestion, params),
  };
}

function clusters(s: DebugSources): object {
  const syncStatus = s.sync();
  return {
    local: s.local(),
    remote: s.registry.remoteCatalogs().map((c) => ({
      cluster: c.cluster,
      // One owner per cluster (sync.remotePrecedence); the other source's catalog waits aside.
      owner: s.registry.remoteOrigin(c.cluster) ?? s.fileOrigin,
      shadowed: s.registry.remoteShadows(c.cluster).map((x) => ({ origin: x.origin, services: x.catalog.services.length })),
      fresh: s.registry.remoteFresh(c.cluster),
      sourceStale: c.sourceStale === true,
      // What the cluster advertises (issue 16); absent from an older peer's catalog.
      weight: c.weight,
      policy: c.policy,
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
    health: s.health(),
  };
}

/**
 * Per service (local or exported by a remote cluster), the policy that applies and each cluster's
 * own settings for it (registry/traffic.ts: the same rule the answers use): the policy a cluster
 * states for the service (absent when it states none), its weight; `policyConflict` when the
 * clusters that have it state different policies.
 */
function trafficView(s: DebugSources): object[] {
  const keys = new Map<string, [string, string]>();
  for (const l of s.registry.localServices()) keys.set(`${l.namespace}/${l.name}`, [l.namespace, l.name]);
  for (const c of s.registry.remoteCatalogs()) for (const r of c.services) keys.set(`${r.namespace}/${r.name}`, [r.namespace, r.name]);
  const out: object[] = [];
  for (const [key, [namespace, name]] of [...keys].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const local = s.registry.localService(namespace, name);
    const exports = s.registry.remoteExports(namespace, name);
    const effective = effectivePolicy(local, exports, s.traffic.policy);
    const clusters: object[] = [];
    if (local !== undefined)
      clusters.push({
        cluster: s.traffic.cluster,
        local: true,
        ...(local.traffic?.policy === undefined ? {} : { policy: local.traffic.policy }),
        weight: localWeightOf(local, s.traffic.weight),
        ...(local.traffic?.localShare === undefined ? {} : { localShare: local.traffic.localShare }),
      });
    for (const e of exports) {
      const stated = statedPolicy(e);
      clusters.push({ cluster: e.catalog.cluster, ...(stated === undefined ? {} : { policy: stated }), weight: weightOf(e) });
    }
    out.push({
      service: key,
      policy: effective.policy,
      policyFrom: effective.from,
      ...(effective.conflict ? { policyConflict: true } : {}),
      clusters,
    });
  }
  return out;
}

/** /debug/resolve: the route's decision with its explanation; out-of-zone names really resolve. */
async function resolve(
  s: DebugSources,
  encodeQuestion: (name: string, type: number, klass: number) => Buffer,
  { name, type, subnet, client }: { name: string; type: string; subnet?: string | undefined; client: string },
): Promise<{ status: number; body: unknown }> {
  const qtype = parseType(type);
  if (qtype === undefined) return { status: 400, body: { error: `unknown type "${type}"` } };
  const question = { name: name.toLowerCase().replace(/\.$/, ''), type: qtype, class: 1 };
  let context = s.context;
  if (subnet) {
    const parsed = parseSubnet(subnet);
    if (!parsed) return { status: 400, body: { error: `invalid subnet "${subnet}"; use e.g. 81.2.69.0/24 or 2001:db8::/48` } };
    context = s.contextFor(parsed);
  }
  const routed: Decision | typeof FORWARD = routeExplained(question, context, client, s.forward);
  if (routed !== FORWARD) return { status: 200, body: describeDecision(question, routed) };
  // Out-of-zone names are really resolved (through the cache), for clients allowed to.
  let request: DnsRequest;
  try {
    request = debugRequest(question, client, encodeQuestion(question.name, question.type, question.class));
  } catch (err) {
    return { status: 400, body: { error: `invalid name "${name}": ${(err as Error).message}` } };
  }
  const result = (await s.forward.resolve(request)) as ForwardResult;
  return { status: 200, body: describeForward(question, result, s.forward.stats().upstreams) };
}
