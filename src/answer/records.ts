/**
 * Resource records of the answer core (PURE): SOA, NS and glue, CNAME, CHAOS TXT, A/AAAA and SRV.
 *
 * Owns: the construction of every record an answer carries, from values already decided.
 * Must never: choose what to answer; callers pass the decided addresses, TTLs and targets.
 * Invariants: record order is the order of the addresses given (the locality order), A before AAAA;
 * the SOA serial is the registry serial as a uint32 (RFC 1035 §3.3.13).
 */
import { F_A, F_AAAA, isIPv6 } from './families.js';
import { NS_LABEL } from './names.js';
import type { Pick as SelectPick } from './pick.js';
import { RRClass, RRType, type AnswerContext, type AnswerOptions, type DecisionOrder, type ResourceRecord } from './types.js';

/** What the zone's own records are built from: a Query (query.ts) is one. */
export interface ZoneScope {
  readonly zone: string | undefined;
  readonly ctx: AnswerContext;
  readonly o: AnswerOptions;
}

// SOA timers. We have no secondaries, so they only need to be sane (RFC 1912 §2.2 ranges).
const SOA_REFRESH = 7200;
const SOA_RETRY = 1800;
const SOA_EXPIRE = 86400;

const HOSTMASTER_LABEL = 'hostmaster';

/** The zone's SOA with owner TTL `ttl`. */
export function soaRecord(st: ZoneScope, ttl: number): ResourceRecord {
  const zone = st.zone!;
  return {
    name: zone,
    ttl,
    data: {
      type: RRType.SOA,
      mname: `${NS_LABEL}.${zone}`,
      rname: `${HOSTMASTER_LABEL}.${zone}`,
      // SPEC §1: the serial changes whenever the registry does. uint32 (RFC 1035 §3.3.13).
      serial: st.ctx.registry.serial() >>> 0,
      refresh: SOA_REFRESH,
      retry: SOA_RETRY,
      expire: SOA_EXPIRE,
      // RFC 2308 §4: MINIMUM is the negative-caching TTL.
      minimum: st.o.negativeTtlSeconds,
    },
  };
}

/** The apex NS record, `ns.Z`. */
export function nsRecord(st: ZoneScope, ttl: number): ResourceRecord {
  const zone = st.zone!;
  return { name: zone, ttl, data: { type: RRType.NS, host: `${NS_LABEL}.${zone}` } };
}

/** Glue A/AAAA records of `ns.Z` for the asked families (SPEC §1 apex row). */
export function glueRecords(st: ZoneScope, fam: number): ResourceRecord[] {
  const owner = `${NS_LABEL}.${st.zone!}`;
  const out: ResourceRecord[] = [];
  for (const address of st.o.nameservers) {
    const six = isIPv6(address);
    if (six ? fam & F_AAAA : fam & F_A) {
      out.push({ name: owner, ttl: st.o.ttlSeconds, data: six ? { type: RRType.AAAA, address } : { type: RRType.A, address } });
    }
  }
  return out;
}

export function cnameRecord(owner: string, ttl: number, target: string): ResourceRecord {
  return { name: owner, ttl, data: { type: RRType.CNAME, target } };
}

/** A CHAOS TXT record, TTL 0, as BIND answers `version.bind`. */
export function chaosTxtRecord(owner: string, text: string): ResourceRecord {
  return { name: owner, ttl: 0, class: RRClass.CH, data: { type: RRType.TXT, strings: [text] } };
}

/** The picked addresses as A then AAAA records. */
export function addressRecords(owner: string, pick: Pick<SelectPick, 'ttl' | 'out'>): ResourceRecord[] {
  const out: ResourceRecord[] = [];
  for (const t of pick.out.v4) out.push({ name: owner, ttl: pick.ttl, data: { type: RRType.A, address: t.address } });
  for (const t of pick.out.v6) out.push({ name: owner, ttl: pick.ttl, data: { type: RRType.AAAA, address: t.address } });
  return out;
}

/**
 * One SRV per distinct port among the picked targets, all priority 0 weight 0 (a local or fail-open
 * answer): every target has the same name, so the locality order lives in the order of the
 * additional A/AAAA records. Targets without a port (-1: the local service has no port of that
 * name) get none.
 */
export function srvRecords(owner: string, target: string, pick: SelectPick): ResourceRecord[] {
  const answers: ResourceRecord[] = [];
  const seen: number[] = [];
  for (const list of [pick.out.v4, pick.out.v6]) {
    for (const t of list) {
      if (t.port < 0 || seen.includes(t.port)) continue;
      seen.push(t.port);
      answers.push({ name: owner, ttl: pick.ttl, data: { type: RRType.SRV, priority: 0, weight: 0, port: t.port, target } });
    }
  }
  return answers;
}

/**
 * A remote answer's SRV records (issue 16): per cluster in answer order, one per distinct gateway
 * port, with target `C.<base>` and that cluster's priority and weight.
 */
export function clusterSrvRecords(
  owner: string,
  base: string,
  pick: SelectPick,
  srv: ReadonlyMap<string, { readonly priority: number; readonly weight: number }>,
): ResourceRecord[] {
  const answers: ResourceRecord[] = [];
  for (const cluster of pick.out.clusters) {
    const p = srv.get(cluster);
    if (p === undefined) continue;
    const seen: number[] = [];
    for (const list of [pick.out.v4, pick.out.v6]) {
      for (const t of list) {
        if (t.cluster !== cluster || t.port < 0 || seen.includes(t.port)) continue;
        seen.push(t.port);
        answers.push({
          name: owner,
          ttl: pick.ttl,
          data: { type: RRType.SRV, priority: p.priority, weight: p.weight, port: t.port, target: `${cluster}.${base}` },
        });
      }
    }
  }
  return answers;
}

/** The addresses of a remote answer's SRV targets, each owned by its cluster's target `C.<base>`, A then AAAA. */
export function clusterAddressRecords(base: string, pick: SelectPick): ResourceRecord[] {
  const out: ResourceRecord[] = [];
  for (const t of pick.out.v4) out.push({ name: `${t.cluster!}.${base}`, ttl: pick.ttl, data: { type: RRType.A, address: t.address } });
  for (const t of pick.out.v6) out.push({ name: `${t.cluster!}.${base}`, ttl: pick.ttl, data: { type: RRType.AAAA, address: t.address } });
  return out;
}

/** The records of an ordered decision's canonical candidates (Decision.order), A then AAAA. */
export function canonicalAnswers(order: DecisionOrder): ResourceRecord[] {
  const out: ResourceRecord[] = [];
  for (const t of order.v4) out.push({ name: order.owner, ttl: order.ttl, data: { type: RRType.A, address: t.address } });
  for (const t of order.v6) out.push({ name: order.owner, ttl: order.ttl, data: { type: RRType.AAAA, address: t.address } });
  return out;
}
