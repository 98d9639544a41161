/**
 * Kubernetes objects → slim records (PURE), the way CoreDNS `plugin/kubernetes/object` converts
 * at the boundary.
 *
 * Owns: reading the fields gsdns needs from a v1 Service and a discovery.k8s.io/v1 EndpointSlice
 * (as deserialized by client-node's API classes or as raw watch JSON; both use the same field
 * names), trimming objects for the informer cache, and building the registry's LocalService from
 * a Service and its EndpointSlices.
 * Never: imports client-node at runtime, does I/O, or throws for any input object (a malformed
 * object converts to `undefined`, or to a record without the bad parts).
 * Invariants:
 * - A ClusterIP service's `readyEndpoints` counts distinct endpoints with `conditions.ready !== false`
 *   and `terminating !== true`, summed over its slices per address family; a dual-stack pod counted
 *   in both an IPv4 and an IPv6 slice counts once (the larger family count is used).
 * - A headless service lists ready endpoint addresses of both families, each address once; with
 *   `publishNotReadyAddresses` every address counts as ready.
 * - The traffic annotations (`gsdns.io/policy`, `gsdns.io/weight`, `gsdns.io/local-share`) become
 *   the service's `traffic`; an invalid value is left out (the default applies) and listed in the
 *   record's `invalidAnnotations`, for the adapter to report.
 * - Nothing past this module sees a Kubernetes object.
 */
