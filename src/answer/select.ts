/**
 * Selection (PURE): which addresses answer for a known service, one function per SPEC §1 row.
 *
 *  - row 1, `answerLocal`: the local service when it is healthy (≥ dns.localMinReady ready
 *    endpoints), or pinned here by dns.localFailover: false;
 *  - row 2, `answerRemote`: else the healthy, fresh remote clusters, by locality and policy;
 *  - dns.localMinReady fallback, `answerLocal` again: a local service below the minimum but with
 *    ready endpoints, when no remote is healthy to spill over to;
 *  - row 3, `answerFailOpen`: else every known address, with the degraded TTL.
 *
 * Must never: build explanation text; with a trace, each row hands what it decided to
 * explain-selection.ts, so the decision is the same with explanations on or off.
 * Invariants: local answers are not capped by dns.maxAnswers (only by the reply and
 * dns.maxLocalAnswers) and have ECS scope 0; remote and fail-open answers are capped by
 * dns.maxAnswers and scoped to the ECS source prefix (RFC 7871 §7.1.1); a family mismatch in a local
 * answer is NODATA, never a failover.
 */
import { equalRank, rankClusters, selectTier, type Ranked } from '../locality/rank.js';
import { readyAddressesOf } from '../registry/records.js';
import { effectivePolicy, weightOf } from '../registry/traffic.js';
import type { LocalService } from '../registry/types.js';
import { candidateOf, localStandingOf, remotesOf, type Candidate, type Known, type LocalStanding, type Remotes } from './candidates.js';
import { Collector } from './collector.js';
import type { Pick } from './pick.js';
import {
  explainFailOpen,
  explainLocalAnswer,
  explainLocalCut,
  explainLocalStanding,
  explainOrder,
  explainRemoteAnswer,
  explainSplit,
} from './explain-selection.js';
import { arrange, fixedOrder, NO_DRAW, type Draw, type OrderGroup, type OrderPlan } from './order.js';
import { budgetOf, type Query } from './query.js';

/** dns.rttMarginMs default (locality.rttMarginMs). */
const DEFAULT_RTT_MARGIN_MS = 5;

/**
 * The addresses that answer for a known service (SPEC §1 rows 1–3), in the order of the rows.
 * `localPort` is the local service port an SRV answer uses (-1 for address queries).
 */
export function select(st: Query, namespace: string, service: string, known: Known, fam: number, localPort: number): Pick {
  const here = known.local === undefined ? undefined : localStandingOf(st, namespace, service, known.local);
  if (st.tr !== undefined) explainLocalStanding(st.tr, namespace, service, here);
  if (here?.answersHere === true) {
    const share = here.pinned ? 100 : (here.service.traffic?.localShare ?? st.o.localShare ?? 100);
    if (share >= 100) return answerLocal(st, known, here, fam, localPort, undefined);
    return splitLocal(st, namespace, service, known, here, share, fam, localPort);
  }
  const remotes = remotesOf(st, known.exports);
  if (remotes.healthy.length > 0) return answerRemote(st, namespace, service, known, remotes, fam);
  // dns.localMinReady: a local service below the minimum spills over only when a healthy remote
  // exists; otherwise its own ready endpoints beat failing open.
  if (here?.belowMin === true) return answerLocal(st, known, here, fam, localPort, remotes);
  return answerFailOpen(st, known, here?.service, remotes, fam, localPort);
}

/**
 * SPEC §1 row 1: the local endpoints. Not capped by dns.maxAnswers (CoreDNS returns every endpoint
 * and the edge truncates to the reply), but by what the reply can hold and dns.maxLocalAnswers.
 * `spilled` is set for the dns.localMinReady fallback: the remotes that could not take the answer.
 */
