/**
 * JSON and dig-like text for /debug/resolve and `gsdns explain` (PURE).
 *
 * Owns: the presentation of an answer-core Decision and of a forwarded reply (where it came from,
 * the tries, upstream health, the records).
 * Never: decides anything; it only describes values it is given.
 */
import type { Decision } from '../answer/types.js';
import type { ForwardResult } from '../wire/types.js';
import { summarizeMessage } from '../wire/relay.js';
import { formatRecord, rcodeName, typeName } from './presentation.js';

/** The JSON shape of a decision for /debug/resolve and `gsdns explain`. */
export function describeDecision(question: { name: string; type: number }, d: Decision): Record<string, unknown> {
  const lines = [
    `;; ${question.name}. ${typeName(question.type)} → ${rcodeName(d.rcode)} (${d.kind})${d.clusters.length ? ` via ${d.clusters.join(', ')}` : ''}`,
    ...d.explanation.steps.map((s) => `;; ${s}`),
  ];
  for (const c of d.explanation.candidates) {
    const gw = c.gateways
      .map((g) => `${g.address}:${g.port} ${g.healthy ? 'healthy' : 'UNHEALTHY'}${g.rttMs !== undefined ? ` rtt=${g.rttMs}ms` : ''}`)
      .join(', ');
    lines.push(
      `;;   ${c.kept ? `#${c.order ?? '-'} kept   ` : '  dropped'} ${c.cluster} tier=${c.tier}${c.distanceKm !== undefined ? ` distance=${Math.round(c.distanceKm)}km` : ''} ready=${c.ready} fresh=${c.fresh} [${gw}] — ${c.reason}`,
    );
  }
  if (d.answers.length) lines.push(';; ANSWER', ...d.answers.map(formatRecord));
  if (d.authority.length) lines.push(';; AUTHORITY', ...d.authority.map(formatRecord));
  if (d.additional.length) lines.push(';; ADDITIONAL', ...d.additional.map(formatRecord));
  return {
    question: { name: question.name, type: typeName(question.type) },
    rcode: rcodeName(d.rcode),
    kind: d.kind,
    authoritative: d.authoritative,
    clusters: d.clusters,
    answers: d.answers.map(formatRecord),
    authority: d.authority.map(formatRecord),
    additional: d.additional.map(formatRecord),
    explanation: d.explanation,
    text: lines.join('\n'),
  };
}

/** What /debug shows of each upstream (src/forward `UpstreamStats` has these fields). */
export interface UpstreamView {
  readonly upstream: string;
  readonly healthy: boolean;
  readonly lastError?: string | undefined;
  readonly requests: number;
  readonly timeouts: number;
}

/** The JSON shape of a forwarded (out-of-zone) resolution. */
export function describeForward(
  question: { name: string; type: number },
  result: ForwardResult,
  upstreams: readonly UpstreamView[],
): Record<string, unknown> {
  const summary = summarizeMessage(result.message);
  const via =
    result.source === 'cache'
      ? `cache hit, ${result.remainingSeconds ?? 0}s of TTL left (originally from upstream)`
      : result.source === 'stale'
        ? `stale cache entry served (RFC 8767), expired ${result.ageSeconds ?? 0}s ago; every upstream failed`
        : result.source === 'upstream' || result.source === 'coalesced'
          ? `upstream ${result.upstream ?? '?'}${result.source === 'coalesced' ? ' (joined an identical query in flight)' : ''}`
          : result.source === 'overload'
            ? 'too many upstream queries in flight (forward.maxInFlight): SERVFAIL'
            : `every upstream failed within forward.budgetMs${result.upstream ? ` (last SERVFAIL from ${result.upstream})` : ''}`;
  const lines = [
    `;; ${question.name === '' ? '.' : `${question.name}.`} ${typeName(question.type)} → ${rcodeName(result.rcode)} (forward: ${result.source})`,
    `;; outside every zone → forwarded; ${via}`,
    ...result.tries.map((t) => `;;   try ${t.upstream} over ${t.transport}: ${t.outcome} in ${t.ms} ms${t.detail ? ` (${t.detail})` : ''}`),
    ...upstreams.map(
      (u) =>
        `;;   upstream ${u.upstream}: ${u.healthy ? 'up' : `DOWN (${u.lastError ?? 'failing'})`}, ${u.requests} queries, ${u.timeouts} timeouts`,
    ),
  ];
  if (summary?.answers.length) lines.push(';; ANSWER', ...summary.answers);
  if (summary?.authority.length) lines.push(';; AUTHORITY', ...summary.authority);
  return {
    question: { name: question.name, type: typeName(question.type) },
    rcode: rcodeName(result.rcode),
    kind: 'forward',
    source: result.source,
    upstream: result.upstream,
    remainingTtlSeconds: result.remainingSeconds,
    flags: summary?.flags ?? [],
    answers: summary?.answers ?? [],
    authority: summary?.authority ?? [],
    additional: summary?.additional ?? [],
    tries: result.tries,
    upstreams: upstreams.map((u) => ({ upstream: u.upstream, healthy: u.healthy, lastError: u.lastError })),
    text: lines.join('\n'),
  };
}
