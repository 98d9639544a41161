/**
 * Address families of a question (PURE): which of A and AAAA a query type asks for.
 *
 * Owns: the family bit set (F_A, F_AAAA) and the one test of an address's family.
 * Invariants: a type other than A, AAAA and ANY asks for no family (0); ANY asks for both (RFC 8482).
 */
import { RRType } from './types.js';

export const F_A = 1;
export const F_AAAA = 2;
export const F_BOTH = F_A | F_AAAA;

export function isIPv6(address: string): boolean {
  return address.indexOf(':') >= 0;
}

/** The family bit of an address. */
export function familyOf(address: string): number {
  return isIPv6(address) ? F_AAAA : F_A;
}

export function familiesOf(qtype: number): number {
  return qtype === RRType.A ? F_A : qtype === RRType.AAAA ? F_AAAA : qtype === RRType.ANY ? F_BOTH : 0;
}

export function familyText(fam: number): string {
  return fam === F_A ? 'A' : fam === F_AAAA ? 'AAAA' : 'A/AAAA';
}