function answerLocal(st: Query, known: Known, here: LocalStanding, fam: number, localPort: number, spilled: Remotes | undefined): Pick {
  const canonical = collectLocal(st, here, fam, localPort);
  if (st.tr !== undefined) explainLocalAnswer(st, st.tr, known, here, spilled, fam);
  const total = Math.min(st.budget, budgetOf(st.o.maxLocalAnswers ?? undefined));
  const plan: OrderPlan = {
    mode: 'rotate',
    groups: [{ cluster: undefined, weight: 1, v4Start: 0, v4Count: canonical.v4.length, v6Start: 0, v6Count: canonical.v6.length }],
    classes: [1],
    cap: Infinity,
    total,
  };
  const order = orderOf(st, canonical, plan);
  if (order === undefined && !st.fixedOrder) return { kind: 'local', ttl: localTtl(st), out: canonical, ecs: 0 };
  const { out } = sendOrder(st, canonical, plan, fam, Infinity);
  if (st.tr !== undefined) explainOrder(st.tr, plan, drawOf(st), out);
  return { kind: 'local', ttl: localTtl(st), out, ecs: 0, order };
}

/**
 * dns.localShare (issue 16): a healthy local service answers `share`% of queries; the others are
 * answered as if it were not healthy, when a healthy remote cluster can take them. Either answer's
 * TTL is capped by dns.splitTtl so the split converges in caches.
 */
function splitLocal(
  st: Query,
  namespace: string,
  service: string,
  known: Known,
  here: LocalStanding,
  share: number,
  fam: number,
  localPort: number,
): Pick {
  const remotes = remotesOf(st, known.exports);
  if (remotes.healthy.length === 0) {
    st.tr?.step(`dns.localShare ${share}: no healthy remote cluster to send the rest to, so every answer is local`);
    return answerLocal(st, known, here, fam, localPort, undefined);
  }
  // The split draws whether or not addresses rotate (dns.rotate is about the order only).
  const local = (st.ctx.draw ?? NO_DRAW).share * 100 < share;
  if (st.tr !== undefined) explainSplit(st.tr, share, local);
  const pick = local ? answerLocal(st, known, here, fam, localPort, undefined) : answerRemote(st, namespace, service, known, remotes, fam);
  return { ...pick, ttl: Math.min(pick.ttl, st.o.splitTtlSeconds ?? 5), split: true };
}

/** This query's draws; the canonical order when dns.rotate is off, nothing draws, or the answer keeps a fixed order (SRV). */
function drawOf(st: Query): Draw {
  return st.o.rotate === false || st.fixedOrder ? NO_DRAW : (st.ctx.draw ?? NO_DRAW);
}

/** Weight 0 drains a cluster: it answers only when no cluster with weight is healthy. */
function undrained(healthy: readonly Candidate[]): readonly Candidate[] {
  let drained = 0;
  for (const c of healthy) if (weightOf(c.ex) <= 0) drained++;
  if (drained === 0 || drained === healthy.length) return healthy;
  return healthy.filter((c) => weightOf(c.ex) > 0);
}

/** SPEC §1 row 2: the gateways of healthy, fresh remote clusters, by locality (SPEC §3) and policy. */
function answerRemote(st: Query, namespace: string, service: string, known: Known, remotes: Remotes, fam: number): Pick {
  const { policy, conflict } = effectivePolicy(known.local, known.exports, st.o.policy);
  const rotate = st.o.rotate !== false;
  const margin = st.o.rttMarginMs ?? DEFAULT_RTT_MARGIN_MS;
  const chosen = selectTier(policy, rankClusters(st.ctx.client, undrained(remotes.healthy)), rotate ? margin : undefined);
  // Every candidate the reply can hold, in rank order; the draw orders them and dns.maxAnswers cuts.
  const canonical = new Collector(fam, Infinity, st.budget);
  const groups: OrderGroup[] = [];
  const classes: number[] = [];
  let head: Ranked<Candidate> | undefined;
  for (const r of chosen) {
    const a4 = canonical.v4.length;
    const a6 = canonical.v6.length;
    for (const g of r.input.up) canonical.add(g.address, g.port, r.input.cluster);
    const n4 = canonical.v4.length - a4;
    const n6 = canonical.v6.length - a6;
    if (n4 + n6 === 0) continue;
    groups.push({
      cluster: r.input.cluster,
      weight: Math.max(0, weightOf(r.input.ex)),
      v4Start: a4,
      v4Count: n4,
      v6Start: a6,
      v6Count: n6,
    });
    if (head !== undefined && equalRank(head, r, margin)) classes[classes.length - 1]!++;
    else {
      head = r;
      classes.push(1);
    }
  }
  const plan: OrderPlan = {
    mode: policy === 'weighted' && groups.length > 1 ? 'weighted' : 'rotate',
    groups,
    classes: policy === 'weighted' || !rotate ? [groups.length] : classes,
    cap: answerCap(st),
    total: st.budget,
  };
  const { out, chosen: first } = sendOrder(st, canonical, plan, fam, answerCap(st));
  if (st.tr !== undefined) {
    explainRemoteAnswer(st, st.tr, namespace, service, known, remotes, chosen, out, fam, policy, conflict);
    if (!st.fixedOrder) explainOrder(st.tr, plan, drawOf(st), out);
  }
  const srv = st.fixedOrder ? srvOf(chosen) : undefined;
  return { kind: 'remote', ttl: st.o.ttlSeconds, out, ecs: ecsScopeOf(st), order: orderOf(st, canonical, plan), chosen: first, srv };
}

