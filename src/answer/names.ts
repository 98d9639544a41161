/**
 * Names under a zone (PURE): zone matching and the shapes of names below a zone (SPEC §1).
 *
 * Owns: the internal form of a name (lowercase, no trailing dot), the longest-zone match and the
 * classification of the labels below a zone into apex, nameserver, namespace, service, SRV parent,
 * the service in one cluster (`C.S.N.Z`), SRV name or other.
 * Must never: consult the registry; a shape says what a name could be, not whether it exists.
 * Invariants: `matchZone` is allocation-free; a label that is empty makes the shape `other`.
 */
import type { Protocol } from '../registry/types.js';
import type { AnswerOptions } from './types.js';

/** Conventional label of the zone's nameserver, the target of the apex NS record. */
export const NS_LABEL = 'ns';

export type Shape =
  | { readonly kind: 'apex' }
  | { readonly kind: 'nameserver' }
  | { readonly kind: 'namespace'; readonly namespace: string }
  | { readonly kind: 'service'; readonly namespace: string; readonly service: string }
  | { readonly kind: 'protocol'; readonly namespace: string; readonly service: string; readonly protocol: Protocol }
  | { readonly kind: 'clusterService'; readonly cluster: string; readonly namespace: string; readonly service: string }
  | {
      readonly kind: 'srv';
      readonly namespace: string;
      readonly service: string;
      readonly port: string;
      readonly protocol: Protocol;
    }
  | { readonly kind: 'other' };

const APEX: Shape = { kind: 'apex' };
const NAMESERVER: Shape = { kind: 'nameserver' };
const OTHER: Shape = { kind: 'other' };

/** Shapes of names below a zone (labels leftmost first). */
export function classify(labels: readonly string[]): Shape {
  for (const l of labels) if (l.length === 0) return OTHER; // "a..z" cannot come off the wire
  switch (labels.length) {
    case 0:
      return APEX;
    case 1:
      // `ns.Z` is the nameserver; a namespace called "ns" still has its services at S.ns.Z.
      return labels[0] === NS_LABEL ? NAMESERVER : { kind: 'namespace', namespace: labels[0]! };
    case 2:
      return { kind: 'service', namespace: labels[1]!, service: labels[0]! };
    case 3: {
      // `_tcp.S.N.Z`: the parent of SRV names (Kubernetes DNS spec 2.4.2 naming).
      const protocol = protocolOf(labels[0]!);
      if (protocol !== undefined) return { kind: 'protocol', namespace: labels[2]!, service: labels[1]!, protocol };
      // `C.S.N.Z`: the service in cluster C only (the SRV targets of a remote answer; as MCS's
      // `<clusterid>.<svc>.<ns>.svc.clusterset.local`). Cluster names are DNS labels: no "_".
      if (labels[0]!.charCodeAt(0) === 95 /* _ */) return OTHER;
      return { kind: 'clusterService', cluster: labels[0]!, namespace: labels[2]!, service: labels[1]! };
    }
    case 4: {
      // `_P._tcp.S.N.Z` (RFC 2782 naming, P = port name).
      const p = labels[0]!;
      const protocol = protocolOf(labels[1]!);
      if (protocol === undefined || p.length < 2 || p.charCodeAt(0) !== 95 /* _ */) return OTHER;
      return { kind: 'srv', namespace: labels[3]!, service: labels[2]!, port: p.slice(1), protocol };
    }
    default:
      return OTHER;
  }
}

function protocolOf(label: string): Protocol | undefined {
  switch (label) {
    case '_tcp':
      return 'TCP';
    case '_udp':
      return 'UDP';
    case '_sctp':
      return 'SCTP'; // Kubernetes serves _sctp SRV names too
    default:
      return undefined;
  }
}

export function describeShape(s: Shape): string {
  switch (s.kind) {
    case 'apex':
      return 'zone apex';
    case 'nameserver':
      return 'nameserver name';
    case 'namespace':
      return `namespace ${s.namespace}`;
    case 'service':
      return `service ${s.service} in namespace ${s.namespace}`;
    case 'protocol':
      return `${s.protocol} parent of the SRV names of ${s.namespace}/${s.service}`;
    case 'clusterService':
      return `service ${s.service} in namespace ${s.namespace}, in cluster ${s.cluster} only`;
    case 'srv':
      return `SRV name of port ${s.port}/${s.protocol} of ${s.namespace}/${s.service}`;
    case 'other':
      return 'a name of no known shape';
  }
}

/** Lowercase, without a trailing dot (the internal form, STYLE.md). */
export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.length > 0 && n.charCodeAt(n.length - 1) === 46 ? n.slice(0, -1) : n;
}

const zoneCache = new WeakMap<readonly string[], readonly string[]>();

/** The configured zones, normalized once per options object. */
export function zonesOf(o: AnswerOptions): readonly string[] {
  let z = zoneCache.get(o.zones);
  if (z === undefined) {
    z = o.zones.map(normalizeName).filter((x) => x.length > 0);
    zoneCache.set(o.zones, z);
  }
  return z;
}

/** Longest zone that `name` equals or ends with on a label boundary. Allocation-free. */
export function matchZone(name: string, zones: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const z of zones) {
    if (best !== undefined && z.length <= best.length) continue;
    if (name === z) best = z;
    else if (name.length > z.length && name.charCodeAt(name.length - z.length - 1) === 46 && name.endsWith(z)) best = z;
  }
  return best;
}
