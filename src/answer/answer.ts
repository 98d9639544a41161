/**
 * The answer core (PURE): (question, context) → Decision, for every in-zone name (SPEC §1).
 *
 * Owns: zone matching, the shapes of names under a zone, the choice between local, remote and
 * fail-open answers, SRV/SOA/NS construction, negative answers (RFC 2308) and the explanation.
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
import { rankClusters, selectTier, type RankInput, type Ranked } from '../locality/rank.js';
import { readyAddressesOf } from '../registry/registry.js';
import type { ClusterMeta, Gateway, LocalService, Protocol, ReadyAddresses, RemoteExport, ServicePort } from '../registry/types.js';
import { bareExplanation, freshnessOf, tierText, Trace, type CandidateVerdict } from './explain.js';
import {
  Rcode,
  RRClass,
  RRType,
  TRANSFER_TYPES,
  type AnswerContext,
  type AnswerOptions,
  type ClientLocality,
  type Decision,
  type DecisionKind,
  type Question,
  type ResourceRecord,
} from './types.js';

/** Per-call switches of `answer`. */
export interface AnswerFlags {
  /** Build the explanation (default true). With false, the decision is identical but its
   * explanation holds only the shape of the name: no candidate list, no steps. */
  readonly explain?: boolean | undefined;
  /**
   * Record budget of this reply, computed by the edge from the transport and EDNS size
   * (answerRecordBudget in dns/wire.ts): address lists stop growing there, so a service with
   * 10,000 endpoints costs what its reply can hold. Default: unbounded (explanations, /debug).
   */
  readonly maxRecords?: number | undefined;
}

// SOA timers. We have no secondaries, so they only need to be sane (RFC 1912 §2.2 ranges).
const SOA_REFRESH = 7200;
const SOA_RETRY = 1800;
const SOA_EXPIRE = 86400;

/** Conventional label of the zone's nameserver, the target of the apex NS record. */
const NS_LABEL = 'ns';
const HOSTMASTER_LABEL = 'hostmaster';

const F_A = 1;
const F_AAAA = 2;
const F_BOTH = F_A | F_AAAA;

