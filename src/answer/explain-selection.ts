/**
 * Explanation of the selection (PURE; runs only when tracing): the steps and candidate verdicts of
 * SPEC §1 rows 1–3 (SPEC §3 "Explanation").
 *
 * Owns: the text that says why the local service, the remote clusters or fail open answered, and
 * one candidate verdict per remote catalog known to the registry.
 * Must never: influence a decision; select.ts calls it after deciding, with what it decided, and only
 * when a Trace exists (`answer(q, ctx, { explain: false })` runs none of this).
 * Invariants: candidates are listed in cluster-name order (the registry's), each once; a verdict reflects
 * the candidate the decision used (same gateway health, same located position).
 */
import type { Ranked } from '../locality/rank.js';
import { weightOf } from '../registry/traffic.js';
import type { ClusterMeta, RemoteExport, TrafficPolicy } from '../registry/types.js';
import { candidateOf, type Candidate, type Known, type LocalStanding, type Remotes } from './candidates.js';
import type { Collector } from './collector.js';
import { freshnessOf, tierText, type CandidateVerdict, type Trace } from './explain.js';
import { familyOf, familyText } from './families.js';
import type { Draw, OrderPlan } from './order.js';
import { NO_CLUSTERS, type Query } from './query.js';

/** The local service's status, and which dns.localFailover / dns.localMinReady variant applies. */
export function explainLocalStanding(tr: Trace, namespace: string, service: string, here: LocalStanding | undefined): void {
  tr.noteLocal(namespace, service, here?.service, here?.answersHere === true);
  if (here === undefined || here.healthy) return;
  if (here.pinned) tr.step('dns.localFailover is false: answered locally although not ready');
  else if (here.minReady > 1 && here.belowMin)
    tr.step(`fewer than dns.localMinReady (${here.minReady}) ready endpoints: spill over to remote clusters`);
}

/** A headless answer cut short by dns.maxLocalAnswers or by the reply's record budget. */
export function explainLocalCut(tr: Trace, out: Collector, capped: number, budget: number, fam: number): void {
  const n = Math.min(out.v4.length + out.v6.length, capped, budget);
  const why = capped <= budget ? `dns.maxLocalAnswers (${capped})` : `what the reply can hold (${budget} record(s))`;
  tr.step(`${n} of the ready ${familyText(fam)} addresses kept: capped by ${why}`);
}

/** SPEC §1 row 1, or its dns.localMinReady fallback when `spilled` is set. */
export function explainLocalAnswer(
  st: Query,
  tr: Trace,
  known: Known,
  here: LocalStanding,
  spilled: Remotes | undefined,
  fam: number,
): void {
  if (spilled !== undefined) {
    tr.step(
      `no healthy remote cluster to spill over to: answered locally with fewer than dns.localMinReady (${here.minReady}) ready endpoints`,
    );
  }
  explainCandidates(st, tr, known, spilled?.all, undefined, NO_CLUSTERS, 'local', fam);
}

/** SPEC §1 row 2: how many exporters were healthy, and which tier the policy kept. */
export function explainRemoteAnswer(
  st: Query,
  tr: Trace,
  namespace: string,
  service: string,
  known: Known,
  remotes: Remotes,
  chosen: readonly Ranked<Candidate>[],
  out: Collector,
  fam: number,
  policy: TrafficPolicy,
  conflict: boolean,
): void {
  tr.policy = policy;
  tr.step(`${known.exports.length} remote cluster(s) export ${namespace}/${service}, ${remotes.healthy.length} healthy`);
  if (known.local?.traffic?.policy !== undefined) tr.step(`policy ${policy}: this cluster's Service sets it (gsdns.io/policy)`);
  else if (conflict) tr.step(`the exporting clusters set different policies for this service: dns.policy (${policy}) applies`);
  else if (policy !== st.o.policy) tr.step(`policy ${policy}: set by every exporting cluster that sets one (gsdns.io/policy)`);
  const drained = remotes.healthy.filter((c) => weightOf(c.ex) <= 0).map((c) => c.cluster);
  if (drained.length > 0 && drained.length < remotes.healthy.length)
    tr.step(`weight 0 (drained), not used while others are healthy: ${drained.join(', ')}`);
  const names = chosen.map((r) => r.input.cluster).join(', ');
  if (policy === 'failover')
    tr.step(`policy failover: best tier = ${tierText(chosen[0]!.tier, st.ctx.client, chosen[0]!.distanceKm)} (${names})`);
  else if (policy === 'weighted')
    tr.step(
      `policy weighted: every cluster of the best tier (${names}), weights ${chosen.map((r) => `${r.input.cluster}=${weightOf(r.input.ex)}`).join(' ')}`,
    );
  else tr.step(`policy spread: every healthy cluster in rank order (${names})`);
  explainCandidates(st, tr, known, remotes.all, chosen, out.clusters, 'remote', fam);
}

/** SPEC §1 row 3: nothing healthy anywhere, so every known address with the degraded TTL. */
export function explainFailOpen(st: Query, tr: Trace, known: Known, remotes: Remotes, out: Collector, ttl: number, fam: number): void {
  tr.policy = st.o.policy;
  tr.step(`no healthy candidate anywhere → fail open: every known ${familyText(fam)} address, TTL ${ttl}`);
  explainCandidates(st, tr, known, remotes.all, undefined, out.clusters, 'degraded', fam);
}