/** SRV priority (dense rank of the locality tier) and weight of each kept cluster. */
function srvOf(chosen: readonly Ranked<Candidate>[]): Map<string, { priority: number; weight: number }> {
  const m = new Map<string, { priority: number; weight: number }>();
  let priority = -1;
  let tier = -1;
  for (const r of chosen) {
    if (r.tier !== tier) {
      tier = r.tier;
      priority++;
    }
    m.set(r.input.cluster, { priority, weight: Math.max(0, Math.min(0xffff, weightOf(r.input.ex))) });
  }
  return m;
}

/**
 * `C.S.N.Z`: the service in cluster C only. This cluster: its local service, whatever its health
 * (asked by name, as the SRV target of a local answer would be). A remote cluster exporting it: its
 * gateways that are up when it is healthy (SPEC §3), else every gateway with the degraded TTL.
 * Undefined when C does not have the service. The answer does not depend on where the client is.
 */
export function selectCluster(st: Query, namespace: string, service: string, known: Known, cluster: string, fam: number): Pick | undefined {
  st.fixedOrder = true;
  if (cluster === st.o.localCluster) {
    if (known.local === undefined) return undefined;
    const here = localStandingOf(st, namespace, service, known.local);
    st.tr?.step(`cluster ${cluster} is this cluster: its local service, ready or not`);
    return answerLocal(st, known, here, fam, -1, undefined);
  }
  let ex: Known['exports'][number] | undefined;
  for (const e of known.exports) if (e.catalog.cluster === cluster) ex = e;
  if (ex === undefined) return undefined;
  const c = candidateOf(st, ex);
  const out = new Collector(fam, answerCap(st), st.budget);
  if (c.healthy) {
    for (const g of c.up) out.add(g.address, g.port, cluster);
    st.tr?.step(`cluster ${cluster} is healthy: its gateways that are up`);
    return { kind: 'remote', ttl: st.o.ttlSeconds, out, ecs: 0, chosen: cluster };
  }
  const ttl = Math.min(st.o.ttlSeconds, st.o.degradedTtlSeconds);
  for (const g of ex.catalog.gateways) out.add(g.address, g.port, cluster);
  st.tr?.step(
    `cluster ${cluster} is not healthy (${!ex.service.ready ? 'ready: false' : !ex.fresh ? 'stale' : 'no healthy gateway'}): every gateway, TTL ${ttl}`,
  );
  return { kind: 'degraded', ttl, out, ecs: 0, chosen: cluster };
}

/** The plan, when the order can differ between queries or the cap cuts (else the canonical order is what is sent). */
function orderOf(st: Query, canonical: Collector, plan: OrderPlan): Pick['order'] {
  if (st.fixedOrder) return undefined;
  const n = canonical.v4.length + canonical.v6.length;
  if (fixedOrder(plan) && canonical.v4.length <= plan.cap && canonical.v6.length <= plan.cap && n <= plan.total) return undefined;
  return { plan, canonical };
}

