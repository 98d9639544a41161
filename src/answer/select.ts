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
import { rankClusters, selectTier } from '../locality/rank.js';
import { readyAddressesOf } from '../registry/registry.js';
import type { LocalService } from '../registry/types.js';
import { localStandingOf, remotesOf, type Known, type LocalStanding, type Remotes } from './candidates.js';
import { Collector } from './collector.js';
import { explainFailOpen, explainLocalAnswer, explainLocalCut, explainLocalStanding, explainRemoteAnswer } from './explain-selection.js';
import { budgetOf, type Query } from './query.js';

export interface Pick {
  readonly kind: 'local' | 'remote' | 'degraded';
  readonly ttl: number;
  readonly out: Collector;
  /** ECS scope of a positive answer (RFC 7871 §7.1.1). */
  readonly ecs: number;
}

/**
 * The addresses that answer for a known service (SPEC §1 rows 1–3), in the order of the rows.
 * `localPort` is the local service port an SRV answer uses (-1 for address queries).
 */
export function select(st: Query, namespace: string, service: string, known: Known, fam: number, localPort: number): Pick {
  const here = known.local === undefined ? undefined : localStandingOf(st, namespace, service, known.local);
  if (st.tr !== undefined) explainLocalStanding(st.tr, namespace, service, here);
  if (here?.answersHere === true) return answerLocal(st, known, here, fam, localPort, undefined);
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
  const out = collectLocal(st, here, fam, localPort);
  if (st.tr !== undefined) explainLocalAnswer(st, st.tr, known, here, spilled, fam);
  return { kind: 'local', ttl: localTtl(st), out, ecs: 0 };
}

/** SPEC §1 row 2: the gateways of healthy, fresh remote clusters, by locality (SPEC §3) and policy. */
function answerRemote(st: Query, namespace: string, service: string, known: Known, remotes: Remotes, fam: number): Pick {
  const chosen = selectTier(st.o.policy, rankClusters(st.ctx.client, remotes.healthy));
  const out = new Collector(fam, answerCap(st), st.budget);
  for (const r of chosen) for (const g of r.input.up) out.add(g.address, g.port, r.input.cluster);
  if (st.tr !== undefined) explainRemoteAnswer(st, st.tr, namespace, service, known, remotes, chosen, out, fam);
  return { kind: 'remote', ttl: st.o.ttlSeconds, out, ecs: ecsScopeOf(st) };
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
  const out = new Collector(fam, Infinity, Math.min(st.budget, capped));
  out.takeDistinct(r.v4, false, localPort);
  out.takeDistinct(r.v6, true, localPort);
  if (out.cut && st.tr !== undefined) explainLocalCut(st.tr, out, capped, st.budget, fam);
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
