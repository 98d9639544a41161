/**
 * Presentation helpers for ops output (PURE): RR type names and records in zone-file text, so
 * /debug and `gsdns explain` read like dig output.
 */
import { RRType, Rcode, type ResourceRecord } from '../answer/types.js';

const typeNames = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]));
const rcodeNames = new Map<number, string>(Object.entries(Rcode).map(([k, v]) => [v, k]));

export function typeName(type: number): string {
  return typeNames.get(type) ?? `TYPE${type}`;
}

export function rcodeName(rcode: number): string {
  return rcodeNames.get(rcode) ?? `RCODE${rcode}`;
}

/** "A", "aaaa", "28", "TYPE28" → 28; undefined when unknown. */
export function parseType(text: string): number | undefined {
  const t = text.trim().toUpperCase();
  if (/^\d+$/.test(t)) return Number(t) <= 0xffff ? Number(t) : undefined;
  const m = /^TYPE(\d+)$/.exec(t);
  if (m) return Number(m[1]) <= 0xffff ? Number(m[1]) : undefined;
  return (RRType as Record<string, number>)[t];
}

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