const NO_RECORDS: readonly ResourceRecord[] = Object.freeze([]);
const NO_CLUSTERS: readonly string[] = Object.freeze([]);

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
    return st.done('refused', Rcode.REFUSED, NO_RECORDS, NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
  }
  // Zone transfers (RFC 5936 AXFR, RFC 1995 IXFR) are refused, as BIND does without
  // allow-transfer: the zone is generated per query, a secondary has nothing to keep. Outside the
  // zones too: a one-reply relay cannot carry a multi-message transfer.
  if (TRANSFER_TYPES.includes(q.type)) {
    st.shape = zone === undefined ? 'outOfZone' : 'transfer';
    tr?.step(`zone transfer (type ${q.type}) → REFUSED, never forwarded`);
    return st.done('refused', Rcode.REFUSED, NO_RECORDS, NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
  }

  if (zone === undefined) {
    // SPEC §1: not ours. The edge forwards it for allowed clients and REFUSES everyone else.
    st.shape = 'outOfZone';
    tr?.step(`${name === '' ? '.' : name} is outside every zone → forward (allowed clients) or REFUSED`);
    return st.done('outOfZone', Rcode.REFUSED, NO_RECORDS, NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
  }

  // Split the part below the zone: "S.N" → ["s", "n"]. Longest zone wins, so "a.b.c" under both
  // "c" and "b.c" is parsed relative to "b.c".
  const labels = name.length === zone.length ? [] : name.slice(0, name.length - zone.length - 1).split('.');
  const shape = classify(labels);
  st.shape = shape.kind;
  if (shape.kind !== 'apex' && shape.kind !== 'nameserver' && shape.kind !== 'other') {
    st.namespace = shape.namespace;
    if (shape.kind !== 'namespace') st.service = shape.service;
  }
  tr?.step(`zone ${zone}: ${describeShape(shape)}`);

  if (!ctx.sourceReady) {
    // SPEC §1: before the local source has synced we know nothing; SERVFAIL is not cached the way
    // NXDOMAIN is (RFC 2308 §7.1 allows at most 5 minutes, resolvers use far less).
    tr?.step('local source has not synced yet → SERVFAIL');
    return st.done('notReady', Rcode.SERVFAIL, NO_RECORDS, NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
  }

  switch (shape.kind) {
    case 'apex':
      return answerApex(st);
    case 'nameserver':
      return answerNameserver(st);
    case 'namespace':
      // RFC 8020: a namespace with services is an empty non-terminal, so NODATA, not NXDOMAIN.
      if (ctx.registry.hasNamespace(shape.namespace)) {
        tr?.step(`namespace ${shape.namespace} has services: empty non-terminal → NODATA (RFC 8020)`);
        return st.negative('nodata');
      }
      tr?.step(`no service lives in namespace ${shape.namespace} → NXDOMAIN`);
      return st.negative('nxdomain');
    case 'service':
      return answerService(st, shape.namespace, shape.service);
    case 'protocol':
      return answerProtocol(st, shape.namespace, shape.service, shape.protocol);
    case 'srv':
      return answerSrv(st, shape.namespace, shape.service, shape.port, shape.protocol);
    case 'other':
      tr?.step('no name of this shape exists under the zone → NXDOMAIN');
      return st.negative('nxdomain');
  }
}

// ---- CHAOS -------------------------------------------------------------------------------

/** The server-identity names of class CH (BIND's `version`, `server-id`; RFC 4892 §2.2). */
const CHAOS_NAMES: ReadonlyMap<string, 'version' | 'id'> = new Map([
  ['version.bind', 'version'],
  ['version.server', 'version'],
  ['id.server', 'id'],
  ['hostname.bind', 'id'],
]);

/**
 * A class CH question: TXT or ANY for a server-identity name is answered with dns.chaos's text
 * (one TXT CH record, TTL 0, AA, as BIND answers `version.bind`); anything else is REFUSED and
 * never forwarded, which keeps an upstream's version string from leaking through us.
 */
function answerChaos(st: Query): Decision {
  const which = CHAOS_NAMES.get(st.name);
  const text = which === undefined ? null : (st.o.chaos?.[which] ?? null);
  if (which === undefined || text === null || (st.type !== RRType.TXT && st.type !== RRType.ANY)) {
    st.tr?.step(
      which === undefined
        ? `${st.name} is not a CHAOS server-identity name → REFUSED, never forwarded`
        : text === null
          ? `dns.chaos.${which} is not set → REFUSED`
          : `${st.name} CH has only a TXT record, not type ${st.type} → REFUSED`,
    );
    return st.done('refused', Rcode.REFUSED, NO_RECORDS, NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
  }
  st.tr?.step(`CHAOS ${st.name}: TXT from dns.chaos.${which}`);
  const txt: ResourceRecord = { name: st.name, ttl: 0, class: RRClass.CH, data: { type: RRType.TXT, strings: [text] } };
  return st.done('chaos', Rcode.NOERROR, [txt], NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
}

// ---- names --------------------------------------------------------------------------------

type Shape =
  | { readonly kind: 'apex' }
  | { readonly kind: 'nameserver' }
  | { readonly kind: 'namespace'; readonly namespace: string }
  | { readonly kind: 'service'; readonly namespace: string; readonly service: string }
  | { readonly kind: 'protocol'; readonly namespace: string; readonly service: string; readonly protocol: Protocol }
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
function classify(labels: readonly string[]): Shape {
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
      return protocol === undefined ? OTHER : { kind: 'protocol', namespace: labels[2]!, service: labels[1]!, protocol };
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

function describeShape(s: Shape): string {
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
    case 'srv':
      return `SRV name of port ${s.port}/${s.protocol} of ${s.namespace}/${s.service}`;
    case 'other':
      return 'a name of no known shape';
  }
}

/** Lowercase, without a trailing dot (the internal form, STYLE.md). */
function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.length > 0 && n.charCodeAt(n.length - 1) === 46 ? n.slice(0, -1) : n;
}

const zoneCache = new WeakMap<readonly string[], readonly string[]>();

/** The configured zones, normalized once per options object. */
function zonesOf(o: AnswerOptions): readonly string[] {
  let z = zoneCache.get(o.zones);
  if (z === undefined) {
    z = o.zones.map(normalizeName).filter((x) => x.length > 0);
    zoneCache.set(o.zones, z);
  }
  return z;
}

/** Longest zone that `name` equals or ends with on a label boundary. Allocation-free. */
function matchZone(name: string, zones: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const z of zones) {
    if (best !== undefined && z.length <= best.length) continue;
    if (name === z) best = z;
    else if (name.length > z.length && name.charCodeAt(name.length - z.length - 1) === 46 && name.endsWith(z)) best = z;
  }
  return best;
}

/** A usable record budget: a positive integer, or Infinity when absent or nonsensical. */
function budgetOf(maxRecords: number | undefined): number {
  return maxRecords !== undefined && maxRecords >= 1 ? Math.floor(maxRecords) : Infinity;
}

function isIPv6(address: string): boolean {
  return address.indexOf(':') >= 0;
}

function familiesOf(qtype: number): number {
  return qtype === RRType.A ? F_A : qtype === RRType.AAAA ? F_AAAA : qtype === RRType.ANY ? F_BOTH : 0;
}

function familyText(fam: number): string {
  return fam === F_A ? 'A' : fam === F_AAAA ? 'AAAA' : 'A/AAAA';
}

// ---- per-question state ---------------------------------------------------------------------

class Query {
  shape = 'other';
  namespace: string | undefined;
  service: string | undefined;

  constructor(
    readonly ctx: AnswerContext,
    readonly name: string,
    readonly type: number,
    readonly zone: string | undefined,
    readonly tr: Trace | undefined,
    /** Most address records to collect (AnswerFlags.maxRecords). */
    readonly budget: number,
  ) {}

  get o(): AnswerOptions {
    return this.ctx.options;
  }

  get client(): ClientLocality {
    return this.ctx.client;
  }

  done(
    kind: DecisionKind,
    rcode: number,
    answers: readonly ResourceRecord[],
    authority: readonly ResourceRecord[],
    additional: readonly ResourceRecord[],
    clusters: readonly string[],
    ecsScopePrefix: number,
  ): Decision {
    // The Query itself carries the ExplanationBase fields (zone, namespace, service, shape, client).
    return {
      kind,
      rcode,
      // AA=1 on every answer from our zones, NXDOMAIN/NODATA included (RFC 1035 §4.1.1), and on
      // CHAOS answers (as BIND). A SERVFAIL or a REFUSED is not an answer, out-of-zone names not ours.
      authoritative: kind !== 'outOfZone' && kind !== 'notReady' && kind !== 'refused',
      answers,
      authority,
      additional,
      clusters,
      ecsScopePrefix,
      explanation: this.tr === undefined ? bareExplanation(this) : this.tr.build(this),
    };
  }

  /** NXDOMAIN or NODATA with the zone's SOA in authority (RFC 2308 §3, §2.2). */
  negative(kind: 'nxdomain' | 'nodata', ecsScopePrefix = 0): Decision {
    const rcode = kind === 'nxdomain' ? Rcode.NXDOMAIN : Rcode.NOERROR;
    // RFC 2308 §3: the SOA's TTL is min(SOA TTL, MINIMUM); we set both to negativeTtl.
    const soa = this.soa(this.o.negativeTtlSeconds);
    return this.done(kind, rcode, NO_RECORDS, [soa], NO_RECORDS, NO_CLUSTERS, ecsScopePrefix);
  }

  soa(ttl: number): ResourceRecord {
    const zone = this.zone!;
    return {
      name: zone,
      ttl,
      data: {
        type: RRType.SOA,
        mname: `${NS_LABEL}.${zone}`,
        rname: `${HOSTMASTER_LABEL}.${zone}`,
        // SPEC §1: the serial changes whenever the registry does. uint32 (RFC 1035 §3.3.13).
        serial: this.ctx.registry.serial() >>> 0,
        refresh: SOA_REFRESH,
        retry: SOA_RETRY,
        expire: SOA_EXPIRE,
        // RFC 2308 §4: MINIMUM is the negative-caching TTL.
        minimum: this.o.negativeTtlSeconds,
      },
    };
  }

  /** Glue A/AAAA records of `ns.Z` for the asked families (SPEC §1 apex row). */
  glue(fam: number): ResourceRecord[] {
    const owner = `${NS_LABEL}.${this.zone!}`;
    const out: ResourceRecord[] = [];
    for (const address of this.o.nameservers) {
      const six = isIPv6(address);
      if (six ? fam & F_AAAA : fam & F_A) {
        out.push({ name: owner, ttl: this.o.ttlSeconds, data: six ? { type: RRType.AAAA, address } : { type: RRType.A, address } });
      }
    }
    return out;
  }
}

// ---- apex and nameserver ------------------------------------------------------------------

function answerApex(st: Query): Decision {
  const zone = st.zone!;
  const ttl = st.o.ttlSeconds;
  const ns: ResourceRecord = { name: zone, ttl, data: { type: RRType.NS, host: `${NS_LABEL}.${zone}` } };
  switch (st.type) {
    case RRType.SOA:
      st.tr?.step('SOA at the apex');
      return st.done('apex', Rcode.NOERROR, [st.soa(ttl)], NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
    case RRType.NS:
      st.tr?.step(`NS at the apex: ${NS_LABEL}.${zone}, glue in additional`);
      return st.done('apex', Rcode.NOERROR, [ns], NO_RECORDS, st.glue(F_BOTH), NO_CLUSTERS, 0);
    case RRType.ANY:
      // RFC 8482 §4.1 lets ANY return a subset of the RRsets; at the apex we return all of them
      // (SOA and NS, glue in additional): they are few and they are what a dig user wants.
      st.tr?.step('ANY at the apex: SOA and NS (RFC 8482)');
      return st.done('apex', Rcode.NOERROR, [st.soa(ttl), ns], NO_RECORDS, st.glue(F_BOTH), NO_CLUSTERS, 0);
    default:
      st.tr?.step(`the apex has no records of type ${st.type} → NODATA`);
      return st.negative('nodata');
  }
}

function answerNameserver(st: Query): Decision {
  const fam = familiesOf(st.type);
  const glue = fam === 0 ? [] : st.glue(fam);
  if (glue.length === 0) {
    st.tr?.step(`${NS_LABEL}.${st.zone!} has no records of type ${st.type} → NODATA`);
    return st.negative('nodata');
  }
  st.tr?.step(`${NS_LABEL}.${st.zone!}: nameserver addresses from dns.nameservers`);
  return st.done('apex', Rcode.NOERROR, glue, NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
}

// ---- services -----------------------------------------------------------------------------

interface Known {
  readonly local: LocalService | undefined;
  /** Remote exports of the name, without the local cluster's own catalog, in cluster-name order. */
  readonly exports: readonly RemoteExport[];
}

function lookup(st: Query, namespace: string, service: string): Known {
  const reg = st.ctx.registry;
  const local = reg.localService(namespace, service);
  const all = reg.remoteExports(namespace, service);
  const me = st.o.localCluster;
  let exports = all;
  for (const ex of all) {
    // Our own catalog can come back through sync; local services are the truth for this cluster.
    if (ex.catalog.cluster === me) {
      exports = all.filter((e) => e.catalog.cluster !== me);
      break;
    }
  }
  return { local, exports };
}

/**
 * SPEC §3: a local service is healthy with ≥1 ready endpoint (dns.localMinReady raises the bar).
 * `ready` (a headless service's precomputed ready addresses) makes it O(1).
 */
export function localHealthy(local: LocalService, minReady = 1, ready?: ReadyAddresses): boolean {
  // An ExternalName is an alias: always.
  switch (local.kind) {
    case 'clusterIP':
      return local.readyEndpoints >= minReady;
    case 'headless': {
      if (ready !== undefined) return ready.ready >= minReady;
      let count = 0;
      for (const e of local.endpoints) if (e.ready && ++count >= minReady) return true;
      return false;
    }
    case 'externalName':
      return true;
  }
}

function answerService(st: Query, namespace: string, service: string): Decision {
  const known = lookup(st, namespace, service);
  const { local } = known;
  if (local === undefined && known.exports.length === 0) {
    st.tr?.step(`no service ${namespace}/${service} here or in any peer catalog → NXDOMAIN`);
    return st.negative('nxdomain');
  }
  if (local?.kind === 'externalName') {
    // RFC 1034 §3.6.2: a CNAME owner has no other data, so the alias answers every type.
    const target = normalizeName(local.externalName);
    st.tr?.noteLocal(namespace, service, local, true);
    st.tr?.step(`ExternalName → CNAME ${target}`);
    const cname: ResourceRecord = { name: st.name, ttl: st.o.ttlSeconds, data: { type: RRType.CNAME, target } };
    return st.done('local', Rcode.NOERROR, [cname], NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
  }
  const fam = familiesOf(st.type);
  if (fam === 0) {
    // SPEC §1: the name exists, the type does not (TXT, MX, SRV without _P._proto, CNAME…).
    st.tr?.step(`a service name has only A/AAAA records, not type ${st.type} → NODATA`);
    return st.negative('nodata');
  }
  const pick = select(st, namespace, service, known, fam, -1);
  const answers = addressRecords(st.name, pick);
  if (answers.length === 0) {
    st.tr?.step(`no ${familyText(fam)} address among the ${pick.kind} answer → NODATA`);
    return st.negative('nodata', pick.kind === 'remote' ? pick.ecs : 0);
  }
  st.tr?.step(`answer: ${answers.length} ${familyText(fam)} record(s), ${pick.kind}, TTL ${pick.ttl}`);
  return st.done(pick.kind, Rcode.NOERROR, answers, NO_RECORDS, NO_RECORDS, pick.out.clusters, pick.ecs);
}

/** True when the service (local or any peer export) has a port of that protocol (and name). */
function hasPort(known: Known, protocol: Protocol, portName: string | undefined): boolean {
  if (known.local !== undefined && findPort(known.local.ports, protocol, portName) !== undefined) return true;
  for (const ex of known.exports) if (findPort(ex.service.ports, protocol, portName) !== undefined) return true;
  return false;
}

function findPort(ports: readonly ServicePort[], protocol: Protocol, portName: string | undefined): ServicePort | undefined {
  for (const p of ports) if (p.protocol === protocol && (portName === undefined || p.name === portName)) return p;
  return undefined;
}

function answerProtocol(st: Query, namespace: string, service: string, protocol: Protocol): Decision {
  const known = lookup(st, namespace, service);
  if ((known.local !== undefined || known.exports.length > 0) && hasPort(known, protocol, undefined)) {
    st.tr?.step(`${namespace}/${service} has ${protocol} ports: empty non-terminal → NODATA (RFC 8020)`);
    return st.negative('nodata');
  }
  st.tr?.step(`${namespace}/${service} has no ${protocol} port (or does not exist) → NXDOMAIN`);
  return st.negative('nxdomain');
}

function answerSrv(st: Query, namespace: string, service: string, portName: string, protocol: Protocol): Decision {
  const known = lookup(st, namespace, service);
  const { local } = known;
  if (local === undefined && known.exports.length === 0) {
    st.tr?.step(`no service ${namespace}/${service} here or in any peer catalog → NXDOMAIN`);
    return st.negative('nxdomain');
  }
  if (!hasPort(known, protocol, portName)) {
    st.tr?.step(`${namespace}/${service} has no ${protocol} port named ${portName} → NXDOMAIN`);
    return st.negative('nxdomain');
  }
  if (local?.kind === 'externalName' || (st.type !== RRType.SRV && st.type !== RRType.ANY)) {
    // The SRV name exists; an ExternalName has no endpoints to point it at, other types no data.
    st.tr?.step(local?.kind === 'externalName' ? 'ExternalName services have no SRV records → NODATA' : `type ${st.type} → NODATA`);
    return st.negative('nodata');
  }
  // The local answer uses the service port named P; remote answers use each gateway's port.
  const localPort = local === undefined ? -1 : (findPort(local.ports, protocol, portName)?.port ?? -1);
  const pick = select(st, namespace, service, known, F_BOTH, localPort);
  const target = `${service}.${namespace}.${st.zone!}`;
  // One SRV per distinct port among the answer targets, all priority 0 weight 0: every target has the
  // same name, so the locality order lives in the order of the additional A/AAAA records.
  const answers: ResourceRecord[] = [];
  const seen: number[] = [];
  for (const list of [pick.out.v4, pick.out.v6]) {
    for (const t of list) {
      if (t.port < 0 || seen.includes(t.port)) continue;
      seen.push(t.port);
      answers.push({ name: st.name, ttl: pick.ttl, data: { type: RRType.SRV, priority: 0, weight: 0, port: t.port, target } });
    }
  }
  if (answers.length === 0) {
    st.tr?.step(`no SRV target for port ${portName} in the ${pick.kind} answer → NODATA`);
    return st.negative('nodata', pick.kind === 'remote' ? pick.ecs : 0);
  }
  // RFC 2782: the target's addresses go in the additional section.
  const additional = addressRecords(target, pick);
  st.tr?.step(`answer: ${answers.length} SRV record(s) → ${target}, ${additional.length} address(es) in additional, ${pick.kind}, TTL ${pick.ttl}`);
  return st.done(pick.kind, Rcode.NOERROR, answers, NO_RECORDS, additional, pick.out.clusters, pick.ecs);
}

function addressRecords(owner: string, pick: Pick): ResourceRecord[] {
  const out: ResourceRecord[] = [];
  for (const t of pick.out.v4) out.push({ name: owner, ttl: pick.ttl, data: { type: RRType.A, address: t.address } });
  for (const t of pick.out.v6) out.push({ name: owner, ttl: pick.ttl, data: { type: RRType.AAAA, address: t.address } });
  return out;
}

// ---- selection: local, remote, fail open ---------------------------------------------------

interface Target {
  readonly address: string;
  /** Service port (local) or gateway port (remote); -1 when the local service has no such port. */
  readonly port: number;
}

/**
 * Ordered, deduplicated, capped addresses of the asked families, and who contributed them. It stops
 * growing at `cap` per family and at `budget` in total (the records the reply can hold), so what a
 * question costs is bounded by its answer.
 */
class Collector {
  readonly v4: Target[] = [];
  readonly v6: Target[] = [];
  readonly clusters: string[] = [];
  /** Some address of an asked family was left out by the cap or the budget. */
  cut = false;
  private seen: Set<string> | undefined;

  constructor(
    private readonly fam: number,
    private readonly cap: number,
    private readonly budget: number,
  ) {}

  /** The record budget is spent: feeding more addresses is wasted work. */
  get full(): boolean {
    return this.v4.length + this.v6.length >= this.budget;
  }

  add(address: string, port: number, cluster: string | undefined): void {
    const six = isIPv6(address);
    if ((this.fam & (six ? F_AAAA : F_A)) === 0) return;
    const list = six ? this.v6 : this.v4;
    if (this.has(address)) return;
    if (list.length >= this.cap || this.full) {
      this.cut = true;
      return;
    }
    list.push({ address, port });
    if (this.seen !== undefined) this.seen.add(address);
    if (cluster !== undefined && !this.clusters.includes(cluster)) this.clusters.push(cluster);
  }

  /**
   * Take the leading addresses of a list that holds distinct addresses of one family (a headless
   * service's precomputed ready addresses), up to the cap and the budget: O(what is taken), with no
   * duplicate checks. Only for a family this collector holds nothing of yet.
   */
  takeDistinct(addresses: readonly string[], six: boolean, port: number): void {
    if ((this.fam & (six ? F_AAAA : F_A)) === 0 || addresses.length === 0) return;
    const list = six ? this.v6 : this.v4;
    const room = Math.min(this.cap - list.length, this.budget - this.v4.length - this.v6.length);
    const n = Math.max(0, Math.min(addresses.length, room));
    for (let i = 0; i < n; i++) list.push({ address: addresses[i]!, port });
    if (n < addresses.length) this.cut = true;
    this.seen = undefined; // rebuilt from the lists if add() is ever called afterwards
  }

  private has(address: string): boolean {
    if (this.seen !== undefined) return this.seen.has(address);
    const n = this.v4.length + this.v6.length;
    if (n < 16) {
      for (const t of this.v4) if (t.address === address) return true;
      for (const t of this.v6) if (t.address === address) return true;
      return false;
    }
    // Large headless services: switch to a set once, instead of quadratic scans.
    this.seen = new Set();
    for (const t of this.v4) this.seen.add(t.address);
    for (const t of this.v6) this.seen.add(t.address);
    return this.seen.has(address);
  }
}

interface Pick {
  readonly kind: 'local' | 'remote' | 'degraded';
  readonly ttl: number;
  readonly out: Collector;
  /** ECS scope of a positive answer (RFC 7871 §7.1.1). */
  readonly ecs: number;
}

/** A remote cluster exporting the name, as the ranking sees it. */
interface Candidate extends RankInput {
  readonly ex: RemoteExport;
  /** Gateways that are not known to be down (unknown health counts as up, GatewayHealth). */
  readonly up: readonly Gateway[];
  /** Best RTT over every gateway, for the fail-open order. */
  readonly rttAllMs: number | undefined;
  /** SPEC §3: ready in its catalog, fresh, and ≥1 healthy gateway. */
  readonly healthy: boolean;
}

function candidateOf(st: Query, ex: RemoteExport): Candidate {
  const health = st.ctx.health;
  const c = ex.catalog;
  const up: Gateway[] = [];
  let rttMs: number | undefined;
  let rttAllMs: number | undefined;
  for (const g of c.gateways) {
    const ok = health.isHealthy(c.cluster, g.address, g.port) !== false;
    const r = health.rttMs(c.cluster, g.address, g.port);
    if (r !== undefined && (rttAllMs === undefined || r < rttAllMs)) rttAllMs = r;
    if (!ok) continue;
    up.push(g);
    if (r !== undefined && (rttMs === undefined || r < rttMs)) rttMs = r;
  }
  return {
    cluster: c.cluster,
    region: c.region,
    zone: c.zone,
    location: c.location ?? st.ctx.locateCluster?.(c),
    rttMs,
    ex,
    up,
    rttAllMs,
    healthy: ex.service.ready && ex.fresh && up.length > 0,
  };
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

/**
 * The addresses that answer for a known service (SPEC §1 rows 1–3): the local service when it is
 * healthy; else healthy, fresh remote clusters per policy; else every known address (fail open).
 * `localPort` is the local service port an SRV answer uses (-1 for address queries).
 */
function select(st: Query, namespace: string, service: string, known: Known, fam: number, localPort: number): Pick {
  const o = st.o;
  const { local, exports } = known;
  const tr = st.tr;
  const minReady = o.localMinReady ?? 1;
  // A headless service is read through its ready addresses, precomputed on write: O(1) here.
  const ready = local?.kind === 'headless' ? (st.ctx.registry.readyAddresses?.(namespace, service) ?? readyAddressesOf(local)) : undefined;
  // dns.localFailover: false keeps a service that exists here local, however unready.
  const healthyHere = local !== undefined && (localHealthy(local, minReady, ready) || o.localFailover === false);
  tr?.noteLocal(namespace, service, local, healthyHere);
  if (tr !== undefined && local !== undefined && !localHealthy(local, minReady, ready)) {
    if (o.localFailover === false) tr.step('dns.localFailover is false: answered locally although not ready');
    else if (minReady > 1 && localHealthy(local, 1, ready)) tr.step(`fewer than dns.localMinReady (${minReady}) ready endpoints: spill over to remote clusters`);
  }

  if (healthyHere) {
    // Row 1: local endpoints. Not capped by maxAnswers (CoreDNS returns every endpoint and the edge
    // truncates to the reply), but by what the reply can hold and dns.maxLocalAnswers. Family
    // mismatch is NODATA, never a failover.
    const out = collectLocal(st, local, ready, fam, localPort);
    if (tr !== undefined) explainCandidates(st, known, undefined, undefined, NO_CLUSTERS, 'local', fam);
    return { kind: 'local', ttl: localTtl(st), out, ecs: 0 };
  }

  const cands: Candidate[] = new Array(exports.length);
  const healthy: Candidate[] = [];
  for (let i = 0; i < exports.length; i++) {
    const c = candidateOf(st, exports[i]!);
    cands[i] = c;
    if (c.healthy) healthy.push(c);
  }
  // The answer depends on where the client is: scope it to the ECS source prefix (RFC 7871 §7.1.1).
  const ecs = st.ctx.client.ecsSourcePrefix ?? 0;
  const cap = Math.max(1, o.maxAnswers);

  if (healthy.length > 0) {
    // Row 2: healthy, fresh peers, by locality (SPEC §3).
    const ranked = rankClusters(st.ctx.client, healthy);
    const chosen = selectTier(o.policy, ranked);
    const out = new Collector(fam, cap, st.budget);
    for (const r of chosen) for (const g of r.input.up) out.add(g.address, g.port, r.input.cluster);
    if (tr !== undefined) {
      tr.policy = o.policy;
      tr.step(`${exports.length} remote cluster(s) export ${namespace}/${service}, ${healthy.length} healthy`);
      const names = chosen.map((r) => r.input.cluster).join(', ');
      if (o.policy === 'failover') tr.step(`policy failover: best tier = ${tierText(chosen[0]!.tier, st.ctx.client, chosen[0]!.distanceKm)} (${names})`);
      else tr.step(`policy spread: every healthy cluster in rank order (${names})`);
      explainCandidates(st, known, cands, chosen, out.clusters, 'remote', fam);
    }
    return { kind: 'remote', ttl: o.ttlSeconds, out, ecs };
  }

  // dns.localMinReady: a local service below the minimum but with ready endpoints spills over only
  // when a healthy remote exists; otherwise its own ready endpoints beat failing open.
  if (local !== undefined && localHealthy(local, 1, ready)) {
    const out = collectLocal(st, local, ready, fam, localPort);
    if (tr !== undefined) {
      tr.step(`no healthy remote cluster to spill over to: answered locally with fewer than dns.localMinReady (${minReady}) ready endpoints`);
      explainCandidates(st, known, cands, undefined, NO_CLUSTERS, 'local', fam);
    }
    return { kind: 'local', ttl: localTtl(st), out, ecs: 0 };
  }

  // Row 3: known, nothing healthy → fail open with every known address, short TTL. Local ClusterIPs
  // come first: the local cluster is the nearest, and kube-proxy/sidecars may recover first.
  const ttl = Math.min(o.ttlSeconds, o.degradedTtlSeconds);
  const out = new Collector(fam, cap, st.budget);
  if (local?.kind === 'clusterIP') for (const ip of local.clusterIPs) out.add(ip, localPort, undefined);
  const ranked = rankClusters(
    st.ctx.client,
    cands.map((c) => ({ ...c, rttMs: c.rttAllMs })),
  );
  for (const r of ranked) for (const g of r.input.ex.catalog.gateways) out.add(g.address, g.port, r.input.cluster);
  if (tr !== undefined) {
    tr.policy = o.policy;
    tr.step(`no healthy candidate anywhere → fail open: every known ${familyText(fam)} address, TTL ${ttl}`);
    explainCandidates(st, known, cands, undefined, out.clusters, 'degraded', fam);
  }
  return { kind: 'degraded', ttl, out, ecs };
}

/**
 * A local service's addresses: its ClusterIPs, or the leading ready addresses of a headless service
 * (A before AAAA), at most dns.maxLocalAnswers and at most what the reply can hold.
 */
function collectLocal(st: Query, local: LocalService, ready: ReadyAddresses | undefined, fam: number, localPort: number): Collector {
  if (local.kind !== 'headless') {
    const out = new Collector(fam, Infinity, st.budget);
    if (local.kind === 'clusterIP') for (const ip of local.clusterIPs) out.add(ip, localPort, undefined);
    return out;
  }
  const r = ready ?? readyAddressesOf(local);
  const capped = budgetOf(st.o.maxLocalAnswers ?? undefined);
  const out = new Collector(fam, Infinity, Math.min(st.budget, capped));
  out.takeDistinct(r.v4, false, localPort);
  out.takeDistinct(r.v6, true, localPort);
  if (out.cut && st.tr !== undefined) {
    const n = out.v4.length + out.v6.length;
    const why = capped <= st.budget ? `dns.maxLocalAnswers (${capped})` : `what the reply can hold (${st.budget} record(s))`;
    st.tr.step(`${n} of the ready ${familyText(fam)} addresses kept: capped by ${why}`);
  }
  return out;
}

// ---- explanation of candidates (only runs when tracing) ---------------------------------------

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

/** One candidate explanation per remote catalog in the registry, in cluster-name order. */
function explainCandidates(
  st: Query,
  known: Known,
  cands: readonly Candidate[] | undefined,
  chosen: readonly Ranked<Candidate>[] | undefined,
  returned: readonly string[],
  mode: 'local' | 'remote' | 'degraded',
  fam: number,
): void {
  const tr = st.tr!;
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
    else {
      const c = byCluster.get(cluster) ?? candidateOf(st, ex);
      const pos = returned.indexOf(cluster);
      if (mode === 'degraded') verdict = { kind: 'failOpen', order: pos >= 0 ? pos + 1 : undefined, unhealthy: unhealthyText(c) };
      else if (!c.healthy) verdict = unhealthyVerdict(c);
      else if (mode === 'local') verdict = { kind: 'answeredLocally' };
      else if (pos >= 0) verdict = { kind: 'kept', order: pos + 1 };
      else if (!kept.includes(cluster)) verdict = { kind: 'outsideBestTier' };
      else {
        const hasFamily = c.up.some((g) => (fam & (isIPv6(g.address) ? F_AAAA : F_A)) !== 0);
        verdict = hasFamily ? { kind: 'capped' } : { kind: 'noAddress', family: familyText(fam) };
      }
    }
    const fresh = ex === undefined ? freshnessOf(reg, cluster) : ex.fresh;
    const exportInfo = ex === undefined ? undefined : { ready: ex.service.ready, fresh: ex.fresh };
    // Explain with the location the ranking used (the catalog's, or one found by ctx.locateCluster).
    const location = catalog.location ?? st.ctx.locateCluster?.(catalog);
    tr.noteCandidate(location === catalog.location ? catalog : { ...catalog, location }, exportInfo, fresh, st.ctx, verdict);
  }
}
