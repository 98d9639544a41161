/**
 * Explanation building for the answer core (PURE).
 *
 * Owns: the `Trace` collected while answering, and every human-readable string of an explanation
 * (SPEC §3 "Explanation"). The answer core calls it only through `tr?.…` or when a Trace exists,
 * so with explanations off (`answer(q, ctx, { explain: false })`) none of this code runs and no
 * string is formatted.
 * Must never: influence a decision — it only records what the answer core decided.
 * Invariants: one entry per remote cluster known to the registry; `order` is set iff `kept`.
 */
import type { ClusterMeta, Gateway, LocalService, RegistryReader } from '../registry/types.js';
import { localityOf, type Tier } from '../locality/rank.js';
import type { CandidateExplanation, ClientLocality, Explanation, GatewayExplanation, GatewayHealth } from './types.js';

/** Why a remote cluster took part in the answer or not; the string form is built by explain.ts. */
export type CandidateVerdict =
  | { readonly kind: 'localCluster' }
  | { readonly kind: 'notExported' }
  | { readonly kind: 'notReady' }
  | { readonly kind: 'stale' }
  | { readonly kind: 'noHealthyGateway' }
  | { readonly kind: 'answeredLocally' }
  | { readonly kind: 'outsideBestTier' }
  | { readonly kind: 'noAddress'; readonly family: string }
  | { readonly kind: 'capped' }
  | { readonly kind: 'kept'; readonly order: number }
  | { readonly kind: 'failOpen'; readonly order: number | undefined; readonly unhealthy: string };

/** The fixed parts of an explanation, known before any decision. */
export interface ExplanationBase {
  readonly zone?: string | undefined;
  readonly namespace?: string | undefined;
  readonly service?: string | undefined;
  readonly shape: string;
  readonly client: ClientLocality;
}

/** Collects steps, the local status and the candidates while one question is answered. */
export class Trace {
  readonly steps: string[] = [];
  readonly candidates: CandidateExplanation[] = [];
  local: Explanation['local'] = undefined;
  policy: string | undefined = undefined;

  step(text: string): void {
    this.steps.push(text);
  }

  /** Record the status of the local service (or its absence). */
  noteLocal(namespace: string, name: string, local: LocalService | undefined, healthy: boolean): void {
    this.local = describeLocal(local, healthy);
    const what = `local service ${namespace}/${name}`;
    if (local === undefined) this.step(`no ${what}`);
    else this.step(`${what} (${local.kind}) ${this.local.reason} → ${healthy ? 'answer locally' : 'look at remote clusters'}`);
  }

  /** Record one remote cluster (exporting or not) with its verdict. */
  noteCandidate(
    catalog: ClusterMeta,
    exported: { readonly ready: boolean; readonly fresh: boolean } | undefined,
    fresh: boolean | undefined,
    ctx: { readonly client: ClientLocality; readonly health: GatewayHealth },
    verdict: CandidateVerdict,
  ): void {
    const { tier, distanceKm } = localityOf(ctx.client, catalog);
    const order = verdict.kind === 'kept' ? verdict.order : verdict.kind === 'failOpen' ? verdict.order : undefined;
    this.candidates.push({
      cluster: catalog.cluster,
      exports: exported !== undefined,
      ready: exported?.ready ?? false,
      fresh: exported?.fresh ?? fresh ?? true,
      gateways: explainGateways(catalog.cluster, catalog.gateways, ctx.health),
      tier,
      distanceKm,
      kept: order !== undefined,
      reason: verdictText(verdict, tier, ctx.client, distanceKm),
      order,
    });
  }

  build(b: ExplanationBase): Explanation {
    // Explicit literals rather than spreads: this runs per query and spreads are slow in V8.
    return {
      zone: b.zone,
      namespace: b.namespace,
      service: b.service,
      shape: b.shape,
      client: b.client,
      policy: this.policy,
      local: this.local,
      candidates: this.candidates,
      steps: this.steps,
    };
  }
}

const NO_CANDIDATES: readonly CandidateExplanation[] = Object.freeze([]);
const NO_STEPS: readonly string[] = Object.freeze([]);

/** The explanation of a decision made with explanations off: just the shape of the name. */
export function bareExplanation(b: ExplanationBase): Explanation {
  return {
    zone: b.zone,
    namespace: b.namespace,
    service: b.service,
    shape: b.shape,
    client: b.client,
    candidates: NO_CANDIDATES,
    steps: NO_STEPS,
  };
}

function describeLocal(
  local: LocalService | undefined,
  healthy: boolean,
): { readonly kind: string; readonly healthy: boolean; readonly reason: string } {
  if (local === undefined) return { kind: 'absent', healthy: false, reason: 'does not exist' };
  switch (local.kind) {
    case 'clusterIP':
      return { kind: local.kind, healthy, reason: `has ${local.readyEndpoints} ready endpoint(s)` };
    case 'headless': {
      let ready = 0;
      for (const e of local.endpoints) if (e.ready) ready++;
      return { kind: local.kind, healthy, reason: `has ${ready} of ${local.endpoints.length} endpoint(s) ready` };
    }
    case 'externalName':
      return { kind: local.kind, healthy, reason: `is an alias of ${local.externalName}` };
  }
}

function explainGateways(cluster: string, gateways: readonly Gateway[], health: GatewayHealth): GatewayExplanation[] {
  return gateways.map((g) => ({
    address: g.address,
    port: g.port,
    healthy: health.isHealthy(cluster, g.address, g.port) !== false,
    rttMs: health.rttMs(cluster, g.address, g.port),
  }));
}

/** Human name of a tier relative to the client, e.g. "region eu-west-1". */
export function tierText(tier: Tier, client: ClientLocality, distanceKm: number | undefined): string {
  switch (tier) {
    case 0:
      return `zone ${client.zone}`;
    case 1:
      return `region ${client.region}`;
    case 2:
      return `nearest (${Math.round(distanceKm ?? 0)} km)`;
    case 3:
      return 'unknown location';
  }
}

function verdictText(v: CandidateVerdict, tier: Tier, client: ClientLocality, distanceKm: number | undefined): string {
  switch (v.kind) {
    case 'localCluster':
      return 'this is the local cluster; local services answer for it';
    case 'notExported':
      return 'does not export this service';
    case 'notReady':
      return 'catalog says ready: false';
    case 'stale':
      return 'catalog is stale (the cluster says its own source is stale: sourceStale)';
    case 'noHealthyGateway':
      return 'no healthy gateway';
    case 'answeredLocally':
      return 'not needed: the local service is healthy';
    case 'outsideBestTier':
      return `healthy, but outside the best tier (${tierText(tier, client, distanceKm)})`;
    case 'noAddress':
      return `selected, but has no ${v.family} gateway address`;
    case 'capped':
      return 'selected, but dropped by dns.maxAnswers';
    case 'kept':
      return `kept: healthy, ${tierText(tier, client, distanceKm)}`;
    case 'failOpen':
      return v.order === undefined
        ? `fail open (${v.unhealthy}), but no address of the asked family or over dns.maxAnswers`
        : `fail open: returned although ${v.unhealthy}`;
  }
}

/** The registry's view of a cluster's freshness, when the reader can tell (explanations only). */
export function freshnessOf(registry: RegistryReader, cluster: string): boolean | undefined {
  return registry.remoteFresh?.(cluster);
}
