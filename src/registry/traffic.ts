/**
 * Whose traffic settings apply to a service (PURE; issue 16).
 *
 * Owns: the resolution rule of a service's policy when the clusters that have it disagree, and a
 * cluster's weight for one service. The answer core and /debug/services both ask here, so what is
 * shown is what is answered.
 * Never: does I/O, allocates per call beyond its result, or throws.
 * Invariants:
 * - a cluster states a policy for a service only by the service's own setting (`gsdns.io/policy`,
 *   the file's `policy`), which sync carries. A catalog's `policy` (that cluster's `dns.policy`) is
 *   its default for its own answers, shown on /debug, and imposed on nobody: an operator who sets
 *   `dns.policy` here sees it apply to every service that does not state one;
 * - the policy used is, in order: the local Service's own setting when this cluster has the
 *   service and states one; else the policy every stating exporter agrees on; else
 *   (disagreement, or nobody states one) `defaultPolicy`, this server's `dns.policy`;
 * - `conflict` is true exactly when two stating clusters (the local one included) differ;
 * - a weight is the service's, else the catalog's, else 100, always an integer in 0–1000 as the
 *   schemas admit.
 */
import type { LocalService, RemoteExport, TrafficPolicy } from './types.js';

/** A cluster's weight when neither its catalog nor the service says (cluster.weight's default). */
export const DEFAULT_WEIGHT = 100;

export interface EffectivePolicy {
  readonly policy: TrafficPolicy;
  /** Clusters that have the service state different policies (shown on /debug/services). */
  readonly conflict: boolean;
  /** Where `policy` came from: the local Service, the agreeing exporters, or dns.policy. */
  readonly from: 'local' | 'exporters' | 'default';
}

/** The policy an exporting cluster states for its service (its own setting); undefined when it states none. */
export function statedPolicy(e: RemoteExport): TrafficPolicy | undefined {
  return e.service.policy;
}

/** The weight of an exporting cluster for its service: the service's, else the catalog's, else 100. */
export function weightOf(e: RemoteExport): number {
  return e.service.weight ?? e.catalog.weight ?? DEFAULT_WEIGHT;
}

/** This cluster's weight for a local service: the service's own, else `cluster.weight`. */
export function localWeightOf(local: LocalService, clusterWeight: number): number {
  return local.traffic?.weight ?? clusterWeight;
}

/** The policy that applies to a service (see the module header for the rule). */
export function effectivePolicy(
  local: LocalService | undefined,
  exports: readonly RemoteExport[],
  defaultPolicy: TrafficPolicy,
): EffectivePolicy {
  const own = local?.traffic?.policy;
  let agreed: TrafficPolicy | undefined = own;
  let conflict = false;
  for (let i = 0; i < exports.length; i++) {
    const p = statedPolicy(exports[i]!);
    if (p === undefined) continue;
    if (agreed === undefined) agreed = p;
    else if (p !== agreed) conflict = true;
  }
  if (own !== undefined) return { policy: own, conflict, from: 'local' };
  if (agreed !== undefined && !conflict) return { policy: agreed, conflict, from: 'exporters' };
  return { policy: defaultPolicy, conflict, from: 'default' };
}
