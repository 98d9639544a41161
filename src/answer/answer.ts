/**
 * The answer core (PURE): (question, context) → Decision, for every in-zone name (SPEC §1).
 *
 * Owns: the entry point `answer` and its order of checks (class, zone transfer, zone, source
 * readiness, then the shape of the name). The work behind it is split by seam:
 *  - names.ts: zone matching and the shapes of names under a zone;
 *  - apex.ts: the apex SOA/NS, `ns.Z` and CHAOS server identity;
 *  - services.ts: namespace, service and SRV names (NXDOMAIN vs NODATA, ExternalName);
 *  - select.ts: the choice between local, remote and fail-open answers, one function per SPEC row,
 *    over candidates.ts (what the registry knows of a name) and collector.ts (bounded addresses);
 *  - records.ts: SOA/NS/glue/A/AAAA/SRV construction; query.ts: per-question state;
 *  - explain.ts, explain-selection.ts: the explanation (SPEC §3), built only when asked for.
 * Must never: do I/O, read the clock, log, throw for any input, forward, or touch the wire (header
 * bits other than AA, the echoed question and EDNS belong to the DNS edge).
 * Invariants:
 *  - an in-zone name never yields outOfZone, and a known service never yields NXDOMAIN;
 *  - only class IN (and QCLASS ANY in a zone) reaches the zone data or outOfZone: other classes and
 *    zone transfers are `refused` (or a `chaos` answer), which the edge never forwards;
 *  - every NXDOMAIN/NODATA carries the zone's SOA in authority with TTL = negativeTtl (RFC 2308 §3);
 *  - the decision does not depend on whether an explanation is built (`{ explain: false }`);
 *  - the work per question is bounded by the answer, not by the registry: at most `maxRecords`
 *    address records are collected, and a local headless service is read through its precomputed
 *    ready addresses (RegistryReader.readyAddresses), never by walking its endpoints;
 *  - owner names are the lowercase question name; record order is the locality order.
 */
import { answerApex, answerChaos, answerNameserver } from './apex.js';
import { Trace } from './explain.js';
import { classify, describeShape, matchZone, normalizeName, zonesOf, type Shape } from './names.js';
import { budgetOf, Query } from './query.js';
import { answerClusterService, answerNamespace, answerProtocol, answerService, answerSrv } from './services.js';
import { Rcode, RRClass, TRANSFER_TYPES, type AnswerContext, type Decision, type Question } from './types.js';

// sync/protocol.ts judges a service's readiness the way the answer does.
export { localHealthy } from '../registry/records.js';

/** Per-call switches of `answer`. */
export interface AnswerFlags {
  /** Build the explanation (default true). With false, the decision is identical but its
   * explanation holds only the shape of the name: no candidate list, no steps. */
  readonly explain?: boolean | undefined;
  /**
   * Record budget of this reply, computed by the edge from the transport and EDNS size
   * (answerRecordBudget in wire/encode.ts): address lists stop growing there, so a service with
   * 10,000 endpoints costs what its reply can hold. Default: unbounded (explanations, /debug).
   */
  readonly maxRecords?: number | undefined;
}

/**
 * Answer one question. Never throws for any question or registry content; the result is complete
 * except for the header bits, question echo and EDNS that the edge adds.
 */
export function answer(q: Question, ctx: AnswerContext, flags?: AnswerFlags): Decision {
  const name = normalizeName(q.name);
  const tr = flags?.explain === false ? undefined : new Trace();
  const zone = matchZone(name, zonesOf(ctx.options));
  const st = new Query(ctx, name, q.type, zone, tr, budgetOf(flags?.maxRecords));

  // Class first: our zones and the forwarding path are class IN only. As BIND has no view for
  // another class, such questions are REFUSED, in the zone or not, and never forwarded; only the
  // CHAOS server-identity names are answered (answerChaos). QCLASS ANY (255) is matched to the IN
  // data, as BIND matches it to its IN view (RFC 1035 §3.2.5: "*" is any class); outside the zones
  // it is REFUSED like any class but IN.
  if (q.class !== RRClass.IN && (q.class !== RRClass.ANY || zone === undefined)) {
    st.shape = 'otherClass';
    if (q.class === RRClass.CH) return answerChaos(st);
    tr?.step(`class ${q.class} is not served (only IN, and CHAOS server identity) → REFUSED, never forwarded`);
    return st.empty('refused', Rcode.REFUSED);
  }
  // Zone transfers (RFC 5936 AXFR, RFC 1995 IXFR) are refused, as BIND does without
  // allow-transfer: the zone is generated per query, a secondary has nothing to keep. Outside the
  // zones too: a one-reply relay cannot carry a multi-message transfer.
  if (TRANSFER_TYPES.includes(q.type)) {
    st.shape = zone === undefined ? 'outOfZone' : 'transfer';
    tr?.step(`zone transfer (type ${q.type}) → REFUSED, never forwarded`);
    return st.empty('refused', Rcode.REFUSED);
  }
  if (zone === undefined) {
    // SPEC §1: not ours. The edge forwards it for allowed clients and REFUSES everyone else.
    st.shape = 'outOfZone';
    tr?.step(`${name === '' ? '.' : name} is outside every zone → forward (allowed clients) or REFUSED`);
    return st.empty('outOfZone', Rcode.REFUSED);
  }
  return answerInZone(st, zone);
}

/** A class IN (or ANY) question for a name in `zone`, by the shape of the name. */
function answerInZone(st: Query, zone: string): Decision {
  const name = st.name;
  // Split the part below the zone: "S.N" → ["s", "n"]. Longest zone wins, so "a.b.c" under both
  // "c" and "b.c" is parsed relative to "b.c".
  const labels = name.length === zone.length ? [] : name.slice(0, name.length - zone.length - 1).split('.');
  const shape = classify(labels);
  noteShape(st, shape);
  st.tr?.step(`zone ${zone}: ${describeShape(shape)}`);

  if (!st.ctx.sourceReady) {
    // SPEC §1: before the local source has synced we know nothing; SERVFAIL is not cached the way
    // NXDOMAIN is (RFC 2308 §7.1 allows at most 5 minutes, resolvers use far less).
    st.tr?.step('local source has not synced yet → SERVFAIL');
    return st.empty('notReady', Rcode.SERVFAIL);
  }

  switch (shape.kind) {
    case 'apex':
      return answerApex(st);
    case 'nameserver':
      return answerNameserver(st);
    case 'namespace':
      return answerNamespace(st, shape.namespace);
    case 'service':
      return answerService(st, shape.namespace, shape.service);
    case 'protocol':
      return answerProtocol(st, shape.namespace, shape.service, shape.protocol);
    case 'clusterService':
      return answerClusterService(st, shape.cluster, shape.namespace, shape.service);
    case 'srv':
      return answerSrv(st, shape.namespace, shape.service, shape.port, shape.protocol);
    case 'other':
      st.tr?.step('no name of this shape exists under the zone → NXDOMAIN');
      return st.negative('nxdomain');
  }
}

/** The shape, namespace and service of the name go into every explanation. */
function noteShape(st: Query, shape: Shape): void {
  st.shape = shape.kind;
  if (shape.kind !== 'apex' && shape.kind !== 'nameserver' && shape.kind !== 'other') {
    st.namespace = shape.namespace;
    if (shape.kind !== 'namespace') st.service = shape.service;
  }
}
