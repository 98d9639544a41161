/**
 * Answers for the names of services (PURE): `N.Z`, `S.N.Z`, `_P._proto.S.N.Z` and its parent
 * `_proto.S.N.Z` (SPEC §1).
 *
 * Owns: which of these names exist (NXDOMAIN vs NODATA), ExternalName aliases, and turning the
 * selection (select.ts) into A/AAAA or SRV answers.
 * Must never: NXDOMAIN a service that exists here or in any peer catalog, whatever its health or the
 * asked type (musl resolvers break on it); fail over because of the asked family or port name.
 * Invariants: empty non-terminals (a namespace with services, a protocol with ports) are NODATA
 * (RFC 8020); an SRV answer's target addresses go in additional (RFC 2782); a negative answer after
 * a remote selection keeps that selection's ECS scope.
 */
import type { Protocol, ServicePort } from '../registry/types.js';
import { lookup, type Known } from './candidates.js';
import { F_BOTH, familiesOf, familyText } from './families.js';
import { normalizeName } from './names.js';
import { NO_CLUSTERS, NO_RECORDS, type Query } from './query.js';
import { addressRecords, clusterAddressRecords, clusterSrvRecords, cnameRecord, srvRecords } from './records.js';
import type { Pick } from './pick.js';
import { select, selectCluster } from './select.js';
import { Rcode, RRType, type Decision, type DecisionExtras } from './types.js';

/** `N.Z`: RFC 8020, a namespace with services is an empty non-terminal, so NODATA, not NXDOMAIN. */
export function answerNamespace(st: Query, namespace: string): Decision {
  if (st.ctx.registry.hasNamespace(namespace)) {
    st.tr?.step(`namespace ${namespace} has services: empty non-terminal → NODATA (RFC 8020)`);
    return st.negative('nodata');
  }
  st.tr?.step(`no service lives in namespace ${namespace} → NXDOMAIN`);
  return st.negative('nxdomain');
}

