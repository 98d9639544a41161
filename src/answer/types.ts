/**
 * Contract of the answer function (PURE, types and constants only).
 *
 * Owns: the question/client/decision vocabulary shared by the answer core and the DNS edge.
 * Invariants: names are lowercase with no trailing dot; a Decision is complete (the edge adds only
 * header bits, the echoed question and EDNS); records carry owner names in lowercase and the edge
 * may compress them against the question to echo the client's case.
 */
import type { GeoLocation, TrafficPolicy } from '../registry/types.js';
import type { ClientLocality } from '../locality/rank.js';
import type { Draw, OrderPlan } from './order.js';

/** RR type codes used by gsdns (RFC 1035, RFC 3596, RFC 2782, RFC 6891, RFC 8482). */
export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

/** Classes (RFC 1035 §3.2.4, §3.2.5; RFC 2136 §1.3 for NONE). */
export const RRClass = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

/** AXFR and IXFR (RFC 5936, RFC 1995): zone transfers, which gsdns refuses. */
export const TRANSFER_TYPES: readonly number[] = [251, 252];

/** Response codes (RFC 1035 §4.1.1, RFC 6891 §9 for BADVERS). */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;

export interface Question {
  /** Lowercase, no trailing dot; "" is the root. */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

/** Where the client is, for locality ranking: locality/rank.ts owns it. */
export type { ClientLocality };

/** One address an answer may carry, with the port and the cluster it stands for. */
export interface Target {
  readonly address: string;
  /** Service port (local) or gateway port (remote); -1 when the local service has no such port. */
  readonly port: number;
  /** The remote cluster it belongs to (undefined: local). */
  readonly cluster?: string | undefined;
}

export type RData =
  | { readonly type: 1; readonly address: string }
  | { readonly type: 28; readonly address: string }
  | { readonly type: 2; readonly host: string }
  | { readonly type: 5; readonly target: string }
  | {
      readonly type: 6;
      readonly mname: string;
      readonly rname: string;
      readonly serial: number;
      readonly refresh: number;
      readonly retry: number;
      readonly expire: number;
      readonly minimum: number;
    }
  | {
      readonly type: 33;
      readonly priority: number;
      readonly weight: number;
      readonly port: number;
      readonly target: string;
    }
  /** TXT (RFC 1035 §3.3.14): character-strings of at most 255 octets each (CHAOS answers). */
  | { readonly type: 16; readonly strings: readonly string[] };

export interface ResourceRecord {
  /** Lowercase owner name, no trailing dot. */
  readonly name: string;
  readonly ttl: number;
  /** The record's class; absent means IN. Only CHAOS answers (`version.bind` …) set CH. */
  readonly class?: number | undefined;
  readonly data: RData;
}

/** What kind of outcome this is; the edge maps it to an RCODE and the metrics to a source label. */
export type DecisionKind =
  | 'local' // answered from local endpoints / ClusterIPs
  | 'remote' // answered with healthy remote gateways
  | 'degraded' // fail-open answer (no healthy candidate anywhere)
  | 'apex' // SOA / NS / glue of the zone
  | 'nodata' // NOERROR, empty answer, SOA in authority
  | 'nxdomain' // NXDOMAIN, SOA in authority
  | 'notReady' // SERVFAIL: the local source has not synced
  | 'chaos' // a CHAOS-class server identity name (version.bind, id.server …) answered from dns.chaos
  | 'refused' // REFUSED, never forwarded: a class other than IN, a zone transfer, an unset CHAOS name
  | 'outOfZone'; // not ours: the edge forwards or REFUSES

export interface GatewayExplanation {
  readonly address: string;
  readonly port: number;
  readonly healthy: boolean;
  readonly rttMs?: number | undefined;
}

export interface CandidateExplanation {
  readonly cluster: string;
  readonly exports: boolean;
  readonly ready: boolean;
  readonly fresh: boolean;
  readonly gateways: readonly GatewayExplanation[];
  /** 0 same zone, 1 same region, 2 located (by distance), 3 unknown location. */
  readonly tier: number;
  readonly distanceKm?: number | undefined;
  readonly kept: boolean;
  readonly reason: string;
  /** 1-based position in the final order, when kept. */
  readonly order?: number | undefined;
}

export interface Explanation {
  readonly zone?: string | undefined;
  readonly namespace?: string | undefined;
  readonly service?: string | undefined;
  /** The shape the name was matched as: apex, nameserver, namespace, service, srv, other. */
  readonly shape: string;
  readonly policy?: string | undefined;
  readonly client: ClientLocality;
  readonly local?: { readonly kind: string; readonly healthy: boolean; readonly reason: string } | undefined;
  readonly candidates: readonly CandidateExplanation[];
  /** Human-readable steps, in order. */
  readonly steps: readonly string[];
}

export interface Decision {
  readonly kind: DecisionKind;
  readonly rcode: number;
  /** AA bit: true for every in-zone answer, including NXDOMAIN/NODATA. */
  readonly authoritative: boolean;
  readonly answers: readonly ResourceRecord[];
  readonly authority: readonly ResourceRecord[];
  readonly additional: readonly ResourceRecord[];
  /** The cluster(s) whose gateways were returned, best first (remote/degraded only). */
  readonly clusters: readonly string[];
  /** ECS scope prefix the answer depended on (RFC 7871 §7.1.1); 0 when it did not depend on the client. */
  readonly ecsScopePrefix: number;
  readonly explanation: Explanation;
  /**
   * An answer whose A/AAAA order is drawn per query (order.ts): `answers` is the order drawn for
   * this query; `v4` and `v6` every candidate the reply can hold (before dns.maxAnswers) in
   * canonical order, which `plan` arranges (records.ts `canonicalAnswers` makes their records).
   * The answer cache keeps the canonical reply and arranges it per hit. Absent: the order is fixed.
   */
  readonly order: DecisionOrder | undefined;
  /** Chosen by the dns.localShare split: another query may get the other answer (never cached). */
  readonly split: boolean;
  /** The cluster sent first (the local cluster's name for a local answer); for the per-cluster answer counter. */
  readonly chosen: string | undefined;
}

/** Decision.order: the plan and the canonical candidates of an answer whose order is drawn. */
export interface DecisionOrder {
  readonly plan: OrderPlan;
  /** The owner of the address records (the lowercase question name). */
  readonly owner: string;
  readonly ttl: number;
  readonly v4: readonly Target[];
  readonly v6: readonly Target[];
}

/** What a selection adds to a decision (every decision has these keys: one object shape). */
export interface DecisionExtras {
  readonly order?: DecisionOrder | undefined;
  readonly split?: boolean | undefined;
  readonly chosen?: string | undefined;
}

/** Gateway health, pluggable so probes can replace the catalog-only default (SPEC §3). */
export interface GatewayHealth {
  /** undefined means "unknown" — treated as healthy, so a cold start is not an outage. */
  isHealthy(cluster: string, address: string, port: number): boolean | undefined;
  rttMs(cluster: string, address: string, port: number): number | undefined;
}

export interface AnswerOptions {
  /** Lowercase zones, no trailing dot. */
  readonly zones: readonly string[];
  readonly ttlSeconds: number;
  readonly negativeTtlSeconds: number;
  readonly degradedTtlSeconds: number;
  readonly maxAnswers: number;
  readonly policy: TrafficPolicy;
  /** dns.rotate: addresses of equal rank rotate from query to query (default true). */
  readonly rotate?: boolean | undefined;
  /** locality.rttMarginMs: clusters of equal tier within this RTT of each other are equal (default 5). */
  readonly rttMarginMs?: number | undefined;
  /** dns.localShare, 0–100: the share of answers kept local while the local service is healthy (default 100). */
  readonly localShare?: number | undefined;
  /** dns.splitTtl: the TTL cap of an answer chosen by the local-share split (default 5). */
  readonly splitTtlSeconds?: number | undefined;
  /** cluster.weight: this cluster's weight (SRV weight of a local answer; default 100). */
  readonly clusterWeight?: number | undefined;
  /** Glue for `ns.<zone>` (SPEC §1 apex row). */
  readonly nameservers: readonly string[];
  /** This cluster's name (excluded from remote candidates). */
  readonly localCluster: string;
  /** Ready endpoints a local service needs to be answered locally (default 1). */
  readonly localMinReady?: number | undefined;
  /** false: a local service is answered locally whatever its readiness (default true). */
  readonly localFailover?: boolean | undefined;
  /**
   * Most address records of a local headless service in one answer (dns.maxLocalAnswers); absent or
   * null: as many as the reply can hold (the per-query `maxRecords` budget of `answer()`).
   */
  readonly maxLocalAnswers?: number | null | undefined;
  /**
   * dns.chaos: the TXT text of `version.bind`/`version.server` and of `id.server`/`hostname.bind`
   * (class CH), as BIND's `version` and `server-id` options; null or absent: REFUSED.
   */
  readonly chaos?: { readonly version: string | null; readonly id: string | null } | undefined;
}

export interface AnswerContext {
  readonly options: AnswerOptions;
  readonly registry: import('../registry/types.js').RegistryReader;
  readonly health: GatewayHealth;
  readonly client: ClientLocality;
  /** false until the local source has synced: in-zone names get SERVFAIL. */
  readonly sourceReady: boolean;
  /**
   * true while the local source is stale (source.kubernetes.staleAfterSeconds): local answers are
   * still given, from the last-known data, with a TTL no higher than `degradedTtlSeconds`, so
   * clients re-ask often and follow the recovery. Absent: false.
   */
  readonly localStale?: boolean | undefined;
  /**
   * Where a remote cluster is when its catalog has no `location` (e.g. geoip of its first public
   * gateway address); undefined when unknown. Optional: without it such clusters rank last.
   */
  readonly locateCluster?: ((catalog: import('../registry/types.js').ClusterMeta) => GeoLocation | undefined) | undefined;
  /** This query's draws (order.ts `Draws`, stepped per query by the route). Absent: the canonical order. */
  readonly draw?: Draw | undefined;
}

// ---- names: the text of types and rcodes, as dig prints them (PURE) ----

const typeNames = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]));
const rcodeNames = new Map<number, string>(Object.entries(Rcode).map(([k, v]) => [v, k]));

export function typeName(type: number): string {
  return typeNames.get(type) ?? `TYPE${type}`;
}

export function rcodeName(rcode: number): string {
  return rcodeNames.get(rcode) ?? `RCODE${rcode}`;
}

/** "A", "aaaa", "28", "TYPE28" → 28; undefined when unknown. */
export function parseType(text: string): number | undefined {
  const t = text.trim().toUpperCase();
  if (/^\d+$/.test(t)) return Number(t) <= 0xffff ? Number(t) : undefined;
  const m = /^TYPE(\d+)$/.exec(t);
  if (m) return Number(m[1]) <= 0xffff ? Number(m[1]) : undefined;
  return (RRType as Record<string, number>)[t];
}