import type { Endpoint, LocalService, Protocol, ServicePort, TrafficPolicy, TrafficSettings } from '../../registry/types.js';
import { canonicalIp, ipFamily } from '../../util/ip.js';

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The minimal structural view of object metadata that both API classes and raw JSON satisfy. */
export interface KubeMeta {
  readonly name?: string | undefined;
  readonly namespace?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly resourceVersion?: string | undefined;
  readonly uid?: string | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

export interface KubeObject {
  readonly kind?: string | undefined;
  readonly apiVersion?: string | undefined;
  readonly metadata?: KubeMeta | undefined;
}

export interface KubeServicePort {
  readonly name?: string | undefined;
  readonly port?: number | undefined;
  readonly protocol?: string | undefined;
}

export interface KubeService extends KubeObject {
  readonly spec?:
    | {
        readonly type?: string | undefined;
        readonly clusterIP?: string | undefined;
        readonly clusterIPs?: readonly string[] | undefined;
        readonly externalName?: string | undefined;
        readonly externalIPs?: readonly string[] | undefined;
        readonly publishNotReadyAddresses?: boolean | undefined;
        readonly ports?: readonly KubeServicePort[] | undefined;
      }
    | undefined;
  readonly status?:
    | {
        readonly loadBalancer?:
          | { readonly ingress?: readonly { readonly ip?: string | undefined; readonly hostname?: string | undefined }[] | undefined }
          | undefined;
      }
    | undefined;
}

export interface KubeEndpointSlice extends KubeObject {
  readonly addressType?: string | undefined;
  readonly endpoints?:
    | readonly {
        readonly addresses?: readonly string[] | undefined;
        readonly conditions?:
          | {
              readonly ready?: boolean | null | undefined;
              readonly serving?: boolean | null | undefined;
              readonly terminating?: boolean | null | undefined;
            }
          | undefined;
        readonly targetRef?: { readonly uid?: string | undefined; readonly name?: string | undefined } | undefined;
      }[]
    | undefined;
}

export type ServiceShape =
  | { readonly kind: 'clusterIP'; readonly clusterIPs: readonly string[] }
  | { readonly kind: 'headless' }
  | { readonly kind: 'externalName'; readonly externalName: string };

/** What gsdns keeps of a Service. */
export interface ServiceRecord {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly shape: ServiceShape;
  readonly ports: readonly ServicePort[];
  readonly publishNotReadyAddresses: boolean;
  /** From the traffic annotations; absent when none is set (and valid). */
  readonly traffic?: TrafficSettings | undefined;
  /** Traffic annotations whose value was ignored; absent when there are none. */
  readonly invalidAnnotations?: readonly InvalidAnnotation[] | undefined;
}

/** A traffic annotation with a value gsdns cannot use (the default applies instead). */
export interface InvalidAnnotation {
  readonly annotation: string;
  readonly value: string;
  /** What a valid value looks like. */
  readonly expected: string;
}

/** Per-service traffic annotations (issue 16), overriding dns.policy, cluster.weight and dns.localShare. */
export const POLICY_ANNOTATION = 'gsdns.io/policy';
export const WEIGHT_ANNOTATION = 'gsdns.io/weight';
export const LOCAL_SHARE_ANNOTATION = 'gsdns.io/local-share';
const TRAFFIC_ANNOTATIONS: readonly string[] = [POLICY_ANNOTATION, WEIGHT_ANNOTATION, LOCAL_SHARE_ANNOTATION];
const POLICIES: ReadonlySet<string> = new Set<TrafficPolicy>(['failover', 'spread', 'weighted']);

/** A decimal integer in [0, max] (leading/trailing blanks allowed, as kubectl users type them), else undefined. */
function annotationInt(text: string, max: number): number | undefined {
  const t = text.trim();
  if (!/^\d{1,7}$/.test(t)) return undefined;
  const n = Number(t);
  return n <= max ? n : undefined;
}

/** The traffic settings a Service's annotations ask for, and the annotations whose values are ignored. */
export function readTrafficAnnotations(annotations: Readonly<Record<string, string>> | undefined): {
  readonly traffic: TrafficSettings | undefined;
  readonly invalid: readonly InvalidAnnotation[];
} {
  if (annotations === undefined) return { traffic: undefined, invalid: [] };
  const traffic: { policy?: TrafficPolicy; weight?: number; localShare?: number } = {};
  const invalid: InvalidAnnotation[] = [];
  const policy = annotations[POLICY_ANNOTATION];
  if (typeof policy === 'string') {
    const p = policy.trim().toLowerCase();
    if (POLICIES.has(p)) traffic.policy = p as TrafficPolicy;
    else invalid.push({ annotation: POLICY_ANNOTATION, value: policy, expected: 'failover, spread or weighted' });
  }
  const weight = annotations[WEIGHT_ANNOTATION];
  if (typeof weight === 'string') {
    const w = annotationInt(weight, 1000);
    if (w !== undefined) traffic.weight = w;
    else invalid.push({ annotation: WEIGHT_ANNOTATION, value: weight, expected: 'an integer from 0 to 1000' });
  }
  const share = annotations[LOCAL_SHARE_ANNOTATION];
  if (typeof share === 'string') {
    const l = annotationInt(share, 100);
    if (l !== undefined) traffic.localShare = l;
    else invalid.push({ annotation: LOCAL_SHARE_ANNOTATION, value: share, expected: 'an integer from 0 to 100 (percent)' });
  }
  return { traffic: Object.keys(traffic).length > 0 ? traffic : undefined, invalid };
}

export interface SliceEndpoint {
  /** Canonical addresses of one endpoint (usually one). */
  readonly addresses: readonly string[];
  readonly ready: boolean;
  /** Identity for de-duplication across slices: targetRef uid/name, else the first address. */
  readonly id: string;
}

/** What gsdns keeps of an EndpointSlice. */
export interface SliceRecord {
  readonly namespace: string;
  readonly name: string;
  /** The owning Service's name (label kubernetes.io/service-name); undefined when unlabelled. */
  readonly service: string | undefined;
  readonly family: 4 | 6 | undefined;
  readonly endpoints: readonly SliceEndpoint[];
}

const PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);
/** Shared by every unlabelled Service: thousands of records, one empty object. */
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** `namespace/name` of an object, or undefined when it lacks either. */
export function keyOf(obj: KubeObject | undefined): string | undefined {
  const ns = obj?.metadata?.namespace;
  const name = obj?.metadata?.name;
  return typeof ns === 'string' && typeof name === 'string' && ns !== '' && name !== '' ? objectKey(ns, name) : undefined;
}