/** The addresses sent for this query's draw: `canonical` arranged by `plan`. */
function sendOrder(
  st: Query,
  canonical: Collector,
  plan: OrderPlan,
  fam: number,
  cap: number,
): { out: Collector; chosen: string | undefined } {
  const a = arrange(plan, drawOf(st));
  const out = new Collector(fam, cap, st.budget);
  for (let i = 0; i < a.v4Count; i++) pushTarget(out, out.v4, canonical.v4[a.v4[i]!]!);
  for (let i = 0; i < a.v6Count; i++) pushTarget(out, out.v6, canonical.v6[a.v6[i]!]!);
  out.cut = canonical.cut || a.v4Count + a.v6Count < canonical.v4.length + canonical.v6.length;
  return { out, chosen: plan.groups[a.firstGroup]?.cluster };
}

function pushTarget(out: Collector, list: Collector['v4'], t: Collector['v4'][number]): void {
  list.push(t);
  if (t.cluster !== undefined && !out.clusters.includes(t.cluster)) out.clusters.push(t.cluster);
}

/**
 * SPEC §1 row 3: known, but nothing healthy anywhere → fail open with every known address and a TTL
 * no higher than dns.degradedTtl. Local ClusterIPs come first: the local cluster is the nearest, and
 * kube-proxy/sidecars may recover first. Remote clusters follow in rank order, by their best RTT
 * over every gateway, up or down.
 */
function answerFailOpen(st: Query, known: Known, local: LocalService | undefined, remotes: Remotes, fam: number, localPort: number): Pick {
  const ttl = Math.min(st.o.ttlSeconds, st.o.degradedTtlSeconds);
  const out = new Collector(fam, answerCap(st), st.budget);
  if (local !== undefined) addClusterIPs(out, local, localPort);
  const ranked = rankClusters(
    st.ctx.client,
    remotes.all.map((c) => ({ ...c, rttMs: c.rttAllMs })),
  );
  for (const r of ranked) for (const g of r.input.ex.catalog.gateways) out.add(g.address, g.port, r.input.cluster);
  if (st.tr !== undefined) explainFailOpen(st, st.tr, known, remotes, out, ttl, fam);
  return { kind: 'degraded', ttl, out, ecs: ecsScopeOf(st) };
}

/** dns.maxAnswers, at least 1: the cap of remote and fail-open answers per family. */
function answerCap(st: Query): number {
  return Math.max(1, st.o.maxAnswers);
}

/** A remote or fail-open answer depends on where the client is: scope it to the ECS source prefix (RFC 7871 §7.1.1). */
function ecsScopeOf(st: Query): number {
  return st.ctx.client.ecsSourcePrefix ?? 0;
}

function addClusterIPs(out: Collector, local: LocalService, port: number): void {
  if (local.kind === 'clusterIP') for (const ip of local.clusterIPs) out.add(ip, port, undefined);
}

/**
 * A local service's addresses: its ClusterIPs, or the leading ready addresses of a headless service
 * (A before AAAA), at most dns.maxLocalAnswers and at most what the reply can hold.
 */
function collectLocal(st: Query, here: LocalStanding, fam: number, localPort: number): Collector {
  const local = here.service;
  if (local.kind !== 'headless') {
    const out = new Collector(fam, Infinity, st.budget);
    addClusterIPs(out, local, localPort);
    return out;
  }
  const r = here.ready ?? readyAddressesOf(local);
  const capped = budgetOf(st.o.maxLocalAnswers ?? undefined);
  // Every ready address the reply can hold: the draw rotates them, dns.maxLocalAnswers cuts after.
  const out = new Collector(fam, Infinity, st.budget);
  out.takeDistinct(r.v4, false, localPort);
  out.takeDistinct(r.v6, true, localPort);
  if ((out.cut || out.v4.length + out.v6.length > capped) && st.tr !== undefined) explainLocalCut(st.tr, out, capped, st.budget, fam);
  return out;
}

/**
 * TTL of a local answer: dns.ttl, capped at dns.degradedTtl while the local source is stale (its
 * data may lag the cluster, so clients should re-ask soon).
 */
function localTtl(st: Query): number {
  if (st.ctx.localStale !== true) return st.o.ttlSeconds;
  const ttl = Math.min(st.o.ttlSeconds, st.o.degradedTtlSeconds);
  st.tr?.step(`the local source is stale (source.kubernetes.staleAfterSeconds): last-known local data, TTL capped at ${ttl}`);
  return ttl;
}