function unhealthyVerdict(c: Candidate): CandidateVerdict {
  if (!c.ex.service.ready) return { kind: 'notReady' };
  if (!c.ex.fresh) return { kind: 'stale' };
  return { kind: 'noHealthyGateway' };
}

function unhealthyText(c: Candidate): string {
  if (!c.ex.service.ready) return 'ready: false';
  if (!c.ex.fresh) return 'stale';
  return 'no healthy gateway';
}

/** The verdict on one exporting remote cluster, given the row that answered. */
function verdictOf(
  c: Candidate,
  returned: readonly string[],
  kept: readonly string[],
  mode: 'local' | 'remote' | 'degraded',
  fam: number,
): CandidateVerdict {
  const pos = returned.indexOf(c.cluster);
  if (mode === 'degraded') return { kind: 'failOpen', order: pos >= 0 ? pos + 1 : undefined, unhealthy: unhealthyText(c) };
  if (!c.healthy) return unhealthyVerdict(c);
  if (mode === 'local') return { kind: 'answeredLocally' };
  if (pos >= 0) return { kind: 'kept', order: pos + 1 };
  if (!kept.includes(c.cluster)) return { kind: 'outsideBestTier' };
  const hasFamily = c.up.some((g) => (fam & familyOf(g.address)) !== 0);
  return hasFamily ? { kind: 'capped' } : { kind: 'noAddress', family: familyText(fam) };
}

/** One candidate explanation per remote catalog in the registry, in cluster-name order. */
function explainCandidates(
  st: Query,
  tr: Trace,
  known: Known,
  cands: readonly Candidate[] | undefined,
  chosen: readonly Ranked<Candidate>[] | undefined,
  returned: readonly string[],
  mode: 'local' | 'remote' | 'degraded',
  fam: number,
): void {
  const reg = st.ctx.registry;
  const byCluster = new Map<string, Candidate>();
  if (cands !== undefined) for (const c of cands) byCluster.set(c.cluster, c);
  const exported = new Map<string, RemoteExport>();
  for (const ex of known.exports) exported.set(ex.catalog.cluster, ex);
  const kept: readonly string[] = (chosen ?? []).map((r) => r.input.cluster);

  const catalogs: ClusterMeta[] = [...reg.remoteCatalogs()];
  // Exports from catalogs the reader does not list (a minimal RegistryReader) still get an entry.
  for (const ex of known.exports) if (!catalogs.some((c) => c.cluster === ex.catalog.cluster)) catalogs.push(ex.catalog);
  for (const catalog of catalogs) {
    const cluster = catalog.cluster;
    const ex = exported.get(cluster);
    let verdict: CandidateVerdict;
    if (cluster === st.o.localCluster) verdict = { kind: 'localCluster' };
    else if (ex === undefined) verdict = { kind: 'notExported' };
    else verdict = verdictOf(byCluster.get(cluster) ?? candidateOf(st, ex), returned, kept, mode, fam);
    const fresh = ex === undefined ? freshnessOf(reg, cluster) : ex.fresh;
    const exportInfo = ex === undefined ? undefined : { ready: ex.service.ready, fresh: ex.fresh };
    // Explain with the location the ranking used (the catalog's, or one found by ctx.locateCluster).
    const location = catalog.location ?? st.ctx.locateCluster?.(catalog);
    tr.noteCandidate(location === catalog.location ? catalog : { ...catalog, location }, exportInfo, fresh, st.ctx, verdict);
  }
}

/** dns.localShare: which side of the split this query drew. */
export function explainSplit(tr: Trace, share: number, local: boolean): void {
  tr.step(
    `dns.localShare ${share}: ${share}% of answers stay local while a remote cluster is healthy; this query drew the ${local ? 'local' : 'remote'} answer (TTL capped by dns.splitTtl)`,
  );
}

/** How the draw ordered what is sent (order.ts), and the order actually sent. */
export function explainOrder(tr: Trace, plan: OrderPlan, draw: Draw, out: Collector): void {
  const sent = [...out.v4, ...out.v6].map((t) => (t.cluster === undefined ? t.address : `${t.address} (${t.cluster})`)).join(', ');
  if (plan.mode === 'weighted') {
    const total = plan.groups.reduce((a, g) => a + g.weight, 0);
    const shares = plan.groups.map((g) => `${g.cluster ?? 'local'} ${total > 0 ? ((100 * g.weight) / total).toFixed(1) : '0'}%`).join(', ');
    tr.step(`weighted draw ${draw.first.toFixed(3)} over ${shares}; addresses within a cluster rotate (draw ${draw.within.toFixed(3)})`);
  } else if (plan.groups.length > 1) {
    tr.step(
      `rotation: clusters of equal rank (runs of ${plan.classes.join(', ')}) rotate (draw ${draw.first.toFixed(3)}), and each cluster's addresses (draw ${draw.within.toFixed(3)})`,
    );
  } else tr.step(`rotation: the addresses rotate from query to query (draw ${draw.within.toFixed(3)})`);
  tr.step(`order sent: ${sent}`);
}
