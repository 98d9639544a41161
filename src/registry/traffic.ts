/**
 * Traffic settings of a service as the answer sees them (PURE; issue 16). PLACEHOLDER until the
 * sources branch lands.
 */
import type { LocalService, RemoteExport, TrafficPolicy } from './types.js';

export const DEFAULT_WEIGHT = 100;

export function weightOf(ex: RemoteExport): number {
  return ex.service.weight ?? ex.catalog.weight ?? DEFAULT_WEIGHT;
}

export function effectivePolicy(
  local: LocalService | undefined,
  exports: readonly RemoteExport[],
  defaultPolicy: TrafficPolicy,
): { policy: TrafficPolicy; conflict: boolean } {
  const own = local?.traffic?.policy;
  if (own !== undefined) return { policy: own, conflict: false };
  let agreed: TrafficPolicy | undefined;
  for (const ex of exports) {
    const p = ex.service.policy;
    if (p === undefined) continue;
    if (agreed === undefined) agreed = p;
    else if (agreed !== p) return { policy: defaultPolicy, conflict: true };
  }
  return { policy: agreed ?? defaultPolicy, conflict: false };
}
