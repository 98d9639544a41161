/**
 * Answers about the server rather than a service (PURE): the zone apex, `ns.Z`, and the CHAOS
 * server-identity names (SPEC §1 "`Z` SOA / NS" row).
 *
 * Owns: which types the apex and the nameserver name have, and which CHAOS names are answered.
 * Must never: forward; a CHAOS name we do not answer is REFUSED, so an upstream's version string
 * never leaks through us.
 * Invariants: the apex has exactly SOA and NS (glue in additional); `ns.Z` has exactly the
 * dns.nameservers addresses; anything else there is NODATA.
 */
import { F_BOTH, familiesOf } from './families.js';
import { NS_LABEL } from './names.js';
import { NO_CLUSTERS, NO_RECORDS, type Query } from './query.js';
import { chaosTxtRecord, glueRecords, nsRecord, soaRecord } from './records.js';
import { Rcode, RRType, type Decision } from './types.js';

export function answerApex(st: Query): Decision {
  const zone = st.zone!;
  const ttl = st.o.ttlSeconds;
  const ns = nsRecord(st, ttl);
  switch (st.type) {
    case RRType.SOA:
      st.tr?.step('SOA at the apex');
      return st.done('apex', Rcode.NOERROR, [soaRecord(st, ttl)], NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
    case RRType.NS:
      st.tr?.step(`NS at the apex: ${NS_LABEL}.${zone}, glue in additional`);
      return st.done('apex', Rcode.NOERROR, [ns], NO_RECORDS, glueRecords(st, F_BOTH), NO_CLUSTERS, 0);
    case RRType.ANY:
      // RFC 8482 §4.1 lets ANY return a subset of the RRsets; at the apex we return all of them
      // (SOA and NS, glue in additional): they are few and they are what a dig user wants.
      st.tr?.step('ANY at the apex: SOA and NS (RFC 8482)');
      return st.done('apex', Rcode.NOERROR, [soaRecord(st, ttl), ns], NO_RECORDS, glueRecords(st, F_BOTH), NO_CLUSTERS, 0);
    default:
      st.tr?.step(`the apex has no records of type ${st.type} → NODATA`);
      return st.negative('nodata');
  }
}

export function answerNameserver(st: Query): Decision {
  const fam = familiesOf(st.type);
  const glue = fam === 0 ? [] : glueRecords(st, fam);
  if (glue.length === 0) {
    st.tr?.step(`${NS_LABEL}.${st.zone!} has no records of type ${st.type} → NODATA`);
    return st.negative('nodata');
  }
  st.tr?.step(`${NS_LABEL}.${st.zone!}: nameserver addresses from dns.nameservers`);
  return st.done('apex', Rcode.NOERROR, glue, NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
}

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
export function answerChaos(st: Query): Decision {
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
    return st.empty('refused', Rcode.REFUSED);
  }
  st.tr?.step(`CHAOS ${st.name}: TXT from dns.chaos.${which}`);
  return st.done('chaos', Rcode.NOERROR, [chaosTxtRecord(st.name, text)], NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
}
