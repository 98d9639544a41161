/**
 * Presentation helpers for ops output (PURE): RR type names and records in zone-file text, so
 * /debug and `gsdns explain` read like dig output.
 */
import { parseType, rcodeName, typeName, type ResourceRecord } from '../answer/types.js';

// The names of types and rcodes are the codec's vocabulary (answer/types.ts), re-exported here.
export { parseType, rcodeName, typeName };

const fqdn = (name: string): string => (name === '' ? '.' : `${name}.`);

export function formatRecord(rr: ResourceRecord): string {
  const d = rr.data;
  let rdata: string;
  switch (d.type) {
    case 1:
    case 28:
      rdata = d.address;
      break;
    case 2:
      rdata = fqdn(d.host);
      break;
    case 5:
      rdata = fqdn(d.target);
      break;
    case 6:
      rdata = `${fqdn(d.mname)} ${fqdn(d.rname)} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
      break;
    case 33:
      rdata = `${d.priority} ${d.weight} ${d.port} ${fqdn(d.target)}`;
      break;
    case 16:
      // RFC 1035 §5.1: quoted character-strings, '"' and '\' escaped.
      rdata = d.strings.map((x) => `"${x.replace(/["\\]/g, '\\$&')}"`).join(' ');
      break;
  }
  const cls = rr.class === undefined || rr.class === 1 ? 'IN' : rr.class === 3 ? 'CH' : `CLASS${rr.class}`;
  return `${fqdn(rr.name)}\t${rr.ttl}\t${cls}\t${typeName(d.type)}\t${rdata}`;
}