/** A Service → record; undefined when it cannot be answered for (no name, no usable address yet). */
export function toServiceRecord(svc: KubeService): ServiceRecord | undefined {
  const namespace = svc.metadata?.namespace;
  const name = svc.metadata?.name;
  if (!namespace || !name) return undefined;
  const spec = svc.spec ?? {};
  let shape: ServiceShape;
  if (spec.type === 'ExternalName') {
    const target = (spec.externalName ?? '').trim().toLowerCase().replace(/\.$/, '');
    if (target === '') return undefined;
    shape = { kind: 'externalName', externalName: target };
  } else if (spec.clusterIP === 'None' || (spec.clusterIPs ?? [])[0] === 'None') {
    shape = { kind: 'headless' };
  } else {
    // Dual-stack services list both families in clusterIPs; older objects only have clusterIP.
    const raw = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
    const clusterIPs = uniq(raw.filter((ip) => typeof ip === 'string' && ipFamily(ip) !== 0).map(canonicalIp));
    // A ClusterIP Service without an allocated address yet has nothing to answer with.
    if (clusterIPs.length === 0) return undefined;
    shape = { kind: 'clusterIP', clusterIPs };
  }
  const { traffic, invalid } = readTrafficAnnotations(svc.metadata?.annotations);
  return {
    namespace,
    name,
    labels: svc.metadata?.labels && Object.keys(svc.metadata.labels).length > 0 ? { ...svc.metadata.labels } : NO_LABELS,
    shape,
    ports: toPorts(spec.ports),
    publishNotReadyAddresses: spec.publishNotReadyAddresses === true,
    ...(traffic === undefined ? {} : { traffic }),
    ...(invalid.length === 0 ? {} : { invalidAnnotations: invalid }),
  };
}

function toPorts(ports: readonly KubeServicePort[] | undefined): ServicePort[] {
  const out: ServicePort[] = [];
  for (const p of ports ?? []) {
    if (typeof p.port !== 'number' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) continue;
    const protocol = (PROTOCOLS.has(p.protocol ?? 'TCP') ? (p.protocol ?? 'TCP') : 'TCP') as Protocol;
    out.push({ name: (p.name ?? '').toLowerCase(), port: p.port, protocol });
  }
  return out;
}

/** An EndpointSlice → record; undefined without namespace/name. Unknown address types (FQDN) carry no endpoints. */
export function toSliceRecord(slice: KubeEndpointSlice): SliceRecord | undefined {
  const namespace = slice.metadata?.namespace;
  const name = slice.metadata?.name;
  if (!namespace || !name) return undefined;
  const family = slice.addressType === 'IPv4' ? 4 : slice.addressType === 'IPv6' ? 6 : undefined;
  const endpoints: SliceEndpoint[] = [];
  if (family !== undefined) {
    for (const ep of slice.endpoints ?? []) {
      const addresses = uniq((ep.addresses ?? []).filter((a) => typeof a === 'string' && ipFamily(a) === family).map(canonicalIp));
      if (addresses.length === 0) continue;
      const c = ep.conditions ?? {};
      // discovery/v1: a nil `ready` means unknown and is read as ready; terminating endpoints are not.
      const ready = c.ready !== false && c.terminating !== true;
      const id = ep.targetRef?.uid || ep.targetRef?.name || addresses[0]!;
      endpoints.push({ addresses, ready, id });
    }
  }
  return { namespace, name, service: slice.metadata?.labels?.[SERVICE_NAME_LABEL] || undefined, family, endpoints };
}

/** The registry's view of a Service given its slices. */
export function toLocalService(svc: ServiceRecord, slices: Iterable<SliceRecord>): LocalService {
  const base = {
    namespace: svc.namespace,
    name: svc.name,
    ports: svc.ports,
    ...(svc.traffic === undefined ? {} : { traffic: svc.traffic }),
  };
  switch (svc.shape.kind) {
    case 'externalName':
      return { ...base, kind: 'externalName', externalName: svc.shape.externalName };
    case 'clusterIP': {
      const readyByFamily = new Map<number, Set<string>>();
      for (const slice of slices) {
        if (slice.family === undefined) continue;
        let ids = readyByFamily.get(slice.family);
        if (!ids) readyByFamily.set(slice.family, (ids = new Set()));
        for (const ep of slice.endpoints) if (ep.ready) ids.add(ep.id);
      }
      let readyEndpoints = 0;
      for (const ids of readyByFamily.values()) readyEndpoints = Math.max(readyEndpoints, ids.size);
      return { ...base, kind: 'clusterIP', clusterIPs: svc.shape.clusterIPs, readyEndpoints };
    }
    case 'headless': {
      const byAddress = new Map<string, boolean>();
      for (const slice of slices) {
        for (const ep of slice.endpoints) {
          const ready = ep.ready || svc.publishNotReadyAddresses;
          for (const address of ep.addresses) byAddress.set(address, (byAddress.get(address) ?? false) || ready);
        }
      }
      // Sorted so the same endpoints always give the same record (and the registry sees no change).
      const endpoints: Endpoint[] = [...byAddress]
        .sort(([a], [b]) => compareAddresses(a, b))
        .map(([address, ready]) => ({ address, ready }));
      return { ...base, kind: 'headless', endpoints };
    }
  }
}