/** `S.N.Z`: SPEC §1 rows 1–3 for A/AAAA (and ANY, RFC 8482), a CNAME for an ExternalName. */
export function answerService(st: Query, namespace: string, service: string): Decision {
  const known = lookup(st, namespace, service);
  const { local } = known;
  if (!knownAnywhere(known)) return answerUnknown(st, namespace, service);
  if (local?.kind === 'externalName') {
    // RFC 1034 §3.6.2: a CNAME owner has no other data, so the alias answers every type.
    const target = normalizeName(local.externalName);
    st.tr?.noteLocal(namespace, service, local, true);
    st.tr?.step(`ExternalName → CNAME ${target}`);
    return st.done('local', Rcode.NOERROR, [cnameRecord(st.name, st.o.ttlSeconds, target)], NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
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
    return noTargets(st, pick);
  }
  st.tr?.step(`answer: ${answers.length} ${familyText(fam)} record(s), ${pick.kind}, TTL ${pick.ttl}`);
  return st.done(pick.kind, Rcode.NOERROR, answers, NO_RECORDS, NO_RECORDS, pick.out.clusters, pick.ecs, extrasOf(st, pick));
}

/** What a pick drew, for the decision: the plan and canonical candidates, the split, the cluster sent first. */
function extrasOf(st: Query, pick: Pick): DecisionExtras {
  const order = pick.order;
  return {
    order: order && { plan: order.plan, owner: st.name, ttl: pick.ttl, v4: order.canonical.v4, v6: order.canonical.v6 },
    split: pick.split,
    chosen: pick.chosen ?? (pick.kind === 'local' ? st.o.localCluster : undefined),
  };
}

/** `C.S.N.Z`: the service's addresses in cluster C only (the SRV target of a remote answer). */
export function answerClusterService(st: Query, cluster: string, namespace: string, service: string): Decision {
  const known = lookup(st, namespace, service);
  if (!knownAnywhere(known)) return answerUnknown(st, namespace, service);
  const fam = familiesOf(st.type);
  if (cluster === st.o.localCluster && known.local?.kind === 'externalName') {
    st.tr?.step('an ExternalName service has no addresses of its own → NODATA');
    return st.negative('nodata');
  }
  if (!clusterHas(st, known, cluster)) {
    st.tr?.step(`cluster ${cluster} does not have ${namespace}/${service} → NXDOMAIN`);
    return st.negative('nxdomain');
  }
  const pick = fam === 0 ? undefined : selectCluster(st, namespace, service, known, cluster, fam);
  if (pick === undefined) {
    st.tr?.step(`a service name has only A/AAAA records, not type ${st.type} → NODATA`);
    return st.negative('nodata');
  }
  const answers = addressRecords(st.name, pick);
  if (answers.length === 0) {
    st.tr?.step(`no ${familyText(fam)} address in cluster ${cluster} → NODATA`);
    return st.negative('nodata');
  }
  return st.done(pick.kind, Rcode.NOERROR, answers, NO_RECORDS, NO_RECORDS, pick.out.clusters, 0, extrasOf(st, pick));
}

/** Cluster C has the service: the local one (C is this cluster) or C exports it. */
function clusterHas(st: Query, known: Known, cluster: string): boolean {
  if (cluster === st.o.localCluster) return known.local !== undefined;
  return known.exports.some((e) => e.catalog.cluster === cluster);
}

/** `_proto.S.N.Z`: the parent of the SRV names, an empty non-terminal when such ports exist. */
export function answerProtocol(st: Query, namespace: string, service: string, protocol: Protocol): Decision {
  const known = lookup(st, namespace, service);
  if (knownAnywhere(known) && hasPort(known, protocol, undefined)) {
    st.tr?.step(`${namespace}/${service} has ${protocol} ports: empty non-terminal → NODATA (RFC 8020)`);
    return st.negative('nodata');
  }
  st.tr?.step(`${namespace}/${service} has no ${protocol} port (or does not exist) → NXDOMAIN`);
  return st.negative('nxdomain');
}

/** `_P._proto.S.N.Z` SRV: one SRV per answer port, target `S.N.Z`, its addresses in additional. */
export function answerSrv(st: Query, namespace: string, service: string, portName: string, protocol: Protocol): Decision {
  const known = lookup(st, namespace, service);
  const { local } = known;
  if (!knownAnywhere(known)) return answerUnknown(st, namespace, service);
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
  st.fixedOrder = true;
  const pick = select(st, namespace, service, known, F_BOTH, localPort);
  const base = `${service}.${namespace}.${st.zone!}`;
  // A remote answer has one target per cluster, `C.S.N.Z`, so that each carries its cluster's
  // priority and weight (RFC 2782); local and fail-open answers have the one target `S.N.Z`.
  const srv = pick.srv;
  const answers = srv === undefined ? srvRecords(st.name, base, pick) : clusterSrvRecords(st.name, base, pick, srv);
  if (answers.length === 0) {
    st.tr?.step(`no SRV target for port ${portName} in the ${pick.kind} answer → NODATA`);
    return noTargets(st, pick);
  }
  // RFC 2782: the target's addresses go in the additional section.
  const additional = srv === undefined ? addressRecords(base, pick) : clusterAddressRecords(base, pick);
  const target = srv === undefined ? base : `<cluster>.${base}`;
  st.tr?.step(
    `answer: ${answers.length} SRV record(s) → ${target}, ${additional.length} address(es) in additional, ${pick.kind}, TTL ${pick.ttl}`,
  );
  return st.done(pick.kind, Rcode.NOERROR, answers, NO_RECORDS, additional, pick.out.clusters, pick.ecs, extrasOf(st, pick));
}

/** The service exists here or in some peer catalog. */
function knownAnywhere(known: Known): boolean {
  return known.local !== undefined || known.exports.length > 0;
}

/** SPEC §1: a name in the zone that matches no service → NXDOMAIN. */
function answerUnknown(st: Query, namespace: string, service: string): Decision {
  st.tr?.step(`no service ${namespace}/${service} here or in any peer catalog → NXDOMAIN`);
  return st.negative('nxdomain');
}

/** NODATA after a selection gave no record of the asked kind; a remote one keeps its ECS scope. */
function noTargets(st: Query, pick: Pick): Decision {
  return st.negative('nodata', pick.kind === 'remote' ? pick.ecs : 0);
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
