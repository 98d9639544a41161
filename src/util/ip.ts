/**
 * IP address text helpers (PURE).
 *
 * Owns: strict recognition and canonical text of IPv4/IPv6 addresses, without node:net, so the pure
 * core (catalog codecs, answer logic) can validate addresses with no I/O module in its import graph.
 * Invariants: `canonicalIp` returns dotted-quad IPv4 or RFC 5952 lowercase compressed IPv6.
 */

const v4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s: string): boolean {
  return v4.test(s);
}

export function isIPv6(s: string): boolean {
  if (!s.includes(':') || s.includes('%') || s.includes('[') || s.includes('/')) return false;
  try {
    // WHATWG URL parsing implements the full IPv6 grammar (including embedded IPv4).
    new URL(`http://[${s}]/`);
    return true;
  } catch {
    return false;
  }
}

/** 4, 6 or 0 — the same contract as node:net isIP. */
export function ipFamily(s: string): 0 | 4 | 6 {
  if (isIPv4(s)) return 4;
  if (isIPv6(s)) return 6;
  return 0;
}

export function canonicalIp(s: string): string {
  if (isIPv6(s)) return new URL(`http://[${s}]/`).hostname.slice(1, -1);
  return s;
}