/** IPv4 before IPv6, then text order; deterministic is what matters. */
function compareAddresses(a: string, b: string): number {
  const fa = a.includes(':') ? 1 : 0;
  const fb = b.includes(':') ? 1 : 0;
  return fa !== fb ? fa - fb : a < b ? -1 : a > b ? 1 : 0;
}

/** Gateway candidates of a Service: LoadBalancer ingress IPs and hostnames, else externalIPs. */
export function gatewayTargets(svc: KubeService): { readonly addresses: string[]; readonly hostnames: string[] } {
  const addresses: string[] = [];
  const hostnames: string[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    if (ing.ip && ipFamily(ing.ip) !== 0) addresses.push(canonicalIp(ing.ip));
    else if (ing.hostname) hostnames.push(ing.hostname.toLowerCase().replace(/\.$/, ''));
  }
  if (addresses.length === 0 && hostnames.length === 0) {
    for (const ip of svc.spec?.externalIPs ?? []) if (ipFamily(ip) !== 0) addresses.push(canonicalIp(ip));
  }
  return { addresses: uniq(addresses), hostnames: uniq(hostnames) };
}

/**
 * The subset of a Service kept in the informer cache: the fields above plus what the informer
 * itself needs (metadata.name/namespace/resourceVersion). Keeps memory near the slim records.
 */
export function trimService(svc: KubeService): KubeService {
  const spec = svc.spec;
  const ingress = svc.status?.loadBalancer?.ingress;
  return {
    metadata: { ...trimMeta(svc.metadata, true), annotations: trafficAnnotationsOf(svc.metadata?.annotations) },
    spec: spec
      ? {
          type: spec.type,
          clusterIP: spec.clusterIP,
          clusterIPs: spec.clusterIPs,
          externalName: spec.externalName,
          externalIPs: spec.externalIPs,
          publishNotReadyAddresses: spec.publishNotReadyAddresses,
          ports: spec.ports?.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
        }
      : undefined,
    status: ingress ? { loadBalancer: { ingress: ingress.map((i) => ({ ip: i.ip, hostname: i.hostname })) } } : undefined,
  };
}

export function trimSlice(slice: KubeEndpointSlice): KubeEndpointSlice {
  const serviceName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  const trigger = slice.metadata?.annotations?.[CHANGE_TRIGGER_ANNOTATION];
  return {
    metadata: {
      ...trimMeta(slice.metadata, false),
      labels: serviceName !== undefined ? { [SERVICE_NAME_LABEL]: serviceName } : undefined,
      annotations: trigger !== undefined ? { [CHANGE_TRIGGER_ANNOTATION]: trigger } : undefined,
    },
    addressType: slice.addressType,
    endpoints: slice.endpoints?.map((ep) => ({
      addresses: ep.addresses,
      conditions: ep.conditions ? { ready: ep.conditions.ready, terminating: ep.conditions.terminating } : undefined,
      targetRef: ep.targetRef ? { uid: ep.targetRef.uid, name: ep.targetRef.name } : undefined,
    })),
  };
}

/**
 * Set by the EndpointSlice controller to when the change that produced this slice happened (the
 * newest Pod or Service change it reflects). kube-proxy's network-programming latency SLI measures
 * from it; so does gsdns_kubernetes_programming_duration_seconds.
 */
export const CHANGE_TRIGGER_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

/** Epoch ms of the slice's last-change-trigger-time annotation, or undefined when absent or invalid. */
export function changeTriggerMs(slice: KubeEndpointSlice): number | undefined {
  const text = slice.metadata?.annotations?.[CHANGE_TRIGGER_ANNOTATION];
  if (text === undefined) return undefined;
  // RFC 3339, e.g. 2026-11-26T06:10:32Z or with fractional seconds and an offset.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Only the traffic annotations of a Service (undefined when it has none): the rest is not kept. */
function trafficAnnotationsOf(annotations: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (annotations === undefined) return undefined;
  let kept: Record<string, string> | undefined;
  for (const a of TRAFFIC_ANNOTATIONS) {
    const v = annotations[a];
    if (v !== undefined) (kept ??= {})[a] = v;
  }
  return kept;
}

function trimMeta(meta: KubeMeta | undefined, labels: boolean): KubeMeta {
  return {
    name: meta?.name,
    namespace: meta?.namespace,
    resourceVersion: meta?.resourceVersion,
    labels: labels ? meta?.labels : undefined,
  };
}

function uniq<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
